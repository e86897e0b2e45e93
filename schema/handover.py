"""GraphQL for handovers: the handover, its list, each step, and the account view."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema.common import (
    Connection,
    GenericLifecycle,
    Lifecycle,
    SchemaPart,
    Transition,
    connection,
    fire,
    open_lifecycle,
    projected_field,
)
from schema.context import Info
from schema.errors import (
    AlreadyExists,
    Forbidden,
    GuardFailed,
    IdempotencyKeyReused,
    InvalidTransition,
    NotFound,
    ValidationError,
    to_error,
)
from schema.inputs import Account, AccountInput, given, one_of
from schema.scalars import Money
from services.facts import gather
from services.handover import HandoverFilter as HandoverQueryFilter
from services.handover import (
    HandoverOrder,
    account_name,
    account_owner,
    list_handovers,
    next_handover_id,
    open_lifecycles,
)
from services.read_model import get_snapshot, snapshot_of
from workflows.engine.errors import Rejection
from workflows.engine.spec import Context, Role
from workflows.engine.types import TransitionResult
from workflows.handover import (
    FOLLOW_UPS,
    KIND,
    READINESS,
    READINESS_GUARDS,
    VALID_REASONS,
    AccountRegion,
    FollowUpItem,
    HandoverData,
    HandoverPolicy,
    HandoverReason,
    HandoverState,
    OwnerRole,
    OwnerTeam,
    PaidProduct,
    PushBackFlag,
    PushBackResolution,
    follow_up_due,
    primary_products_onboarded,
    suggested_team,
)

strawberry.enum(HandoverState, description="Where a handover stands (004:2236-2729, reference-accounts.md §5(b)).")
strawberry.enum(
    HandoverReason,
    description="Why an account is handed off. NO_RESPONSE, CHAMPION_LEFT, LOW_ACTIVITY_OR_POOR_HEALTH, "
    "PERSONALITY_CLASH and DIFFICULT_CUSTOMER are not valid reasons (004:2321-2336, 004:8186).",
)
strawberry.enum(OwnerRole, description="The outgoing owner's role.")
strawberry.enum(OwnerTeam, description="The team an account is allocated to (004:2345-2351).")
strawberry.enum(AccountRegion, description="Where the incoming owner is based (004:2342).")
strawberry.enum(PaidProduct, description="Products with an onboarding checklist (004:2425-2496).")
strawberry.enum(PushBackFlag, description="What the incoming owner finds wrong (004:2654-2711).")
for _enum in (PushBackResolution, FollowUpItem, HandoverOrder):
    strawberry.enum(_enum)

# Spec field names (in ValidationError) -> the input fields a client sent.
FIELD_NAMES = {"owner": "outgoingOwner"}


@strawberry.type
class HandoverAccountPlan:
    link: str
    updated_on: date = strawberry.field(description="When the note itself was last updated.")
    recorded_by: str
    recorded_at: datetime


@strawberry.type
class HandoverHealthCheck:
    healthy: bool
    note: str
    checked_by: str
    checked_at: datetime


@strawberry.type(description="A push-back by the incoming owner and how it was resolved.")
class HandoverPushBack:
    flags: list[PushBackFlag]
    note: str | None
    raised_by: str
    raised_at: datetime
    resolution: PushBackResolution | None
    resolved_by: str | None
    resolved_at: datetime | None
    resolution_note: str | None


@strawberry.type(description="The handover call between the outgoing and incoming owner (004:2504).")
class HandoverCallRecord:
    held_at: datetime
    notes: str | None
    recorded_by: str


@strawberry.type(description="One of the incoming owner's actions in the week after the call (004:2622-2631).")
class HandoverFollowUp:
    item: FollowUpItem
    label: str
    source: str
    done: bool
    note: str | None
    recorded_by: str | None
    recorded_at: datetime | None


@strawberry.type(description="An item of the readiness checklist READY needs, as it stands now.")
class HandoverReadinessItem:
    key: str
    label: str
    source: str
    met: bool
    unmet: list[str]


@strawberry.type(description="An account moving from its owner to another (004:2236-2729).")
class Handover(Lifecycle):
    data: strawberry.Private[HandoverData]
    policy_model: strawberry.Private[HandoverPolicy]

    @classmethod
    def of(cls, snapshot: Any) -> Handover:
        return cls(
            snapshot=snapshot,
            data=HandoverData.model_validate(snapshot.data),
            policy_model=HandoverPolicy.model_validate(snapshot.policy),
        )

    @strawberry.field
    def state(self) -> HandoverState:
        return HandoverState(self.snapshot.state)

    @strawberry.field
    def account(self) -> Account:
        return Account(id=self.data.account.id, name=self.data.account.name)

    @strawberry.field
    def arr(self) -> Money:
        return Money(self.data.arr)

    @strawberry.field(description="The account's owner until the handover completes.")
    def outgoing_owner(self) -> str:
        return self.data.owner

    @strawberry.field(description="Outgoing owners this handover replaced.")
    def previous_owners(self) -> list[str]:
        return self.data.previous_owners

    @strawberry.field
    def outgoing_role(self) -> OwnerRole:
        return self.data.outgoing_role

    @strawberry.field
    def reason(self) -> HandoverReason:
        return self.data.reason

    @strawberry.field
    def reason_explained(self) -> str:
        return VALID_REASONS.get(self.data.reason, "")

    @strawberry.field
    def reason_note(self) -> str | None:
        return self.data.reason_note

    @strawberry.field
    def paid_products(self) -> list[PaidProduct]:
        return self.data.paid_products

    @strawberry.field
    def onboarded_products(self) -> list[PaidProduct]:
        return self.data.onboarded_products

    @strawberry.field(description="Primary products (session replay, feature flags, error tracking) onboarded.")
    def primary_products_onboarded(self) -> list[PaidProduct]:
        return primary_products_onboarded(self.data)

    @strawberry.field(
        description="The handbook's team for this account: CSM when onboarded to all 3 primary "
        "products, TAM for 1-2 (004:2406)."
    )
    def suggested_team(self) -> OwnerTeam:
        return suggested_team(self.data, self.policy_model)

    @strawberry.field(description="The team the allocator chose.")
    def team(self) -> OwnerTeam | None:
        return self.data.team

    @strawberry.field
    def region(self) -> AccountRegion | None:
        return self.data.region

    @strawberry.field
    def incoming_owner(self) -> str | None:
        return self.data.incoming_owner

    @strawberry.field
    def account_plan(self) -> HandoverAccountPlan | None:
        plan = self.data.account_plan
        if plan is None:
            return None
        return HandoverAccountPlan(
            link=plan.link,
            updated_on=plan.updated_on,
            recorded_by=plan.recorded_by,
            recorded_at=plan.recorded_at,
        )

    @strawberry.field
    def health_check(self) -> HandoverHealthCheck | None:
        check = self.data.health_check
        if check is None:
            return None
        return HandoverHealthCheck(
            healthy=check.healthy, note=check.note, checked_by=check.checked_by, checked_at=check.checked_at
        )

    @strawberry.field(description="The readiness checklist READY needs, judged now (open late payments included).")
    async def readiness(self, info: Info) -> list[HandoverReadinessItem]:
        s = self.snapshot
        facts = await gather(info.context.sessions, KIND, s.entity_id, ["mark_ready"])
        ctx: Context[Any, Any] = Context(
            kind=s.kind,
            entity_id=s.entity_id,
            state=s.state,
            data=self.data,
            policy=self.policy_model,
            now=datetime.now(UTC),
            opened_at=s.opened_at,
            state_entered_at=s.state_entered_at,
            seq=s.seq,
            describing=True,
            facts=facts,
        )
        out = []
        for item, check in zip(READINESS, READINESS_GUARDS, strict=True):
            unmet = list(check.check(ctx))
            out.append(
                HandoverReadinessItem(key=item.key, label=item.label, source=item.source, met=not unmet, unmet=unmet)
            )
        return out

    @strawberry.field
    def push_backs(self) -> list[HandoverPushBack]:
        return [
            HandoverPushBack(
                flags=p.flags,
                note=p.note,
                raised_by=p.raised_by,
                raised_at=p.raised_at,
                resolution=p.resolution,
                resolved_by=p.resolved_by,
                resolved_at=p.resolved_at,
                resolution_note=p.resolution_note,
            )
            for p in self.data.push_backs
        ]

    @strawberry.field
    def call(self) -> HandoverCallRecord | None:
        call = self.data.call
        return (
            HandoverCallRecord(held_at=call.held_at, notes=call.notes, recorded_by=call.recorded_by) if call else None
        )

    @strawberry.field
    def follow_ups(self) -> list[HandoverFollowUp]:
        out = []
        for item, checklist in FOLLOW_UPS.items():
            record = self.data.follow_ups.get(item)
            out.append(
                HandoverFollowUp(
                    item=item,
                    label=checklist.label,
                    source=checklist.source,
                    done=record is not None,
                    note=record.note if record else None,
                    recorded_by=record.recorded_by if record else None,
                    recorded_at=record.recorded_at if record else None,
                )
            )
        return out

    @strawberry.field(description="When the follow-ups are due (a week after the call), while any is missing.")
    def follow_up_due_at(self) -> datetime | None:
        return follow_up_due(self.data, self.policy_model)

    @strawberry.field
    def follow_up_overdue(self) -> bool:
        due = follow_up_due(self.data, self.policy_model)
        return due is not None and due <= datetime.now(UTC)


@strawberry.type(description="The transition applied and the handover as the read model now has it.")
class HandoverChanged:
    handover: Handover
    transition: Transition
    projected: bool = projected_field()


HandoverResult = Annotated[
    HandoverChanged
    | NotFound
    | AlreadyExists
    | InvalidTransition
    | GuardFailed
    | ValidationError
    | Forbidden
    | IdempotencyKeyReused,
    strawberry.union("HandoverResult"),
]
HandoverLookup = Annotated[Handover | NotFound, strawberry.union("HandoverLookup")]


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return HandoverChanged(
            handover=Handover.of(outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


@strawberry.type(
    description="An account as the lifecycles know it: its owner, its open lifecycles and its handovers. The owner "
    "is the incoming owner of the latest completed handover; before one completes, the outgoing owner named by "
    "the latest handover request."
)
class AccountView:
    id: strawberry.ID
    name: str | None
    owner: str | None
    owner_since: datetime | None = strawberry.field(
        description="When the completed handover that made them the owner ended; null when only a request names them."
    )

    @strawberry.field(description="The account's open lifecycles of every kind, oldest first.")
    async def open_lifecycles(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> Connection[GenericLifecycle]:
        async with info.context.sessions() as session:
            page = await open_lifecycles(
                session, self.id, first=first, after=after, max_page_size=info.context.settings.max_page_size
            )
        return connection(page, lambda row: GenericLifecycle(snapshot=snapshot_of(row)))

    @strawberry.field(description="The account's handovers, newest first.")
    async def handovers(self, info: Info, first: int = 20, after: str | None = None) -> Connection[Handover]:
        return await _handover_page(
            info, HandoverQueryFilter(account_id=self.id), HandoverOrder.OPENED_AT_DESC, first, after
        )


AccountLookup = Annotated[AccountView | NotFound, strawberry.union("AccountLookup")]


async def _handover_page(
    info: Info, query_filter: HandoverQueryFilter, order: HandoverOrder, first: int, after: str | None
) -> Connection[Handover]:
    async with info.context.sessions() as session:
        page = await list_handovers(
            session,
            query_filter,
            order,
            now=datetime.now(UTC),
            first=first,
            after=after,
            max_page_size=info.context.settings.max_page_size,
        )
    return connection(page, lambda row: Handover.of(snapshot_of(row)))


# ---- inputs ----------------------------------------------------------------------------------


@strawberry.input(description="A handover request. Enum-valued fields take the enum's names as strings.")
class RequestHandoverInput:
    account: AccountInput
    arr: Money
    outgoing_owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    outgoing_role: str = strawberry.field(description=one_of(OwnerRole))
    reason: str = strawberry.field(description=one_of(HandoverReason))
    reason_note: str | None = None
    paid_products: list[str] = strawberry.field(description=one_of(PaidProduct))
    onboarded_products: list[str] | None = strawberry.field(default=None, description="Among the paid products.")
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides for this handover (admin only).")


@strawberry.input
class AllocateHandoverInput:
    id: strawberry.ID
    team: str = strawberry.field(description=one_of(OwnerTeam))
    region: str = strawberry.field(description=one_of(AccountRegion))
    reason: str | None = strawberry.field(default=None, description="Needed when the team is not the suggested one.")
    idempotency_key: str | None = None


@strawberry.input
class AssignHandoverInput:
    id: strawberry.ID
    incoming_owner: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class HandoverAccountPlanInput:
    id: strawberry.ID
    link: str = strawberry.field(description="Where the account plan note is (Vitally).")
    updated_on: date
    idempotency_key: str | None = None


@strawberry.input
class HandoverOnboardingInput:
    id: strawberry.ID
    product: str = strawberry.field(description=one_of(PaidProduct))
    idempotency_key: str | None = None


@strawberry.input
class HandoverHealthCheckInput:
    id: strawberry.ID
    healthy: bool
    note: str
    idempotency_key: str | None = None


@strawberry.input
class HandoverStepInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class PushBackHandoverInput:
    id: strawberry.ID
    flags: list[str] = strawberry.field(description=one_of(PushBackFlag))
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class HandoverCallInput:
    id: strawberry.ID
    held_at: datetime | None = strawberry.field(default=None, description="When the call was held (default: now).")
    notes: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class HandoverFollowUpInput:
    id: strawberry.ID
    item: str = strawberry.field(description=one_of(FollowUpItem))
    note: str
    idempotency_key: str | None = None


@strawberry.input
class HandoverFilter:
    state: list[HandoverState] | None = None
    account_id: str | None = None
    outgoing_owner: str | None = None
    incoming_owner: str | None = None
    region: list[AccountRegion] | None = None
    overdue_follow_up: bool | None = strawberry.field(
        default=None, description="True: follow-ups past due and still missing; false: all others."
    )


# ---- queries and mutations -------------------------------------------------------------------


@strawberry.type
class HandoverQuery:
    @strawberry.field(description='One handover, from the read model; ids are "<account id>/<n>".')
    async def handover(self, info: Info, id: strawberry.ID) -> HandoverLookup:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, id)
        if snapshot is None:
            return NotFound(message=f"There is no handover {id!r}.")
        return Handover.of(snapshot)

    @strawberry.field(description="Handovers matching the filter, a page at a time.")
    async def handovers(
        self,
        info: Info,
        filter: HandoverFilter | None = None,
        order_by: HandoverOrder = HandoverOrder.OPENED_AT_DESC,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Handover]:
        f = filter or HandoverFilter()
        query_filter = HandoverQueryFilter(
            states=[str(s) for s in f.state or []],
            account_id=f.account_id,
            outgoing_owner=f.outgoing_owner,
            incoming_owner=f.incoming_owner,
            regions=[str(r) for r in f.region or []],
            overdue_follow_up=f.overdue_follow_up,
        )
        return await _handover_page(info, query_filter, HandoverOrder(order_by), first, after)

    @strawberry.field(description="An account: its current owner, its open lifecycles and its handover history.")
    async def account(self, info: Info, id: strawberry.ID) -> AccountLookup:
        async with info.context.sessions() as session:
            name = await account_name(session, id)
            owner = await account_owner(session, id)
        if name is None:
            return NotFound(message=f"No lifecycle knows an account {id!r}.")
        return AccountView(
            id=id,
            name=name,
            owner=owner.owner if owner else None,
            owner_since=owner.since if owner else None,
        )


@strawberry.type
class HandoverMutation:
    @strawberry.mutation(
        description='Request a handover of an account; its id is the next "<account id>/<n>". Refused while '
        "another handover of the account is open."
    )
    async def request_handover(self, info: Info, input: RequestHandoverInput) -> HandoverResult:
        data = given(
            account={"id": input.account.id, "name": input.account.name},
            arr=input.arr,
            owner=input.outgoing_owner or info.context.principal.actor,
            outgoing_role=input.outgoing_role,
            reason=input.reason,
            reason_note=input.reason_note,
            paid_products=input.paid_products,
            onboarded_products=input.onboarded_products,
        )
        if input.policy is not None and not isinstance(input.policy, dict):
            return ValidationError(message="policy must be an object.", fields=[])
        try:
            info.context.require(Role.OPERATOR, "Requesting a handover")
            async with info.context.sessions() as session:
                entity_id = await next_handover_id(session, input.account.id)
        except Rejection as rejection:
            return to_error(rejection, FIELD_NAMES)
        return _changed(
            await open_lifecycle(
                info,
                KIND,
                entity_id,
                data,
                policy=input.policy,
                initial_state=None,
                reason=input.reason_note,
                field_names=FIELD_NAMES,
            )
        )

    @strawberry.mutation(
        description="Set the team and region (the allocator); another team than suggested needs a reason."
    )
    async def allocate_handover(self, info: Info, input: AllocateHandoverInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "allocate",
                {"team": input.team, "region": input.region},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Name the incoming owner (a team lead).")
    async def assign_handover(self, info: Info, input: AssignHandoverInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "assign",
                {"incoming_owner": input.incoming_owner},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record the account plan note and when it was last updated.")
    async def record_handover_account_plan(self, info: Info, input: HandoverAccountPlanInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_account_plan",
                {"link": input.link, "updated_on": input.updated_on},
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record the customer onboarded to a product they pay for.")
    async def record_handover_onboarding(self, info: Info, input: HandoverOnboardingInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_onboarding",
                {"product": input.product},
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record whether the account is healthy, usage- and engagement-wise.")
    async def record_handover_health_check(self, info: Info, input: HandoverHealthCheckInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_health_check",
                {"healthy": input.healthy, "note": input.note},
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Declare the account ready; refused, naming what is missing, until it is.")
    async def mark_handover_ready(self, info: Info, input: HandoverStepInput) -> HandoverResult:
        return _changed(
            await fire(info, KIND, input.id, "mark_ready", reason=input.reason, idempotency_key=input.idempotency_key)
        )

    @strawberry.mutation(description="Push back as the incoming owner, with the flags you see.")
    async def push_back_handover(self, info: Info, input: PushBackHandoverInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "push_back",
                given(flags=input.flags, note=input.note),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="The push-back is remedied (say how): back to ASSIGNED.")
    async def remedy_handover_push_back(self, info: Info, input: HandoverStepInput) -> HandoverResult:
        return _changed(
            await fire(info, KIND, input.id, "remedy", reason=input.reason, idempotency_key=input.idempotency_key)
        )

    @strawberry.mutation(description="Overrule the push-back (a team lead, admin role; say why): back to ASSIGNED.")
    async def overrule_handover_push_back(self, info: Info, input: HandoverStepInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "overrule",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                role=Role.ADMIN,
            )
        )

    @strawberry.mutation(description="Record the handover call; the incoming owner's week of follow-ups starts.")
    async def record_handover_call(self, info: Info, input: HandoverCallInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_call",
                given(held_at=input.held_at, notes=input.notes),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record one of the incoming owner's follow-ups after the call.")
    async def record_handover_follow_up(self, info: Info, input: HandoverFollowUpInput) -> HandoverResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_follow_up",
                {"item": input.item, "note": input.note},
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(
        description="Complete: the outgoing owner is unassigned, the incoming one owns the account and every open "
        "lifecycle of it."
    )
    async def complete_handover(self, info: Info, input: HandoverStepInput) -> HandoverResult:
        return _changed(
            await fire(info, KIND, input.id, "complete", reason=input.reason, idempotency_key=input.idempotency_key)
        )

    @strawberry.mutation(description="Turn the handover down, saying why.")
    async def reject_handover(self, info: Info, input: HandoverStepInput) -> HandoverResult:
        return _changed(
            await fire(info, KIND, input.id, "reject", reason=input.reason, idempotency_key=input.idempotency_key)
        )


PART = SchemaPart(query=HandoverQuery, mutation=HandoverMutation, type=Handover)
