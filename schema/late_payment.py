"""What late payments show beyond their derived GraphQL: the next step, and the list's totals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from schema.context import Info
from schema.scalars import Money
from services.late_payment import totals_by_state
from workflows.engine.types import LifecycleSnapshot
from workflows.late_payment import LatePaymentState


@strawberry.type(description="The next step of the ladder and when it happens.")
class LadderStep:
    name: str
    trigger: str
    description: str
    due_at: datetime


@strawberry.type(description="How many invoices, invoiced and still owed, per state and currency.")
class LatePaymentStateTotal:
    state: LatePaymentState
    currency: str
    count: int
    amount: Money
    owed: Money


@strawberry.type
class LatePaymentFields:
    snapshot: strawberry.Private[LifecycleSnapshot]

    @strawberry.field(description="What happens next, and when, unless the invoice is settled first.")
    def next_step(self) -> LadderStep | None:
        if not self.snapshot.deadlines:
            return None
        d = self.snapshot.deadlines[0]
        return LadderStep(name=d.timer, trigger=d.trigger, description=d.description, due_at=d.due_at)


@strawberry.type
class LatePaymentConnectionFields:
    conditions: strawberry.Private[list[Any]]

    @strawberry.field
    async def totals_by_state(self, info: Info) -> list[LatePaymentStateTotal]:
        async with info.context.sessions() as session:
            totals = await totals_by_state(session, self.conditions)
        return [
            LatePaymentStateTotal(
                state=LatePaymentState(t.state),
                currency=t.currency,
                count=t.count,
                amount=Money(t.amount),
                owed=Money(t.owed),
            )
            for t in totals
        ]


FIELDS = LatePaymentFields
CONNECTION_FIELDS = LatePaymentConnectionFields
