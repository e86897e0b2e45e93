"""The GraphQL schema: every lifecycle kind's types, queries and mutations in one API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.base import get_object_definition

from schema.common import GenericLifecycle, SchemaPart
from schema.derived import derived_parts
from schema.lifecycle import LifecycleMutation, LifecycleQuery
from schema.limits import InputLimits, query_cost_rule
from schema.scalars import SCALAR_MAP
from schema.subscription import LifecycleSubscription
from services.derived import DERIVED
from services.kinds import companions
from services.observe import GraphQLMetrics, ObservedSchema
from services.settings import Settings
from services.telemetry import graphql_extensions
from workflows.registry import SPECS

SDL_PATH = Path(__file__).resolve().parent / "schema.graphql"

# What every kind shares, then each kind's own part, found beside its lifecycle.
PARTS: tuple[SchemaPart, ...] = (
    SchemaPart(query=LifecycleQuery, mutation=LifecycleMutation, type=GenericLifecycle),
    *derived_parts(list(SPECS.values()), DERIVED),
    *(module.PART for module in companions("schema").values() if hasattr(module, "PART")),
)

Query = merge_types("Query", tuple(part.query for part in PARTS if part.query is not None))
Mutation = merge_types("Mutation", tuple(part.mutation for part in PARTS if part.mutation is not None))
Subscription = merge_types("Subscription", (LifecycleSubscription,))
TYPES = [part.type for part in PARTS if part.type is not None]
# Every root field checks its arguments' lists and strings (schema/limits.py).
for _root in (Query, Mutation, Subscription):
    for _field in get_object_definition(_root, strict=True).fields:
        _field.extensions.append(InputLimits())


# Distinct documents whose parse and validation are kept: clients send a few fixed
# operations, so parsing and validating each once (not on every request, where it cost
# more than executing the operation; docs/performance.md) is what matters. Bounded, so
# a client sending endless distinct documents cannot grow the API's memory.
DOCUMENT_CACHE_SIZE = 512


def build_schema(settings: Settings) -> strawberry.Schema:
    # The limiters' validation rules are made once: the validation cache is keyed by the
    # rule classes, which QueryDepthLimiter and MaxAliasesLimiter make anew per instance.
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
        query_cost_rule(settings.max_query_cost, settings.max_page_size),
    ]
    extensions: list[Callable[[], SchemaExtension]] = [
        # First, so the operation's span and timing wrap everything else.
        *graphql_extensions(),
        GraphQLMetrics,
        lambda: AddValidationRules(limits),
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    # After the limiters, which set the parse options and rules these caches are keyed by.
    extensions += [
        lambda: ParserCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
    ]
    return ObservedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=TYPES,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection, scalar_map=SCALAR_MAP),
    )


def sdl() -> str:
    """The schema's SDL as committed in ``schema/schema.graphql``."""
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=TYPES,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )
    return schema.as_str() + "\n"
