"""Notifications: recorded with each task change, listed and marked read through the API."""

from flask import Flask


def register_notifications(app: Flask) -> None:
    """Record notifications (and queue their emails) inside each change's transaction, deliver
    them live after commit."""
    from sqlalchemy import event

    from helpdesk.core.events import record, subscribe
    from helpdesk.core.metrics import add_scrape_source
    from helpdesk.extensions import db
    from helpdesk.notifications import delivery, mail, preferences, service
    from helpdesk.notifications.pages import bp as pages_bp
    from helpdesk.notifications.pwa import bp as pwa_bp
    from helpdesk.notifications.realtime import register_realtime
    from helpdesk.notifications.views import bp
    from helpdesk.tasks.api import count_notified_with
    from helpdesk.tasks.events import (
        TaskCommented,
        TaskCreated,
        TaskEdited,
        TaskReassigned,
        TaskStatusChanged,
        TaskWatchersChanged,
    )

    record(app, TaskStatusChanged, service.record_status_change)
    record(app, TaskCommented, service.record_comment)
    record(app, TaskCreated, service.record_assignment)
    record(app, TaskReassigned, service.record_reassignment)
    record(app, TaskEdited, service.record_edit)
    record(app, TaskWatchersChanged, service.record_watching)
    for event_type in (
        TaskStatusChanged,
        TaskCommented,
        TaskCreated,
        TaskReassigned,
        TaskEdited,
        TaskWatchersChanged,
    ):
        record(app, event_type, mail.enqueue)  # after the rows it mails
    count_notified_with(app, service.notified_by_journal)  # the status change's answer
    add_scrape_source(app, mail.outbox_metrics)
    subscribe(app, TaskStatusChanged, delivery.on_status_changed)
    subscribe(app, TaskCommented, delivery.on_commented)
    subscribe(app, TaskCreated, delivery.on_created)
    subscribe(app, TaskReassigned, delivery.on_created)
    subscribe(app, TaskEdited, delivery.on_edited)
    subscribe(app, TaskWatchersChanged, delivery.on_watching)
    if not event.contains(db.session, "after_soft_rollback", service.forget_recorded):
        event.listen(db.session, "after_soft_rollback", service.forget_recorded)
    register_realtime(app)
    app.add_template_global(preferences.shows_bell)
    app.register_blueprint(bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(pwa_bp)
