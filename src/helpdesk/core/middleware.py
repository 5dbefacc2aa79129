"""Request id, response time, one log line per request, and per-endpoint request metrics."""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any

from flask import Flask, Response, g, request
from flask_login import current_user, user_accessed, user_logged_in
from sqlalchemy import inspect

from helpdesk.core import metrics

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
    """The request's log line."""
    user = loaded_user_id() or "-"
    log.info(LINE, request_id, request.method, logged_path(), status, elapsed * 1000, user)


def logged_path() -> str:
    """The request's path, but a secret in it (a password reset link's token) is not written:
    such a route's pattern is logged instead."""
    if request.url_rule is not None and "token" in (request.view_args or {}):
        return request.url_rule.rule
    return request.path


LINE = "[%s] %s %s %s %.1fms user=%s"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # of the log's own handler
USER_LOOKED_UP = "helpdesk_user_looked_up"  # in g: Flask-Login has this request's user


def note_user_looked_up(_app: Flask, **_extra: Any) -> None:
    """Flask-Login's user_accessed and user_logged_in: from now on current_user is at hand."""
    setattr(g, USER_LOOKED_UP, True)


def loaded_user_id() -> int | None:
    """The id of the user this request signed in, if it looked them up, without a query: it never
    looks one up for the log. A snapshot carries its id; a User row (signed in by this request,
    or by an API token) gives it from the identity map's key, since after a commit the row is
    expired and reading `id` would load it again."""
    if not g.get(USER_LOOKED_UP):
        return None
    user = current_user._get_current_object()
    state = inspect(user, raiseerr=False)  # mapped users only
    if state is None:
        return getattr(user, "id", None)  # a snapshot's; the anonymous user has none
    return state.identity[0] if state.identity else None


class PerformanceMonitor:
    """The seed's monitor: count, total, average, min and max time per endpoint, kept in the
    Prometheus figures (core/metrics.py), so that /admin/metrics and /metrics tell the same and
    add up every serving process."""

    def __init__(self, app: Flask | None = None):
        self.baseline: dict[str, tuple[float, float]] = {}  # endpoint: count, total at reset
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Time every request of the app."""
        app.after_request(self.after_request)
        app.extensions["performance_monitor"] = self

    def after_request(self, response: Response) -> Response:
        """Count the request and fold its time into its endpoint's figures."""
        elapsed = time.perf_counter() - g.get("start_time", time.perf_counter())
        metrics.observe_request(
            request.method, request.endpoint or "unknown", response.status_code, elapsed
        )
        return response

    def get_metrics(self) -> dict[str, Any]:
        """The figures of every process (since the last reset), in the seed's shape."""
        figures: dict[str, dict[str, float]] = {}
        names = {
            "helpdesk_http_request_duration_seconds_count": "count",
            "helpdesk_http_request_duration_seconds_sum": "total_time",
            "helpdesk_http_request_duration_max_seconds": "max_time",
            "helpdesk_http_request_duration_min_seconds": "min_time",
        }
        for family in metrics.registry().collect():
            for sample in family.samples:
                field = names.get(sample.name)
                if field is not None:
                    figures.setdefault(sample.labels["endpoint"], {})[field] = sample.value
        with self._lock:
            baseline = dict(self.baseline)
        result: dict[str, Any] = {}
        for endpoint, values in figures.items():
            base_count, base_total = baseline.get(endpoint, (0.0, 0.0))
            count = int(values.get("count", 0) - base_count)
            if count <= 0:
                continue
            total = values.get("total_time", 0.0) - base_total
            result[endpoint] = {
                "count": count,
                "total_time": total,
                "avg_time": total / count,
                "max_time": values.get("max_time", 0.0),
                "min_time": values.get("min_time", 0.0),
            }
        return result

    def reset_metrics(self) -> None:
        """Count afresh from now in get_metrics; /metrics keeps its totals (Prometheus's counters
        only grow) and the slowest and fastest times stay."""
        current = {
            endpoint: (values["count"], values["total_time"])
            for endpoint, values in self.get_metrics().items()
        }
        with self._lock:
            for endpoint, (count, total) in current.items():
                old_count, old_total = self.baseline.get(endpoint, (0.0, 0.0))
                self.baseline[endpoint] = (old_count + count, old_total + total)


def register_middleware(app: Flask) -> None:
    """Install the request id/timing hooks and the performance monitor."""
    app.before_request(start_request)
    app.after_request(finish_request)
    PerformanceMonitor(app)
    user_accessed.connect(note_user_looked_up)
    user_logged_in.connect(note_user_looked_up)
    if app.config.get("LOG_REQUESTS"):
        logger = logging.getLogger("helpdesk")
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            logger.addHandler(handler)
