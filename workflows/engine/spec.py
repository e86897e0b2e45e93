"""The declarative vocabulary a lifecycle is written in.

A lifecycle is data: states (with metadata and checklists), transitions (trigger,
sources, destination, guards, effects, the role allowed to fire them), timers ("in
these states, at this moment, fire that trigger") and a policy model holding every
duration and threshold. The engine (``instance.py``) executes any such spec; the API
describes it, the docs draw it and the tests walk it, all from the same objects.

Guards, ``apply`` functions, timers and effect builders are pure functions of a
``Context``: they read the lifecycle's data, the pinned policy, the request's
parameters and the workflow clock, and never perform I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field, fields
from datetime import datetime
from functools import cached_property
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict
from typing_extensions import TypeVar as DefaultedTypeVar

from workflows.engine.exposure import Exposure
from workflows.engine.values import Account


class Role(enum.IntEnum):
    """Who may fire a trigger. Ordered: a higher role may do what a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3
    # Fired by the service itself: the engine's timers and other lifecycles' effects
    # (``lifecycle.fire``). No API token carries it, so no caller may fire it.
    SYSTEM = 4


TIMER_ACTOR = "timer"


@dataclass(frozen=True)
class ChecklistItem:
    """One item a state's checklist needs before the lifecycle may leave it."""

    key: str
    label: str
    source: str = ""


@dataclass(frozen=True)
class StateSpec:
    name: str
    description: str
    terminal: bool = False
    probability: int | None = None
    checklist: tuple[ChecklistItem, ...] = ()
    on_enter: tuple[EffectSpec[Any, Any], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)


DataT = TypeVar("DataT", bound=BaseModel)
PolicyT = TypeVar("PolicyT", bound=BaseModel)
# The params model of the trigger a context is for. It defaults to ``Any`` so that
# ``Context[Data, Policy]`` (code that reads no params, or helpers of any trigger) keeps
# its meaning; code that reads params names the model, ``Context[Data, Policy, Params]``,
# and its reads are type-checked. Covariant, since spec code only reads params: a check
# written for ``CriterionParams`` also serves a trigger whose params extend it, and one
# for ``A | B`` serves triggers of either.
ParamsT = DefaultedTypeVar("ParamsT", bound=BaseModel, default=Any, covariant=True)
# The params of a trigger without a params model; its code is typed with the default, Any.
NO_PARAMS: Any = None


class Params(BaseModel):
    """A base for a trigger's params model: a field the model does not know is refused."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class Context(Generic[DataT, PolicyT, ParamsT]):
    """What a guard, an ``apply`` function, a timer or an effect builder may look at.

    ``data`` is the lifecycle's own record; ``apply`` functions mutate it, nothing
    else may. ``params`` is the validated parameter model of the trigger being fired;
    while only describing what is allowed it is built from the transition's
    ``probe_params`` without validation. A trigger without a params model gets ``None``
    (its code is typed with the default, ``Any``, and has nothing to read).
    """

    kind: str
    entity_id: str
    state: str
    data: DataT
    policy: PolicyT
    now: datetime
    opened_at: datetime
    state_entered_at: datetime
    seq: int
    actor: str = ""
    role: Role = Role.VIEWER
    reason: str | None = None
    params: ParamsT = NO_PARAMS
    # Set while the engine is only describing what is allowed: guards that judge the
    # request's own input are skipped, since there is no input yet.
    describing: bool = False
    # The spec's patches active for this workflow run (see ``LifecycleSpec.patches``).
    active_patches: frozenset[str] = frozenset()
    # Facts about other lifecycles the service gathered for this request (see
    # ``services/facts.py``); empty when firing from a timer.
    facts: Mapping[str, Any] = field(default_factory=dict)

    def patched(self, patch_id: str) -> bool:
        """Whether this run follows the behaviour introduced under ``patch_id``."""
        return patch_id in self.active_patches


# A helper that works on any lifecycle (a reason is given, the owner is told...) takes
# ``Context[Any, Any]``; a lifecycle's own code takes ``Context[ItsData, ItsPolicy]``, so
# its reads of ``ctx.data`` and ``ctx.policy`` are type-checked.


class OwnedData(Protocol):
    """The part of a lifecycle's data the shared owner helpers read."""

    owner: Any


class AccountData(Protocol):
    """The part of a lifecycle's data the default ``account_of`` reads."""

    account: Account


def _owned(data: Any) -> OwnedData:
    owned: OwnedData = data
    return owned


def _account_of(data: Any) -> tuple[str, str]:
    about: AccountData = data
    return about.account.id, about.account.name


@dataclass(frozen=True)
class Guard(Generic[DataT, PolicyT, ParamsT]):
    """A named condition on a transition.

    ``check`` returns what is unmet, as sentences a person can act on; an empty list
    means the guard passes. Guards with ``on_input`` judge the request's parameters
    and are skipped when describing the allowed triggers of an instance.
    """

    name: str
    description: str
    check: Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]]
    on_input: bool = False


@dataclass(frozen=True)
class EffectSpec(Generic[DataT, PolicyT, ParamsT]):
    """A named side effect recorded in the outbox when a transition happens.

    ``build`` returns the effect's payload; ``recipients`` names who it is for (role
    names such as ``owner`` or ``revenue_lead`` are resolved by the delivery
    channels, addresses are taken as they are). ``when`` skips the effect for this
    transition when it returns False. A notice announcing the next step
    (``superseded_by_next_step``) is recorded as skipped, not sent, when a timer
    catching up finds that next step due at the same moment: the person hears of the
    step itself, not "tomorrow" and "now" at once.
    """

    type: str
    name: str
    description: str
    superseded_by_next_step: bool = False
    build: Callable[[Context[DataT, PolicyT, ParamsT]], Mapping[str, Any]] = lambda ctx: {}
    recipients: Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]] = lambda ctx: ()
    when: Callable[[Context[DataT, PolicyT, ParamsT]], bool] | None = None


@dataclass(frozen=True)
class TransitionSpec(Generic[DataT, PolicyT, ParamsT]):
    """One edge of the machine: ``trigger`` from any of ``sources`` to ``dest``.

    ``dest=None`` is an internal transition: the state stays, the data changes and the
    history records it. Several transitions may share a trigger (``advance`` to each
    later stage); ``when`` picks the one the request means, judged on its params.
    """

    trigger: str
    sources: tuple[str, ...]
    dest: str | None
    description: str
    role: Role = Role.OPERATOR
    params: type[ParamsT] | None = None
    guards: tuple[Guard[DataT, PolicyT, ParamsT], ...] = ()
    apply: Callable[[Context[DataT, PolicyT, ParamsT]], None] | None = None
    effects: tuple[EffectSpec[DataT, PolicyT, ParamsT], ...] = ()
    when: Callable[[Context[DataT, PolicyT, ParamsT]], bool] | None = None
    # Input checks that need the instance (a criterion of this pipeline, a date after
    # the current deadline...): returns {field: message}, raised as ValidationError.
    validate: Callable[[Context[DataT, PolicyT, ParamsT]], Mapping[str, str]] | None = None
    # Parameters that select this transition when only describing the instance.
    probe_params: Mapping[str, Any] | None = None
    # Drawn in the generated diagram; skip-ahead edges would drown the main path.
    in_diagram: bool = True
    # The sources the diagram draws it from, when not every one (a skip-forward rule).
    diagram_sources: tuple[str, ...] | None = None
    source_ref: str = ""

    @cached_property
    def probe(self) -> ParamsT | None:
        """The params describing judges this transition with, made once: the probe's values are
        the spec's own, trusted; required fields it does not name stay unset, which is why
        describing skips the guards judging input."""
        if self.params is None:
            return None
        return self.params.model_construct(**dict(self.probe_params or {}))


@dataclass(frozen=True)
class TimerSpec(Generic[DataT, PolicyT]):
    """While the lifecycle is in one of ``states``, at ``due``: fire ``trigger``, send ``effects``, or both.

    ``due`` returns the moment (or None when the timer does not apply); it is
    recomputed after every change, so a moved deadline re-arms the timer. A timer
    fires once for a given due moment. A timer with no ``trigger`` changes nothing:
    it records its ``effects`` (a reminder, a nudge) in the outbox, as the ``timer``
    actor, without a transition in the history. A timer with both sends its effects
    only when its transition is applied.
    """

    name: str
    states: tuple[str, ...]
    due: Callable[[Context[DataT, PolicyT]], datetime | None]
    description: str
    _: KW_ONLY
    trigger: str | None = None
    effects: tuple[EffectSpec[DataT, PolicyT], ...] = ()
    params: Callable[[Context[DataT, PolicyT]], Mapping[str, Any]] = lambda ctx: {}
    source_ref: str = ""


@dataclass(frozen=True)
class LifecycleSpec(Generic[DataT, PolicyT]):
    kind: str
    title: str
    description: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec[DataT, PolicyT], ...]
    timers: tuple[TimerSpec[DataT, PolicyT], ...]
    data_model: type[DataT]
    policy_model: type[PolicyT]
    summary_of: Callable[[DataT], str]
    # The state a new instance opens in. Left out, the first state declared: this default
    # only marks that, and ``__post_init__`` puts the first state in its place.
    initial_state: Callable[[DataT], str] = lambda data: ""
    # Who owns an instance (default: the data's ``owner`` field) and which account it is
    # about, as (id, name) (default: the data's ``account``, an ``Account``).
    owner_of: Callable[[DataT], str | None] = lambda data: _owned(data).owner
    account_of: Callable[[DataT], tuple[str, str] | None] = lambda data: _account_of(data)
    # Extra checks on a new instance's data beyond its field types (dates in order,
    # amounts consistent...): returns {field: message}.
    validate_open: Callable[[DataT, PolicyT, datetime], Mapping[str, str]] = lambda data, policy, now: {}
    # Fills in what a new instance's data leaves to the policy or to the moment it opens
    # (a trial's default expiry); runs before ``validate_open``. The API resolves it once,
    # and the workflow receives the filled-in data, so it only fills fields still unset.
    prepare_open: Callable[[DataT, PolicyT, datetime], None] = lambda data, policy, now: None
    # States a new instance may be opened in (default: only ``initial_state``).
    entry_states: Callable[[DataT], tuple[str, ...]] | None = None
    # Where diagrams start: the initial states (default: the first state declared).
    start_states: tuple[str, ...] = ()
    # Behaviour changes that running workflows must not see mid-run: the workflow asks
    # Temporal's ``workflow.patched`` for each id once, when a run starts, and spec code
    # branches on ``ctx.patched(id)``. Runs recorded before a patch replay unchanged
    # and adopt it when they continue as new.
    patches: tuple[str, ...] = ()
    # Its public names and read model (``workflows/engine/exposure.py``); the API and the
    # read model derive everything else from the spec.
    exposure: Exposure[DataT, PolicyT] | None = None

    def __post_init__(self) -> None:
        defaults = {f.name: f.default for f in fields(LifecycleSpec)}
        if self.initial_state is defaults["initial_state"]:
            first = self.states[0].name
            object.__setattr__(self, "initial_state", lambda data: first)
        for name, reads in (("owner_of", "owner"), ("account_of", "account")):
            if getattr(self, name) is defaults[name] and reads not in self.data_model.model_fields:
                raise ValueError(f"{self.kind}: the data has no {reads} field; declare {name}")
        if self.exposure is not None:
            # Frozen, like every spec object: what the exposure leaves out is filled in once, here.
            object.__setattr__(self, "exposure", self.exposure.completed(self.title, self.data_model))
        names = [s.name for s in self.states]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.kind}: duplicate state names")
        known = set(names)
        params_by_trigger: dict[str, type[BaseModel] | None] = {}
        for t in self.transitions:
            unknown = [s for s in (*t.sources, t.dest) if s is not None and s not in known]
            if unknown:
                raise ValueError(f"{self.kind}.{t.trigger}: unknown states {unknown}")
            if params_by_trigger.setdefault(t.trigger, t.params) is not t.params:
                raise ValueError(f"{self.kind}.{t.trigger}: all transitions of a trigger share one params model")
        triggers = set(params_by_trigger)
        for timer in self.timers:
            if timer.trigger is None and not timer.effects:
                raise ValueError(f"{self.kind} timer {timer.name}: fires no trigger and sends no effect")
            if timer.trigger is not None and timer.trigger not in triggers:
                raise ValueError(f"{self.kind} timer {timer.name}: unknown trigger {timer.trigger}")
            if not set(timer.states) <= known:
                raise ValueError(f"{self.kind} timer {timer.name}: unknown states")

    def state(self, name: str) -> StateSpec:
        for s in self.states:
            if s.name == name:
                return s
        raise KeyError(name)

    def params_model(self, trigger: str) -> type[BaseModel] | None:
        for t in self.transitions:
            if t.trigger == trigger:
                return t.params
        raise KeyError(trigger)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))


def guard(
    name: str, description: str, *, on_input: bool = False
) -> Callable[[Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]]], Guard[DataT, PolicyT, ParamsT]]:
    """Declare a guard from a function returning the unmet items."""

    def wrap(check: Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]]) -> Guard[DataT, PolicyT, ParamsT]:
        return Guard(name=name, description=description, check=check, on_input=on_input)

    return wrap


def reason_required(message: str) -> Guard[Any, Any]:
    """The request must carry a reason (moving back, waiving, cancelling...)."""
    return Guard(
        name="reason_required",
        description="A reason is recorded with the change.",
        check=lambda ctx: [] if (ctx.reason or "").strip() else [message],
        on_input=True,
    )


def notice(
    name: str,
    description: str,
    *,
    to: Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]],
    content: Callable[[Context[DataT, PolicyT, ParamsT]], Mapping[str, Any]],
    when: Callable[[Context[DataT, PolicyT, ParamsT]], bool] | None = None,
    superseded_by_next_step: bool = False,
) -> EffectSpec[DataT, PolicyT, ParamsT]:
    """A message to people whose ``content`` (subject, body and any extra fields) is built per firing.

    Recipients are owners, roles (``role:revenue_lead``) or channels (``channel:closed-won``).
    """
    return EffectSpec(
        "notify",
        name,
        description,
        build=content,
        recipients=to,
        when=when,
        superseded_by_next_step=superseded_by_next_step,
    )


def notify(
    name: str,
    description: str,
    *,
    to: Callable[[Context[DataT, PolicyT, ParamsT]], Sequence[str]],
    subject: Callable[[Context[DataT, PolicyT, ParamsT]], str],
    body: Callable[[Context[DataT, PolicyT, ParamsT]], str],
    when: Callable[[Context[DataT, PolicyT, ParamsT]], bool] | None = None,
    extra: Callable[[Context[DataT, PolicyT, ParamsT]], Mapping[str, Any]] = lambda ctx: {},
    superseded_by_next_step: bool = False,
) -> EffectSpec[DataT, PolicyT, ParamsT]:
    """A ``notice`` whose subject and body are written in the spec (see ``messages.send`` for templates)."""
    return notice(
        name,
        description,
        to=to,
        content=lambda ctx: {"subject": subject(ctx), "body": body(ctx), **extra(ctx)},
        when=when,
        superseded_by_next_step=superseded_by_next_step,
    )


def owner(ctx: Context[Any, Any]) -> list[str]:
    data: OwnedData = ctx.data
    return [data.owner]


def role(name: str) -> Callable[[Context[Any, Any]], list[str]]:
    return lambda ctx: [f"role:{name}"]


def channel(name: str) -> Callable[[Context[Any, Any]], list[str]]:
    return lambda ctx: [f"channel:{name}"]


def fire_on_account(
    name: str,
    description: str,
    *,
    account_id: Callable[[Context[DataT, PolicyT]], str | None],
    trigger: str,
    params: Callable[[Context[DataT, PolicyT]], Mapping[str, Any]] = lambda ctx: {},
    reason: Callable[[Context[DataT, PolicyT]], str | None] = lambda ctx: ctx.reason,
    kinds: tuple[str, ...] | None = None,
    when: Callable[[Context[DataT, PolicyT]], bool] | None = None,
) -> EffectSpec[DataT, PolicyT]:
    """Fire ``trigger`` on every open lifecycle of the account (of ``kinds``, all by default).

    Delivered as ``lifecycle.fire``: each target gets the trigger as an update from the
    service (role SYSTEM) on behalf of this transition's actor, with an idempotency key
    made of the effect id and the target, so a retried delivery applies it once.
    Targets that refuse it (ended meanwhile, nothing to change) are skipped.
    """
    return EffectSpec(
        type="lifecycle.fire",
        name=name,
        description=description,
        build=lambda ctx: {
            "account_id": account_id(ctx),
            "kinds": list(kinds) if kinds is not None else None,
            "exclude": [f"{ctx.kind}/{ctx.entity_id}"],
            "trigger": trigger,
            "params": dict(params(ctx)),
            "actor": ctx.actor,
            "reason": reason(ctx),
        },
        when=when,
    )


def fire_on(
    name: str,
    description: str,
    *,
    target: Callable[[Context[DataT, PolicyT]], tuple[str, str] | None],
    trigger: str,
    params: Callable[[Context[DataT, PolicyT]], Mapping[str, Any]] = lambda ctx: {},
    reason: Callable[[Context[DataT, PolicyT]], str | None] = lambda ctx: ctx.reason,
    when: Callable[[Context[DataT, PolicyT]], bool] | None = None,
) -> EffectSpec[DataT, PolicyT]:
    """Fire ``trigger`` on one other lifecycle, ``target(ctx)`` = (kind, entity id).

    Delivered like ``fire_on_account`` (``lifecycle.fire``, once, as the service on
    behalf of this transition's actor); nothing is sent when ``target`` returns None.
    """

    def build(ctx: Context[DataT, PolicyT]) -> dict[str, Any]:
        found = target(ctx)
        return {
            "targets": [{"kind": found[0], "entity_id": found[1]}] if found else [],
            "trigger": trigger,
            "params": dict(params(ctx)),
            "actor": ctx.actor,
            "reason": reason(ctx),
        }

    return EffectSpec(type="lifecycle.fire", name=name, description=description, build=build, when=when)
