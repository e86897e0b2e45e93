"""GraphQL over HTTP's response media types, negotiated from the request's Accept header.

``application/json`` stays exactly as it always was for existing clients (200 with
``data`` and ``errors``). A client that prefers ``application/graphql-response+json``
(the GraphQL-over-HTTP specification's own type) gets it, with its status codes: a
request that could not execute (a document that does not parse or validate, variables
that cannot be coerced) answers 400 without a ``data`` entry.
"""

from __future__ import annotations

from starlette.requests import Request
from strawberry.types import ExecutionResult

GRAPHQL_RESPONSE = "application/graphql-response+json"
# Set on the request's scope when its result is a request error (no execution).
REQUEST_ERROR = "lifecycles.graphql_request_error"


def _weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if media:
            weights[media.lower()] = max(weight, weights.get(media.lower(), 0.0))
    return weights


def negotiated(request: Request) -> str | None:
    """The graphql-response+json content type when the client prefers it to
    application/json, else None (application/json, as for every client that does not ask)."""
    weights = _weights(request.headers.get("accept", ""))
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    if wanted > 0 and wanted >= weights.get("application/json", 0.0):
        return f"{GRAPHQL_RESPONSE}; charset=utf-8"
    return None


def is_request_error(result: ExecutionResult) -> bool:
    """No execution happened: errors, no data, and none of them tied to a field's path."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(error.path is None for error in errors)
