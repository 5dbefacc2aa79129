"""users: the Redmine user each one is (resolved once), and usernames as long as Redmine logins

Revision ID: 5d2a7c9e1f30
Revises: e3a7c1f05b92
Create Date: 2026-12-07 15:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d2a7c9e1f30'
down_revision = 'e3a7c1f05b92'
branch_labels = None
depends_on = None


def upgrade():
    # SQLite keeps any length in a VARCHAR, and changing a column's type there means copying the
    # table, whose DROP would cascade to every row that refers to a user: widen elsewhere only.
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column(
            'user', 'username', existing_type=sa.String(length=20), type_=sa.String(length=60)
        )
    op.add_column('user', sa.Column('redmine_user_id', sa.Integer(), nullable=True))
    op.create_index('ix_user_redmine_user_id', 'user', ['redmine_user_id'], unique=True)


def downgrade():
    op.drop_index('ix_user_redmine_user_id', table_name='user')
    op.drop_column('user', 'redmine_user_id')  # SQLite 3.35+ drops it in place, no table copy
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column(
            'user', 'username', existing_type=sa.String(length=60), type_=sa.String(length=20)
        )
