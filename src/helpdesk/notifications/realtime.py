"""Live delivery over Socket.IO: namespace /notifications, one room per user, only one's own."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_login import current_user
from flask_socketio import emit, join_room, leave_room
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, ProtocolError

from helpdesk.core.concurrency import gevent_patched
from helpdesk.extensions import socketio
from helpdesk.users.presence import presence

log = logging.getLogger(__name__)

NAMESPACE = "/notifications"
SOCKET_KEY = "helpdesk.socket"  # gunicorn's socket, under a name engine.io's middleware ignores
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
RECEIVE_BYTES = 4096
WEBSOCKET_WRITER = "Socket._websocket_handler.<locals>.writer"  # engine.io 4.15's per-socket task


def user_room(user_id: int) -> str:
    """The room of one user's open pages (the seed's name)."""
    return f"user_{user_id}"


def send_notification_to_user(user_id: int, notification_data: dict[str, Any]) -> None:
    """Push one notification to every open page of a user, in any process."""
    socketio.emit("new_notification", notification_data, to=user_room(user_id), namespace=NAMESPACE)


def broadcast_task_update(
    task_id: int,
    old_status: str,
    new_status: str,
    affected_users: list[int],
    **extra: Any,
) -> None:
    """Tell the open pages of the affected users that a task moved (boards and lists update)."""
    payload = {
        "task_id": task_id,
        "old_status": old_status,
        "new_status": new_status,
        "timestamp": datetime.now(UTC).isoformat(),
        **extra,
    }
    if affected_users:
        # one emit to all the rooms: encoded once, one message on the queue, each socket once
        rooms = [user_room(user_id) for user_id in affected_users]
        socketio.emit("task_status_changed", payload, to=rooms, namespace=NAMESPACE)


def _requested_user_id(data: Any) -> Any:
    """The user_id a client names in join/leave, or None when it names none."""
    return data.get("user_id") if isinstance(data, dict) else None


def on_connect(auth: Any = None) -> bool:
    """Only signed-in users connect; each joins their own room at once."""
    if not current_user.is_authenticated:
        return False
    join_room(user_room(current_user.id))
    presence().socket_opened(current_user.id)
    return True


def on_disconnect(reason: Any = None) -> None:
    """The user's presence loses this socket."""
    if current_user.is_authenticated:
        presence().socket_closed(current_user.id)


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


def async_mode() -> str:
    """gevent where the server patched the standard library for it (gunicorn's gevent worker,
    see server.py), else threads (Werkzeug's server, gthread, tests)."""
    return "gevent" if gevent_patched() else "threading"


class GeventWebSocket:
    """engine.io's websocket under gunicorn's gevent worker, lighter than simple-websocket's: the
    connection's own greenlet reads (no reader greenlet and event per socket), the greenlet that
    sends a packet writes it (no writer greenlet per socket, see attach), the handshake is
    answered without an HTTP parser kept for the socket's life, and no per-message deflate (a
    zlib state per browser socket to compress packets of a few dozen bytes)."""

    def __init__(self, handler: Callable[[GeventWebSocket], Any], server: Any):
        self.handler = handler
        self.server = server
        self.sock: Any = None
        self.connection: Any = None
        self.messages: deque[str | bytes] = deque()
        self.parts: list[str | bytes] = []
        self.backlog = bytearray()  # what a slow client has not taken yet, in order
        self.flusher: Any = None  # the greenlet writing the backlog, while there is one
        self.closing = False  # the closing handshake is written or given up: nothing more goes out

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Complete the upgrade on gunicorn's socket and run engine.io's handler on it."""
        key = environ.get("HTTP_SEC_WEBSOCKET_KEY", "")
        upgrade = environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        if not (key and upgrade and SOCKET_KEY in environ):
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"websocket upgrade expected"]
        accept = base64.b64encode(hashlib.sha1(key.encode() + WEBSOCKET_GUID).digest())  # noqa: S324
        self.sock = environ[SOCKET_KEY]
        self.sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.connection = Connection(ConnectionType.SERVER)
        self.handler(self)
        raise StopIteration  # gunicorn closes the socket and writes no response

    def wait(self) -> str | bytes | None:
        """The next message from the client, read in this greenlet; None once it is gone."""
        while not self.messages:
            try:
                data = self.sock.recv(RECEIVE_BYTES)
                if not data:
                    return None
                self.connection.receive_data(data)
                if not self._handle_events():
                    return None
            except (OSError, ProtocolError):
                return None
        return self.messages.popleft()

    def _handle_events(self) -> bool:
        """Queue complete messages and answer pings and closes; False once the socket closes."""
        for event in self.connection.events():
            if isinstance(event, Message):
                self.parts.append(event.data)
                if event.message_finished:
                    first = self.parts[0]
                    joined = first if len(self.parts) == 1 else first[:0].join(self.parts)  # type: ignore[arg-type]
                    self.messages.append(bytes(joined) if isinstance(joined, bytearray) else joined)
                    self.parts = []
            elif isinstance(event, Ping):
                self.write(self.connection.send(event.response()))
            elif isinstance(event, CloseConnection):
                if self.connection.state is ConnectionState.REMOTE_CLOSING:
                    self.write(self.connection.send(event.response()))
                return False
        return True

    def attach(self, eio_socket: Any) -> GeventWebSocket:
        """Stand in for the engine.io socket's queue and for its writer greenlet (engine.io starts
        one per websocket, 8 kB, only to wait on that queue): what was queued before the
        websocket goes out first, and every packet after is written as it is sent."""
        queued = eio_socket.queue
        while not queued.empty():
            self.put(queued.get_nowait())
            queued.task_done()
        eio_socket.queue = self
        return self

    def put(self, pkt: Any) -> None:
        """The socket queue's put: write the packet now; None, as for the writer, closes."""
        if pkt is None:
            self.close()
        else:
            self.send(pkt.encode())

    def join(self) -> None:
        """The queue's join and the writer's: wait until the backlog is written or given up."""
        if self.flusher is not None:
            self.flusher.join()

    def send(self, message: str | bytes) -> None:
        """Send one message; dropped once the connection is closing (engine.io then closes)."""
        event = BytesMessage(data=message) if isinstance(message, bytes) else TextMessage(message)
        try:
            self.write(self.connection.send(event))
        except LocalProtocolError:
            return

    def write(self, data: bytes) -> None:
        """Write without waiting, so that no sender (an emit to many sockets) waits on a slow
        client: what the socket does not take now goes to the backlog, behind which everything
        later waits, so frames never interleave."""
        import gevent

        if self.closing:
            return
        if self.backlog or self.flusher is not None:
            self.backlog += data
            return
        try:
            sent = self.sock.send(data, timeout=0.0)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.abort()
            return
        if sent < len(data):
            self.backlog += data[sent:]
            self.flusher = gevent.spawn(self.flush)

    def flush(self) -> None:
        """Write the backlog in its own greenlet; a client that takes nothing for a whole ping
        cycle (it would not answer a ping either) is dropped."""
        import gevent

        try:
            while self.backlog:
                with gevent.Timeout(self.server.ping_interval + self.server.ping_timeout):
                    sent = self.sock.send(self.backlog)
                del self.backlog[:sent]
        except (OSError, gevent.Timeout):
            self.abort()
        self.flusher = None
        if self.closing:
            self.shutdown()

    def close(self) -> None:
        """Send the closing handshake after the backlog, then end the reading greenlet's wait."""
        if self.connection.state is ConnectionState.OPEN:
            self.write(self.connection.send(CloseConnection(code=1000)))
            self.closing = True
            if self.flusher is None:
                self.shutdown()

    def abort(self) -> None:
        """Give up on a client that cannot be written to: nothing more goes out, and the reading
        greenlet's wait ends, so that engine.io sees the disconnect."""
        self.closing = True
        self.backlog.clear()
        self.shutdown()

    def shutdown(self) -> None:
        """Shut the socket both ways (gunicorn closes it once the handler returns)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def hide_gunicorn_socket(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Move gunicorn's socket out of engine.io's middleware's sight: for it, that middleware
    makes a class per request, kept alive by the frame an open websocket stays in (2.5 kB)."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Rename the socket's key; GeventWebSocket reads it there."""
        if "gunicorn.socket" in environ:
            environ[SOCKET_KEY] = environ.pop("gunicorn.socket")
        return wsgi_app(environ, start_response)

    return middleware


def lighten_engineio(eio: Any) -> None:
    """Under gevent, fewer greenlets per socket: GeventWebSocket reads in the connection's own and
    writes in the sender's, and the ping every ping_interval is a timer, not a greenlet asleep for
    the whole interval."""
    import time

    import gevent
    from engineio import packet
    from engineio.socket import Socket

    def ping(sock: Socket) -> None:
        """Socket._send_ping after its sleep."""
        if not sock.closing and not sock.closed:
            sock.last_ping = time.time()
            sock.send(packet.Packet(packet.PING))

    start_task = eio.start_background_task

    def start_background_task(target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """engine.io's, except that a socket's next ping starts only when it is due, and a
        websocket's writer is GeventWebSocket itself (found in the writer's closure)."""
        if getattr(target, "__func__", None) is Socket._send_ping:
            return gevent.spawn_later(eio.ping_interval, ping, target.__self__)  # type: ignore[attr-defined, call-overload]
        if getattr(target, "__qualname__", None) == WEBSOCKET_WRITER:
            cells = dict(zip(target.__code__.co_freevars, target.__closure__ or (), strict=True))
            websocket = cells["ws"].cell_contents
            if isinstance(websocket, GeventWebSocket):
                return websocket.attach(cells["self"].cell_contents)
        return start_task(target, *args, **kwargs)

    eio._async = {**eio._async, "websocket": GeventWebSocket}
    eio.start_background_task = start_background_task


def register_realtime(app: Flask) -> None:
    """Bind Socket.IO (browsers from other origins are refused by default; through Redis when
    SOCKETIO_MESSAGE_QUEUE is set)."""
    socketio.init_app(
        app,
        message_queue=app.config["SOCKETIO_MESSAGE_QUEUE"] or None,
        channel=app.config["SOCKETIO_CHANNEL"],
        async_mode=async_mode(),
        manage_session=False,
        logger=False,
        engineio_logger=False,
    )
    if async_mode() == "gevent":
        import gevent

        # each greenlet would keep its spawner's stack (tens of frames) for gevent's debug tree
        gevent.config.track_greenlet_tree = False
        lighten_engineio(socketio.server.eio)
        app.wsgi_app = hide_gunicorn_socket(app.wsgi_app)  # type: ignore[method-assign]
    socketio.on_event("connect", on_connect, namespace=NAMESPACE)
    socketio.on_event("disconnect", on_disconnect, namespace=NAMESPACE)
    socketio.on_event("join_notifications", on_join, namespace=NAMESPACE)
    socketio.on_event("leave_notifications", on_leave, namespace=NAMESPACE)
