"""What every resolver receives: the caller, the gateway to Temporal, the read model."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry

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

    def require(self, role: Role, what: str) -> None:
        if self.principal.role < role:
            raise Forbidden(f"{what} needs the {role.name.lower()} role.", required_role=role.name)


Info = strawberry.Info[Context, None]
