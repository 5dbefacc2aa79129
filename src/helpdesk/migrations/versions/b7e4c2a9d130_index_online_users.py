"""An index of the users who are online

Revision ID: b7e4c2a9d130
Revises: 3f6c2d1e8a47
Create Date: 2026-11-28 00:20:00

A status change moves the card on the open boards of the project's members who are online, and
reads them with the task; a partial index holds just those few users, where the whole table
(5,000 users in the benchmark's larger dataset) would otherwise be read for every change. Each
dialect's condition is written as SQLAlchemy writes the query's (`online`, `online = 1`): the
planners use a partial index only for a query whose condition matches its own.
"""
import sqlalchemy as sa
from alembic import op


revision = 'b7e4c2a9d130'
down_revision = '3f6c2d1e8a47'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_user_online',
        'user',
        ['id'],
        postgresql_where=sa.text('online'),
        sqlite_where=sa.text('online = 1'),
    )


def downgrade():
    op.drop_index('ix_user_online', table_name='user')
