"""attachments: files on tasks and comments

Revision ID: a7f3c9d2e4b1
Revises: 7b3e9d2c4a18
Create Date: 2026-12-07 19:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7f3c9d2e4b1'
down_revision = '7b3e9d2c4a18'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('journal_id', sa.Integer(), nullable=True),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('stored_name', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('is_image', sa.Boolean(), nullable=False),
        sa.Column('created_on', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['journal_id'], ['journals.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['author_id'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('stored_name'),
    )
    op.create_index('ix_attachments_task_id', 'attachments', ['task_id', 'id'])
    op.create_index('ix_attachments_journal_id', 'attachments', ['journal_id'])


def downgrade():
    op.drop_index('ix_attachments_journal_id', table_name='attachments')
    op.drop_index('ix_attachments_task_id', table_name='attachments')
    op.drop_table('attachments')
