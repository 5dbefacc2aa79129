"""Request id, response time, one log line per request, and per-endpoint timing metrics."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any

from flask import Flask, Response, g, request

log = logging.getLogger("helpdesk.request")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def new_request_id() -> str:
    """32 random hex digits: a log key, not a secret, so the cheap generator (reseeded in every
    forked worker) serves where uuid4 would make a system call per request."""
    return f"{random.getrandbits(128):032x}"


def start_request() -> None:
    """Keep a well-formed incoming X-Request-ID so a proxy's id follows the request."""
    g.start_time = time.perf_counter()
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")  # no KeyError raised when absent
    g.request_id = incoming if REQUEST_ID_PATTERN.match(incoming) else new_request_id()


def finish_request(response: Response) -> Response:
    """Stamp the id and time on the response and log the request in one line."""
    elapsed = time.perf_counter() - g.get("start_time", time.perf_counter())
    request_id = g.get("request_id") or new_request_id()
    response.headers["X-Request-ID"] = request_id
    response.headers["X-Response-Time"] = f"{elapsed:.3f}s"
    if log.isEnabledFor(logging.INFO):
        log_request(request_id, response.status_code, elapsed)
    return response


def log_request(request_id: str, status: int, elapsed: float) -> None:
    """The request's log line, made without logging's search of the stack for its caller: that
    search cost more than the rest of the line, and the line names its own origin."""
    user = loaded_user_id() or "-"
    args = (request_id, request.method, request.path, status, elapsed * 1000, user)
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, LINE, args, None, "log_request"))


LINE = "[%s] %s %s %s %.1fms user=%s"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # of the log's own handler


def loaded_user_id() -> int | None:
    """The id of the user this request signed in, if it did, read without a query: after a commit
    the user is expired, and reading `id` would load them again."""
    state = getattr(g.get("_login_user"), "_sa_instance_state", None)  # mapped instances only
    return state.identity[0] if state is not None and state.identity else None


class TimeOncePerSecond(logging.Formatter):
    """logging's Formatter, with asctime's date and time worked out once a second rather than for
    every request's line: localtime and strftime were a tenth of the line's cost."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        """The record's time as the base class writes it."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return (self.default_msec_format or "%s,%03d") % (text, record.msecs)


class PerformanceMonitor:
    """Count, total, average, min and max time per endpoint, as the seed's monitor keeps them."""

    def __init__(self, app: Flask | None = None):
        self.metrics: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Time every request of the app."""
        app.after_request(self.after_request)
        app.extensions["performance_monitor"] = self

    def after_request(self, response: Response) -> Response:
        """Fold this request's time into its endpoint's figures."""
        elapsed = time.perf_counter() - g.get("start_time", time.perf_counter())
        endpoint = request.endpoint or "unknown"
        with self._lock:
            metric = self.metrics.setdefault(
                endpoint,
                {"count": 0, "total_time": 0.0, "avg_time": 0.0, "max_time": 0.0, "min_time": 0.0},
            )
            metric["count"] += 1
            metric["total_time"] += elapsed
            metric["avg_time"] = metric["total_time"] / metric["count"]
            metric["max_time"] = max(metric["max_time"], elapsed)
            metric["min_time"] = (
                elapsed if metric["count"] == 1 else min(metric["min_time"], elapsed)
            )
        return response

    def get_metrics(self) -> dict[str, Any]:
        """A copy of the figures, safe to serialise while requests keep coming."""
        with self._lock:
            return {name: dict(values) for name, values in self.metrics.items()}

    def reset_metrics(self) -> None:
        """Start counting afresh."""
        with self._lock:
            self.metrics = {}


def register_middleware(app: Flask) -> None:
    """Install the request id/timing hooks and the performance monitor."""
    app.before_request(start_request)
    app.after_request(finish_request)
    PerformanceMonitor(app)
    if app.config.get("LOG_REQUESTS"):
        logger = logging.getLogger("helpdesk")
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(TimeOncePerSecond(LOG_FORMAT))
            logger.addHandler(handler)
