"""What is special in the handover's GraphQL; the rest is derived from its exposure
(``workflows/handover.py``, ``schema/derived.py``).

- the readiness checklist, judged with the account's open late payments, and whether the
  follow-ups are overdue now (``FIELDS``, part of the ``Handover`` type);
- ``requestHandover``, whose id the service makes from the account's;
- the ``account(id)`` query: an account's owner, open lifecycles and handovers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema.common import Connection, GenericLifecycle, SchemaPart, connection, open_lifecycle
from schema.context import Info
from schema.derived import CONNECTION, DERIVED_KINDS, derived_type, graphql_enum
from schema.errors import NotFound, ValidationError, to_error
from schema.inputs import AccountInput, given
from schema.scalars import Money
from services.facts import gather
from services.handover import account_handovers, account_name, account_owner, next_handover_id, open_lifecycles
from services.read_model import snapshot_of
from workflows.engine.errors import Rejection
from workflows.engine.spec import Context, Role
from workflows.engine.types import LifecycleSnapshot
from workflows.handover import (
    KIND,
    READINESS,
    READINESS_GUARDS,
    HandoverData,
    HandoverPolicy,
    HandoverReason,
    OwnerRole,
    PaidProduct,
    follow_up_due,
)

# Spec field names (in ValidationError) -> the input fields a client sent.
FIELD_NAMES = {"owner": "outgoingOwner"}

HANDOVER = derived_type("Handover")
HANDOVER_RESULT = derived_type("HandoverResult")
for _enum in (OwnerRole, HandoverReason, PaidProduct):
    graphql_enum(_enum)


@strawberry.type(description="An item of the readiness checklist READY needs, as it stands now.")
class HandoverReadinessItem:
    key: str
    label: str
    source: str
    met: bool
    unmet: list[str]


@strawberry.type
class FIELDS:
    """The ``Handover`` fields that read more than the instance: the facts, the clock."""

    snapshot: strawberry.Private[LifecycleSnapshot]
    data: strawberry.Private[HandoverData]

    @strawberry.field(description="The readiness checklist READY needs, judged now (open late payments included).")
    async def readiness(self, info: Info) -> list[HandoverReadinessItem]:
        s = self.snapshot
        facts = await gather(info.context.sessions, KIND, s.entity_id, ["mark_ready"])
        ctx: Context[Any, Any] = Context(
            kind=s.kind,
            entity_id=s.entity_id,
            state=s.state,
            data=self.data,
            policy=HandoverPolicy.model_validate(s.policy),
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

    @strawberry.field(description="The follow-ups are past due and some are still missing.")
    def follow_up_overdue(self) -> bool:
        due = follow_up_due(self.data, HandoverPolicy.model_validate(self.snapshot.policy))
        return due is not None and due <= datetime.now(UTC)


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
        return connection(page, lambda row: GenericLifecycle(source=row))

    @strawberry.field(description="The account's handovers, newest first.", graphql_type=CONNECTION[HANDOVER])
    async def handovers(self, info: Info, first: int = 20, after: str | None = None) -> Any:
        async with info.context.sessions() as session:
            page = await account_handovers(
                session, self.id, first=first, after=after, max_page_size=info.context.settings.max_page_size
            )
        return connection(page, lambda row: DERIVED_KINDS[KIND].wrap(snapshot_of(row)))


AccountLookup = Annotated[AccountView | NotFound, strawberry.union("AccountLookup")]


@strawberry.input(description="A handover request.")
class RequestHandoverInput:
    account: AccountInput
    arr: Money
    outgoing_owner: str | None = strawberry.field(default=None, description="Defaults to the caller.")
    outgoing_role: OwnerRole
    reason: HandoverReason
    reason_note: str | None = None
    paid_products: list[PaidProduct]
    onboarded_products: list[PaidProduct] | None = strawberry.field(
        default=None, description="Among the paid products."
    )
    policy: JSON | None = strawberry.field(default=None, description="Policy overrides for this handover (admin only).")


@strawberry.type
class HandoverQuery:
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
        "another handover of the account is open.",
        graphql_type=HANDOVER_RESULT,
    )
    async def request_handover(self, info: Info, input: RequestHandoverInput) -> Any:
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
        outcome = await open_lifecycle(
            info,
            KIND,
            entity_id,
            data,
            policy=input.policy,
            initial_state=None,
            reason=input.reason_note,
            field_names=FIELD_NAMES,
        )
        return DERIVED_KINDS[KIND].answer(outcome)


PART = SchemaPart(query=HandoverQuery, mutation=HandoverMutation)
