"""Everything a lifecycle is declared with, as one namespace.

A lifecycle imports it the way a Django model imports ``models``::

    from workflows.engine import vocabulary as lc

    TRIAL = lc.LifecycleSpec(...)

so its imports stay one line, a reader sees at each use that a name is the engine's,
and ``__all__`` below is the engine's whole public surface for lifecycle authors.
"""

from workflows.engine.calendar import add_months, add_months_dt, start_of_day
from workflows.engine.checklists import Checklist, Recorded
from workflows.engine.common import (
    CHANGE_OWNER,
    ChangeOwnerParams,
    actor_and_reason,
    change_owner,
    latest,
    owed,
    reported_moment_problems,
    stamped,
    start_lifecycle,
    take_params,
)
from workflows.engine.computed import computed_property
from workflows.engine.exposure import (
    BillingTrigger,
    Column,
    Exposure,
    Match,
    Mutation,
    Opening,
    PerAccount,
    Projected,
    account_id_column,
)
from workflows.engine.messages import Message, day, duration, in_words, months, when, within
from workflows.engine.reminders import Reminders
from workflows.engine.spec import (
    ChecklistItem,
    Context,
    EffectSpec,
    Guard,
    LifecycleSpec,
    Params,
    ParamsT,
    Role,
    StateSpec,
    TimerSpec,
    TransitionSpec,
    channel,
    fire_on,
    fire_on_account,
    guard,
    notify,
    owner,
    reason_required,
    role,
)
from workflows.engine.values import (
    ENTITY_ID_MAX_LENGTH,
    MAX_LIST_ITEMS,
    NAME_MAX_LENGTH,
    PERSON_MAX_LENGTH,
    Account,
    Email,
    Money,
    PositiveMoney,
    ShortText,
    Text,
    distinct,
)
from workflows.engine.workflow import LifecycleWorkflow, lifecycle_workflow

__all__ = [
    "CHANGE_OWNER",
    "ENTITY_ID_MAX_LENGTH",
    "MAX_LIST_ITEMS",
    "NAME_MAX_LENGTH",
    "PERSON_MAX_LENGTH",
    "Account",
    "BillingTrigger",
    "ChangeOwnerParams",
    "Checklist",
    "ChecklistItem",
    "Column",
    "Context",
    "EffectSpec",
    "Email",
    "Exposure",
    "Guard",
    "LifecycleSpec",
    "LifecycleWorkflow",
    "Match",
    "Message",
    "Money",
    "Mutation",
    "Opening",
    "Params",
    "ParamsT",
    "PerAccount",
    "PositiveMoney",
    "Projected",
    "Recorded",
    "Reminders",
    "Role",
    "ShortText",
    "StateSpec",
    "Text",
    "TimerSpec",
    "TransitionSpec",
    "account_id_column",
    "actor_and_reason",
    "add_months",
    "add_months_dt",
    "change_owner",
    "channel",
    "computed_property",
    "day",
    "distinct",
    "duration",
    "fire_on",
    "fire_on_account",
    "guard",
    "in_words",
    "latest",
    "lifecycle_workflow",
    "months",
    "notify",
    "owed",
    "owner",
    "reason_required",
    "reported_moment_problems",
    "role",
    "stamped",
    "start_lifecycle",
    "start_of_day",
    "take_params",
    "when",
    "within",
]
