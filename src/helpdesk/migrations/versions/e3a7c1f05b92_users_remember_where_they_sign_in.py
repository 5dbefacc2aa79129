"""users remember where they sign in (auth_source: local, ldap, redmine)

Revision ID: e3a7c1f05b92
Revises: 5d2e8f1a9c07
Create Date: 2026-12-07 15:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e3a7c1f05b92'
down_revision = '5d2e8f1a9c07'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('auth_source', sa.String(length=20), server_default='local', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('auth_source')
