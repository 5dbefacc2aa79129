"""After a change commits: the recorded notifications go out live, and boards hear of moves."""

from __future__ import annotations

import logging
from functools import cache

from flask import Flask, current_app
from sqlalchemy import Select, bindparam, exists, select

from helpdesk.core.metrics import NOTIFICATIONS_SENT
from helpdesk.extensions import db, socketio
from helpdesk.notifications import realtime, service
from helpdesk.notifications.models import Notifications, PushSubscription, UnreadCount
from helpdesk.notifications.preferences import gets_push
from helpdesk.notifications.schemas import notification_doc
from helpdesk.notifications.webpush import BrowserPushService
from helpdesk.tasks.events import (
    TaskCommented,
    TaskCreated,
    TaskEdited,
    TaskReassigned,
    TaskStatusChanged,
    TaskWatchersChanged,
)
from helpdesk.users.models import User

log = logging.getLogger(__name__)


def send_recorded(event_key: str) -> list[Notifications]:
    """Send each notification of one change to its recipient's open pages, with their count,
    and to their browsers by Web Push (off the request thread: push services may be slow).
    Counts and push subscribers take one query, whatever the number of recipients."""
    items = service.recorded_for(event_key)
    if not items:
        return items
    state = unread_and_push({item.user_id for item in items})
    for item in items:
        unread = state.get(item.user_id, NOTHING_UNREAD)[0]
        realtime.send_notification_to_user(
            item.user_id, {**notification_doc(item), "unread_count": unread}
        )
    NOTIFICATIONS_SENT.labels("socket").inc(len(items))
    socketio.sleep(0)  # under gevent the sockets' writers send now, not after this request
    pushed = [item.id for item in items if state.get(item.user_id, NOTHING_UNREAD)[1]]
    if pushed:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        socketio.start_background_task(push_in_background, app, pushed)
    return items


NOTHING_UNREAD = (0, False)  # a recipient who read everything already: no count, no push


def unread_and_push(user_ids: set[int]) -> dict[int, tuple[int, bool]]:
    """Each user's unread count and whether their browsers get a push (notifications on and a
    browser subscribed), in one statement; users with nothing unread are left out."""
    rows = db.session.execute(_unread_and_push_statement(), {"ids": sorted(user_ids)})
    return {user_id: (unread, bool(push)) for user_id, unread, push in rows}


@cache
def _unread_and_push_statement() -> Select[int, int, bool]:
    """unread_and_push's statement, built once (building costs more than running it)."""
    wants_push = (
        select(PushSubscription.id)
        .join(User, User.id == PushSubscription.user_id)
        .where(PushSubscription.user_id == UnreadCount.user_id, gets_push())
    )
    return select(UnreadCount.user_id, UnreadCount.unread, exists(wants_push)).where(
        UnreadCount.user_id.in_(bindparam("ids", expanding=True)), UnreadCount.unread > 0
    )


def push_in_background(app: Flask, notification_ids: list[int]) -> None:
    """Push notifications from a worker thread with its own app context and session."""
    with app.app_context():
        try:
            notifications = db.session.scalars(
                select(Notifications).where(Notifications.id.in_(notification_ids))
            ).all()
            BrowserPushService().push_notifications(notifications)
        except Exception:
            log.exception("background push failed")
        finally:
            db.session.remove()


def on_status_changed(event: TaskStatusChanged) -> None:
    """Notify the recipients, and move the card on the project's open boards and on the pages
    of those the change concerns (the actor, and those told, who may be outside the project)."""
    sent = send_recorded(service.event_key(event))
    task = event.task
    if event.notify_users:  # those notified are the interested users: no need to ask again
        concerned = {item.user_id for item in sent}
    else:
        concerned = set(service.interested_users(task, event.actor_id))
    concerned.add(event.actor_id)
    realtime.broadcast_project_task_update(
        task.project_id,
        task.id,
        event.old_status.name,
        event.new_status.name,
        sorted(concerned),
        old_status_id=event.old_status.id,
        new_status_id=event.new_status.id,
    )


def on_commented(event: TaskCommented) -> None:
    """Send the comment notifications; open pages of the task show the new entry."""
    sent = send_recorded(service.event_key(event))
    concerned = sorted({item.user_id for item in sent} | {event.actor_id})
    task = event.task
    realtime.broadcast_task_changed(task.project_id, task.id, event.journal.id, concerned)


def on_edited(event: TaskEdited) -> None:
    """Send the edit's notifications; open pages of the task show its new fields and history."""
    sent = send_recorded(service.event_key(event))
    concerned = sorted({item.user_id for item in sent} | {event.actor_id})
    task = event.task
    realtime.broadcast_task_changed(task.project_id, task.id, event.journal.id, concerned)


def on_watching(event: TaskWatchersChanged) -> None:
    """Send the new watcher's notification; open pages of the task show who watches it now
    (the watcher's own pages too, added or removed)."""
    sent = send_recorded(service.event_key(event))
    concerned = sorted({item.user_id for item in sent} | {event.actor_id, event.user_id})
    task = event.task
    realtime.broadcast_task_changed(task.project_id, task.id, event.journal_id, concerned)


def on_created(event: TaskCreated | TaskReassigned) -> None:
    """Send the assignment notification (of a new task, or of a task given to someone)."""
    send_recorded(service.event_key(event))
