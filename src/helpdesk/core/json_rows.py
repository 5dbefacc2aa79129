"""Rows gathered into one JSON value by the database, so a few related rows come back as one
column of the statement that reads their parent instead of a statement of their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class json_rows(FunctionElement[Any]):  # noqa: N801 - named like the SQL functions it stands for
    """Aggregate: the rows' columns as a JSON array of arrays, in no set order (empty: [] on
    SQLite, NULL on PostgreSQL)."""

    type = JSON()
    inherit_cache = True
    name = "json_rows"


@compiles(json_rows)
def _sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite's JSON1 functions (built in since 3.38)."""
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL's json functions."""
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"
