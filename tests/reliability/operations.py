"""Every query and mutation of the schema, with well-formed placeholder arguments.

The role matrix and the fuzzer walk the schema itself, so a new operation is covered
(and must be given its access rule) the day it is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)

from schema import build_schema
from services.settings import Environment, Settings

PLACEHOLDERS: dict[str, Any] = {
    "String": "placeholder",
    "ID": "no-such-lifecycle",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Money": "1.00",
    "Decimal": "1",
    "Date": "2027-01-01",
    "DateTime": "2027-01-01T00:00:00+00:00",
    "JSON": {},
}


@dataclass(frozen=True)
class Operation:
    kind: str  # "query" or "mutation"
    name: str
    document: str
    variables: dict[str, Any]
    args: dict[str, GraphQLInputType]


def graphql_schema() -> GraphQLSchema:
    settings = Settings(environment=Environment.TEST)
    return build_schema(settings)._schema


def _unwrap(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def placeholder(t: GraphQLInputType, *, required_only: bool = True) -> Any:
    if isinstance(t, GraphQLNonNull):
        return placeholder(t.of_type, required_only=required_only)
    if isinstance(t, GraphQLList):
        return [placeholder(t.of_type, required_only=required_only)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLScalarType):
        return PLACEHOLDERS[t.name]
    assert isinstance(t, GraphQLInputObjectType)
    return {
        name: placeholder(f.type, required_only=required_only)
        for name, f in t.fields.items()
        if not required_only or isinstance(f.type, GraphQLNonNull)
    }


def _type_name(t: Any) -> str:
    if isinstance(t, GraphQLNonNull):
        return f"{_type_name(t.of_type)}!"
    if isinstance(t, GraphQLList):
        return f"[{_type_name(t.of_type)}]"
    return str(t.name)


def _selection(field: GraphQLField) -> str:
    result = _unwrap(field.type)
    if isinstance(result, GraphQLUnionType):
        return "{ __typename ... on Error { message } }"
    if isinstance(result, GraphQLObjectType | GraphQLUnionType):
        return "{ __typename }"
    return ""


def operations() -> list[Operation]:
    schema = graphql_schema()
    out = []
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            required = {a: arg.type for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
            declared = ", ".join(f"${a}: {_type_name(t)}" for a, t in required.items())
            passed = ", ".join(f"{a}: ${a}" for a in required)
            document = (
                f"{kind}{f'({declared})' if declared else ''} "
                f"{{ {name}{f'({passed})' if passed else ''} {_selection(field)} }}"
            )
            out.append(Operation(kind, name, document, {a: placeholder(t) for a, t in required.items()}, required))
    return out
