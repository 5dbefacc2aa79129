"""A task's change written with its journal: new values, version bump, journal and details."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    Select,
    Text,
    Update,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import Connection

from helpdesk.tasks.models import Journal, JournalDetail, Task

Detail = tuple[str, str | None, str | None]  # (field, old value, new value)


def write_change(
    connection: Connection,
    task: Any,
    user_id: int,
    now: datetime,
    notes: str,
    details: Sequence[Detail],
    values: dict[str, Any],
) -> int | None:
    """Write the values and the journal if the task still has the version read (task.id,
    task.lock_version); the journal's id, or None if another change came first. PostgreSQL takes
    one statement; SQLite, which has no writes inside WITH, three."""
    bump = {
        "task_id": task.id,
        "seen_version": task.lock_version,
        "now": now,
        **{f"new_{key}": value for key, value in values.items()},
    }
    keys = tuple(sorted(values))
    if connection.dialect.name == "postgresql":
        fields, olds, news = zip(*details, strict=True) if details else ((), (), ())
        # named unlike any column of tasks: the UPDATE would set a column a parameter is named after
        given = {
            "journal_user": user_id,
            "journal_notes": notes,
            "prop_keys": list(fields),
            "old_values": list(olds),
            "new_values": list(news),
        }
        written: int | None = connection.scalar(one_statement(keys), {**bump, **given})
        return written
    if connection.execute(bump_statement(keys), bump).rowcount != 1:
        return None
    journal = {"task_id": task.id, "user_id": user_id, "notes": notes, "created_on": now}
    inserted = connection.execute(insert(Journal.__table__), journal).inserted_primary_key
    assert inserted is not None  # an insert of one row knows the row's key
    journal_id: int = inserted[0]
    if details:
        connection.execute(
            insert(JournalDetail.__table__),
            [
                {"journal_id": journal_id, "prop_key": k, "old_value": o, "new_value": n}
                for k, o, n in details
            ],
        )
    return journal_id


@lru_cache(maxsize=8)
def bump_statement(keys: tuple[str, ...]) -> Update:
    """Write a task's new values and bump its version, only if it still has the version read
    (on the table: the ORM's update would look for the task among its loaded objects)."""
    tasks = Task.__table__
    return (
        update(tasks)
        .where(
            tasks.c.id == bindparam("task_id"), tasks.c.lock_version == bindparam("seen_version")
        )
        .values(
            lock_version=tasks.c.lock_version + 1,
            updated_on=bindparam("now"),
            **{key: bindparam(f"new_{key}") for key in keys},
        )
    )


@lru_cache(maxsize=8)
def one_statement(keys: tuple[str, ...]) -> Select[Any]:
    """PostgreSQL: the bump, the journal and its details (three arrays, one element per detail)
    in one statement, each writing only if the one before did; selects the journal's id."""
    tasks, journals, details = Task.__table__, Journal.__table__, JournalDetail.__table__
    bumped = bump_statement(keys).returning(tasks.c.id).cte("bumped")
    journal = (
        insert(journals)
        .from_select(
            ["task_id", "user_id", "notes", "created_on"],
            select(
                bumped.c.id,
                bindparam("journal_user"),
                bindparam("journal_notes"),
                bindparam("now"),
            ),
        )
        .returning(journals.c.id)
        .cte("journal")
    )
    arrays = (
        bindparam(name, type_=ARRAY(Text)) for name in ("prop_keys", "old_values", "new_values")
    )
    given = (
        func.unnest(*arrays)
        .table_valued("prop_key", "old_value", "new_value")
        .render_derived(name="given")
    )
    written = (
        insert(details)
        .from_select(
            ["journal_id", "prop_key", "old_value", "new_value"],
            select(
                journal.c.id, given.c.prop_key, given.c.old_value, given.c.new_value
            ).select_from(journal.join(given, true())),
        )
        .returning(details.c.id)
        .cte("written")
    )
    return select(journal.c.id).add_cte(written)
