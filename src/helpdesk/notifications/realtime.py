"""Live delivery over Socket.IO: namespace /notifications, a room per user (only one's own) and
a room per project (its members' boards)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import socketio as python_socketio
from flask import Flask, current_app
from flask_login import current_user
from flask_socketio import emit, join_room, leave_room

from helpdesk.core.concurrency import gevent_patched
from helpdesk.core.metrics import SOCKETS
from helpdesk.extensions import socketio
from helpdesk.notifications.bus import LISTENER_NAME, watcher
from helpdesk.tasks.backends import get_backend
from helpdesk.users.presence import presence

log = logging.getLogger(__name__)

NAMESPACE = "/notifications"


def user_room(user_id: int) -> str:
    """The room of one user's open pages (the seed's name)."""
    return f"user_{user_id}"


def send_notification_to_user(user_id: int, notification_data: dict[str, Any]) -> None:
    """Push one notification to every open page of a user, in any process."""
    publish("new_notification", notification_data, to=user_room(user_id))


PUBLISHER = "helpdesk_socketio_publisher"


def publish(event: str, data: dict[str, Any], to: str | list[str]) -> None:
    """Emit to rooms of the namespace in every process; through the Redis queue, with a read
    timeout, so a Redis that accepts connections but never answers costs a request seconds
    (the event is then lost and logged), not a hang."""
    publisher = current_app.extensions.get(PUBLISHER)
    if publisher is None:
        socketio.emit(event, data, to=to, namespace=NAMESPACE)
    else:
        publisher.emit(event, data, to=to, namespace=NAMESPACE)


def project_room(project_id: int) -> str:
    """The room of one project's open boards, joined after a membership check."""
    return f"project:{project_id}"


def broadcast_task_update(
    task_id: int,
    old_status: str,
    new_status: str,
    affected_users: list[int],
    **extra: Any,
) -> None:
    """Tell the open pages of the affected users that a task moved (the seed's call)."""
    _emit_task_move(
        [user_room(user_id) for user_id in affected_users], task_id, old_status, new_status, extra
    )


def broadcast_project_task_update(
    project_id: int,
    task_id: int,
    old_status: str,
    new_status: str,
    affected_users: list[int],
    **extra: Any,
) -> None:
    """Tell the project's open boards that a task moved, and the affected users' pages (lists
    and task pages of those told, who may be outside the project)."""
    rooms = [project_room(project_id), *(user_room(user_id) for user_id in affected_users)]
    _emit_task_move(rooms, task_id, old_status, new_status, extra)


def broadcast_task_changed(
    project_id: int, task_id: int, journal_id: int | None, affected_users: list[int]
) -> None:
    """Tell the open pages showing a task (its project's room, the pages of those the change
    concerns) that its fields or history changed: ids only, so a page that hears of a task
    its user may not see learns nothing; the page reads the task again as its user."""
    rooms = [project_room(project_id), *(user_room(user_id) for user_id in affected_users)]
    payload = {"task_id": task_id, "journal_id": journal_id}
    socketio.emit("task_changed", payload, to=rooms, namespace=NAMESPACE)


def _emit_task_move(
    rooms: list[str], task_id: int, old_status: str, new_status: str, extra: dict[str, Any]
) -> None:
    """One emit to all the rooms: encoded once, one message on the queue, each socket once even
    when it is in several of them."""
    if not rooms:
        return
    payload = {
        "task_id": task_id,
        "old_status": old_status,
        "new_status": new_status,
        "timestamp": datetime.now(UTC).isoformat(),
        **extra,
    }
    publish("task_status_changed", payload, to=rooms)


def _requested_user_id(data: Any) -> Any:
    """The user_id a client names in join/leave, or None when it names none."""
    return data.get("user_id") if isinstance(data, dict) else None


def on_connect(auth: Any = None) -> bool:
    """Only signed-in users connect; each joins their own room at once."""
    if not current_user.is_authenticated:
        return False
    join_room(user_room(current_user.id))
    presence().socket_opened(current_user.id)
    SOCKETS.inc()
    watcher.start(current_app._get_current_object(), NAMESPACE)  # type: ignore[attr-defined]
    return True


def on_disconnect(reason: Any = None) -> None:
    """The user's presence loses this socket."""
    if current_user.is_authenticated:
        presence().socket_closed(current_user.id)
        SOCKETS.dec()


def on_join(data: Any = None) -> None:
    """The seed's join_notifications, refusing any room but the caller's own."""
    requested = _requested_user_id(data)
    if requested is not None and str(requested) != str(current_user.id):
        log.warning("user %s asked to join the room of user %r", current_user.id, requested)
        emit("joined_notifications", {"status": "error", "message": "not your notifications"})
        return
    join_room(user_room(current_user.id))
    emit("joined_notifications", {"status": "success"})


def on_leave(data: Any = None) -> None:
    """The seed's leave_notifications: stop receiving in this connection."""
    leave_room(user_room(current_user.id))
    emit("left_notifications", {"status": "success"})


def _requested_project_id(data: Any) -> int | None:
    """The project_id a client names in join/leave_project, if it is a positive integer."""
    project_id = data.get("project_id") if isinstance(data, dict) else None
    if isinstance(project_id, int) and not isinstance(project_id, bool) and project_id > 0:
        return project_id
    return None


def on_join_project(data: Any = None) -> None:
    """A board hears its project's moves: members may join its room, and admins (who see every
    project); anyone else is refused, with nothing joined."""
    project_id = _requested_project_id(data)
    if project_id is None:
        emit(
            "joined_project",
            {"status": "error", "message": "project_id must be a positive integer"},
        )
        return
    if not (current_user.is_admin or current_user.id in get_backend().member_ids(project_id)):
        log.warning("user %s asked to join project %s, not theirs", current_user.id, project_id)
        emit(
            "joined_project",
            {
                "status": "error",
                "project_id": project_id,
                "message": "not a member of this project",
            },
        )
        return
    join_room(project_room(project_id))
    emit("joined_project", {"status": "success", "project_id": project_id})


def on_leave_project(data: Any = None) -> None:
    """A board that no longer shows a project stops hearing its moves."""
    project_id = _requested_project_id(data)
    if project_id is None:
        emit(
            "left_project", {"status": "error", "message": "project_id must be a positive integer"}
        )
        return
    leave_room(project_room(project_id))
    emit("left_project", {"status": "success", "project_id": project_id})


def async_mode() -> str:
    """gevent where the server patched the standard library for it (gunicorn's gevent worker,
    see server.py), else threads (Werkzeug's server, gthread, tests)."""
    return "gevent" if gevent_patched() else "threading"


def message_queue(app: Flask) -> dict[str, Any]:
    """The queue's settings for Flask-SocketIO; a Redis queue connects with REDIS_TIMEOUT and
    checks an idle connection before use, so a dead Redis is found quickly. Its listener must
    block on an idle channel, so it has no read timeout: events are published by a second,
    write-only manager that has one (the publisher, kept in app.extensions)."""
    url = app.config["SOCKETIO_MESSAGE_QUEUE"] or None
    channel = app.config["SOCKETIO_CHANNEL"]
    if not url or not url.startswith(("redis://", "rediss://")):
        return {"message_queue": url, "channel": channel}
    timeout = float(app.config["REDIS_TIMEOUT"])
    options = {"socket_connect_timeout": timeout, "socket_keepalive": True}
    name = app.extensions[LISTENER_NAME] = f"helpdesk-listener-{uuid.uuid4().hex}"
    listener = python_socketio.RedisManager(
        url,
        channel=channel,
        redis_options={**options, "health_check_interval": 10, "client_name": name},
    )
    app.extensions[PUBLISHER] = python_socketio.RedisManager(
        url, channel=channel, write_only=True, redis_options={**options, "socket_timeout": timeout}
    )
    return {"client_manager": listener, "message_queue": url}


def register_realtime(app: Flask) -> None:
    """Bind Socket.IO (browsers from other origins are refused by default; through Redis when
    SOCKETIO_MESSAGE_QUEUE is set)."""
    socketio.init_app(
        app,
        **message_queue(app),
        async_mode=async_mode(),
        manage_session=False,
        logger=False,
        engineio_logger=False,
    )
    if async_mode() == "gevent":
        import gevent

        # each greenlet would keep its spawner's stack (tens of frames) for gevent's debug tree
        gevent.config.track_greenlet_tree = False
    socketio.on_event("connect", on_connect, namespace=NAMESPACE)
    socketio.on_event("disconnect", on_disconnect, namespace=NAMESPACE)
    socketio.on_event("join_notifications", on_join, namespace=NAMESPACE)
    socketio.on_event("leave_notifications", on_leave, namespace=NAMESPACE)
    socketio.on_event("join_project", on_join_project, namespace=NAMESPACE)
    socketio.on_event("leave_project", on_leave_project, namespace=NAMESPACE)
