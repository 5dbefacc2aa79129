"""Search from the index: each task's search document also holds its project and status, so
visibility and the open/closed filter are part of the full-text query; the index is filled in one
statement

Revision ID: c4e8a2f6b1d9
Revises: f1d5a3c7e9b2
Create Date: 2026-12-07 22:30:00

SQLite: the FTS5 table gets a `scope` column ('p<project id> s<status id>'), rebuilt; PostgreSQL:
the document gets the lexemes '#p<project id>' and '#s<status id>' (the parser splits text at "#",
so no text makes them). The triggers also follow a task's project and status. The statements are
those of helpdesk/tasks/search.py as of this revision (migrations never import the app's code).
"""
from alembic import op


revision = 'c4e8a2f6b1d9'
down_revision = 'f1d5a3c7e9b2'
branch_labels = None
depends_on = None

SQLITE_TABLE = """
    CREATE VIRTUAL TABLE task_search USING fts5(
        subject, description, comments, scope,
        tokenize = 'porter unicode61 remove_diacritics 2'
    )
"""
SQLITE_TRIGGERS = (
    ('task_search_on_task_insert', """
    CREATE TRIGGER task_search_on_task_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search (rowid, subject, description, comments, scope)
        VALUES (NEW.id, NEW.subject, coalesce(NEW.description, ''), '',
            'p' || NEW.project_id || ' s' || NEW.status_id);
    END
    """),
    ('task_search_on_task_update', """
    CREATE TRIGGER task_search_on_task_update
    AFTER UPDATE OF subject, description, project_id, status_id ON tasks BEGIN
        UPDATE task_search SET subject = NEW.subject, description = coalesce(NEW.description, ''),
            scope = 'p' || NEW.project_id || ' s' || NEW.status_id
        WHERE rowid = NEW.id;
    END
    """),
    ('task_search_on_task_delete', """
    CREATE TRIGGER task_search_on_task_delete AFTER DELETE ON tasks BEGIN
        DELETE FROM task_search WHERE rowid = OLD.id;
    END
    """),
    ('task_search_on_journal_insert', """
    CREATE TRIGGER task_search_on_journal_insert AFTER INSERT ON journals
    WHEN coalesce(NEW.notes, '') <> '' BEGIN
        UPDATE task_search SET comments = comments || ' ' || NEW.notes WHERE rowid = NEW.task_id;
    END
    """),
    ('task_search_on_journal_update', """
    CREATE TRIGGER task_search_on_journal_update AFTER UPDATE OF notes, task_id ON journals
    BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = task_search.rowid), '')
        WHERE rowid IN (OLD.task_id, NEW.task_id);
    END
    """),
    ('task_search_on_journal_delete', """
    CREATE TRIGGER task_search_on_journal_delete AFTER DELETE ON journals BEGIN
        UPDATE task_search SET comments = coalesce((SELECT group_concat(notes, ' ')
            FROM journals WHERE task_id = OLD.task_id), '')
        WHERE rowid = OLD.task_id;
    END
    """),
)
SQLITE_FILL = """
    INSERT INTO task_search (rowid, subject, description, comments, scope)
    SELECT t.id, t.subject, coalesce(t.description, ''), coalesce(c.notes, ''),
        'p' || t.project_id || ' s' || t.status_id
    FROM tasks t LEFT JOIN (SELECT task_id, group_concat(notes, ' ') AS notes FROM journals
        WHERE coalesce(notes, '') <> '' GROUP BY task_id) c ON c.task_id = t.id
"""

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
POSTGRESQL_TASK_TRIGGER = """
    CREATE TRIGGER task_search_on_task
    AFTER INSERT OR UPDATE OF subject, description, project_id, status_id ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """
POSTGRESQL_FILL = """
    INSERT INTO task_search (task_id, document)
    SELECT t.id, task_search_document(t.subject, t.description, c.notes, t.project_id, t.status_id)
    FROM tasks t LEFT JOIN (SELECT task_id, string_agg(notes, ' ' ORDER BY id) AS notes
        FROM journals GROUP BY task_id) c ON c.task_id = t.id
    ON CONFLICT (task_id) DO UPDATE SET document = EXCLUDED.document
"""

# f1d5a3c7e9b2's, for the way back
OLD_SQLITE_TABLE = """
    CREATE VIRTUAL TABLE task_search USING fts5(
        subject, description, comments, tokenize = 'porter unicode61 remove_diacritics 2'
    )
    """
OLD_SQLITE_TRIGGERS = (
    ("task_search_on_task_insert", """
    CREATE TRIGGER task_search_on_task_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search (rowid, subject, description, comments)
        VALUES (NEW.id, NEW.subject, coalesce(NEW.description, ''), '');
    END
    """),
    ("task_search_on_task_update", """
    CREATE TRIGGER task_search_on_task_update AFTER UPDATE OF subject, description ON tasks
    BEGIN
        UPDATE task_search SET subject = NEW.subject, description = coalesce(NEW.description, '')
        WHERE rowid = NEW.id;
    END
    """),
)
OLD_SQLITE_FILL = """
    INSERT INTO task_search (rowid, subject, description, comments)
    SELECT t.id, t.subject, coalesce(t.description, ''), coalesce((SELECT group_concat(j.notes, ' ')
        FROM journals j WHERE j.task_id = t.id AND coalesce(j.notes, '') <> ''), '')
    FROM tasks t
"""
OLD_POSTGRESQL_REFRESH = """
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
    """
OLD_POSTGRESQL_TASK_TRIGGER = """
    CREATE TRIGGER task_search_on_task AFTER INSERT OR UPDATE OF subject, description ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_search_on_change()
    """
OLD_POSTGRESQL_FILL = "SELECT task_search_refresh(id) FROM tasks"

# the same in both revisions
SAME_TRIGGERS = ("task_delete", "journal_insert", "journal_update", "journal_delete")


def _sqlite(table, triggers, fill):
    """Rebuild SQLite's search table with the given triggers (the same names in both
    revisions), and fill it."""
    for name, _statement in triggers:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE task_search")
    op.execute(table)
    for _name, statement in triggers:
        op.execute(statement)
    op.execute(fill)


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER task_search_on_task ON tasks")
        for statement in POSTGRESQL_FUNCTIONS:
            op.execute(statement)
        op.execute(POSTGRESQL_TASK_TRIGGER)
        op.execute(POSTGRESQL_FILL)
        return
    _sqlite(SQLITE_TABLE, SQLITE_TRIGGERS, SQLITE_FILL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER task_search_on_task ON tasks")
        op.execute(OLD_POSTGRESQL_REFRESH)
        op.execute("DROP FUNCTION task_search_document(TEXT, TEXT, TEXT, INTEGER, INTEGER)")
        op.execute(OLD_POSTGRESQL_TASK_TRIGGER)
        op.execute(OLD_POSTGRESQL_FILL)
        return
    same = [(name, statement) for name, statement in SQLITE_TRIGGERS
            if name.removeprefix("task_search_on_") in SAME_TRIGGERS]
    _sqlite(OLD_SQLITE_TABLE, [*OLD_SQLITE_TRIGGERS, *same], OLD_SQLITE_FILL)
