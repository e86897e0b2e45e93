"""Limits every operation meets before it runs: its estimated cost and the size of its lists.

**Cost.** A query's cost is the number of objects it may resolve: each field returning
an object counts one, times the page sizes it is nested in (a field with a ``first``
argument multiplies the list fields under it by that page size: the literal value,
the argument's default when absent, or the largest page size when it is a variable,
since the estimate is made once per document and cached with its validation). A query
estimated above ``max_query_cost`` is refused with the code ``QUERY_TOO_COSTLY``
before anything is loaded; aliases of an expensive field add up.

**Inputs.** No list in any input (email addresses, products, filter values) may hold
more than ``MAX_LIST_ITEMS`` items, and no string a NUL character: checked on the
arguments a root field receives, whether they came in the document or in variables.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    is_leaf_type,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from strawberry import Info
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver

from schema.errors import camel
from workflows.engine.errors import ValidationError
from workflows.engine.values import MAX_LIST_ITEMS


def query_cost_rule(max_cost: int, max_page_size: int) -> type[ValidationRule]:
    """A validation rule refusing operations whose estimated cost exceeds ``max_cost``."""

    class QueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            schema = self.context.schema
            root = {
                OperationType.QUERY: schema.query_type,
                OperationType.MUTATION: schema.mutation_type,
                OperationType.SUBSCRIPTION: schema.subscription_type,
            }[node.operation]
            if root is None:
                return
            cost = self._selection_cost(node.selection_set, root, 1, frozenset())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"The query's estimated cost is {cost}, above the limit of {max_cost}: "
                        "ask for smaller pages or fewer nested lists.",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "maxCost": max_cost},
                    )
                )

        def _selection_cost(
            self, selection_set: SelectionSetNode | None, parent: Any, page: int, fragments: frozenset[str]
        ) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += self._field_cost(selection, parent, page, fragments)
                elif isinstance(selection, InlineFragmentNode):
                    condition = (
                        self.context.schema.get_type(selection.type_condition.name.value)
                        if selection.type_condition
                        else parent
                    )
                    total += self._selection_cost(selection.selection_set, condition, page, fragments)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.context.get_fragment(name)
                    if fragment is None or name in fragments:
                        continue  # unknown or cyclic: other rules refuse it
                    condition = self.context.schema.get_type(fragment.type_condition.name.value)
                    total += self._selection_cost(fragment.selection_set, condition, page, fragments | {name})
            return total

        def _field_cost(self, node: FieldNode, parent: Any, page: int, fragments: frozenset[str]) -> int:
            field_type = _field_type(node.name.value, parent)
            if field_type is None or is_leaf_type(get_named_type(field_type)):
                return 0
            times = page if _is_list(field_type) else 1
            own_page = _page_size(node, parent, max_page_size)
            children = self._selection_cost(node.selection_set, get_named_type(field_type), own_page, fragments)
            return times * (1 + children)

    return QueryCost


def _field_type(name: str, parent: Any) -> GraphQLOutputType | None:
    if name == "__schema":
        return SchemaMetaFieldDef.type
    if name == "__type":
        return TypeMetaFieldDef.type
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) and name in parent.fields:
        return parent.fields[name].type
    return None


def _is_list(field_type: Any) -> bool:
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    return isinstance(inner, GraphQLList)


def _page_size(node: FieldNode, parent: Any, max_page_size: int) -> int:
    """The page size a field asks for: 1 for a field without a ``first`` argument."""
    if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType) or node.name.value not in parent.fields:
        return 1
    argument = parent.fields[node.name.value].args.get("first")
    if argument is None:
        return 1
    given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
    if isinstance(given, IntValueNode):
        return max(0, min(int(given.value), max_page_size))
    if isinstance(given, VariableNode) or not isinstance(argument.default_value, int):
        return max_page_size
    return argument.default_value


class InputLimits(FieldExtension):
    """On every root field: refuse, before the resolver runs, any list argument longer than
    ``MAX_LIST_ITEMS`` and any string holding a NUL character (PostgreSQL can store
    neither in text nor compare with it: a lookup by such an id would fail in the
    database). Root fields only: nested fields take no lists, and checking every field
    would slow every response."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        _refuse_bad_arguments(kwargs)
        return next_(source, info, **kwargs)

    async def resolve_async(self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        _refuse_bad_arguments(kwargs)
        result = next_(source, info, **kwargs)
        # A subscription's resolver answers an async generator, which is not awaited.
        return await result if inspect.isawaitable(result) else result


def _refuse_bad_arguments(kwargs: dict[str, Any]) -> None:
    problems = [problem for name, value in kwargs.items() for problem in _problems(value, camel(name))]
    if problems:
        raise ValidationError(
            "Some input values are invalid.",
            fields=[{"field": path, "message": message} for path, message in problems],
        )


def _problems(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path, "must not contain NUL characters"
    elif isinstance(value, list | tuple):
        if len(value) > MAX_LIST_ITEMS:
            yield path, f"at most {MAX_LIST_ITEMS} items"
            return
        for index, item in enumerate(value):
            yield from _problems(item, f"{path}.{index}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _problems(key, path)
            yield from _problems(item, f"{path}.{key}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _problems(getattr(value, field.name), f"{path}.{camel(field.name)}")
