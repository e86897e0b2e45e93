"""GraphQL for opportunities: the deal, its list, and every move a salesperson makes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema.common import (
    Connection,
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
)
from schema.inputs import Account, AccountInput, filter_date, given, one_of
from schema.scalars import Money
from services.opportunity import OpportunityFilter as OpportunityQueryFilter
from services.opportunity import OpportunityOrder, list_opportunities
from services.read_model import get_snapshot, snapshot_of
from workflows.engine.spec import Role
from workflows.engine.types import TransitionResult
from workflows.opportunity import (
    EXIT_CRITERIA,
    KIND,
    OPPORTUNITY,
    ForecastCategory,
    LossReason,
    OpportunityData,
    OpportunityStage,
    Pipeline,
    PlanType,
    RecordType,
)

# The spec's own enums are the GraphQL enums.
strawberry.enum(OpportunityStage, description="Both pipelines' stages (004:5461, 004:5576).")
for _enum in (RecordType, PlanType, ForecastCategory, LossReason, Pipeline, OpportunityOrder):
    strawberry.enum(_enum)

# Spec field names (in ValidationError) -> the input fields a client sent.
FIELD_NAMES = {"to": "toStage", "state": "stage"}


@strawberry.type
class NextStep:
    text: str
    customer_owner: str | None
    due_date: date | None


@strawberry.type(description="A stage's exit criterion and whether it is met.")
class ExitCriterion:
    stage: OpportunityStage
    key: str
    label: str
    source: str
    met: bool
    waived: bool
    evidence: str | None
    waiver_reason: str | None
    recorded_by: str | None
    recorded_at: datetime | None


@strawberry.type(description="A sales deal in its pipeline (004:5395-5621).")
class Opportunity(Lifecycle):
    data: strawberry.Private[OpportunityData]

    @classmethod
    def of(cls, snapshot: Any) -> Opportunity:
        return cls(snapshot=snapshot, data=OpportunityData.model_validate(snapshot.data))

    @strawberry.field
    def name(self) -> str:
        return self.data.name

    @strawberry.field
    def stage(self) -> OpportunityStage:
        return OpportunityStage(self.snapshot.state)

    @strawberry.field
    def pipeline(self) -> Pipeline:
        return self.data.pipeline

    @strawberry.field(
        description="The stage's probability in percent; the handbook gives none for open new-business "
        "stages (reference-deals §6.4)."
    )
    def probability(self) -> int | None:
        return OPPORTUNITY.state(self.snapshot.state).probability

    @strawberry.field
    def record_type(self) -> RecordType:
        return self.data.record_type

    @strawberry.field
    def plan_type(self) -> PlanType:
        return self.data.plan_type

    @strawberry.field
    def account(self) -> Account:
        return Account(id=self.data.account.id, name=self.data.account.name)

    @strawberry.field
    def previous_owners(self) -> list[str]:
        return self.data.previous_owners

    @strawberry.field
    def close_date(self) -> date:
        return self.data.close_date

    @strawberry.field
    def term_months(self) -> int:
        return self.data.term_months

    @strawberry.field(description="Total credit amount before discounts.")
    def amount(self) -> Money:
        return Money(self.data.amount)

    @strawberry.field
    def discount_percent(self) -> Decimal:
        return self.data.discount_percent

    @strawberry.field(description="Amount x (1 - discount) x 12 / term.")
    def arr_discounted(self) -> Money:
        return Money(self.data.arr_discounted)

    @strawberry.field
    def contract_start_date(self) -> date | None:
        return self.data.contract_start_date

    @strawberry.field(description="Start date + term.")
    def contract_end_date(self) -> date | None:
        return self.data.contract_end_date

    @strawberry.field
    def forecast_category(self) -> ForecastCategory:
        return self.data.forecast_category

    @strawberry.field
    def next_step(self) -> NextStep | None:
        step = self.data.next_step
        return NextStep(text=step.text, customer_owner=step.customer_owner, due_date=step.due_date) if step else None

    @strawberry.field
    def lead_source(self) -> str | None:
        return self.data.lead_source

    @strawberry.field
    def loss_reason(self) -> LossReason | None:
        return self.data.loss_reason

    @strawberry.field
    def loss_note(self) -> str | None:
        return self.data.loss_note

    @strawberry.field(description="Closed won as a month-to-month deal under the monthly limit (004:9696).")
    def closed_as_monthly_contract(self) -> bool:
        return self.data.closed_as_monthly_contract

    @strawberry.field
    def silence_timers_enabled(self) -> bool:
        return self.data.silence_timers_enabled

    @strawberry.field
    def last_customer_reply_at(self) -> datetime | None:
        return self.data.last_customer_reply_at

    @strawberry.field
    def follow_ups_sent(self) -> int:
        return self.data.follow_ups_sent

    @strawberry.field
    def arr_up_for_renewal(self) -> Money | None:
        amount = self.data.arr_up_for_renewal
        return Money(amount) if amount is not None else None

    @strawberry.field(description="The opportunity whose Closed Won opened this renewal.")
    def renewal_of(self) -> str | None:
        return self.data.renewal_of

    @strawberry.field(description="For a renewal opportunity: the contract (renewal lifecycle) it renews.")
    def contract_id(self) -> str | None:
        return self.data.contract_id

    @strawberry.field(description="Every exit criterion of this deal's pipeline, met or not.")
    def exit_criteria(self) -> list[ExitCriterion]:
        out = []
        for stage, items in EXIT_CRITERIA.items():
            if stage not in OPPORTUNITY_STAGES[self.data.pipeline]:
                continue
            for item in items:
                record = self.data.criteria.get(stage, {}).get(item.key)
                out.append(
                    ExitCriterion(
                        stage=stage,
                        key=item.key,
                        label=item.label,
                        source=item.source,
                        met=record is not None,
                        waived=bool(record and record.waived),
                        evidence=record.evidence if record else None,
                        waiver_reason=record.waiver_reason if record else None,
                        recorded_by=record.recorded_by if record else None,
                        recorded_at=record.recorded_at if record else None,
                    )
                )
        return out


OPPORTUNITY_STAGES = {
    pipeline: {s for s in OpportunityStage if OPPORTUNITY.state(s).metadata.get("pipeline") == pipeline}
    for pipeline in Pipeline
}


@strawberry.type(description="The transition applied and the opportunity as the read model now has it.")
class OpportunityChanged:
    opportunity: Opportunity
    transition: Transition
    projected: bool = projected_field()


OpportunityResult = Annotated[
    OpportunityChanged
    | NotFound
    | AlreadyExists
    | InvalidTransition
    | GuardFailed
    | ValidationError
    | Forbidden
    | IdempotencyKeyReused,
    strawberry.union("OpportunityResult"),
]
OpportunityLookup = Annotated[Opportunity | NotFound, strawberry.union("OpportunityLookup")]


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return OpportunityChanged(
            opportunity=Opportunity.of(outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


# ---- inputs ----------------------------------------------------------------------------------


@strawberry.input
class NextStepInput:
    text: str
    customer_owner: str | None = None
    due_date: date | None = None


@strawberry.input(description="A new opportunity. Enum-valued fields take the enum's names as strings.")
class OpenOpportunityInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Your id for it; one is made up if absent.")
    name: str
    account: AccountInput
    owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    record_type: str | None = strawberry.field(default=None, description=one_of(RecordType))
    plan_type: str | None = strawberry.field(default=None, description=one_of(PlanType))
    close_date: date
    term_months: int | None = None
    amount: Money
    discount_percent: Decimal | None = None
    contract_start_date: date | None = None
    forecast_category: str | None = strawberry.field(default=None, description=one_of(ForecastCategory))
    next_step: NextStepInput | None = None
    lead_source: str | None = None
    silence_timers_enabled: bool | None = None
    stage: str | None = strawberry.field(
        default=None,
        description="Where it joins its pipeline (default: the first "
        "stage); product-led deals may join anywhere (004:10791).",
    )
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides for this deal (admin only).")
    reason: str | None = None


@strawberry.input
class ExitCriterionInput:
    id: strawberry.ID
    stage: str
    criterion: str
    evidence: str
    idempotency_key: str | None = None


@strawberry.input
class WaiveExitCriterionInput:
    id: strawberry.ID
    stage: str
    criterion: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class AdvanceOpportunityInput:
    id: strawberry.ID
    to_stage: str | None = strawberry.field(
        default=None,
        description="Default: the next stage. A later stage skips ahead; every skipped stage's criteria must be met.",
    )
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class MoveOpportunityBackInput:
    id: strawberry.ID
    to_stage: str
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CloseOpportunityWonInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CloseOpportunityLostInput:
    id: strawberry.ID
    loss_reason: str | None = strawberry.field(default=None, description=one_of(LossReason))
    loss_note: str | None = None
    idempotency_key: str | None = None


@strawberry.input(description="The fields to change; those left out stay as they are.")
class UpdateOpportunityInput:
    id: strawberry.ID
    name: str | None = None
    account_name: str | None = None
    plan_type: str | None = None
    close_date: date | None = None
    term_months: int | None = None
    amount: Money | None = None
    discount_percent: Decimal | None = None
    contract_start_date: date | None = None
    forecast_category: str | None = None
    next_step: NextStepInput | None = None
    lead_source: str | None = None
    silence_timers_enabled: bool | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class CustomerReplyInput:
    id: strawberry.ID
    at: datetime | None = strawberry.field(default=None, description="When they replied (default: now).")
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class StopFollowUpsInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class OpportunityFilter:
    stage: list[OpportunityStage] | None = None
    owner: str | None = None
    account_id: str | None = None
    record_type: list[RecordType] | None = None
    forecast_category: list[ForecastCategory] | None = None
    close_date_from: date | None = None
    close_date_to: date | None = None


def _next_step(step: NextStepInput | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return given(text=step.text, customer_owner=step.customer_owner, due_date=step.due_date)


# ---- queries and mutations -------------------------------------------------------------------


@strawberry.type
class OpportunityQuery:
    @strawberry.field(description="One opportunity, from the read model.")
    async def opportunity(self, info: Info, id: strawberry.ID) -> OpportunityLookup:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, id)
        if snapshot is None:
            return NotFound(message=f"There is no opportunity {id!r}.")
        return Opportunity.of(snapshot)

    @strawberry.field(description="Opportunities matching the filter, a page at a time.")
    async def opportunities(
        self,
        info: Info,
        filter: OpportunityFilter | None = None,
        order_by: OpportunityOrder = OpportunityOrder.CLOSE_DATE_ASC,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Opportunity]:
        f = filter or OpportunityFilter()
        query_filter = OpportunityQueryFilter(
            stages=[str(s) for s in f.stage or []],
            owner=f.owner,
            account_id=f.account_id,
            record_types=[str(r) for r in f.record_type or []],
            forecast_categories=[str(c) for c in f.forecast_category or []],
            close_date_from=filter_date(f.close_date_from, "closeDateFrom"),
            close_date_to=filter_date(f.close_date_to, "closeDateTo"),
        )
        async with info.context.sessions() as session:
            page = await list_opportunities(
                session,
                query_filter,
                OpportunityOrder(order_by),
                first=first,
                after=after,
                max_page_size=info.context.settings.max_page_size,
            )
        return connection(page, lambda row: Opportunity.of(snapshot_of(row)))


@strawberry.type
class OpportunityMutation:
    @strawberry.mutation(description="Open an opportunity in its pipeline.")
    async def open_opportunity(self, info: Info, input: OpenOpportunityInput) -> OpportunityResult:
        data = given(
            name=input.name,
            account={"id": input.account.id, "name": input.account.name},
            owner=input.owner or info.context.principal.actor,
            record_type=input.record_type,
            plan_type=input.plan_type,
            close_date=input.close_date,
            term_months=input.term_months,
            amount=input.amount,
            discount_percent=input.discount_percent,
            contract_start_date=input.contract_start_date,
            forecast_category=input.forecast_category,
            next_step=_next_step(input.next_step),
            lead_source=input.lead_source,
            silence_timers_enabled=input.silence_timers_enabled,
        )
        if input.policy is not None and not isinstance(input.policy, dict):
            return ValidationError(message="policy must be an object.", fields=[])
        entity_id = input.id or f"opp-{uuid.uuid4().hex[:16]}"
        return _changed(
            await open_lifecycle(
                info,
                KIND,
                entity_id,
                data,
                policy=input.policy,
                initial_state=input.stage,
                reason=input.reason,
                field_names=FIELD_NAMES,
            )
        )

    @strawberry.mutation(description="Record an exit criterion as met, with its evidence.")
    async def record_exit_criterion(self, info: Info, input: ExitCriterionInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_criterion",
                {"stage": input.stage, "criterion": input.criterion, "evidence": input.evidence},
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Waive an exit criterion (admin), with a reason.")
    async def waive_exit_criterion(self, info: Info, input: WaiveExitCriterionInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "waive_criterion",
                {"stage": input.stage, "criterion": input.criterion},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                role=Role.ADMIN,
            )
        )

    @strawberry.mutation(description="Advance to the next stage, or skip ahead to a later one.")
    async def advance_opportunity(self, info: Info, input: AdvanceOpportunityInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "advance",
                given(to=input.to_stage),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                field_names=FIELD_NAMES,
            )
        )

    @strawberry.mutation(description="Move back to an earlier stage, with a reason.")
    async def move_opportunity_back(self, info: Info, input: MoveOpportunityBackInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "move_back",
                {"to": input.to_stage},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                field_names=FIELD_NAMES,
            )
        )

    @strawberry.mutation(description="Close won: signed by everyone, or a small month-to-month deal.")
    async def close_opportunity_won(self, info: Info, input: CloseOpportunityWonInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "close_won",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Close lost, with a loss reason from the handbook's list.")
    async def close_opportunity_lost(self, info: Info, input: CloseOpportunityLostInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "close_lost",
                given(loss_reason=input.loss_reason, loss_note=input.loss_note),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Change the deal's fields.")
    async def update_opportunity(self, info: Info, input: UpdateOpportunityInput) -> OpportunityResult:
        params = given(
            name=input.name,
            account_name=input.account_name,
            plan_type=input.plan_type,
            close_date=input.close_date,
            term_months=input.term_months,
            amount=input.amount,
            discount_percent=input.discount_percent,
            contract_start_date=input.contract_start_date,
            forecast_category=input.forecast_category,
            next_step=_next_step(input.next_step),
            lead_source=input.lead_source,
            silence_timers_enabled=input.silence_timers_enabled,
        )
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "update_fields",
                params,
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Record a reply from the customer; restarts the silence ladder.")
    async def record_customer_reply(self, info: Info, input: CustomerReplyInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_customer_reply",
                given(at=input.at, note=input.note),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Stop the follow-up reminders of a lost deal.")
    async def stop_opportunity_follow_ups(self, info: Info, input: StopFollowUpsInput) -> OpportunityResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "stop_follow_ups",
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )


PART = SchemaPart(query=OpportunityQuery, mutation=OpportunityMutation, type=Opportunity)
