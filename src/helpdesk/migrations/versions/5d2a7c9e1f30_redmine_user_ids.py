"""users: the Redmine user each one is (resolved once), and usernames as long as Redmine logins

Revision ID: 5d2a7c9e1f30
Revises: 1934b4fe16c4
Create Date: 2026-12-07 15:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2a7c9e1f30'
down_revision = '1934b4fe16c4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column(
            'username', existing_type=sa.String(length=20), type_=sa.String(length=60)
        )
        batch_op.add_column(sa.Column('redmine_user_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_user_redmine_user_id', ['redmine_user_id'], unique=True)


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index('ix_user_redmine_user_id')
        batch_op.drop_column('redmine_user_id')
        batch_op.alter_column(
            'username', existing_type=sa.String(length=60), type_=sa.String(length=20)
        )
