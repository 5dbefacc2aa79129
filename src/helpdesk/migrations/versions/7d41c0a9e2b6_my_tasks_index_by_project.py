"""An index for My Tasks that also holds the project

Revision ID: 7d41c0a9e2b6
Revises: 5521b8b511e4
Create Date: 2026-11-27 09:15:00

The list reads a user's tasks in the projects they belong to. With (assignee, status) PostgreSQL
joined that index with (project, status) one member project at a time, reading ~6,000 entries for
~200 tasks (3 ms); (assignee, project, status) reads just those and counts them from the index.
(assignee, status) stays for lists without the membership filter (an admin's) and other readers.
"""
from alembic import op


revision = '7d41c0a9e2b6'
down_revision = '5521b8b511e4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_tasks_assignee_project_status',
        'tasks',
        ['assigned_to_id', 'project_id', 'status_id'],
    )


def downgrade():
    op.drop_index('ix_tasks_assignee_project_status', table_name='tasks')
