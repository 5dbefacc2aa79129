"""Full-text search of the local task store: one search document per task (subject, description,
comments), kept by the database's own triggers so every path that writes (the ORM, bulk SQL, a
cascade) keeps it current in the same transaction.

SQLite: an FTS5 table with the porter tokenizer over unicode61. Porter stems English; SQLite ships
no Russian stemmer, so Russian words are case-folded and matched by prefix (every query word is a
prefix: "принтер" finds "принтера"). PostgreSQL: a tsvector per task with a GIN index in the
built-in `russian` configuration, which stems Cyrillic words with the Russian Snowball stemmer and
ASCII words with the English one: both languages with one configuration.

Each document also holds its task's project and status (the `scope`), so the query itself says
which tasks the user may see and whether they are open: the search starts from the index and reads
only the task rows it shows.

Ranking is by tiers on both: tasks that match in the subject first, then the others, most recently
updated first within each. A score per match (bm25, ts_rank) reads every match's positions, which a
common word makes as slow as the whole table; a tier is one more membership test. What is ranked
is the newest RANKED_MATCHES matches (by number) and the newest as many subject matches, taken
from the index alone; the count is the index's too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    cast,
    column,
    event,
    func,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY

from helpdesk.core.models import Model

WORD = re.compile(r"[^\W_]+")  # letters and digits
TEXT_SEARCH_CONFIG = "russian"  # PostgreSQL: Russian Snowball for Cyrillic, English for ASCII
# How many of a search's newest matches (and newest subject matches) are ranked: a word in most
# tasks would otherwise read thousands of task rows to order one page. A page past them widens
# the window to reach it.
RANKED_MATCHES = 200

# What decides who may see a task and which status filter takes it, as words of the document's
# `scope` (SQLite: its own column; PostgreSQL: lexemes no text makes, as the parser splits at "#"):
# visibility and the open/closed filter are then part of the full-text query, and a search starts
# from the index instead of from every visible task. On SQLite: 'p<project id> s<status id>'.

SQLITE_TABLE_DDL = """
    CREATE VIRTUAL TABLE task_search USING fts5(
        subject, description, comments, scope,
        tokenize = 'porter unicode61 remove_diacritics 2'
    )
"""
SQLITE_TRIGGERS = {
    "task_search_on_task_insert": """
    CREATE TRIGGER task_search_on_task_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search (rowid, subject, description, comments, scope)
        VALUES (NEW.id, NEW.subject, coalesce(NEW.description, ''), '',
            'p' || NEW.project_id || ' s' || NEW.status_id);
    END
    """,
    "task_search_on_task_update": """
    CREATE TRIGGER task_search_on_task_update
    AFTER UPDATE OF subject, description, project_id, status_id ON tasks BEGIN
        UPDATE task_search SET subject = NEW.subject, description = coalesce(NEW.description, ''),
            scope = 'p' || NEW.project_id || ' s' || NEW.status_id
        WHERE rowid = NEW.id;
    END
    """,
    "task_search_on_task_delete": """
    CREATE TRIGGER task_search_on_task_delete AFTER DELETE ON tasks BEGIN
        DELETE FROM task_search WHERE rowid = OLD.id;
    END
    """,
    "task_search_on_journal_insert": """
    CREATE TRIGGER task_search_on_journal_insert AFTER INSERT ON journals
    WHEN coalesce(NEW.notes, '') <> '' BEGIN
        UPDATE task_search SET comments = comments || ' ' || NEW.notes WHERE rowid = NEW.task_id;
    END
    """,
    "task_search_on_journal_update": """
    CREATE TRIGGER task_search_on_journal_update AFTER UPDATE OF notes, task_id ON journals
    BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = task_search.rowid), '')
        WHERE rowid IN (OLD.task_id, NEW.task_id);
    END
    """,
    "task_search_on_journal_delete": """
    CREATE TRIGGER task_search_on_journal_delete AFTER DELETE ON journals BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = OLD.task_id), '')
        WHERE rowid = OLD.task_id;
    END
    """,
}
SQLITE_FILL = """
    INSERT INTO task_search (rowid, subject, description, comments, scope)
    SELECT t.id, t.subject, coalesce(t.description, ''), coalesce(c.notes, ''),
        'p' || t.project_id || ' s' || t.status_id
    FROM tasks t LEFT JOIN (SELECT task_id, group_concat(notes, ' ') AS notes FROM journals
        WHERE coalesce(notes, '') <> '' GROUP BY task_id) c ON c.task_id = t.id
"""

POSTGRESQL_TABLE_DDL = (
    """
    CREATE TABLE task_search (
        task_id INTEGER NOT NULL
            CONSTRAINT pk_task_search PRIMARY KEY
            CONSTRAINT fk_task_search_task_id_tasks REFERENCES tasks (id) ON DELETE CASCADE,
        document TSVECTOR NOT NULL
    )
    """,
    "CREATE INDEX ix_task_search_document ON task_search USING GIN (document)",
)
POSTGRESQL_FUNCTIONS = (
    """
    CREATE OR REPLACE FUNCTION task_search_document(
        subject TEXT, description TEXT, comments TEXT, project_id INTEGER, status_id INTEGER
    ) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
        SELECT setweight(to_tsvector('russian', subject), 'A')
            || setweight(to_tsvector('russian', coalesce(description, '')), 'B')
            || setweight(to_tsvector('russian', coalesce(comments, '')), 'C')
            || array_to_tsvector(ARRAY['#p' || project_id, '#s' || status_id])
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION task_search_refresh(target INTEGER) RETURNS void LANGUAGE sql AS $$
        INSERT INTO task_search (task_id, document)
        SELECT t.id, task_search_document(t.subject, t.description, (
                SELECT string_agg(j.notes, ' ' ORDER BY j.id) FROM journals j
                WHERE j.task_id = t.id), t.project_id, t.status_id)
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
)
POSTGRESQL_TRIGGERS = {
    "task_search_on_task ON tasks": """
    CREATE TRIGGER task_search_on_task
    AFTER INSERT OR UPDATE OF subject, description, project_id, status_id ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """,
    "task_search_on_journal ON journals": """
    CREATE TRIGGER task_search_on_journal AFTER INSERT OR DELETE OR UPDATE OF notes, task_id
    ON journals FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """,
}
POSTGRESQL_FILL = """
    INSERT INTO task_search (task_id, document)
    SELECT t.id, task_search_document(t.subject, t.description, c.notes, t.project_id, t.status_id)
    FROM tasks t LEFT JOIN (SELECT task_id, string_agg(notes, ' ' ORDER BY id) AS notes
        FROM journals GROUP BY task_id) c ON c.task_id = t.id
    ON CONFLICT (task_id) DO UPDATE SET document = EXCLUDED.document
"""

SEARCH_DDL = {
    "sqlite": (SQLITE_TABLE_DDL, *SQLITE_TRIGGERS.values()),
    "postgresql": (*POSTGRESQL_TABLE_DDL, *POSTGRESQL_FUNCTIONS, *POSTGRESQL_TRIGGERS.values()),
}
SEARCH_TRIGGERS = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGERS}
SEARCH_FILL = {"sqlite": SQLITE_FILL, "postgresql": POSTGRESQL_FILL}
SEARCH_DROP = {  # the triggers go with their tables
    "sqlite": ("DROP TABLE IF EXISTS task_search",),
    "postgresql": (
        "DROP TABLE IF EXISTS task_search",
        "DROP FUNCTION IF EXISTS task_search_on_change() CASCADE",
        "DROP FUNCTION IF EXISTS task_search_refresh(INTEGER)",
        "DROP FUNCTION IF EXISTS task_search_document(TEXT, TEXT, TEXT, INTEGER, INTEGER)",
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


def pause_search_index(connection: Connection) -> None:
    """Stop keeping the index row by row, for a bulk load: a trigger per comment re-reads its
    task's whole document. rebuild_search_index() fills it in one pass and keeps it again."""
    for name in SEARCH_TRIGGERS[connection.dialect.name]:
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def rebuild_search_index(connection: Connection) -> None:
    """Index every task in one statement and put the triggers back (after pause_search_index,
    or to repair an index)."""
    dialect = connection.dialect.name
    connection.exec_driver_sql("DELETE FROM task_search")
    connection.exec_driver_sql(SEARCH_FILL[dialect])
    for name, statement in SEARCH_TRIGGERS[dialect].items():
        connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql(statement)


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


def _sqlite_any(column_name: str, words: list[str]) -> str:
    """An FTS5 condition that one of the words is in the column (the words are ours: no quotes)."""
    return f"{column_name} : ({' OR '.join(f'{chr(34)}{word}{chr(34)}' for word in words)})"


def search_params(
    dialect: str,
    tokens: list[str],
    project_ids: list[int] | None,
    status_ids: list[int] | None,
) -> dict[str, str]:
    """The bound full-text queries of a search: `fts` (every token, each as a prefix, anywhere in
    the text) and `fts_subject` (all of them in the subject), both limited to the projects and
    statuses given (None: any). Tokens are letters and digits only, so nothing in them is query
    syntax; an empty list of projects matches nothing."""
    scope = [f"p{project_id}" for project_id in project_ids or ()]
    if project_ids is not None and not project_ids:
        scope = ["p0"]  # no project has id 0
    statuses = [f"s{status_id}" for status_id in status_ids or ()]
    if dialect == "postgresql":
        limits = [
            "(" + " | ".join(f"'#{word}'" for word in words) + ")"
            for words in (scope, statuses)
            if words
        ]
        return {
            "fts": " & ".join(f"{token}:*" for token in tokens),
            "fts_subject": " & ".join(f"{token}:*A" for token in tokens),  # the subject is A
            **({"fts_scope": " & ".join(limits)} if limits else {}),
        }
    terms = " ".join(f'"{token}"*' for token in tokens)
    within = "".join(f" AND {_sqlite_any('scope', words)}" for words in (scope, statuses) if words)
    return {  # the words in the text's columns only: "p1" is no project
        "fts": f"{{subject description comments}} : ({terms}){within}",
        "fts_subject": f"subject : ({terms}){within}",
    }


SQLITE_TABLE = table("task_search", column("rowid"))
POSTGRESQL_TABLE = table("task_search", column("task_id"), column("document"))


@dataclass(frozen=True, slots=True)
class FullText:
    """How a list statement searches: `matches(param)` the ids of the tasks matching the bound
    query `param` ("fts" or "fts_subject"); `newest(param)` the newest `window` of them;
    `count` how many match "fts"; `scoped` whether "fts_scope" limits PostgreSQL's queries."""

    dialect: str
    scoped: bool

    def _query(self, param: str) -> Any:
        """The PostgreSQL tsquery of a bound parameter, with the scope when there is one."""
        config: Any = literal_column(f"'{TEXT_SEARCH_CONFIG}'::regconfig")
        query: Any = func.to_tsquery(config, bindparam(param))
        if self.scoped:
            query = query.op("&&")(cast(bindparam("fts_scope"), TSQUERY))
        return POSTGRESQL_TABLE.c.document.op("@@")(query)

    def matches(self, param: str) -> Any:
        """The ids of the matching tasks, as a select of one column."""
        if self.dialect == "postgresql":
            return select(POSTGRESQL_TABLE.c.task_id).where(self._query(param))
        return select(SQLITE_TABLE.c.rowid).where(text(f"task_search MATCH :{param}"))

    def newest(self, param: str) -> Any:
        """The newest `window` matches (the highest numbers), from the full-text index alone,
        as a common table expression (read once however often a statement names it); those of
        "fts" with their `total`."""
        return _newest(self, param)

    def count(self) -> Any:
        """How many tasks match "fts", counted in the index."""
        return select(func.count()).select_from(self.matches("fts").subquery())


@lru_cache(maxsize=16)
def _newest(search: FullText, param: str) -> Any:
    """FullText.newest, one object per search and query (a statement names it twice and
    SQLAlchemy takes two objects of one name for two tables). The newest matches of "fts" also
    carry how many there are (`total`), counted in the same pass over the index."""
    # PostgreSQL: `+ 0` keeps the planner from walking the primary key backwards and testing
    # each document, which it picks for a word it thinks common and which reads the whole table
    # when the guess is wrong (a weight, the subject, it cannot guess): the GIN index finds the
    # matches, then they are sorted. SQLite's FTS5 reads its lists backwards.
    if search.dialect == "postgresql":
        key: Any = POSTGRESQL_TABLE.c.task_id + 0
    else:
        key = SQLITE_TABLE.c.rowid
    window = bindparam("window", type_=Integer)
    statement = search.matches(param)
    if param == "fts":  # every match is read for the count anyway: one pass does both
        statement = statement.add_columns(func.count().over().label("total"))
    return statement.order_by(key.desc()).limit(window).cte(f"newest_{param}")
