"""users: an administrator can lock an account (it keeps its history, but cannot sign in)

Revision ID: 7b3e9d2c4a18
Revises: 5d2a7c9e1f30
Create Date: 2026-12-07 19:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b3e9d2c4a18'
down_revision = '5d2a7c9e1f30'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'user', sa.Column('locked', sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade():
    op.drop_column('user', 'locked')  # SQLite 3.35+ drops it in place, no table copy
