"""Full-text search of the local task store: one search document per task (subject, description,
comments), kept by the database's own triggers so every path that writes (the ORM, bulk SQL, a
cascade) keeps it current in the same transaction.

SQLite: an FTS5 table with the porter tokenizer over unicode61. Porter stems English; SQLite ships
no Russian stemmer, so Russian words are case-folded and matched by prefix (every query word is a
prefix: "принтер" finds "принтера"). PostgreSQL: a tsvector per task with a GIN index in the
built-in `russian` configuration, which stems Cyrillic words with the Russian Snowball stemmer and
ASCII words with the English one: both languages with one configuration.

Ranking is by tiers on both: tasks that match in the subject first, then the others, newest first
within each. A score per match (bm25, ts_rank) reads every match's positions, which a common word
makes as slow as the whole table; a tier is one more membership test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    column,
    event,
    func,
    literal_column,
    select,
    table,
    text,
)

from helpdesk.core.models import Model

WORD = re.compile(r"[^\W_]+")  # letters and digits
TEXT_SEARCH_CONFIG = "russian"  # PostgreSQL: Russian Snowball for Cyrillic, English for ASCII

SQLITE_SEARCH = (
    """
    CREATE VIRTUAL TABLE task_search USING fts5(
        subject, description, comments, tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER task_search_on_task_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search (rowid, subject, description, comments)
        VALUES (NEW.id, NEW.subject, coalesce(NEW.description, ''), '');
    END
    """,
    """
    CREATE TRIGGER task_search_on_task_update AFTER UPDATE OF subject, description ON tasks
    BEGIN
        UPDATE task_search SET subject = NEW.subject, description = coalesce(NEW.description, '')
        WHERE rowid = NEW.id;
    END
    """,
    """
    CREATE TRIGGER task_search_on_task_delete AFTER DELETE ON tasks BEGIN
        DELETE FROM task_search WHERE rowid = OLD.id;
    END
    """,
    """
    CREATE TRIGGER task_search_on_journal_insert AFTER INSERT ON journals
    WHEN coalesce(NEW.notes, '') <> '' BEGIN
        UPDATE task_search SET comments = comments || ' ' || NEW.notes WHERE rowid = NEW.task_id;
    END
    """,
    """
    CREATE TRIGGER task_search_on_journal_update AFTER UPDATE OF notes, task_id ON journals
    BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = task_search.rowid), '')
        WHERE rowid IN (OLD.task_id, NEW.task_id);
    END
    """,
    """
    CREATE TRIGGER task_search_on_journal_delete AFTER DELETE ON journals BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = OLD.task_id), '')
        WHERE rowid = OLD.task_id;
    END
    """,
)

POSTGRESQL_SEARCH = (
    """
    CREATE TABLE task_search (
        task_id INTEGER NOT NULL
            CONSTRAINT pk_task_search PRIMARY KEY
            CONSTRAINT fk_task_search_task_id_tasks REFERENCES tasks (id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )
    """,
    "CREATE INDEX ix_task_search_document ON task_search USING GIN (document)",
    """
    CREATE OR REPLACE FUNCTION task_search_refresh(target INTEGER) RETURNS void LANGUAGE sql AS $$
        INSERT INTO task_search (task_id, document)
        SELECT t.id,
            setweight(to_tsvector('russian', t.subject), 'A')
            || setweight(to_tsvector('russian', coalesce(t.description, '')), 'B')
            || setweight(to_tsvector('russian', coalesce((
                SELECT string_agg(j.notes, ' ' ORDER BY j.id) FROM journals j
                WHERE j.task_id = t.id), '')), 'C')
        FROM tasks t WHERE t.id = target
        ON CONFLICT (task_id) DO UPDATE SET document = EXCLUDED.document
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION task_search_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_TABLE_NAME = 'tasks' THEN
            PERFORM task_search_refresh(NEW.id);
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            PERFORM task_search_refresh(OLD.task_id);
        END IF;
        IF TG_OP = 'UPDATE' OR (TG_OP = 'INSERT' AND coalesce(NEW.notes, '') <> '') THEN
            PERFORM task_search_refresh(NEW.task_id);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER task_search_on_task AFTER INSERT OR UPDATE OF subject, description ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """,
    """
    CREATE TRIGGER task_search_on_journal AFTER INSERT OR DELETE OR UPDATE OF notes, task_id
    ON journals FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """,
)

SEARCH_DDL = {"sqlite": SQLITE_SEARCH, "postgresql": POSTGRESQL_SEARCH}
SEARCH_DROP = {  # the triggers go with their tables
    "sqlite": ("DROP TABLE IF EXISTS task_search",),
    "postgresql": (
        "DROP TABLE IF EXISTS task_search",
        "DROP FUNCTION IF EXISTS task_search_on_change() CASCADE",
        "DROP FUNCTION IF EXISTS task_search_refresh(INTEGER)",
    ),
}


def create_search_index(_metadata: Any, connection: Connection, **kw: Any) -> None:
    """A database made by `db.create_all()` (the seed's install path) searches like a migrated
    one: the search table and its triggers come with the tables."""
    created = {table.name for table in kw.get("tables", ())}
    if not {"tasks", "journals"} <= created:
        return
    if connection.dialect.name not in SEARCH_DDL:
        raise RuntimeError(
            "task search needs a full-text index this helpdesk has only for SQLite and "
            f"PostgreSQL, not {connection.dialect.name}"
        )
    for statement in SEARCH_DDL[connection.dialect.name]:
        connection.exec_driver_sql(statement)


def drop_search_index(_metadata: Any, connection: Connection, **kw: Any) -> None:
    """db.drop_all() takes the search index with the tasks, so a create_all() after it starts
    clean (and PostgreSQL's index, which refers to the tasks, lets them go)."""
    dropped = {table.name for table in kw.get("tables", ())}
    if "tasks" in dropped:
        for statement in SEARCH_DROP.get(connection.dialect.name, ()):
            connection.exec_driver_sql(statement)


def index_with_create_all() -> None:
    """Make the search index part of every db.create_all() and db.drop_all() (once, however
    many apps)."""
    if not event.contains(Model.metadata, "after_create", create_search_index):
        event.listen(Model.metadata, "after_create", create_search_index)
        event.listen(Model.metadata, "before_drop", drop_search_index)


def is_search_table(name: str) -> bool:
    """Whether a table is the search index (FTS5 adds shadow tables named after it), which the
    models do not declare: autogenerate and the schema checks leave it alone."""
    return name == "task_search" or name.startswith("task_search_")


def search_terms(words: list[str]) -> tuple[list[str], list[str]]:
    """The words of letters and digits alone (each one a prefix for the full-text index), and
    the others ("50%", "t_p"), matched as text in the subject like the seed's search, since the
    index keeps no punctuation."""
    tokens = [word for word in words if WORD.fullmatch(word)]
    return tokens, [word for word in words if not WORD.fullmatch(word)]


def match_expression(dialect: str, tokens: list[str], subject_only: bool = False) -> str:
    """The full-text query of the tokens for the dialect: every token, each as a prefix, anywhere
    or (subject_only) in the subject. Tokens are letters and digits only, so nothing in them is
    query syntax."""
    if dialect == "postgresql":
        weight = "A" if subject_only else ""  # the subject is the document's weight A
        return " & ".join(f"{token}:*{weight}" for token in tokens)
    terms = " ".join(f'"{token}"*' for token in tokens)
    return f"subject : ({terms})" if subject_only else terms


SQLITE_TABLE = table("task_search", column("rowid"))
POSTGRESQL_TABLE = table("task_search", column("task_id"), column("document"))


@dataclass(frozen=True, slots=True)
class FullText:
    """How a list statement searches: the table to join (if any), the condition on the bound
    `fts` query, and the relevance tier (true for a match in the subject, `fts_subject`)."""

    join: Any
    condition: Any
    in_subject: Any


def full_text(dialect: str, task_id: Any) -> FullText:
    """The search of a list statement on the dialect.

    SQLite: the matches as IN lists tested against `task_id + 0`: SQLite takes an IN list for a
    handful of rows and would look every match up in the table; with no index to use for the
    test it starts from the other filters' index (a user's tasks, the projects they see) and
    tests each entry there. PostgreSQL: a join on the document, which the planner drives from
    the GIN index or from the other filters as their sizes say, and the subject tier read from
    the same row (the subject is the document's weight A)."""
    if dialect == "postgresql":
        config: Any = literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig")
        document = POSTGRESQL_TABLE.c.document
        return FullText(
            join=(POSTGRESQL_TABLE, POSTGRESQL_TABLE.c.task_id == task_id),
            condition=document.op("@@")(func.to_tsquery(config, bindparam("fts"))),
            in_subject=document.op("@@")(func.to_tsquery(config, bindparam("fts_subject"))),
        )

    def matches(param: str) -> Any:
        ids = select(SQLITE_TABLE.c.rowid).where(text(f"task_search MATCH :{param}"))
        return (task_id + 0).in_(ids)

    return FullText(join=None, condition=matches("fts"), in_subject=matches("fts_subject"))
