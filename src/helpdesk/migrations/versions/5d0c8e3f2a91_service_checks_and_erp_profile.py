"""service checks (the health of each outside system as the worker recorded it); users'
manager and hire date (from the ERP)

Revision ID: 5d0c8e3f2a91
Revises: 1934b4fe16c4
Create Date: 2026-12-07 16:05:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5d0c8e3f2a91'
down_revision = '1934b4fe16c4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'service_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('service', sa.String(length=40), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('response_time', sa.Float(), nullable=True),
        sa.Column('error', sa.String(length=300), nullable=True),
        sa.Column('checked_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_service_checks_service_checked_at', 'service_checks', ['service', 'checked_at']
    )
    with op.batch_alter_table('user') as batch_op:
        batch_op.add_column(sa.Column('manager', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('hire_date', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('user') as batch_op:
        batch_op.drop_column('hire_date')
        batch_op.drop_column('manager')
    op.drop_index('ix_service_checks_service_checked_at', table_name='service_checks')
    op.drop_table('service_checks')
