"""GraphQL types every lifecycle shares: the Lifecycle interface, history, deadlines,
allowed transitions, the outbox, connections and the machine description."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLEnumType, GraphQLError, GraphQLInputObjectType
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField, Selection
from strawberry.utils.str_converters import to_camel_case

from schema.context import Info
from schema.errors import (
    Refusal,
    camel,
    to_error,
)
from services.pagination import Page, encode_cursor
from services.per_account import fire_for_account
from services.read_model import describe, snapshot_of
from workflows.engine.diagram import mermaid
from workflows.engine.errors import Rejection
from workflows.engine.errors import ValidationError as EngineValidationError
from workflows.engine.spec import LifecycleSpec, Role
from workflows.engine.types import OMITTABLE_PARTS, LifecycleSnapshot, TransitionResult
from workflows.engine.values import request_field_errors
from workflows.registry import SPECS

T = TypeVar("T")


@dataclass(frozen=True)
class SchemaPart:
    """Queries, mutations and a type to add to the schema.

    A kind's are derived from its spec (``schema/derived.py``); what is truly special to
    it (a quote, an account view) is declared as ``PART`` in ``schema/<its module>.py``
    and found there (services/kinds.py).
    """

    query: type | None = None
    mutation: type | None = None
    type: type | None = None


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    # The sort keys of the page's first and last rows: their cursors are encoded only when selected.
    start_key: strawberry.Private[Sequence[Any] | None]
    end_key: strawberry.Private[Sequence[Any] | None]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return encode_cursor(self.start_key) if self.start_key is not None else None

    @strawberry.field
    def end_cursor(self) -> str | None:
        return encode_cursor(self.end_key) if self.end_key is not None else None


@strawberry.type
class Edge(Generic[T]):
    # Encoded only when the query selects the edge's cursor: a list that pages by
    # pageInfo.endCursor needs one cursor a page, not one per node.
    key: strawberry.Private[Sequence[Any]]
    cursor: str = strawberry.field(resolver=lambda self: encode_cursor(self.key))
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    # Counted only when the query selects totalCount (asks_for_total).
    total: strawberry.Private[int | None]

    @strawberry.field
    def total_count(self) -> int:
        if self.total is None:
            raise GraphQLError("totalCount was not counted for this selection.")
        return self.total

    @strawberry.field
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of a selection set, fragments' (whatever their type condition) included."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def asks_for_total(info: Info) -> bool:
    """Whether the list field being resolved selects its connection's totalCount, directly or
    through fragments (a skipped one still counts: that only costs the count)."""
    # One node per time the query names the field: GraphQL merges their selections.
    return any(read.name == "totalCount" for field in info.selected_fields for read in _fields(field.selections))


def projected_field() -> Any:
    """A change's ``projected`` flag, on every ``...Changed`` answer."""
    return strawberry.field(
        default=True,
        description="The read model has this change. False when the database did not take it in time: the "
        "change is applied (Temporal has it) and the projection is retried; lists catch up, and a projection "
        "that keeps failing shows in python -m services.reconcile.",
    )


def connection(page: Page[Any], wrap: Callable[[Any], T]) -> Connection[T]:
    return Connection(
        edges=[Edge(key=key, node=wrap(item)) for item, key in zip(page.items, page.keys, strict=True)],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_key=page.keys[0] if page.keys else None,
            end_key=page.keys[-1] if page.keys else None,
        ),
        total=page.total,
    )


@strawberry.type(description="One applied transition: the lifecycle's audit log.")
class Transition:
    seq: int
    trigger: str
    from_state: str = strawberry.field(description="Empty for the opening of the lifecycle.")
    to_state: str
    actor: str = strawberry.field(description='The authenticated caller, or "timer".')
    reason: str | None
    at: datetime
    params: JSON
    idempotency_key: str | None

    @classmethod
    def of(cls, record: Any) -> Transition:
        return cls(
            seq=record.seq,
            trigger=record.trigger,
            from_state=record.from_state,
            to_state=record.to_state,
            actor=record.actor,
            reason=record.reason,
            at=record.at,
            params=record.params,
            idempotency_key=record.idempotency_key,
        )


@strawberry.type(description="A timer armed in the lifecycle's current state.")
class Deadline:
    timer: str
    trigger: str
    due_at: datetime
    description: str


@strawberry.type(description="A trigger leaving the current state, and what keeps it from firing now.")
class AvailableTransition:
    trigger: str
    to_state: str | None = strawberry.field(description="Null for a change that keeps the state.")
    description: str
    required_role: Role
    allowed: bool = strawberry.field(description="Its conditions are met now (the caller's role aside).")
    unmet: list[str]
    params: JSON = strawberry.field(description='The parameters that select this edge, e.g. {"to": ...}.')


# A delivery error quotes what the receiver answered (up to 200 characters of another
# system's response, URLs included): operators see it, viewers do not.
ERROR_VISIBILITY = "Why the last attempt failed, with the start of the receiver's answer; null for viewers."


@strawberry.type(description="An effect's delivery through one channel (email, slack, webhook:<name>, log...).")
class EffectDelivery:
    channel: str
    status: str
    attempts: int
    last_error: str | None = strawberry.field(description=ERROR_VISIBILITY)
    delivered_at: datetime | None


@strawberry.type(description="A side effect in the outbox and how its delivery went.")
class Effect:
    id: str
    seq: int
    type: str
    name: str
    recipients: list[str]
    payload: JSON
    status: str = strawberry.field(description="PENDING, DELIVERED, FAILED, or SKIPPED (decided, then not sent).")
    attempts: int
    last_error: str | None = strawberry.field(description=ERROR_VISIBILITY)
    created_at: datetime
    delivered_at: datetime | None
    deliveries: list[EffectDelivery]
    skipped_reason: str | None = strawberry.field(
        default=None, description="Why a SKIPPED effect was not sent (a notice superseded by the step it announced)."
    )

    @classmethod
    def of(cls, r: Any, deliveries: list[Any], *, errors_shown: bool) -> Effect:
        """``errors_shown``: the caller may read delivery errors (operators and up)."""
        return cls(
            id=r.id,
            seq=r.seq,
            type=r.type,
            name=r.name,
            recipients=r.recipients,
            payload=JSON(r.payload),
            status=str(r.status),
            attempts=r.attempts,
            last_error=r.last_error if errors_shown else None,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
            skipped_reason=r.skipped_reason,
            deliveries=[
                EffectDelivery(
                    channel=d.channel,
                    status=str(d.status),
                    attempts=d.attempts,
                    last_error=d.last_error if errors_shown else None,
                    delivered_at=d.delivered_at,
                )
                for d in deliveries
            ],
        )


def served_as_attributes(cls: type, reads: Mapping[str, Callable[[Any], Any]]) -> None:
    """Serve fields of a strawberry type declared without resolvers as properties: ``reads``
    maps each to what it shows of an instance.

    Strawberry resolves a field without a resolver by reading the instance's attribute, its
    fast path: a resolver for every leaf of every node cost a list page ~10% of the API's CPU
    (py-spy, docs/performance.md). Set after the type is made, so that the dataclass sees
    no defaults; its instances are made by an ``__init__`` of the type's own, which sets
    none of these fields.
    """
    for name, read in reads.items():
        setattr(cls, name, property(read))


@strawberry.interface(description="What every lifecycle has, whatever its kind.")
class Lifecycle:
    # Its snapshot, or its row of the read model: a row has the snapshot's fields by name, so
    # the plain fields read either, and a list's rows become snapshots (a validation each) only
    # for a field that needs one.
    source: strawberry.Private[Any]

    id: strawberry.ID
    kind: str
    workflow_id: str = strawberry.field(description="The Temporal workflow id, to find it in the Web UI.")
    state_name: str = strawberry.field(description="The current state, as a plain string.")
    terminal: bool
    owner: str | None
    summary: str
    version: int = strawberry.field(description="Sequence number of the last applied transition.")
    opened_at: datetime
    state_entered_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    next_deadline: datetime | None = strawberry.field(description="The earliest armed timer's moment.")

    @cached_property
    def snapshot(self) -> LifecycleSnapshot:
        return self.source if isinstance(self.source, LifecycleSnapshot) else snapshot_of(self.source)

    @strawberry.field(description="Every armed timer, earliest first.")
    def deadlines(self) -> list[Deadline]:
        return [
            Deadline(timer=d.timer, trigger=d.trigger, due_at=d.due_at, description=d.description)
            for d in self.snapshot.deadlines
        ]

    @strawberry.field(description="The pinned policy: every duration and threshold in force for this instance.")
    def policy(self) -> JSON:
        return JSON(self.snapshot.policy)

    @strawberry.field(description="Every trigger leaving the current state, with its unmet conditions.")
    async def available_transitions(self, info: Info) -> list[AvailableTransition]:
        facts = await info.context.loaders.facts.load(self.snapshot)
        return [
            AvailableTransition(
                trigger=a.trigger,
                to_state=a.to_state,
                description=a.description,
                required_role=a.role,
                allowed=a.allowed,
                unmet=a.unmet,
                params=JSON(a.params),
            )
            for a in describe(self.snapshot, datetime.now(UTC), facts)
        ]

    @strawberry.field(description="The audit log, oldest first.")
    async def history(self, info: Info, first: int = 50, after: str | None = None) -> Connection[Transition]:
        page = await info.context.loaders.history.load((self.snapshot.workflow_id, first, after))
        return connection(page, Transition.of)

    @strawberry.field(
        description="The side effects its transitions decided, and their delivery: the first `first` (by "
        "default as many as a page may hold), oldest first; effectsPage pages through all of them."
    )
    async def effects(self, info: Info, first: int | None = None) -> list[Effect]:
        size = info.context.settings.max_page_size if first is None else first
        page, deliveries = await info.context.loaders.effects.load((self.snapshot.workflow_id, size, None))
        shown = info.context.principal.role >= Role.OPERATOR
        return [Effect.of(row, deliveries.get(row.id, []), errors_shown=shown) for row in page.items]

    @strawberry.field(description="The side effects, oldest first, a page at a time.")
    async def effects_page(self, info: Info, first: int = 50, after: str | None = None) -> Connection[Effect]:
        page, deliveries = await info.context.loaders.effects.load((self.snapshot.workflow_id, first, after))
        shown = info.context.principal.role >= Role.OPERATOR
        return connection(page, lambda row: Effect.of(row, deliveries.get(row.id, []), errors_shown=shown))


# What each of the interface's plain fields shows of the lifecycle's snapshot (or row).
SNAPSHOT_READS: dict[str, Callable[[LifecycleSnapshot], Any]] = {
    "id": lambda s: strawberry.ID(s.entity_id),
    "kind": lambda s: s.kind,
    "workflow_id": lambda s: s.workflow_id,
    "state_name": lambda s: s.state,
    "terminal": lambda s: s.terminal,
    "owner": lambda s: s.owner,
    "summary": lambda s: s.summary,
    "version": lambda s: s.seq,
    "opened_at": lambda s: s.opened_at,
    "state_entered_at": lambda s: s.state_entered_at,
    "updated_at": lambda s: s.updated_at,
    "closed_at": lambda s: s.closed_at,
    "next_deadline": lambda s: s.next_deadline,
}


def _of_source(read: Callable[[LifecycleSnapshot], Any]) -> Callable[[Any], Any]:
    return lambda lifecycle: read(lifecycle.source)


served_as_attributes(Lifecycle, {name: _of_source(read) for name, read in SNAPSHOT_READS.items()})


@strawberry.type(description="A lifecycle of any kind, with its data as JSON.")
class GenericLifecycle(Lifecycle):
    def __init__(self, *, source: Any) -> None:
        self.source = source

    @strawberry.field
    def data(self) -> JSON:
        # Lifecycles carry their data's fields only (stored_data); the JSON shows its
        # derived fields too, computed from them as the kind's own type computes them.
        spec = SPECS.get(self.snapshot.kind)
        if spec is None or not spec.data_model.model_computed_fields:
            return JSON(self.snapshot.data)
        return JSON(spec.data_model.model_validate(self.snapshot.data).model_dump(mode="json"))

    @strawberry.field
    def account_id(self) -> str | None:
        return self.snapshot.account_id


# ---- the machine description -------------------------------------------------------------


@strawberry.type
class ChecklistItem:
    key: str
    label: str
    source: str


@strawberry.type
class MachineState:
    name: str
    description: str
    terminal: bool
    probability: int | None
    checklist: list[ChecklistItem]
    metadata: JSON


@strawberry.type
class MachineGuard:
    name: str
    description: str


@strawberry.type
class MachineEffect:
    type: str
    name: str
    description: str


@strawberry.type
class MachineTransition:
    trigger: str
    from_states: list[str]
    to_state: str | None
    description: str
    required_role: Role
    guards: list[MachineGuard]
    effects: list[MachineEffect]
    source: str
    params_schema: JSON | None = strawberry.field(
        description="The JSON Schema of the trigger's parameters (null when it takes none), so a generic client "
        "can build the form and check it before sending."
    )


@strawberry.type
class MachineTimer:
    name: str
    trigger: str = strawberry.field(description="Empty for a timer that only sends its effects.")
    effects: list[str] = strawberry.field(description="The effects it sends when it fires, by name.")
    states: list[str]
    description: str
    source: str


@strawberry.type(description="One field of a kind's list filter, as a generic client builds its control.")
class ListFilterField:
    name: str
    type: str = strawberry.field(description='Its GraphQL input type, e.g. "[OpportunityStage!]" or "Date".')
    description: str | None
    values: list[str] = strawberry.field(description="An enum's values; empty for other types.")


@strawberry.type(
    description="The kind's own list and lookup queries (derived from its declaration), so a generic client "
    "can ask them without introspection."
)
class LifecycleListQuery:
    type_name: str = strawberry.field(description='The kind\'s GraphQL type, e.g. "Opportunity".')
    lookup: str = strawberry.field(description='The one-by-id query, e.g. "opportunity".')
    id_argument: str = strawberry.field(description='The lookup\'s id argument, e.g. "invoiceId".')
    query: str = strawberry.field(description='The list query, e.g. "opportunities".')
    filter_type: str
    order_type: str
    default_order: str
    orders: list[str]
    filters: list[ListFilterField]


def _named(graphql_type: Any) -> Any:
    while hasattr(graphql_type, "of_type"):
        graphql_type = graphql_type.of_type
    return graphql_type


@strawberry.type(description="A lifecycle kind's machine: states, transitions, guards, timers, default policy.")
class LifecycleMachine:
    spec: strawberry.Private[LifecycleSpec]

    @strawberry.field
    def kind(self) -> str:
        return self.spec.kind

    @strawberry.field
    def title(self) -> str:
        return self.spec.title

    @strawberry.field
    def description(self) -> str:
        return self.spec.description

    @strawberry.field
    def states(self) -> list[MachineState]:
        return [
            MachineState(
                name=s.name,
                description=s.description,
                terminal=s.terminal,
                probability=s.probability,
                checklist=[ChecklistItem(key=c.key, label=c.label, source=c.source) for c in s.checklist],
                metadata=JSON(dict(s.metadata)),
            )
            for s in self.spec.states
        ]

    @strawberry.field
    def transitions(self) -> list[MachineTransition]:
        return [
            MachineTransition(
                trigger=t.trigger,
                from_states=list(t.sources),
                to_state=t.dest,
                description=t.description,
                required_role=t.role,
                guards=[MachineGuard(name=g.name, description=g.description) for g in t.guards],
                effects=[MachineEffect(type=e.type, name=e.name, description=e.description) for e in t.effects],
                source=t.source_ref,
                params_schema=JSON(t.params.model_json_schema()) if t.params is not None else None,
            )
            for t in self.spec.transitions
        ]

    @strawberry.field
    def timers(self) -> list[MachineTimer]:
        return [
            MachineTimer(
                name=t.name,
                trigger=t.trigger or "",
                effects=[e.name for e in t.effects],
                states=list(t.states),
                description=t.description,
                source=t.source_ref,
            )
            for t in self.spec.timers
        ]

    @strawberry.field(description="The policy a new instance gets unless overridden.")
    def default_policy(self, info: Info) -> JSON:
        policy = info.context.settings.policy_for(self.spec.kind)
        return JSON(self.spec.policy_model.model_validate(policy).model_dump(mode="json"))

    @strawberry.field(description="A Mermaid state diagram of the machine.")
    def mermaid(self) -> str:
        return mermaid(self.spec)

    @strawberry.field(description="The kind's own list and lookup queries; null for a kind without them.")
    def list_query(self, info: Info) -> LifecycleListQuery | None:
        exposure = self.spec.exposure
        if exposure is None:
            return None
        # Read from the schema being served, so this says exactly what the list query accepts.
        types = info.schema._schema.type_map
        filter_type, order_type = f"{exposure.type_name}Filter", f"{exposure.type_name}Order"
        filter_input, order_enum = types[filter_type], types[order_type]
        assert isinstance(filter_input, GraphQLInputObjectType) and isinstance(order_enum, GraphQLEnumType)
        filters = [
            ListFilterField(
                name=name,
                type=str(field.type),
                description=field.description,
                values=list(getattr(_named(field.type), "values", None) or []),
            )
            for name, field in filter_input.fields.items()
        ]
        return LifecycleListQuery(
            type_name=exposure.type_name,
            lookup=exposure.one,
            id_argument=camel(exposure.id_name),
            query=exposure.many,
            filter_type=filter_type,
            order_type=order_type,
            default_order=exposure.default_order,
            orders=list(order_enum.values),
            filters=filters,
        )


# ---- running a mutation ------------------------------------------------------------------


def _id_field(kind: str) -> str:
    """The input field carrying the entity id, as the kind's exposure names it."""
    exposure = SPECS[kind].exposure if kind in SPECS else None
    return camel(exposure.id_name) if exposure is not None else "id"


def _ids_made_by_service(kind: str) -> bool:
    """A kind numbered per account, or without an opening mutation, has ids the service makes
    (a handover's ``<account id>/<n>``)."""
    exposure = SPECS[kind].exposure if kind in SPECS else None
    return exposure is not None and (exposure.opening is None or exposure.account_numbered)


def _check_request(kind: str, entity_id: str, reason: str | None, idempotency_key: str | None) -> None:
    """Refuse an id, reason or key out of bounds before anything reaches Temporal."""
    from_client = not _ids_made_by_service(kind)
    errors = request_field_errors(entity_id, reason, idempotency_key, from_client=from_client)
    if errors:
        raise EngineValidationError("The request is invalid.", fields=errors)


# Lifecycle fields that read neither the pinned policy nor the deadlines (OMITTABLE_PARTS).
LIGHT_LIFECYCLE_FIELDS = frozenset(
    {
        "id",
        "kind",
        "workflow_id",
        "state_name",
        "terminal",
        "owner",
        "summary",
        "version",
        "opened_at",
        "state_entered_at",
        "updated_at",
        "closed_at",
        "next_deadline",
        "history",
        "effects",
        "effects_page",
    }
)


@dataclass(frozen=True)
class LeanAnswer:
    """A mutation's answer whose lifecycle (the answer's field ``field``, a Python name) reads
    none of the snapshot's OMITTABLE_PARTS while only its ``light`` fields are selected: the
    workflow then leaves those parts out of the update's result (and out of the history)."""

    field: str
    light: frozenset[str]

    @cached_property
    def _graphql_names(self) -> tuple[str, frozenset[str]]:
        """``field`` and ``light`` as the schema names them (asked on every mutation)."""
        return to_camel_case(self.field), frozenset(to_camel_case(name) for name in self.light)

    def unread_parts(self, info: Info) -> list[str]:
        """The snapshot parts this request's selection does not read: all of them, or none."""
        field, light = self._graphql_names
        for answered in _fields(info.selected_fields):
            for selected in _fields(answered.selections):
                if selected.name != field:
                    continue
                if any(read.name not in light and read.name != "__typename" for read in _fields(selected.selections)):
                    return []
        return list(OMITTABLE_PARTS)


async def fire(
    info: Info,
    kind: str,
    entity_id: str,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    reason: str | None = None,
    idempotency_key: str | None = None,
    field_names: dict[str, str] | None = None,
    params_path: str | None = None,
    lean: LeanAnswer | None = None,
) -> TransitionResult | Refusal:
    """Fire a trigger as the caller; an expected refusal comes back as its union member.

    Who may fire the trigger is the engine's one rule (``require_role``), applied by the
    gateway before anything is read. ``lean``: how the mutation's answer reads the
    lifecycle, so the update's result leaves out what the selection does not read.
    """
    ctx = info.context
    field_names = {"id": _id_field(kind), **(field_names or {})}
    try:
        _check_request(kind, entity_id, reason, idempotency_key)
        return await ctx.gateway.transition(
            kind,
            entity_id,
            trigger,
            params,
            principal=ctx.principal,
            reason=reason,
            idempotency_key=idempotency_key,
            answer_omits=lean.unread_parts(info) if lean is not None else (),
        )
    except Rejection as rejection:
        return to_error(rejection, field_names, params_path=params_path)


async def fire_on_account_instance(
    info: Info,
    kind: str,
    account: dict[str, Any],
    owner: str | None,
    trigger: str,
    params: dict[str, Any],
    *,
    reason: str | None = None,
    idempotency_key: str | None = None,
) -> TransitionResult | Refusal:
    """Fire a trigger of a per-account kind on the account's open instance, opening one if none is open."""
    ctx = info.context
    errors = request_field_errors(str(account.get("id", "")), reason, idempotency_key, from_client=True)
    try:
        if errors:
            raise EngineValidationError("The request is invalid.", fields=errors)
        return await fire_for_account(
            ctx.gateway,
            kind,
            account,
            owner,
            trigger,
            params,
            principal=ctx.principal,
            reason=reason,
            idempotency_key=idempotency_key,
        )
    except Rejection as rejection:
        return to_error(rejection, {"id": "account.id"})


async def open_lifecycle(
    info: Info,
    kind: str,
    entity_id: str,
    data: dict[str, Any],
    *,
    policy: dict[str, Any] | None,
    initial_state: str | None,
    reason: str | None = None,
    field_names: dict[str, str] | None = None,
) -> TransitionResult | Refusal:
    ctx = info.context
    id_field = "account.id" if _ids_made_by_service(kind) else _id_field(kind)
    field_names = {"id": id_field, **(field_names or {})}
    try:
        _check_request(kind, entity_id, reason, None)
        return await ctx.gateway.open(
            kind,
            entity_id,
            data,
            principal=ctx.principal,
            policy=policy,
            initial_state=initial_state,
            reason=reason,
        )
    except Rejection as rejection:
        return to_error(rejection, field_names)
