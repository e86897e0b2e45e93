"""GraphQL for trials: the trial, its list, and every move sales and RevOps make on it."""

from __future__ import annotations

import uuid
from datetime import datetime
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
from schema.inputs import filter_moment, given, one_of
from schema.scalars import Money
from services.read_model import get_snapshot, snapshot_of
from services.trial import TrialFilter as TrialQueryFilter
from services.trial import TrialOrder, list_trials
from workflows.engine.messages import duration
from workflows.engine.types import TransitionResult
from workflows.trial import (
    KIND,
    PROVISIONING_STEPS,
    ProvisioningStep,
    TrialData,
    TrialPolicy,
    TrialState,
    TrialTarget,
    TrialType,
)

# Descriptions name the handbook's defaults, read from the policy model, never restated.
_DEFAULTS = TrialPolicy()

# The spec's own enums are the GraphQL enums.
strawberry.enum(TrialState, description="Where a trial is (004:12819-12889).")
strawberry.enum(TrialTarget, description="The plan a trial gives a taste of (004:12849).")
strawberry.enum(TrialType, description="004:12851.")
strawberry.enum(
    ProvisioningStep, description="RevOps' billing steps before an existing payer's trial (004:12875-12879)."
)
strawberry.enum(TrialOrder)


@strawberry.type
class TrialOrganization:
    id: str
    name: str


@strawberry.type(description="One of RevOps' billing steps before an existing payer's trial starts.")
class TrialProvisioningStep:
    step: ProvisioningStep
    label: str
    source: str
    done: bool
    recorded_by: str | None
    recorded_at: datetime | None
    note: str | None


@strawberry.type(description="Extra time given, with why and what the customer gives in return (004:11816-11829).")
class TrialExtension:
    days: int
    reason: str
    give_back: str
    previous_expires_at: datetime
    expires_at: datetime
    granted_by: str
    granted_at: datetime


@strawberry.type
class TrialPause:
    paused_by: str
    paused_at: datetime
    reason: str
    resumed_by: str | None
    resumed_at: datetime | None


@strawberry.type(description="RevOps' confirmation that an existing payer's new subscription exists (004:12881).")
class TrialNewSubscription:
    confirmed_by: str
    confirmed_at: datetime
    subscription_id: str | None


@strawberry.type(description="A time-boxed trial of a paid plan for an organization (004:12819-12889).")
class Trial(Lifecycle):
    data: strawberry.Private[TrialData]

    @classmethod
    def of(cls, snapshot: Any) -> Trial:
        return cls(snapshot=snapshot, data=TrialData.model_validate(snapshot.data))

    @strawberry.field
    def state(self) -> TrialState:
        return TrialState(self.snapshot.state)

    @strawberry.field
    def organization(self) -> TrialOrganization:
        return TrialOrganization(id=self.data.organization.id, name=self.data.organization.name)

    @strawberry.field
    def target(self) -> TrialTarget:
        return self.data.target

    @strawberry.field
    def trial_type(self) -> TrialType:
        return self.data.trial_type

    @strawberry.field(
        description="The deal's expected ARR; over the policy's threshold "
        f"({_DEFAULTS.long_length_above_arr:,} by default), the trial runs {duration(_DEFAULTS.long_length)}."
    )
    def expected_arr(self) -> Money:
        return Money(self.data.expected_arr)

    @strawberry.field
    def starts_at(self) -> datetime:
        assert self.data.starts_at is not None
        return self.data.starts_at

    @strawberry.field(description="When the features reset to the free plan, extensions included.")
    def expires_at(self) -> datetime:
        assert self.data.expires_at is not None
        return self.data.expires_at

    @strawberry.field(description="The customer gets no trial notices (004:12855).")
    def silence_notifications(self) -> bool:
        return self.data.silence_notifications

    @strawberry.field(description="The customer paid a subscription before the trial (004:12868).")
    def existing_paid_subscription(self) -> bool:
        return self.data.existing_paid_subscription

    @strawberry.field(description="Who at the customer gets the trial notices; the owner when empty.")
    def contact_emails(self) -> list[str]:
        return self.data.contact_emails

    @strawberry.field
    def previous_owners(self) -> list[str]:
        return self.data.previous_owners

    @strawberry.field(description="RevOps' billing steps, for an existing payer; empty for a new customer.")
    def provisioning_steps(self) -> list[TrialProvisioningStep]:
        if not self.data.existing_paid_subscription:
            return []
        out = []
        for step, item in PROVISIONING_STEPS.items():
            record = self.data.provisioning.get(step)
            out.append(
                TrialProvisioningStep(
                    step=step,
                    label=item.label,
                    source=item.source,
                    done=record is not None,
                    recorded_by=record.recorded_by if record else None,
                    recorded_at=record.recorded_at if record else None,
                    note=record.note if record else None,
                )
            )
        return out

    @strawberry.field
    def extensions(self) -> list[TrialExtension]:
        return [
            TrialExtension(
                days=e.days,
                reason=e.reason,
                give_back=e.give_back,
                previous_expires_at=e.previous_expires_at,
                expires_at=e.expires_at,
                granted_by=e.granted_by,
                granted_at=e.granted_at,
            )
            for e in self.data.extensions
        ]

    @strawberry.field
    def pauses(self) -> list[TrialPause]:
        return [
            TrialPause(
                paused_by=p.paused_by,
                paused_at=p.paused_at,
                reason=p.reason,
                resumed_by=p.resumed_by,
                resumed_at=p.resumed_at,
            )
            for p in self.data.pauses
        ]

    @strawberry.field(description="The latest recorded customer activity; the inactivity nudges count from it.")
    def last_customer_activity_at(self) -> datetime | None:
        return self.data.last_customer_activity_at

    @strawberry.field
    def new_subscription(self) -> TrialNewSubscription | None:
        done = self.data.new_subscription
        if done is None:
            return None
        return TrialNewSubscription(
            confirmed_by=done.confirmed_by, confirmed_at=done.confirmed_at, subscription_id=done.subscription_id
        )

    @strawberry.field(description="Flag: an existing payer's trial expired before its new subscription was confirmed.")
    def subscription_missing_at_expiry(self) -> bool:
        return self.data.subscription_missing_at_expiry

    @strawberry.field(description="The subscription a converted trial became.")
    def subscription_id(self) -> str | None:
        return self.data.subscription_id

    @strawberry.field
    def cancellation_reason(self) -> str | None:
        return self.data.cancellation_reason


@strawberry.type(description="The transition applied and the trial as the read model now has it.")
class TrialChanged:
    trial: Trial
    transition: Transition
    projected: bool = projected_field()


TrialResult = Annotated[
    TrialChanged
    | NotFound
    | AlreadyExists
    | InvalidTransition
    | GuardFailed
    | ValidationError
    | Forbidden
    | IdempotencyKeyReused,
    strawberry.union("TrialResult"),
]
TrialLookup = Annotated[Trial | NotFound, strawberry.union("TrialLookup")]


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return TrialChanged(
            trial=Trial.of(outcome.snapshot), transition=Transition.of(outcome.transition), projected=outcome.projected
        )
    return outcome


# ---- inputs ----------------------------------------------------------------------------------


@strawberry.input
class TrialOrganizationInput:
    id: str
    name: str


@strawberry.input(description="A new trial. Enum-valued fields take the enum's names as strings.")
class StartTrialInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="Your id for it; one is made up if absent.")
    organization: TrialOrganizationInput
    owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    target: str = strawberry.field(description=one_of(TrialTarget))
    trial_type: str | None = strawberry.field(default=None, description=one_of(TrialType))
    expected_arr: Money
    expires_at: datetime | None = strawberry.field(
        default=None,
        description=f"Default: {duration(_DEFAULTS.default_length)} from now, {duration(_DEFAULTS.long_length)} "
        f"when the expected ARR is over {_DEFAULTS.long_length_above_arr:,} (the deployment's policy may differ).",
    )
    silence_notifications: bool | None = None
    existing_paid_subscription: bool | None = strawberry.field(
        default=None, description="The customer pays a subscription today: RevOps prepares billing first."
    )
    contact_emails: list[str] | None = strawberry.field(
        default=None, description="Who at the customer gets the trial notices."
    )
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides for this trial (admin only).")
    reason: str | None = None


@strawberry.input
class RecordTrialProvisioningStepInput:
    id: strawberry.ID
    step: str = strawberry.field(description=one_of(ProvisioningStep))
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class ExtendTrialInput:
    id: strawberry.ID
    days: int = strawberry.field(description="7 to 30 days (004:11816).")
    give_back: str = strawberry.field(
        description="What the customer gives in return: an introduction to key stakeholders, procurement "
        "started in parallel, weekly check-ins... (004:11816-11825)."
    )
    reason: str | None = strawberry.field(default=None, description="Why they need more time (004:11829).")
    idempotency_key: str | None = None


@strawberry.input
class TrialChangeInput:
    id: strawberry.ID
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class TrialCustomerActivityInput:
    id: strawberry.ID
    at: datetime | None = strawberry.field(default=None, description="When they were active (default: now).")
    note: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class TrialSubscriptionInput:
    id: strawberry.ID
    subscription_id: str | None = None
    reason: str | None = None
    idempotency_key: str | None = None


@strawberry.input
class TrialFilter:
    state: list[TrialState] | None = None
    owner: str | None = None
    organization_id: str | None = None
    target: list[TrialTarget] | None = None
    expiring_after: datetime | None = strawberry.field(default=None, description="Expiring at or after this moment.")
    expiring_before: datetime | None = strawberry.field(default=None, description="Expiring before this moment.")
    existing_paid_subscription: bool | None = None
    subscription_missing_at_expiry: bool | None = None


# ---- queries and mutations -------------------------------------------------------------------


@strawberry.type
class TrialQuery:
    @strawberry.field(description="One trial, from the read model.")
    async def trial(self, info: Info, id: strawberry.ID) -> TrialLookup:
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, KIND, id)
        if snapshot is None:
            return NotFound(message=f"There is no trial {id!r}.")
        return Trial.of(snapshot)

    @strawberry.field(description="Trials matching the filter, a page at a time.")
    async def trials(
        self,
        info: Info,
        filter: TrialFilter | None = None,
        order_by: TrialOrder = TrialOrder.EXPIRES_AT_ASC,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[Trial]:
        f = filter or TrialFilter()
        query_filter = TrialQueryFilter(
            states=[str(s) for s in f.state or []],
            owner=f.owner,
            organization_id=f.organization_id,
            targets=[str(t) for t in f.target or []],
            expiring_after=filter_moment(f.expiring_after, "expiringAfter"),
            expiring_before=filter_moment(f.expiring_before, "expiringBefore"),
            existing_paid_subscription=f.existing_paid_subscription,
            subscription_missing_at_expiry=f.subscription_missing_at_expiry,
        )
        async with info.context.sessions() as session:
            page = await list_trials(
                session,
                query_filter,
                TrialOrder(order_by),
                first=first,
                after=after,
                max_page_size=info.context.settings.max_page_size,
            )
        return connection(page, lambda row: Trial.of(snapshot_of(row)))


@strawberry.type
class TrialMutation:
    @strawberry.mutation(description="Start a trial: active at once, or after RevOps' steps for an existing payer.")
    async def start_trial(self, info: Info, input: StartTrialInput) -> TrialResult:
        data = given(
            organization={"id": input.organization.id, "name": input.organization.name},
            owner=input.owner or info.context.principal.actor,
            target=input.target,
            trial_type=input.trial_type,
            expected_arr=input.expected_arr,
            expires_at=input.expires_at,
            silence_notifications=input.silence_notifications,
            existing_paid_subscription=input.existing_paid_subscription,
            contact_emails=input.contact_emails,
        )
        if input.policy is not None and not isinstance(input.policy, dict):
            return ValidationError(message="policy must be an object.", fields=[])
        entity_id = input.id or f"trial-{uuid.uuid4().hex[:16]}"
        return _changed(
            await open_lifecycle(
                info, KIND, entity_id, data, policy=input.policy, initial_state=None, reason=input.reason
            )
        )

    @strawberry.mutation(description="Record one of RevOps' billing steps as done; the last one starts the trial.")
    async def record_trial_provisioning_step(self, info: Info, input: RecordTrialProvisioningStepInput) -> TrialResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_provisioning_step",
                given(step=input.step, note=input.note),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Give 7 to 30 more days, with a reason and the customer's give-back.")
    async def extend_trial(self, info: Info, input: ExtendTrialInput) -> TrialResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "extend",
                {"days": input.days, "give_back": input.give_back},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Pause the engagement, with a reason; the expiry still runs.")
    async def pause_trial(self, info: Info, input: TrialChangeInput) -> TrialResult:
        return _changed(
            await fire(info, KIND, input.id, "pause", reason=input.reason, idempotency_key=input.idempotency_key)
        )

    @strawberry.mutation(description="Resume a paused trial.")
    async def resume_trial(self, info: Info, input: TrialChangeInput) -> TrialResult:
        return _changed(
            await fire(info, KIND, input.id, "resume", reason=input.reason, idempotency_key=input.idempotency_key)
        )

    @strawberry.mutation(description="Record customer activity; restarts the inactivity nudges.")
    async def record_trial_customer_activity(self, info: Info, input: TrialCustomerActivityInput) -> TrialResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "record_customer_activity",
                given(at=input.at, note=input.note),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="RevOps confirms an existing payer's new subscription is created.")
    async def confirm_trial_new_subscription(self, info: Info, input: TrialSubscriptionInput) -> TrialResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "confirm_new_subscription",
                given(subscription_id=input.subscription_id),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="The customer subscribed: the trial converts and the paid features stay.")
    async def convert_trial(self, info: Info, input: TrialSubscriptionInput) -> TrialResult:
        return _changed(
            await fire(
                info,
                KIND,
                input.id,
                "convert",
                given(subscription_id=input.subscription_id),
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(description="Cancel the trial, with a reason; granted features go back to the free plan.")
    async def cancel_trial(self, info: Info, input: TrialChangeInput) -> TrialResult:
        return _changed(
            await fire(info, KIND, input.id, "cancel", reason=input.reason, idempotency_key=input.idempotency_key)
        )


PART = SchemaPart(query=TrialQuery, mutation=TrialMutation, type=Trial)
