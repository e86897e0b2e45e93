"""Every exposed kind's read model, derived from its spec's ``Exposure``.

Per kind: a typed table (``workflow_id``, ``seq``, ``state``, the owner, the declared
columns, ``updated_at``), with an index per sort order and per often-filtered column;
the projection writing it from a snapshot; and the list query filtering and sorting on
it. Alembic autogenerates the migration from these tables like any other model. A list
filter no one column answers is declared as ``FILTERS`` in ``services/<its module>.py``.
"""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cached_property, lru_cache, partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from services.models import ReadModel, utc_column
from services.pagination import Page, PageQuery, read_page
from services.read_model import lifecycle_page_query, page_key_of
from workflows.engine.exposure import Column, Exposure, Match, Projected
from workflows.engine.spec import LifecycleSpec
from workflows.engine.types import LifecycleSnapshot
from workflows.engine.values import PERSON_MAX_LENGTH, WORKFLOW_ID_MAX_LENGTH, Money
from workflows.registry import SPECS

STATE_MAX_LENGTH = 60
ENUM_MAX_LENGTH = 60


@dataclass(frozen=True, kw_only=True)
class ListFilter:
    """A list filter no one column answers (a condition on several, or on today's date).

    ``condition`` gets the table's columns and the value given (never None) and returns
    the SQL condition rows must meet.
    """

    name: str  # the filter input's field: "earlyWindowOpen"
    type: Any  # the Python type of the value, as a column's
    description: str = ""
    condition: Callable[[Any, Any], sa.ColumnElement[bool]]


def is_money(column: Column[Any, Any]) -> bool:
    return bool(column.type == Money)


def stored_name(column: Column[Any, Any]) -> str:
    """Amounts are stored in whole cents, so sums and sorts stay exact on every backend."""
    return f"{column.name}_cents" if is_money(column) else column.name


def order_name(column: Column[Any, Any]) -> str:
    return column.order_name or column.name.upper()


def _field(column: Column[Any, Any]) -> tuple[Any, Any]:
    """The SQLModel annotation and field of a declared column."""
    t = column.type
    if is_money(column):
        return (int | None if column.nullable else int), Field(sa_type=sa.BigInteger, nullable=column.nullable)
    if t is datetime:
        return (datetime | None if column.nullable else datetime), utc_column(nullable=column.nullable)
    if isinstance(t, type) and issubclass(t, enum.Enum):
        length = column.max_length or ENUM_MAX_LENGTH
        return (str | None if column.nullable else str), Field(max_length=length, nullable=column.nullable)
    if t is str:
        if column.max_length is None:
            raise ValueError(f"column {column.name}: a text column declares its max_length")
        return (str | None if column.nullable else str), Field(max_length=column.max_length, nullable=column.nullable)
    if t in (bool, int, date):
        return (t | None if column.nullable else t), Field(nullable=column.nullable)
    raise ValueError(f"column {column.name}: unsupported type {t!r}")


def _stored_value(column: Column[Any, Any] | None, value: Any) -> Any:
    """A value as its column stores it (``None``: a built-in column, state or owner)."""
    if value is None:
        return None
    if column is not None and is_money(column):
        return int((Decimal(str(value)) * 100).to_integral_value())
    if isinstance(value, enum.Enum):
        return str(value.value)
    return value


@dataclass(frozen=True)
class DerivedReadModel:
    """One kind's typed table, its projection and its list query."""

    spec: LifecycleSpec[Any, Any]

    @property
    def exposure(self) -> Exposure[Any, Any]:
        assert self.spec.exposure is not None
        return self.spec.exposure

    @cached_property
    def filters(self) -> tuple[ListFilter, ...]:
        """The kind's own list filters, declared beside it as ``FILTERS``."""
        from services.kinds import companions

        module = companions("services").get(self.spec.kind)
        return tuple(getattr(module, "FILTERS", ())) if module is not None else ()

    @cached_property
    def default_order_column(self) -> Column[Any, Any] | None:
        name = self.exposure.default_order.rsplit("_", 1)[0]
        return next((c for c in self.exposure.columns if c.orderable and order_name(c) == name), None)

    @cached_property
    def table(self) -> type[SQLModel]:
        x = self.exposure
        annotations: dict[str, Any] = {"workflow_id": str, "seq": int, x.state_name: str, x.owner_column: str | None}
        namespace: dict[str, Any] = {
            "__tablename__": x.table,
            "workflow_id": Field(primary_key=True, max_length=WORKFLOW_ID_MAX_LENGTH),
            x.state_name: Field(max_length=STATE_MAX_LENGTH),
            x.owner_column: Field(default=None, max_length=PERSON_MAX_LENGTH),
        }
        for column in x.columns:
            annotations[stored_name(column)], namespace[stored_name(column)] = _field(column)
        annotations["updated_at"] = datetime
        namespace["updated_at"] = utc_column()
        namespace["__annotations__"] = annotations
        namespace["__table_args__"] = tuple(self._indexes())
        name = f"{x.type_name}Row"
        model_class: Any = type(SQLModel)  # SQLModel's metaclass, which builds the table
        row: type[SQLModel] = model_class(name, (SQLModel,), namespace, table=True)
        return row

    def _indexes(self) -> list[sa.Index]:
        """An index per sort order, and one per often-filtered column with the default order."""
        x = self.exposure
        table = x.table
        indexes = [sa.Index(f"ix_{table}_updated", "updated_at", "workflow_id")]
        default = self.default_order_column
        for column in x.columns:
            if column.orderable:
                indexes.append(sa.Index(f"ix_{table}_{column.name}", stored_name(column), "workflow_id"))
        filtered = [(x.state_name, x.state_name), (x.owner_column, x.owner_column)]
        filtered += [(c.name, stored_name(c)) for c in x.columns if c.indexed]
        if default is not None:
            for name, stored in filtered:
                indexes.append(
                    sa.Index(f"ix_{table}_{name}_{default.name}", stored, stored_name(default), "workflow_id")
                )
        return indexes

    def project(self, snapshot: LifecycleSnapshot) -> dict[str, Any]:
        projected = projected_of(self.spec, snapshot)
        values: dict[str, Any] = {
            "workflow_id": snapshot.workflow_id,
            "seq": snapshot.seq,
            self.exposure.state_name: snapshot.state,
            self.exposure.owner_column: snapshot.owner,
        }
        for column in self.exposure.columns:
            value = column.value(projected) if column.value else getattr(projected.data, column.name)
            values[stored_name(column)] = _stored_value(column, value)
        values["updated_at"] = snapshot.updated_at
        return values

    @cached_property
    def read_model(self) -> ReadModel:
        return ReadModel(self.table, self.project)

    @cached_property
    def orders(self) -> dict[str, tuple[Any, bool]]:
        """Order name -> (column, descending)."""
        columns = sa.inspect(self.table).local_table.c
        out: dict[str, tuple[Any, bool]] = {}
        for column in self.exposure.columns:
            if column.orderable:
                out[f"{order_name(column)}_ASC"] = (columns[stored_name(column)], False)
                out[f"{order_name(column)}_DESC"] = (columns[stored_name(column)], True)
        out["UPDATED_AT_ASC"] = (columns.updated_at, False)
        out["UPDATED_AT_DESC"] = (columns.updated_at, True)
        return out

    def _comparisons(
        self, given: Sequence[tuple[Column[Any, Any] | str | ListFilter, Any]], now: datetime | None
    ) -> list[Comparison | sa.ColumnElement[bool]]:
        """The filter values given as comparisons of stored columns (or a ``ListFilter``'s own SQL)."""
        columns = sa.inspect(self.table).local_table.c
        out: list[Comparison | sa.ColumnElement[bool]] = []
        for column, value in given:
            if isinstance(column, ListFilter):
                if value is not None:
                    out.append(column.condition(columns, value))
                continue
            included = (True, False)
            if isinstance(column, str):
                match = Match.ANY_OF if column == "state" else Match.EQUALS
                builtin = {"state": self.exposure.state_name, "owner": self.exposure.owner_column}
                name = builtin.get(column, column)
                stored, convert = columns[name], partial(_stored_value, None)
            else:
                match = column.match or Match.EQUALS
                stored = columns[stored_name(column)]
                convert = partial(_stored_value, column)
                included = column.bounds_included
            if match is Match.RANGE:
                low, high = value
                low_included, high_included = included
                if low is not None:
                    out.append(Comparison(stored, ">=" if low_included else ">", convert(low)))
                if high is not None:
                    out.append(Comparison(stored, "<=" if high_included else "<", convert(high)))
            elif match is Match.FLAG:
                if value:
                    out.append(Comparison(stored, "is true", None))
            elif match is Match.PAST:
                if value is not None:
                    out.append(Comparison(stored, "past" if value else "not past", now or datetime.now(UTC)))
            elif match is Match.ANY_OF:
                if value:
                    out.append(Comparison(stored, "in", [convert(v) for v in value]))
            elif value is not None:
                out.append(Comparison(stored, "==", convert(value)))
        return out

    def conditions(
        self,
        given: Sequence[tuple[Column[Any, Any] | str | ListFilter, Any]],
        *,
        now: datetime | None = None,
    ) -> list[sa.ColumnElement[bool]]:
        """SQL conditions for filter values: (column, built-in name or list filter; value or
        bounds); a ``PAST`` filter compares with ``now`` (default: the current time).

        The built-in names are ``state`` and ``owner``, whatever the kind calls them.
        """
        return [c.sql(c.value) if isinstance(c, Comparison) else c for c in self._comparisons(given, now)]

    def read_page(
        self,
        connection: sa.Connection | Session,
        given: Sequence[tuple[Column[Any, Any] | str | ListFilter, Any]],
        order: str,
        *,
        first: int,
        after: str | None,
        max_page_size: int,
        counted: bool = True,
        now: datetime | None = None,
    ) -> Page[sa.Row[Any]]:
        """One page of the lifecycles matching the filter values ``given`` (as ``conditions``
        takes them), in ``order``; synchronous, for ``services.db.Reader`` (on an asyncio
        session, through ``run_sync``).

        The statements of a list's shape (which comparisons, which order) are built once and
        the values bound to them: a ``ListFilter``'s own SQL, which may hold today's date, is
        built for each request.
        """
        comparisons = self._comparisons(given, now)
        compared = [c for c in comparisons if isinstance(c, Comparison)]
        if len(compared) == len(comparisons):
            query = _page_query(self.spec.kind, tuple((c.column.name, c.operator) for c in compared), order)
            parameters = {f"filter_{i}": c.value for i, c in enumerate(compared) if c.binds}
        else:
            query = lifecycle_page_query(self.table, self.conditions(given, now=now), *self.orders[order])
            parameters = {}
        return read_page(
            connection,
            query,
            page_key_of,
            first=first,
            after=after,
            max_page_size=max_page_size,
            parameters=parameters,
            counted=counted,
        )


_OPERATORS: dict[str, Callable[[Any, Any], sa.ColumnElement[bool]]] = {
    "==": operator.eq,
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "in": lambda column, values: column.in_(values),
    "is true": lambda column, _: column.is_(True),
    "past": lambda column, now: column <= now,
    "not past": lambda column, now: sa.or_(column.is_(None), ~(column <= now)),
}


@dataclass(frozen=True)
class Comparison:
    """One filter value as a comparison of a stored column: ``column <operator> value``."""

    column: Any  # a typed table's sa.Column
    operator: str  # a key of _OPERATORS
    value: Any

    @property
    def binds(self) -> bool:
        return self.operator != "is true"

    def sql(self, operand: Any) -> sa.ColumnElement[bool]:
        """The comparison with ``operand``: its value, or a bound parameter standing for it."""
        return _OPERATORS[self.operator](self.column, operand)


@lru_cache(maxsize=512)
def _page_query(kind: str, shape: tuple[tuple[str, str], ...], order: str) -> PageQuery:
    """A list's statements for one shape of its filter, its values bound as ``filter_<i>``.

    Bounded, as a client choosing its filter's fields chooses the shapes."""
    model = DERIVED[kind]
    columns = sa.inspect(model.table).local_table.c
    conditions = []
    for i, (name, operator_) in enumerate(shape):
        comparison = Comparison(columns[name], operator_, None)
        if not comparison.binds:
            conditions.append(comparison.sql(None))
            continue
        parameter = sa.bindparam(f"filter_{i}", type_=comparison.column.type, expanding=operator_ == "in")
        conditions.append(comparison.sql(parameter))
    return lifecycle_page_query(model.table, conditions, *model.orders[order])


def projected_of(spec: LifecycleSpec[Any, Any], snapshot: LifecycleSnapshot, data: Any = None) -> Projected[Any, Any]:
    """The instance as its columns and instance-computed fields see it (``data``: already parsed)."""
    return Projected(
        data=data if data is not None else spec.data_model.model_validate(snapshot.data),
        policy=spec.policy_model.model_validate(snapshot.policy),
        state=snapshot.state,
        opened_at=snapshot.opened_at,
        closed_at=snapshot.closed_at,
        next_deadline=snapshot.next_deadline,
    )


# kind -> its derived read model, for every spec that declares an exposure.
DERIVED: dict[str, DerivedReadModel] = {
    spec.kind: DerivedReadModel(spec) for spec in SPECS.values() if spec.exposure is not None
}
