"""The opportunity's GraphQL beyond what its exposure derives: what needs more than its data."""

from __future__ import annotations

import strawberry

from workflows.engine.types import LifecycleSnapshot
from workflows.opportunity import OPPORTUNITY


class FIELDS:
    snapshot: strawberry.Private[LifecycleSnapshot]

    @strawberry.field(
        description="The stage's probability in percent; the handbook gives none for open new-business "
        "stages (reference-deals §6.4)."
    )
    def probability(self) -> int | None:
        return OPPORTUNITY.state(self.snapshot.state).probability
