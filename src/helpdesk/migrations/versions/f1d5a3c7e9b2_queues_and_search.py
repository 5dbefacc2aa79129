"""Queues and search: saved task filters per user, and a full-text index of every task's
subject, description and comments kept by triggers

Revision ID: f1d5a3c7e9b2
Revises: a7f3c9d2e4b1
Create Date: 2026-12-07 19:00:00

SQLite: an FTS5 table (porter over unicode61); PostgreSQL: a tsvector per task in the `russian`
configuration (Russian stems for Cyrillic, English for ASCII) with a GIN index. The triggers are
those of helpdesk/tasks/search.py as of this revision (migrations never import the app's code);
existing tasks are indexed here.
"""
from alembic import op
import sqlalchemy as sa


revision = 'f1d5a3c7e9b2'
down_revision = 'a7f3c9d2e4b1'
branch_labels = None
depends_on = None

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
    CREATE FUNCTION task_search_refresh(target INTEGER) RETURNS void LANGUAGE sql AS $$
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
    CREATE FUNCTION task_search_on_change() RETURNS trigger LANGUAGE plpgsql AS $$
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


SQLITE_BACKFILL = """
    INSERT INTO task_search (rowid, subject, description, comments)
    SELECT t.id, t.subject, coalesce(t.description, ''), coalesce((SELECT group_concat(j.notes, ' ')
        FROM journals j WHERE j.task_id = t.id AND coalesce(j.notes, '') <> ''), '')
    FROM tasks t
"""
POSTGRESQL_BACKFILL = "SELECT task_search_refresh(id) FROM tasks"


def upgrade():
    op.create_table(
        'saved_task_filters',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('query', sa.String(length=2000), nullable=False),
        sa.Column('created_on', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'],
            name=op.f('fk_saved_task_filters_user_id_user'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_task_filters')),
        sa.UniqueConstraint('user_id', 'name', name=op.f('uq_saved_task_filters_user_id')),
    )
    op.create_index(
        op.f('ix_saved_task_filters_user_id'), 'saved_task_filters', ['user_id'], unique=False
    )
    dialect = op.get_bind().dialect.name
    statements = {
        "sqlite": (*SQLITE_SEARCH, SQLITE_BACKFILL),
        "postgresql": (*POSTGRESQL_SEARCH, POSTGRESQL_BACKFILL),
    }.get(dialect)
    if statements is None:
        raise RuntimeError(f"no full-text task search for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER task_search_on_journal ON journals")
        op.execute("DROP TRIGGER task_search_on_task ON tasks")
        op.execute("DROP FUNCTION task_search_on_change()")
        op.execute("DROP FUNCTION task_search_refresh(INTEGER)")
    else:
        for name in ("task_insert", "task_update", "task_delete", "journal_insert",
                     "journal_update", "journal_delete"):
            op.execute(f"DROP TRIGGER task_search_on_{name}")
    op.execute("DROP TABLE task_search")
    op.drop_index(op.f('ix_saved_task_filters_user_id'), table_name='saved_task_filters')
    op.drop_table('saved_task_filters')
