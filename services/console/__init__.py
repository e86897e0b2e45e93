"""The ops console: static pages served at ``/console`` that speak only the public GraphQL API.

Everything the browser runs is in ``services/console/static`` (plain ES modules and CSS, no
build step, nothing fetched from elsewhere). Two small JSON endpoints help it start: its
configuration (where the Temporal Web UI is, whether development sign-in is on) and, under
``./dev up`` only, the development token of a role, handed over in a POST answer so it never
appears in a URL or a log.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
ROLES = ("viewer", "operator", "admin")
# The page and its modules may come only from this origin; no inline scripts.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def page(request: Request) -> Response:
    return FileResponse(
        STATIC / "index.html",
        headers={"content-security-policy": CONTENT_SECURITY_POLICY, "cache-control": "no-cache"},
    )


async def config(request: Request) -> Response:
    settings = _settings(request)
    return JSONResponse(
        {
            "graphqlPath": "/graphql",
            "temporalUiUrl": settings.temporal_ui_url,
            "temporalNamespace": settings.temporal_namespace,
            "devRoles": _dev_roles(settings),
        }
    )


def _dev_roles(settings: Settings) -> list[str]:
    if not settings.console_dev_sign_in:
        return []
    granted = {grant.role.name.lower() for grant in settings.api_tokens.values()}
    return [role for role in ROLES if role in granted]


async def dev_sign_in(request: Request) -> Response:
    """The development token of the role asked for, in the answer's body (never a URL)."""
    settings = _settings(request)
    if not settings.console_dev_sign_in:
        return JSONResponse({"error": "development sign-in is off"}, status_code=404)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        # A JSON body needs a CORS preflight, which this API never grants another origin.
        return JSONResponse({"error": "send the role as JSON"}, status_code=415)
    try:
        role = (await request.json()).get("role")
    except (ValueError, AttributeError):
        role = None
    for secret, grant in settings.api_tokens.items():
        if grant.role.name.lower() == role:
            return JSONResponse(
                {"token": secret.get_secret_value(), "actor": grant.actor, "role": role},
                headers={"cache-control": "no-store"},
            )
    return JSONResponse({"error": f"no development token for the role {role!r}; one of {ROLES}"}, status_code=400)


def console_routes() -> list[BaseRoute]:
    return [
        Route("/console", page),
        Route("/console/", page),
        Route("/console/config.json", config),
        Route("/console/dev-sign-in", dev_sign_in, methods=["POST"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    ]
