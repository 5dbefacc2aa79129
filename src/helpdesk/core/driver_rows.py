"""The hottest reads run on the driver's cursor: SQLAlchemy compiles each statement once per
dialect and converts its results with its own types, but its per-execution context, the cursor's
description and its result objects, which cost as much as a one-row statement on PostgreSQL
(128 against 81 µs of CPU for a task), are skipped."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


@dataclass(slots=True)
class Prepared:
    """A statement compiled for one dialect, with what turns its driver rows into named rows."""

    compiled: SQLCompiler
    row: Any  # a namedtuple class named after the selected columns
    fixed: bool  # its text is final: no parameter expands (IN lists) or is renamed
    processors: list[tuple[int, Processor]] | None = None  # from the first run's description


_prepared: WeakKeyDictionary[Select[*tuple[Any, ...]], dict[str, Prepared]] = WeakKeyDictionary()


def prepare(statement: Select[*tuple[Any, ...]], dialect: Dialect) -> Prepared:
    """The statement compiled for the dialect, once; refused if a parameter needs converting."""
    by_dialect = _prepared.setdefault(statement, {})
    prepared = by_dialect.get(dialect.name)
    if prepared is None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        for bind in compiled.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise TypeError(f"{bind.key} needs converting: run the statement through execute")
        names = [column.key or "" for column in statement.selected_columns]
        fixed = not (
            compiled.post_compile_params
            or compiled.literal_execute_params
            or compiled.escaped_bind_names
        )
        prepared = Prepared(compiled, namedtuple("Row", names, rename=True), fixed)
        by_dialect[dialect.name] = prepared
    return prepared


def all_rows(
    connection: Connection, statement: Select[*tuple[Any, ...]], params: Mapping[str, Any]
) -> list[Any]:
    """The statement's rows, named like its columns, as connection.execute(...).all() gives
    them, with SQLAlchemy's errors; in the connection's transaction if it has one, else on its
    own (the connections reads_before_writing(alone=True) gives are in autocommit), where
    execute would begin one. before_cursor_execute listeners see the statement (to count or log
    it; they cannot rewrite it), after_cursor_execute ones do not."""
    prepared = prepare(statement, connection.dialect)
    sql, values = driver_parameters(prepared, params)
    cursor = connection.connection.cursor()
    try:
        connection.dispatch.before_cursor_execute(connection, cursor, sql, values, None, False)
        cursor.execute(sql, values)
        rows = cursor.fetchall()
        if prepared.processors is None:
            prepared.processors = processors(statement, connection.dialect, cursor.description)
    except connection.dialect.loaded_dbapi.Error as error:
        raise wrapped(connection, sql, values, error, cursor) from error
    finally:
        cursor.close()
    converters = prepared.processors
    make = prepared.row._make
    if not converters:
        return [make(row) for row in rows]
    converted = []
    for row in rows:
        items = list(row)
        for index, convert in converters:
            items[index] = convert(items[index])
        converted.append(make(items))
    return converted


def driver_parameters(prepared: Prepared, params: Mapping[str, Any]) -> tuple[str, Any]:
    """The statement's text and its parameters in the driver's style. A fixed text is used as it
    is, with the parameters in its order: expanding it anyway (a regular-expression pass over the
    text, 4.9 against 1.3 µs) was a quarter of all_rows' own time in a task read."""
    compiled = prepared.compiled
    if not prepared.fixed:
        state = compiled.construct_expanded_state(params)
        values = state.positional_parameters if compiled.positional else state.parameters
        return state.statement, values
    named = compiled.construct_params(params)
    if compiled.positional:
        return compiled.string, [named[name] for name in compiled.positiontup or ()]
    return compiled.string, named


def processors(
    statement: Select[*tuple[Any, ...]], dialect: Dialect, description: Any
) -> list[tuple[int, Processor]]:
    """The result conversions SQLAlchemy's types make on this dialect (dates and JSON from text
    on SQLite; none on PostgreSQL, whose driver converts), by column position."""
    found: list[tuple[int, Processor]] = []
    columns = statement.selected_columns
    for index, (column, described) in enumerate(zip(columns, description, strict=True)):
        convert = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
        if convert is not None:
            found.append((index, convert))
    return found


def wrapped(
    connection: Connection, sql: str, values: Any, error: Any, cursor: Any
) -> StatementError:
    """The driver's error as SQLAlchemy raises it; a lost connection is invalidated, so the pool
    opens a new one."""
    dialect = connection.dialect
    lost = dialect.is_disconnect(error, connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(error)
    return DBAPIError.instance(
        sql,
        values,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )
