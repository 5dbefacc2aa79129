"""The Socket.IO message queue's health: while it is away, events published by one process miss
the sockets of the others, so when it comes back, and this process's listener hears the queue
again, every page is told to re-sync (the pages then catch up from the API, as after a
reconnect)."""

from __future__ import annotations

import logging
import threading
from typing import cast

import redis
from flask import Flask

from helpdesk.extensions import socketio

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
LISTENER_NAME = "helpdesk_socketio_listener"  # app.extensions key of its connection name
RESYNC_EVENT = "resync"


class BusWatch:
    """Pings the queue's Redis and notices the moment it answers again after failing."""

    def __init__(self, url: str, timeout: float, listener_name: str | None = None) -> None:
        """A client with short timeouts: a Redis that stops answering is seen as down. The
        listener's connection name tells when this process hears the queue again."""
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.listener_name = listener_name
        self.down = False

    def listening(self) -> bool:
        """Whether this process's listener is subscribed: after an outage it retries on its
        own schedule (backing off up to a minute), and events published before it is back miss
        this process's pages."""
        if self.listener_name is None:
            return True
        try:
            # the synchronous client answers a list (its type also allows the async client's)
            clients = cast(list[dict[str, str]], self.client.client_list())
        except redis.ResponseError:  # CLIENT LIST not allowed here: no way to tell
            return True
        return any(
            client.get("name") == self.listener_name and int(client.get("sub", 0)) > 0
            for client in clients
        )

    def recovered(self) -> bool:
        """True once, when the queue answers and is heard again after one or more failed
        pings."""
        try:
            self.client.ping()
            heard = not self.down or self.listening()
        except redis.RedisError as error:
            if not self.down:
                log.warning("the Socket.IO message queue is unreachable: %s", error)
            self.down = True
            return False
        if not self.down or not heard:
            return False
        self.down = False
        log.warning("the Socket.IO message queue is back; pages are told to re-sync")
        return True


def check_bus(watch: BusWatch, namespace: str) -> bool:
    """One check: on recovery, tell this process's pages to re-sync (each process watches for
    its own, so the word needs no queue); whether it did."""
    if not watch.recovered():
        return False
    socketio.emit(RESYNC_EVENT, {}, namespace=namespace, ignore_queue=True)
    return True


class Watcher:
    """One watch per process, started with its first socket (no thread for processes that
    serve none)."""

    def __init__(self) -> None:
        """Not started."""
        self.started = False
        self.lock = threading.Lock()

    def start(self, app: Flask, namespace: str) -> None:
        """Start watching the queue, once, when there is one."""
        url = app.config["SOCKETIO_MESSAGE_QUEUE"]
        with self.lock:
            if self.started or not url.startswith(("redis://", "rediss://")):
                return
            self.started = True
        watch = BusWatch(url, float(app.config["REDIS_TIMEOUT"]), app.extensions.get(LISTENER_NAME))
        socketio.start_background_task(self.run, watch, namespace)

    def run(self, watch: BusWatch, namespace: str) -> None:
        """Check every CHECK_SECONDS for as long as the process lives."""
        while True:
            socketio.sleep(CHECK_SECONDS)
            try:
                check_bus(watch, namespace)
            except Exception:
                log.exception("the message queue check failed")


watcher = Watcher()
