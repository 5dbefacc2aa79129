"""Each user's unread notifications counted by triggers, not by reading the rows

Revision ID: 3f6c2d1e8a47
Revises: 7d41c0a9e2b6
Create Date: 2026-11-27 12:30:00

Every notification sent went out with its recipient's unread count, and counting read one index
entry per unread notification: 1 ms for someone with 12,000 unread, half of a status change's work.
The triggers keep the count as rows are inserted, marked read or unread, moved or deleted, on
every path that writes (the ORM, bulk updates, cascades, SQL by hand).
"""
import sqlalchemy as sa
from alembic import op


revision = '3f6c2d1e8a47'
down_revision = '7d41c0a9e2b6'
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER notifications_unread_on_insert AFTER INSERT ON notifications
    WHEN NOT NEW.is_read
    BEGIN
        INSERT INTO notification_unread_counts (user_id, unread) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET unread = unread + 1;
    END
    """,
    """
    CREATE TRIGGER notifications_unread_on_delete AFTER DELETE ON notifications
    WHEN NOT OLD.is_read
    BEGIN
        UPDATE notification_unread_counts SET unread = unread - 1 WHERE user_id = OLD.user_id;
    END
    """,
    """
    CREATE TRIGGER notifications_unread_on_update AFTER UPDATE OF is_read, user_id
    ON notifications
    WHEN OLD.is_read IS NOT NEW.is_read OR OLD.user_id IS NOT NEW.user_id
    BEGIN
        UPDATE notification_unread_counts SET unread = unread - 1
        WHERE user_id = OLD.user_id AND NOT OLD.is_read;
        INSERT INTO notification_unread_counts (user_id, unread)
        SELECT NEW.user_id, 1 WHERE NOT NEW.is_read
        ON CONFLICT (user_id) DO UPDATE SET unread = unread + 1;
    END
    """,
)

POSTGRESQL_TRIGGER = (
    """
    CREATE FUNCTION notifications_count_unread() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND NOT OLD.is_read THEN
            UPDATE notification_unread_counts SET unread = unread - 1
            WHERE user_id = OLD.user_id;
        END IF;
        IF TG_OP <> 'DELETE' AND NOT NEW.is_read THEN
            INSERT INTO notification_unread_counts (user_id, unread) VALUES (NEW.user_id, 1)
            ON CONFLICT (user_id)
            DO UPDATE SET unread = notification_unread_counts.unread + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER notifications_count_unread
    AFTER INSERT OR DELETE OR UPDATE OF is_read, user_id ON notifications
    FOR EACH ROW EXECUTE FUNCTION notifications_count_unread()
    """,
)


def upgrade():
    op.create_table(
        'notification_unread_counts',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('unread', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'],
            name=op.f('fk_notification_unread_counts_user_id_user'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notification_unread_counts')),
    )
    op.execute(
        "INSERT INTO notification_unread_counts (user_id, unread) "
        "SELECT user_id, count(*) FROM notifications WHERE NOT is_read GROUP BY user_id"
    )
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRESQL_TRIGGER}.get(dialect)
    if statements is None:
        raise RuntimeError(f"no unread-count triggers for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER notifications_count_unread ON notifications")
        op.execute("DROP FUNCTION notifications_count_unread()")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER notifications_unread_on_{name}")
    op.drop_table('notification_unread_counts')
