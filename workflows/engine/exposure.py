"""How a lifecycle is exposed, as data beside its spec: API names and read-model columns.

The spec says what a lifecycle does; its ``Exposure`` says what the world calls it. From
the two, ``schema/derived.py`` builds the GraphQL types, queries and one mutation per
trigger, and ``services/derived.py`` the read model's typed table, its projection and
its list query. Nothing here runs in a workflow: it is read when the API and the worker
start.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel

from workflows.engine.values import ACCOUNT_ID_MAX_LENGTH, Money, PositiveMoney

DataT = TypeVar("DataT", bound=BaseModel)
PolicyT = TypeVar("PolicyT", bound=BaseModel)


@dataclass(frozen=True)
class Projected(Generic[DataT, PolicyT]):
    """What a read-model column is computed from: the instance as last projected."""

    data: DataT
    policy: PolicyT
    state: str
    opened_at: datetime
    closed_at: datetime | None
    next_deadline: datetime | None


class Match(enum.Enum):
    """How a list filters on a column."""

    EQUALS = "equals"  # one value: ``owner: "ana"``
    ANY_OF = "any_of"  # a list of values: ``state: [ACTIVE, PAUSED]``
    RANGE = "range"  # two bounds, by default the lower inclusive: ``expiringAfter``/``expiringBefore``
    # A yes/no flag that only narrows: true keeps the rows where the column is true; false
    # or absent filters nothing (``suspendedOnly: true``).
    FLAG = "flag"
    # A moment as yes or no: true for moments already past, false for the others (none
    # included): ``overdueFollowUp: true``.
    PAST = "past"


@dataclass(frozen=True)
class Column(Generic[DataT, PolicyT]):
    """One typed column of the kind's read-model table, and how lists use it.

    ``type`` is the Python type of the value: ``str``, ``bool``, ``int``, ``date``,
    ``datetime``, an enum, or ``Money`` (stored in cents, as ``<name>_cents``).
    """

    name: str
    _: KW_ONLY
    # Left out, the type of the data field of that name (a column whose ``value`` reads
    # something else declares it).
    type: Any = None
    value: Callable[[Projected[DataT, PolicyT]], Any] | None = None  # default: the data field of that name
    max_length: int | None = None
    nullable: bool = False
    match: Match | None = None
    # The filter's input names: one for EQUALS, ANY_OF and FLAG (default: the column's name),
    # the lower and upper bound for RANGE (an empty name: that bound is not offered).
    filter_names: tuple[str, ...] = ()
    filter_description: str = ""
    # Whether a range's lower and upper bound match values equal to them.
    bounds_included: tuple[bool, bool] = (True, False)
    orderable: bool = False  # lists may sort by it, both ways
    order_name: str = ""  # the order's name before _ASC/_DESC (default: the name in capitals)
    indexed: bool = False  # filtered often: indexed with the default order
    upper_inclusive: bool = False  # a range's upper bound keeps values equal to it


class Identified(Protocol):
    """An account (or an organization) as a column reads it."""

    @property
    def id(self) -> str: ...


def account_id_column(
    name: str = "account_id", *, of: Callable[[Any], Identified] = lambda data: data.account
) -> Column[Any, Any]:
    """The id of the account an instance is about (``of`` its data): lists filter on it, indexed."""
    return Column(
        name=name,
        type=str,
        value=lambda p: of(p.data).id,
        max_length=ACCOUNT_ID_MAX_LENGTH,
        match=Match.EQUALS,
        indexed=True,
    )


def overdue_column(
    name: str,
    due: Callable[[Projected[DataT, PolicyT]], datetime | None],
    flag: str,
    description: str,
    *,
    indexed: bool = False,
) -> Column[DataT, PolicyT]:
    """A moment something is ``due`` (None: nothing is), filtered as the yes or no ``flag``: past due or not."""
    return Column(
        name,
        type=datetime,
        value=due,
        nullable=True,
        match=Match.PAST,
        filter_names=(flag,),
        filter_description=description,
        indexed=indexed,
    )


@dataclass(frozen=True)
class Mutation:
    """A trigger's mutation: its name, its input type's name and what it says it does."""

    name: str = ""  # default: the trigger in camel case, then the type name: "extendTrial"
    _: KW_ONLY
    input: str = ""  # default: the mutation's name, capitalised, then "Input": "ExtendTrialInput"
    description: str = ""  # default: the transition's description
    # Input field names where the API's differ from the params model's (param -> GraphQL
    # name, e.g. {"to": "toStage"}); errors name the field as the caller wrote it.
    field_names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Opening:
    """The mutation that opens an instance, and which data fields its input takes."""

    name: str
    fields: tuple[str, ...]
    description: str
    input: str = ""  # default: the name, capitalised, then "Input": "StartTrialInput"
    input_description: str = ""
    # Field descriptions for the input where the data model's own do not fit a caller.
    field_descriptions: Mapping[str, str] = field(default_factory=dict)
    # Input field names where the API's differ from the data model's (as ``Mutation``'s).
    field_names: Mapping[str, str] = field(default_factory=dict)
    # When the caller gives no id, one is made: ``<id_prefix>-<16 hex digits>``.
    id_prefix: str = ""
    # When set, the input takes the state to open in (named as the exposure names the
    # state), described by this text; the spec's ``entry_states`` say which it may be.
    entry_state: str = ""
    # Without an owner the caller becomes it; when False, the data model's default stands
    # (a late payment without an owner is chased by the revenue lead).
    owner_defaults_to_caller: bool = True


@dataclass(frozen=True, kw_only=True)
class BillingTrigger:
    """A billing event (Stripe's type, ``customer.subscription.deleted``) firing ``trigger``
    with ``params`` on the account's open instance of a kind numbered per account; the
    account is the event object's ``metadata.account_id``, else its ``customer``."""

    trigger: str
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str


@dataclass(frozen=True, kw_only=True)
class PerAccount:
    """A kind kept to one open instance per account, its ids ``<account id>/<n>`` made by the service.

    Each trigger in ``mutations`` gets a mutation that takes the account (and the owner a new
    instance gets, by default the caller) instead of an id: it fires the trigger on the
    account's open instance, or opens the account's next one and fires it there. The request
    is judged against the would-be instance before anything opens, so a refused one opens
    nothing. The kind's data model must open from ``account`` and ``owner`` alone.

    ``events`` maps the event types of the signed signal webhook (``POST /signals/events``,
    ``services/signal_events.py``) to the triggers they fire, the same way.
    """

    mutations: Mapping[str, Mutation]
    events: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Exposure(Generic[DataT, PolicyT]):
    """A lifecycle kind's public names and read model.

    Every trigger a caller may fire (any role but SYSTEM) gets a mutation: named in
    ``mutations``, or hidden there with ``None`` where a generic mutation already does
    it (``reassignLifecycle`` for ``change_owner``).
    """

    description: str
    states: type[enum.Enum]  # the state enum, exposed as ``state_name``
    columns: tuple[Column[DataT, PolicyT], ...]
    default_order: str  # "EXPIRES_AT_ASC"
    # None for a kind that opens in its own special part (a handover's ``requestHandover``).
    opening: Opening | None
    # Left out, these follow the kind's title (see ``named_after``).
    type_name: str = ""  # the GraphQL type: "Trial"
    one: str = ""  # the one-by-id query: "trial"
    many: str = ""  # the list query: "trials"
    table: str = ""  # the read model's table
    mutations: Mapping[str, Mutation | None] = field(default_factory=dict)
    id_name: str = "id"  # the id argument's name: "invoiceId" for a late payment
    # What the API (field, filter) and the read model's column call the state: "stage" for a deal.
    state_name: str = "state"
    # The one result union the kind's named mutations returned before each trigger had its
    # own (``TrialResult``): kept for them, so the documents clients already send still
    # validate. Mutations made for triggers without a declared name get their own union,
    # listing only the refusals that trigger can produce.
    shared_result: str = ""
    # Data fields the API does not show as they are (``provisioning``, shown as steps).
    hidden: tuple[str, ...] = ()
    # Optional data fields that are always set once the instance is open.
    always_set: tuple[str, ...] = ()
    # Fields computed from the data for the API: name -> function of the data, whose
    # return annotation is the field's type and whose docstring its description.
    computed: Mapping[str, Callable[[DataT], Any]] = field(default_factory=dict)
    # GraphQL names of nested models, where ``<type_name><model name>`` does not fit.
    type_names: Mapping[type[BaseModel], str] = field(default_factory=dict)
    # Field descriptions on the output type where the data model has none.
    descriptions: Mapping[str, str] = field(default_factory=dict)
    # Fields computed from the instance as projected (data, policy, state, times): name ->
    # function of a ``Projected``, typed and described like ``computed``'s. A data field of
    # the same name is replaced by it.
    computed_from_instance: Mapping[str, Callable[[Projected[DataT, PolicyT]], Any]] = field(default_factory=dict)
    # GraphQL names of nested models' fields where the model's own do not fit
    # (``{Extension: {"by": "granted_by"}}``).
    output_field_names: Mapping[type[BaseModel], Mapping[str, str]] = field(default_factory=dict)
    # The read model's column of the instance's owner, and (camel-cased) its filter.
    owner_column: str = "owner"
    # One open instance per account, with triggers fired by account (``opening`` is then None).
    per_account: PerAccount | None = None
    # Ids are ``<account id>/<n>``, n counting the account's instances of the kind, made by
    # the service (``services/numbering.py``) for the opening mutation and for other
    # lifecycles' ``lifecycle.start`` effects; one may be open per account at a time. The
    # data needs ``account: Account``.
    account_numbered: bool = False
    # Billing events that fire a trigger on the account's open instance (kinds numbered per
    # account, or kept one per account): ``{"customer.subscription.deleted": BillingTrigger(...)}``.
    billing_events: Mapping[str, BillingTrigger] = field(default_factory=dict)

    def completed(self, title: str, data_model: type[BaseModel]) -> Exposure[DataT, PolicyT]:
        """This exposure with what it leaves out filled in, by convention.

        Names follow the kind's title: "Late payment" gives the type ``LatePayment``, the
        queries ``latePayment`` and ``latePayments`` and the table ``late_payments``; a
        kind whose names do not follow it (an irregular plural) writes them. A column
        without a type takes its data field's.
        """
        type_name = self.type_name or "".join(word.capitalize() for word in title.split())
        one = self.one or type_name[0].lower() + type_name[1:]
        many = self.many or one + "s"
        table = self.table or re.sub(r"(?<!^)(?=[A-Z])", "_", many).lower()
        opening = self.opening
        if opening is not None and not opening.input:
            opening = replace(opening, input=opening.name[0].upper() + opening.name[1:] + "Input")
        columns = tuple(
            column if column.type is not None else replace(column, type=_field_type(data_model, column))
            for column in self.columns
        )
        return replace(self, type_name=type_name, one=one, many=many, table=table, opening=opening, columns=columns)

    def __post_init__(self) -> None:
        if self.per_account is not None and self.opening is not None:
            raise ValueError(f"{self.type_name}: a kind opened per account has no opening mutation")
        if self.billing_events and not (self.account_numbered or self.per_account is not None):
            raise ValueError(
                f"{self.type_name}: billing events find the account's open instance: number it per account"
            )
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names) or self.state_name in names:
            raise ValueError(f"{self.type_name}: duplicate read-model columns")
        for column in self.columns:
            expected = 2 if column.match is Match.RANGE else 1
            if column.filter_names and len(column.filter_names) != expected:
                raise ValueError(f"{self.type_name}.{column.name}: {expected} filter names expected")
            # A column left untyped is checked again once its type is filled in (``completed``).
            if column.match is Match.FLAG and column.type not in (bool, None):
                raise ValueError(f"{self.type_name}.{column.name}: a flag filter reads a bool column")
            if column.match is Match.RANGE and not column.filter_names:
                raise ValueError(f"{self.type_name}.{column.name}: a range filter names its two bounds")
            if column.bounds_included != (True, False) and column.match is not Match.RANGE:
                raise ValueError(f"{self.type_name}.{column.name}: only a range filter has bounds")


def _field_type(data_model: type[BaseModel], column: Column[Any, Any]) -> Any:
    hints = typing.get_type_hints(data_model, include_extras=True)
    if column.value is not None or column.name not in hints:
        raise ValueError(f"column {column.name}: not the data field of its name, so it declares its type")
    return _plain(hints[column.name])


def _plain(annotation: Any) -> Any:
    """The type a column stores for a field annotation: amounts stay ``Money``; constraints and None go."""
    if annotation in (Money, PositiveMoney):
        return Money
    if annotation is AwareDatetime:
        return datetime
    if typing.get_origin(annotation) is typing.Annotated:
        return _plain(typing.get_args(annotation)[0])
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(members) == 1:
        return _plain(members[0])
    return annotation
