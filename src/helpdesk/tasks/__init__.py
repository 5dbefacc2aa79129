"""Tasks: My Tasks, the task page, the Kanban board and the task API."""

from flask import Flask


def register_tasks(app: Flask) -> None:
    """Add the task pages."""
    from helpdesk.tasks.views import bp

    app.register_blueprint(bp)
