"""published events: the keys of announced changes, so a change is announced once

Revision ID: 1934b4fe16c4
Revises: b7e4c2a9d130
Create Date: 2026-12-07 13:47:29

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '1934b4fe16c4'
down_revision = 'b7e4c2a9d130'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'published_events',
        sa.Column('event_key', sa.String(length=100), nullable=False),
        sa.Column('published_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('event_key'),
    )


def downgrade():
    op.drop_table('published_events')
