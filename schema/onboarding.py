"""What is special in the onboarding's GraphQL; the rest is derived from its exposure
(``workflows/onboarding``, ``schema/derived.py``): the specialists' logo retention over a
period, the team's north star (004:12750)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import strawberry

from schema.common import SchemaPart
from schema.context import Info
from schema.errors import FieldError, ValidationError
from services.onboarding import specialist_retention
from workflows.onboarding import OnboardingPolicy


@strawberry.type(
    description="The specialist track's logo retention through the first three months, over the onboardings won "
    "in a period (004:12750). Onboardings less than three months in, not churned, are not decided yet."
)
class OnboardingRetention:
    won_after: datetime
    won_before: datetime
    started: int = strawberry.field(description="Specialist onboardings won in the period.")
    retained: int = strawberry.field(description="Still customers three months in.")
    churned: int = strawberry.field(description="Churned within the first three months.")
    undecided: int = strawberry.field(description="Less than three months in and not churned.")
    rate_percent: Decimal | None = strawberry.field(
        description="Retained among the decided, in percent (one decimal); null when none is decided yet."
    )
    target_percent: Decimal = strawberry.field(description="The team's north star, from the policy.")


def _moment(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


RetentionResult = Annotated[OnboardingRetention | ValidationError, strawberry.union("OnboardingRetentionResult")]


@strawberry.type
class OnboardingQuery:
    @strawberry.field(
        description="The specialist track's three-month logo retention of the onboardings won in [wonAfter, wonBefore)."
    )
    async def onboarding_retention(self, info: Info, won_after: datetime, won_before: datetime) -> RetentionResult:
        # The DateTime scalar passes its input through: judged here, field by field.
        bounds = {name: _moment(value) for name, value in (("wonAfter", won_after), ("wonBefore", won_before))}
        problems = [
            FieldError(field=name, message="is not a moment with its UTC offset (2027-03-31T00:00:00Z)")
            for name, moment in bounds.items()
            if moment is None
        ]
        start, end = bounds["wonAfter"], bounds["wonBefore"]
        if start is not None and end is not None and end <= start:
            problems.append(FieldError(field="wonBefore", message="must be after wonAfter"))
        if problems or start is None or end is None:
            return ValidationError(message="The period is invalid.", fields=problems)
        async with info.context.sessions() as session:
            counts = await specialist_retention(session, start, end)
        decided = counts.retained + counts.churned
        rate = (Decimal(100 * counts.retained) / decided).quantize(Decimal("0.1")) if decided else None
        return OnboardingRetention(
            won_after=start,
            won_before=end,
            started=counts.started,
            retained=counts.retained,
            churned=counts.churned,
            undecided=counts.undecided,
            rate_percent=rate,
            target_percent=OnboardingPolicy().retention_target_percent,
        )


PART = SchemaPart(query=OnboardingQuery)
