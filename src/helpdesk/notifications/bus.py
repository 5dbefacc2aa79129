"""The Socket.IO message queue's health: while it is away, events published by one process miss
the sockets of the others, so when it comes back every page is told to re-sync (the pages then
catch up from the API, as after a reconnect)."""

from __future__ import annotations

import logging
import threading

import redis
from flask import Flask

from helpdesk.extensions import socketio

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
RESYNC_EVENT = "resync"


class BusWatch:
    """Pings the queue's Redis and notices the moment it answers again after failing."""

    def __init__(self, url: str, timeout: float) -> None:
        """A client with short timeouts: a Redis that stops answering is seen as down."""
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self.down = False

    def recovered(self) -> bool:
        """True once, at the first answer after one or more failed pings."""
        try:
            self.client.ping()
        except redis.RedisError as error:
            if not self.down:
                log.warning("the Socket.IO message queue is unreachable: %s", error)
            self.down = True
            return False
        was_down, self.down = self.down, False
        if was_down:
            log.warning("the Socket.IO message queue is back; pages are told to re-sync")
        return was_down


def check_bus(watch: BusWatch, namespace: str) -> bool:
    """One check: on recovery, tell every page to re-sync; whether it did."""
    if not watch.recovered():
        return False
    socketio.emit(RESYNC_EVENT, {}, namespace=namespace)
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
        watch = BusWatch(url, float(app.config["REDIS_TIMEOUT"]))
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
