"""After a change commits: the recorded notifications go out live, and boards hear of moves."""

from __future__ import annotations

from helpdesk.notifications import realtime, service
from helpdesk.notifications.models import Notifications
from helpdesk.notifications.schemas import notification_doc
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Actor
from helpdesk.tasks.events import TaskCommented, TaskCreated, TaskStatusChanged


def send_recorded(event_key: str) -> list[Notifications]:
    """Send each notification of one change to its recipient's open pages, with their count."""
    items = service.recorded_for(event_key)
    for item in items:
        realtime.send_notification_to_user(
            item.user_id,
            {**notification_doc(item), "unread_count": service.unread_count(item.user_id)},
        )
    return items


def on_status_changed(event: TaskStatusChanged) -> None:
    """Notify the recipients, and move the card on the boards of everyone who can see it."""
    send_recorded(service.event_key(event))
    task = event.task
    viewers = {m.user_id for m in get_backend().members(Actor(0, is_admin=True), task.project.id)}
    viewers |= {event.actor_id, *service.interested_users(task, event.actor_id)}
    realtime.broadcast_task_update(
        task.id,
        event.old_status.name,
        event.new_status.name,
        sorted(viewers),
        old_status_id=event.old_status.id,
        new_status_id=event.new_status.id,
    )


def on_commented(event: TaskCommented) -> None:
    """Send the comment notifications."""
    send_recorded(service.event_key(event))


def on_created(event: TaskCreated) -> None:
    """Send the assignment notification."""
    send_recorded(service.event_key(event))
