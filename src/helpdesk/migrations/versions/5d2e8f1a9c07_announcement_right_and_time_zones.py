"""who may post announcements (admins and can_post_announcements); each user's time zone

Revision ID: 5d2e8f1a9c07
Revises: 5d0c8e3f2a91
Create Date: 2026-12-07 16:00:00

Any signed-in user could publish a company-wide announcement, a self-registered one included.
A user's time zone (empty: the company's DISPLAY_TIMEZONE) decides how pages show times.
"""
from alembic import op
import sqlalchemy as sa


revision = '5d2e8f1a9c07'
down_revision = '5d0c8e3f2a91'
branch_labels = None
depends_on = None


# A plain ALTER TABLE, not a batch: on SQLite a batch copies the user table, and dropping the old
# one would cascade to every row that references a user (notifications, counts, subscriptions).


def upgrade():
    op.add_column(
        'user',
        sa.Column('can_post_announcements', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column('user', sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column('user', 'timezone')
    op.drop_column('user', 'can_post_announcements')
