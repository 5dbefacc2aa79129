"""Notifications: recorded with each task change, listed and marked read through the API."""

from flask import Flask


def register_notifications(app: Flask) -> None:
    """Record notifications inside each task change's transaction and add the API."""
    from helpdesk.core.events import record
    from helpdesk.notifications import service
    from helpdesk.notifications.views import bp
    from helpdesk.tasks.events import TaskCommented, TaskCreated, TaskStatusChanged

    record(app, TaskStatusChanged, service.record_status_change)
    record(app, TaskCommented, service.record_comment)
    record(app, TaskCreated, service.record_assignment)
    app.register_blueprint(bp)
