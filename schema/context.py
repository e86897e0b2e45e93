"""What every resolver receives: the caller, the gateway to Temporal, the read model."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from schema.loaders import Loaders
from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal
from services.settings import Settings
from workflows.engine.errors import Forbidden
from workflows.engine.spec import Role


@dataclass
class Context:
    principal: Principal
    gateway: LifecycleGateway
    sessions: Sessions
    settings: Settings
    # Made per request: batches what the nodes of a list load (schema/loaders.py).
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.sessions, self.settings.max_page_size)

    def require(self, role: Role, what: str) -> None:
        if self.principal.role < role:
            raise Forbidden(f"{what} needs the {role.name.lower()} role.", required_role=role.name)


Info = strawberry.Info[Context, None]
