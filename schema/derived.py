"""Every exposed kind's GraphQL, derived from its spec and its ``Exposure``.

Per kind: the output type from the data model (its fields and computed fields; nested
models become types, enums GraphQL enums, amounts ``Money``); the one-by-id query and
the list query, with filter and order inputs from the read model's declared columns;
one mutation per trigger a caller may fire, whose input is the trigger's params model
and whose result union lists only the refusals that trigger can produce; the opening
mutation, whose input is the declared data fields. A kind's truly special fields (a
quote, an account view) live in ``schema/<its module>.py`` as ``FIELDS``, a class
whose strawberry fields are added to the derived type (replacing derived fields of the
same name; its attributes are ``strawberry.Private``), and as ``PART``, extra queries
or mutations; ``CONNECTION_FIELDS``, the same for its list's connection (whose
resolvers read ``self.conditions``, the list's filter as SQL: a late payment's totals).
A list filter no declared column answers is a ``ListFilter`` in
``services/<its module>.py``'s ``FILTERS``.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property, partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from pydantic import AwareDatetime, BaseModel
from pydantic.fields import FieldInfo
from strawberry.scalars import JSON
from strawberry.types.base import get_object_definition, has_object_definition
from strawberry.types.enum import has_enum_definition
from strawberry.types.lazy_type import LazyType

from schema.common import (
    LIGHT_LIFECYCLE_FIELDS,
    Connection,
    LeanAnswer,
    Lifecycle,
    SchemaPart,
    Transition,
    asks_for_total,
    connection,
    fire,
    fire_on_account_instance,
    open_lifecycle,
    projected_field,
    served_as_attributes,
)
from schema.context import Info
from schema.errors import (
    EVERY_REFUSAL,
    AlreadyExists,
    Forbidden,
    GuardFailed,
    IdempotencyKeyReused,
    InvalidTransition,
    NotFound,
    ValidationError,
    camel,
    to_error,
)
from schema.inputs import Account, AccountInput, filter_amount, filter_date, filter_moment
from schema.scalars import Money as MoneyScalar
from services.derived import DerivedReadModel, ListFilter, is_money, projected_of
from services.numbering import next_account_numbered_id
from services.read_model import get_snapshot
from workflows.engine import values
from workflows.engine.errors import Rejection
from workflows.engine.exposure import Column, Exposure, Match, Mutation, Opening, PerAccount
from workflows.engine.spec import LifecycleSpec, Role
from workflows.engine.types import LifecycleSnapshot, TransitionResult

# Value types every kind shares, and their one GraphQL type (output, input).
SHARED_MODELS: dict[type[BaseModel], tuple[type, type]] = {values.Account: (Account, AccountInput)}
# Types are made here from data, which a type checker cannot follow: these generics are
# applied to values built at run time.
LIST: Any = list
UNION: Any = typing.Union
PRIVATE: Any = strawberry.Private
CONNECTION: Any = Connection
ENUM: Any = enum.Enum
# Fields every lifecycle has on the ``Lifecycle`` interface, never derived again.
INTERFACE_FIELDS = {f.python_name for f in get_object_definition(Lifecycle, strict=True).fields}


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def _capitalised(name: str) -> str:
    return name[0].upper() + name[1:]


def graphql_enum(cls: type[enum.Enum]) -> type[enum.Enum]:
    """The spec's own enum as a GraphQL enum, described by its docstring (once per enum)."""
    if not has_enum_definition(cls):
        strawberry.enum(cls, description=inspect.cleandoc(cls.__dict__.get("__doc__") or "") or None)
    return cls


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without Annotated and None, whether None is allowed)."""
    if annotation == values.Money or annotation == values.PositiveMoney:
        return values.Money, False
    if typing.get_origin(annotation) is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner, _ = _unwrap(members[0]) if len(members) == 1 else (JSON, False)
        return inner, True
    return annotation, False


def _model_hints(model: type[BaseModel]) -> dict[str, Any]:
    return typing.get_type_hints(model, include_extras=True)


@dataclass
class _Builder:
    """Builds one kind's GraphQL from its spec; nested types are made once and named."""

    spec: LifecycleSpec[Any, Any]
    read_model: DerivedReadModel

    def __post_init__(self) -> None:
        assert self.spec.exposure is not None, "only exposed kinds are derived"
        self.exposure: Exposure[Any, Any] = self.spec.exposure
        self.outputs: dict[type[BaseModel], type] = {}
        self.inputs: dict[str, tuple[object, type]] = {}
        self.unions: dict[str, Any] = {}
        # The lifecycle type's fields that read neither the policy nor the deadlines.
        self.light_fields: set[str] = set(LIGHT_LIFECYCLE_FIELDS)

    # ---- types -----------------------------------------------------------------------------

    def model_name(self, model: type[BaseModel]) -> str:
        if model in self.exposure.type_names:
            return self.exposure.type_names[model]
        prefix = self.exposure.type_name
        return model.__name__ if model.__name__.startswith(prefix) else prefix + model.__name__

    def graphql_type(self, annotation: Any, *, for_input: bool) -> Any:
        inner, optional = _unwrap(annotation)
        converted = self._converted(inner, for_input=for_input)
        return converted | None if optional else converted

    def _converted(self, t: Any, *, for_input: bool) -> Any:
        if t is values.Money:
            return MoneyScalar
        origin = typing.get_origin(t)
        if origin in (list, tuple, set, frozenset):
            return LIST[self.graphql_type(typing.get_args(t)[0], for_input=for_input)]
        if origin is dict or t is dict or t is Any:
            return JSON
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return graphql_enum(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            if t in SHARED_MODELS:
                return SHARED_MODELS[t][1 if for_input else 0]
            return self.input_model(t) if for_input else self.output_model(t)
        if t in (str, int, bool, float, datetime, date, Decimal, strawberry.ID):
            return t
        if t is AwareDatetime:
            return datetime
        raise TypeError(f"{self.spec.kind}: no GraphQL type for {t!r}")

    def output_model(self, model: type[BaseModel]) -> type:
        if model not in self.outputs:
            hints = _model_hints(model)
            annotations: dict[str, Any] = {}
            namespace: dict[str, Any] = {}
            renamed = self.exposure.output_field_names.get(model, {})
            for name, info in model.model_fields.items():
                annotations[name] = self.graphql_type(hints[name], for_input=False)
                graphql_name = camel(renamed[name]) if name in renamed else None
                namespace[name] = strawberry.field(name=graphql_name, description=info.description)
            for name, computed in model.model_computed_fields.items():
                annotations[name] = self.graphql_type(computed.return_type, for_input=False)
                namespace[name] = strawberry.field(description=computed.description)
            namespace["__annotations__"] = annotations
            cls = type(self.model_name(model), (), namespace)
            self.outputs[model] = strawberry.type(cls, description=_doc(model))
        return self.outputs[model]

    def input_model(self, model: type[BaseModel]) -> type:
        name = self.model_name(model) + "Input"
        fields = {n: (info, _model_hints(model)[n]) for n, info in model.model_fields.items()}
        return self.input_type(name, fields, description=_doc(model))

    def input_type(
        self,
        name: str,
        fields: Mapping[str, tuple[FieldInfo | None, Any]],
        *,
        description: str | None,
        key: object = None,
        field_names: Mapping[str, str] | None = None,
    ) -> type:
        """An input type, made once per name; two triggers sharing a name share their params."""
        key = key if key is not None else tuple(fields)
        if name in self.inputs:
            made_for, cls = self.inputs[name]
            if made_for != key:
                raise ValueError(f"{self.spec.kind}: input {name} is declared for different parameters")
            return cls
        annotations: dict[str, Any] = {}
        namespace: dict[str, Any] = {}
        for field_name, (info, hint) in fields.items():
            required = info is not None and info.is_required()
            t = self.graphql_type(hint, for_input=True)
            annotations[field_name] = t if required else _optional(t)
            described = info.description if info is not None else None
            graphql_name = (field_names or {}).get(field_name)
            namespace[field_name] = (
                strawberry.field(name=graphql_name, description=described)
                if required
                else strawberry.field(default=None, name=graphql_name, description=described)
            )
        namespace["__annotations__"] = annotations
        cls = strawberry.input(type(name, (), namespace), description=description)
        self.inputs[name] = (key, cls)
        return cls

    # ---- the lifecycle type ------------------------------------------------------------------

    def lifecycle_type(self) -> type:
        x = self.exposure
        model = self.spec.data_model
        hints = _model_hints(model)
        annotations: dict[str, Any] = {}
        # Every field is plain (served_as_attributes): what it shows of the instance.
        reads: dict[str, Callable[[Any], Any]] = {}
        # The data is validated when a field first reads it: a list page's row holds it as text.
        data = cached_property(
            lambda root: (
                model.model_validate_json(root.source.data)
                if isinstance(root.source.data, str)
                else model.model_validate(root.source.data)
            )
        )
        namespace: dict[str, Any] = {"__init__": _lifecycle_init, "data": data}
        special = self.special_fields()
        # The kind's own fields replace derived ones of the same name.
        skipped = {*x.hidden, *INTERFACE_FIELDS, *_field_names(special)}

        def add(name: str, t: Any, read: Callable[[Any], Any], description: str | None) -> None:
            annotations[name] = t
            namespace[name] = strawberry.field(description=description)
            reads[name] = read

        states = graphql_enum(x.states)
        add(x.state_name, states, lambda root: root.source.state, None)
        self.light_fields.add(x.state_name)
        for name, info in model.model_fields.items():
            if name in skipped or name in x.computed_from_instance:
                continue
            t = self.graphql_type(hints[name], for_input=False)
            if name in x.always_set:
                t = _required(t)
            read = _data_enum_field(name) if _is_enum(hints[name]) else _data_field(name)
            add(name, t, read, x.descriptions.get(name) or info.description)
            self.light_fields.add(name)
        for name, computed in model.model_computed_fields.items():
            if name in skipped or name in x.computed or name in x.computed_from_instance:
                continue
            t = self.graphql_type(computed.return_type, for_input=False)
            add(name, t, _data_field(name), x.descriptions.get(name) or computed.description)
            self.light_fields.add(name)
        for name, compute in x.computed.items():
            t = self.graphql_type(typing.get_type_hints(compute, include_extras=True)["return"], for_input=False)
            add(name, t, _computed(compute), _doc_of(compute))
            self.light_fields.add(name)
        for name, compute_from in x.computed_from_instance.items():
            t = self.graphql_type(typing.get_type_hints(compute_from, include_extras=True)["return"], for_input=False)
            add(name, t, _from_instance(self.spec, compute_from), _doc_of(compute_from))
        namespace["__annotations__"] = annotations
        bases = (special, Lifecycle) if special is not None else (Lifecycle,)
        lifecycle = strawberry.type(type(x.type_name, bases, namespace), description=x.description)
        served_as_attributes(lifecycle, reads)
        return lifecycle

    def special_fields(self, name: str = "FIELDS") -> type | None:
        from services.kinds import companions

        module = companions("schema").get(self.spec.kind)
        found = getattr(module, name, None) if module is not None else None
        # Strawberry finds inherited fields only on types, so a plain class is made one.
        if found is None or has_object_definition(found):
            return found
        special: type = strawberry.type(found)
        return special

    def extended_connection(self, lifecycle: type) -> type | None:
        """The list's connection with a kind's ``CONNECTION_FIELDS`` (a class whose strawberry
        fields read ``self.conditions``, the list's filter as SQL), if it declares them."""
        special = self.special_fields("CONNECTION_FIELDS")
        if special is None:
            return None
        namespace = {"__annotations__": {"conditions": PRIVATE[list[Any]]}}
        name = f"{self.exposure.type_name}Connection"
        bases = (special, CONNECTION[lifecycle])  # a generic alias among the bases: types.new_class resolves it
        return strawberry.type(types.new_class(name, bases, exec_body=lambda ns: ns.update(namespace)))


def _field_names(cls: type | None) -> set[str]:
    """The fields a kind's ``FIELDS`` type declares."""
    if cls is None:
        return set()
    return {f.python_name for f in get_object_definition(cls, strict=True).fields}


def _doc(model: type) -> str | None:
    doc = model.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else None


def _doc_of(fn: Callable[..., Any]) -> str | None:
    return inspect.cleandoc(fn.__doc__) if fn.__doc__ else None


def _optional(t: Any) -> Any:
    return t if _is_optional(t) else t | None


def _is_optional(t: Any) -> bool:
    return typing.get_origin(t) in (typing.Union, types.UnionType) and type(None) in typing.get_args(t)


def _required(t: Any) -> Any:
    if not _is_optional(t):
        return t
    members = [a for a in typing.get_args(t) if a is not type(None)]
    return members[0]


def _lifecycle_init(self: Any, *, source: Any) -> None:
    """An instance of a kind's lifecycle type, from its snapshot or its row (``Lifecycle.source``)."""
    self.source = source


def _data_field(name: str) -> Callable[[Any], Any]:
    return lambda root: getattr(root.data, name)


# An enum field answers its member's value: graphql-core serializes a value with one lookup,
# where strawberry serializes a member by scanning the enum's values (~2.5 µs a field, so
# ~5% of a list's page of twenty; the state field does the same with the stored state).
def _data_enum_field(name: str) -> Callable[[Any], Any]:
    def read(root: Any) -> Any:
        member = getattr(root.data, name)
        return None if member is None else member.value

    return read


def _is_enum(annotation: Any) -> bool:
    inner, _ = _unwrap(annotation)
    return isinstance(inner, type) and issubclass(inner, enum.Enum)


def _computed(compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda root: compute(root.data)


def _from_instance(spec: LifecycleSpec[Any, Any], compute: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda root: compute(projected_of(spec, root.snapshot, root.data))


def _function(
    name: str, parameters: list[tuple[str, Any, Any]], returns: Any, body: Callable[..., Any]
) -> Callable[..., Any]:
    """A resolver whose GraphQL arguments are built from data: (name, annotation, default)."""

    async def resolve(self: Any, info: Info, **arguments: Any) -> Any:
        return await body(info, **arguments)

    resolve.__name__ = name
    P = inspect.Parameter
    signed: Any = resolve  # inspect.signature reads __signature__, which mypy does not know on functions
    signed.__signature__ = inspect.Signature(
        [
            P("self", P.POSITIONAL_OR_KEYWORD),
            P("info", P.KEYWORD_ONLY, annotation=Info),
            *(P(n, P.KEYWORD_ONLY, annotation=a, default=d) for n, a, d in parameters),
        ],
        return_annotation=returns,
    )
    return resolve


def plain(value: Any) -> Any:
    """An input object as the dict the spec validates, leaving absent fields to its defaults."""
    definition = get_object_definition(value) if value is not None else None
    if definition is not None:
        out = {}
        for f in definition.fields:
            v = getattr(value, f.python_name)
            if v is not None and v is not strawberry.UNSET:
                out[f.python_name] = plain(v)
        return out
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


# The refusals a request can meet, whatever its trigger.
ALWAYS_POSSIBLE = (NotFound, InvalidTransition, ValidationError, Forbidden, IdempotencyKeyReused)


@dataclass(frozen=True)
class _Filter:
    """One filter input field and the column it reads (a built-in name or a declared column)."""

    python_name: str
    graphql_name: str
    column: Column[Any, Any] | str | ListFilter
    annotation: Any
    description: str | None
    bound: int | None = None  # 0 lower, 1 upper, for a range
    default: Any = None


def _filter_value(f: _Filter, value: Any) -> Any:
    if value is None or not isinstance(f.column, Column) or f.column.match is Match.PAST:
        return value
    t = f.column.type
    if is_money(f.column):
        return filter_amount(value, f.graphql_name)
    if t is datetime:
        return filter_moment(value, f.graphql_name)
    if t is date:
        return filter_date(value, f.graphql_name)
    return value


class _Api(_Builder):
    def result(
        self, name: str, changed: type, members: tuple[type, ...], *, declared: bool
    ) -> tuple[Any, tuple[type, ...]]:
        """The mutation's result union and its refusals: the kind's shared one for a declared
        mutation when the kind keeps one, else its own."""
        if declared and self.exposure.shared_result:
            if self.exposure.shared_result not in self.unions:
                union = Annotated[UNION[(changed, *EVERY_REFUSAL)], strawberry.union(self.exposure.shared_result)]
                self.unions[self.exposure.shared_result] = union
            return self.unions[self.exposure.shared_result], EVERY_REFUSAL
        return Annotated[UNION[(changed, *members)], strawberry.union(name)], members

    def changed_type(self, lifecycle: type) -> type:
        x = self.exposure
        namespace = {
            "__annotations__": {x.one: lifecycle, "transition": Transition, "projected": bool},
            "projected": projected_field(),
        }
        return strawberry.type(
            type(f"{x.type_name}Changed", (), namespace),
            description=f"The transition applied and the {self.spec.title.lower()} as the read model now has it.",
        )

    def filters(self) -> list[_Filter]:
        x = self.exposure
        out = [
            _Filter(x.state_name, camel(x.state_name), "state", LIST[graphql_enum(x.states)] | None, None),
            _Filter(x.owner_column, camel(x.owner_column), "owner", str | None, None),
        ]
        for column in x.columns:
            if column.match is None:
                continue
            t = self.graphql_type(column.type, for_input=True)
            description = column.filter_description or None
            if column.match is Match.PAST:
                name = column.filter_names[0] if column.filter_names else camel(column.name)
                out.append(_Filter(snake(name), name, column, bool | None, description))
            elif column.match is Match.RANGE:
                for bound, name in enumerate(column.filter_names):
                    if not name:
                        continue
                    out.append(_Filter(snake(name), name, column, t | None, description, bound))
            else:
                name = column.filter_names[0] if column.filter_names else camel(column.name)
                if column.match is Match.FLAG:
                    out.append(_Filter(snake(name), name, column, bool, description, default=False))
                    continue
                annotation = LIST[t] | None if column.match is Match.ANY_OF else t | None
                out.append(_Filter(snake(name), name, column, annotation, description))
        for special in self.read_model.filters:
            t = self.graphql_type(special.type, for_input=True)
            out.append(_Filter(snake(special.name), special.name, special, t | None, special.description or None))
        return out

    def part(self) -> SchemaPart:
        x = self.exposure
        spec = self.spec
        lifecycle = self.lifecycle_type()
        changed = self.changed_type(lifecycle)

        def wrap(source: Any) -> Any:
            return lifecycle(source=source)

        def answer(outcome: Any, members: tuple[type, ...]) -> Any:
            if isinstance(outcome, TransitionResult):
                return changed(
                    **{x.one: wrap(outcome.snapshot)},
                    transition=Transition.of(outcome.transition),
                    projected=outcome.projected,
                )
            if not isinstance(outcome, members):
                raise GraphQLError(outcome.message)
            return outcome

        # ---- queries
        lookup = Annotated[UNION[lifecycle, NotFound], strawberry.union(f"{x.type_name}Lookup")]
        id_arg = snake(x.id_name)

        async def one(info: Info, **arguments: Any) -> Any:
            entity_id = arguments[id_arg]
            async with info.context.sessions() as session:
                snapshot = await get_snapshot(session, spec.kind, entity_id)
            if snapshot is None:
                return NotFound(message=f"There is no {spec.title.lower()} {entity_id!r}.")
            return wrap(snapshot)

        filters = self.filters()
        filter_input = strawberry.input(
            type(
                f"{x.type_name}Filter",
                (),
                {
                    "__annotations__": {f.python_name: f.annotation for f in filters},
                    **{
                        f.python_name: strawberry.field(
                            default=f.default, name=f.graphql_name, description=f.description
                        )
                        for f in filters
                    },
                },
            )
        )
        extended = self.extended_connection(lifecycle)
        orders = self.read_model.orders
        order_enum: Any = strawberry.enum(ENUM(f"{x.type_name}Order", {name: name for name in orders}))

        async def many(
            info: Info, filter: Any = None, order_by: Any = None, first: int = 20, after: str | None = None
        ) -> Any:
            given: list[tuple[Any, Any]] = []
            ranges: dict[str, list[Any]] = {}
            for f in filters:
                value = _filter_value(f, getattr(filter, f.python_name)) if filter is not None else None
                if f.bound is None:
                    given.append((f.column, value))
                else:
                    assert isinstance(f.column, Column)
                    ranges.setdefault(f.column.name, [f.column, None, None])[1 + f.bound] = value
            given += [(column, (low, high)) for column, low, high in ranges.values()]
            page = await info.context.read(
                partial(
                    self.read_model.read_page,
                    given=given,
                    order=order_by.value,
                    first=first,
                    after=after,
                    max_page_size=info.context.settings.max_page_size,
                    counted=asks_for_total(info),
                )
            )
            listed = connection(page, wrap)
            if extended is None:
                return listed
            return extended(
                edges=listed.edges,
                page_info=listed.page_info,
                total=listed.total,
                conditions=self.read_model.conditions(given),
            )

        query_namespace = {
            x.one: strawberry.field(
                resolver=_function(x.one, [(id_arg, strawberry.ID, inspect.Parameter.empty)], lookup, one),
                description=f"One {spec.title.lower()}, from the read model.",
            ),
            x.many: strawberry.field(
                resolver=_function(
                    x.many,
                    [
                        ("filter", filter_input | None, None),
                        ("order_by", order_enum, order_enum[x.default_order]),
                        ("first", int, 20),
                        ("after", str | None, None),
                    ],
                    extended or CONNECTION[lifecycle],
                    many,
                ),
                description=f"{_capitalised(snake(x.many).replace('_', ' '))} matching the filter, a page at a time.",
            ),
        }
        query = strawberry.type(type(f"{x.type_name}Query", (), query_namespace))

        # ---- mutations
        mutation_namespace: dict[str, Any] = {}
        if x.opening is not None:
            mutation_namespace[x.opening.name] = self.opening_mutation(x.opening, changed, answer)
        for trigger, declared in self.trigger_mutations().items():
            named = x.mutations.get(trigger) is not None
            mutation_namespace[declared.name] = self.trigger_mutation(trigger, declared, changed, answer, named)
        if x.per_account is not None:
            for trigger, declared in x.per_account.mutations.items():
                mutation_namespace[declared.name] = self.account_mutation(
                    x.per_account, trigger, declared, changed, answer
                )
        mutation = strawberry.type(type(f"{x.type_name}Mutation", (), mutation_namespace))
        DERIVED_TYPES.update({x.type_name: lifecycle, **self.unions})
        DERIVED_KINDS[spec.kind] = DerivedKind(wrap=wrap, answer=lambda outcome: answer(outcome, EVERY_REFUSAL))
        return SchemaPart(query=query, mutation=mutation, type=lifecycle)

    def opening_mutation(self, opening: Opening, changed: type, answer: Callable[[Any, tuple[type, ...]], Any]) -> Any:
        x = self.exposure
        spec = self.spec
        model = spec.data_model
        id_arg = snake(x.id_name)
        open_members: tuple[type, ...] = (AlreadyExists, ValidationError, Forbidden)
        open_result, open_members = self.result(
            f"{_capitalised(opening.name)}Result", changed, open_members, declared=True
        )
        id_arg_info = (None, strawberry.ID | None) if opening.id_prefix else (FieldInfo(annotation=str), strawberry.ID)
        # A kind numbered per account takes no id: the service makes it from the account's.
        open_fields: dict[str, tuple[FieldInfo | None, Any]] = {} if x.account_numbered else {id_arg: id_arg_info}
        hints = _model_hints(model)
        for name in opening.fields:
            info = model.model_fields[name]
            if name == "owner" and opening.owner_defaults_to_caller:
                info = FieldInfo(annotation=str | None, default=None, description="Defaults to the caller.")
            elif name in opening.field_descriptions:
                info = FieldInfo.merge_field_infos(info, description=opening.field_descriptions[name])
            open_fields[name] = (info, hints[name])
        policy_info = FieldInfo(
            default=None, description=f"Policy overrides for this {spec.title.lower()} (admin only)."
        )
        if opening.entry_state:
            entry_info = FieldInfo(default=None, description=opening.entry_state)
            open_fields[x.state_name] = (entry_info, graphql_enum(x.states) | None)
        open_fields["policy"] = (policy_info, dict[str, Any] | None)
        open_fields["reason"] = (None, str | None)
        open_input = self.input_type(
            opening.input, open_fields, description=opening.input_description or None, field_names=opening.field_names
        )

        async def open_one(info: Info, input: Any) -> Any:
            data = plain(input)
            data.pop("reason", None)
            policy = data.pop("policy", None)
            # An id that is also a data field (a late payment's invoice id) stays in the data.
            given_id = data.get(id_arg) if id_arg in model.model_fields else data.pop(id_arg, None)
            entity_id = given_id or f"{opening.id_prefix}-{uuid.uuid4().hex[:16]}"
            if x.account_numbered:
                try:
                    # The caller's role is checked before the read model is, so a viewer learns nothing.
                    info.context.require(Role.OPERATOR, f"Opening {spec.title.lower()}")
                    async with info.context.sessions() as session:
                        entity_id = await next_account_numbered_id(session, spec.kind, data["account"]["id"])
                except Rejection as rejection:
                    return answer(to_error(rejection, {"id": "account.id"}), open_members)
            entry_state = data.pop(x.state_name, None) if opening.entry_state else None
            if "owner" in opening.fields and opening.owner_defaults_to_caller:
                data.setdefault("owner", info.context.principal.actor)
            if policy is not None and not isinstance(policy, dict):
                return ValidationError(message="policy must be an object.", fields=[])
            outcome = await open_lifecycle(
                info,
                spec.kind,
                entity_id,
                data,
                policy=policy,
                initial_state=entry_state.value if entry_state is not None else None,
                reason=input.reason,
                # The engine names the state it refuses to open in "state".
                field_names={"state": camel(x.state_name), **opening.field_names},
            )
            return answer(outcome, open_members)

        return strawberry.mutation(
            resolver=_function(opening.name, [("input", open_input, inspect.Parameter.empty)], open_result, open_one),
            description=opening.description,
        )

    def trigger_mutations(self) -> dict[str, Mutation]:
        """Every trigger a caller may fire, with its mutation's names (declared or made)."""
        x = self.exposure
        out: dict[str, Mutation] = {}
        for t in self.spec.transitions:
            if t.role is Role.SYSTEM or t.trigger in out:
                continue
            declared = x.mutations.get(t.trigger, Mutation(name="", input=""))
            if declared is None:
                continue
            name = declared.name or camel(t.trigger) + x.type_name
            out[t.trigger] = Mutation(
                name=name,
                input=declared.input or _capitalised(name) + "Input",
                description=declared.description or t.description,
                field_names=declared.field_names,
            )
        return out

    def trigger_result(
        self, trigger: str, declared: Mutation, changed: type, *, named: bool
    ) -> tuple[Any, tuple[type, ...]]:
        """A trigger's result union: the refusals any trigger meets, and GuardFailed when one of
        its transitions is guarded."""
        guarded = any(t.guards for t in self.spec.transitions if t.trigger == trigger)
        members: tuple[type, ...] = ALWAYS_POSSIBLE + ((GuardFailed,) if guarded else ())
        return self.result(f"{_capitalised(declared.name)}Result", changed, members, declared=named)

    def trigger_input(
        self,
        trigger: str,
        declared: Mutation,
        selecting: Mapping[str, tuple[FieldInfo | None, Any]],
        *,
        shared_by_params: bool,
    ) -> type:
        """A trigger's input: the fields ``selecting`` the instance, its params, the reason and the
        idempotency key. ``shared_by_params``: triggers naming the same input share it when they
        take the same params model (an account mutation's input is its own)."""
        params = self.spec.params_model(trigger)
        fields = dict(selecting)
        if params is not None:
            hints = _model_hints(params)
            fields.update({n: (info, hints[n]) for n, info in params.model_fields.items()})
        fields["reason"] = (None, str | None)
        fields["idempotency_key"] = (None, str | None)
        return self.input_type(
            declared.input,
            fields,
            description=_doc(params) if params is not None else None,
            key=(params or tuple(fields)) if shared_by_params else None,
            field_names=declared.field_names,
        )

    def trigger_mutation(
        self,
        trigger: str,
        declared: Mutation,
        changed: type,
        answer: Callable[[Any, tuple[type, ...]], Any],
        named: bool,
    ) -> Any:
        spec = self.spec
        result, members = self.trigger_result(trigger, declared, changed, named=named)
        id_field = snake(self.exposure.id_name)
        input_type = self.trigger_input(
            trigger, declared, {id_field: (FieldInfo(annotation=str), strawberry.ID)}, shared_by_params=True
        )
        lean = LeanAnswer(self.exposure.one, frozenset(self.light_fields))

        async def fire_trigger(info: Info, input: Any) -> Any:
            given = plain(input)
            entity_id = given.pop(id_field)
            reason = given.pop("reason", None)
            key = given.pop("idempotency_key", None)
            outcome = await fire(
                info,
                spec.kind,
                entity_id,
                trigger,
                given,
                reason=reason,
                idempotency_key=key,
                field_names=dict(declared.field_names),
                lean=lean,
            )
            return answer(outcome, members)

        return strawberry.mutation(
            resolver=_function(declared.name, [("input", input_type, inspect.Parameter.empty)], result, fire_trigger),
            description=declared.description,
        )

    def account_mutation(
        self,
        per_account: PerAccount,
        trigger: str,
        declared: Mutation,
        changed: type,
        answer: Callable[[Any, tuple[type, ...]], Any],
    ) -> Any:
        """A trigger fired by account: on its open instance, or on the next one, opened for it."""
        spec = self.spec
        # An opening can lose a race only to an opening of the same instance, which it then
        # fires on: AlreadyExists never reaches the caller.
        result, members = self.trigger_result(trigger, declared, changed, named=False)
        owner_info = FieldInfo(
            annotation=str | None,
            default=None,
            description="The owner if this opens the account's next one; defaults to the caller.",
        )
        selecting: dict[str, tuple[FieldInfo | None, Any]] = {
            "account": (FieldInfo(annotation=values.Account), values.Account),
            "owner": (owner_info, str | None),
        }
        input_type = self.trigger_input(trigger, declared, selecting, shared_by_params=False)

        async def fire_by_account(info: Info, input: Any) -> Any:
            given = plain(input)
            account = given.pop("account")
            owner = given.pop("owner", None)
            reason = given.pop("reason", None)
            key = given.pop("idempotency_key", None)
            outcome = await fire_on_account_instance(
                info, spec.kind, account, owner, trigger, given, reason=reason, idempotency_key=key
            )
            return answer(outcome, members)

        return strawberry.mutation(
            resolver=_function(
                declared.name, [("input", input_type, inspect.Parameter.empty)], result, fire_by_account
            ),
            description=declared.description or next(t.description for t in spec.transitions if t.trigger == trigger),
        )


@dataclass(frozen=True)
class DerivedKind:
    """What a kind's special part (``PART`` in ``schema/<its module>.py``) uses of its derived
    GraphQL at run time."""

    wrap: Callable[[LifecycleSnapshot], Any]  # a snapshot as the kind's type
    answer: Callable[[Any], Any]  # an outcome as a member of the kind's shared result union


# Filled as each kind is derived: every derived type and shared union by its GraphQL name,
# and per kind what its special part uses.
DERIVED_TYPES: dict[str, Any] = {}
DERIVED_KINDS: dict[str, DerivedKind] = {}


class DerivedType(LazyType[str, str]):
    """A derived type named before it exists: a kind's special part is imported while its kind
    is derived (its ``FIELDS`` are part of the type); strawberry resolves the name when the
    schema is made."""

    def resolve_type(self) -> Any:
        return DERIVED_TYPES[self.type_name]


def derived_type(name: str) -> Any:
    """A derived type or shared result union by its GraphQL name (``"Handover"``), for a kind's
    special part to annotate with."""
    return DerivedType(name, __name__)


def derived_parts(specs: list[LifecycleSpec[Any, Any]], read_models: dict[str, DerivedReadModel]) -> list[SchemaPart]:
    """The GraphQL of every kind that declares an exposure."""
    return [_Api(spec, read_models[spec.kind]).part() for spec in specs if spec.exposure is not None]
