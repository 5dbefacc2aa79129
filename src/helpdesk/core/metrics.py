"""Prometheus metrics: what every process counts, and /metrics, which adds them up.

Under `helpdesk serve` in production each gunicorn worker writes its figures into
PROMETHEUS_MULTIPROC_DIR (server.py sets it before any worker starts) and /metrics reads every
worker's files, so the figures are the site's whichever worker answers. Without that directory
(the development server, tests, one process) the figures are the process's own.
Figures that are a state of the database (the mail outbox) are read when /metrics is asked,
from sources the features register with `add_scrape_source`.
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, abort, current_app, has_app_context, request
from flask_login import current_user
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from werkzeug.wrappers import Response

from helpdesk.core.openapi import documented

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "helpdesk_http_requests_total", "Requests answered", ["method", "endpoint", "status"]
)
LATENCY = Histogram(
    "helpdesk_http_request_duration_seconds",
    "Time to answer a request",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SLOWEST = Gauge(
    "helpdesk_http_request_duration_max_seconds",
    "The slowest answer of an endpoint",
    ["endpoint"],
    multiprocess_mode="max",
)
FASTEST = Gauge(
    "helpdesk_http_request_duration_min_seconds",
    "The fastest answer of an endpoint",
    ["endpoint"],
    multiprocess_mode="min",
)
NOTIFICATIONS_SENT = Counter(
    "helpdesk_notifications_sent_total", "Notifications sent, by channel", ["channel"]
)
SOCKETS = Gauge(
    "helpdesk_socket_connections", "Open Socket.IO connections", multiprocess_mode="livesum"
)
BACKEND_ERRORS = Counter(
    "helpdesk_backend_errors_total",
    "Task backend failures (the backend unreachable or answering badly)",
    ["backend", "error"],
)
CACHE_LOOKUPS = Counter(
    "helpdesk_cache_lookups_total", "Reads of a cache, by whether they hit", ["cache", "result"]
)

_extremes: dict[str, tuple[float, float]] = {}  # endpoint: this process's fastest, slowest
_extremes_lock = threading.Lock()


def observe_request(method: str, endpoint: str, status: int, elapsed: float) -> None:
    """Count one answered request and its time."""
    REQUESTS.labels(method, endpoint, str(status)).inc()
    LATENCY.labels(endpoint).observe(elapsed)
    with _extremes_lock:
        low, high = _extremes.get(endpoint, (elapsed, elapsed))
        low, high = min(low, elapsed), max(high, elapsed)
        _extremes[endpoint] = (low, high)
        FASTEST.labels(endpoint).set(low)
        SLOWEST.labels(endpoint).set(high)


ScrapeSource = Callable[[], Iterable[Metric]]
SOURCES = "helpdesk_metrics_sources"  # app.extensions key


def add_scrape_source(app: Flask, source: ScrapeSource) -> None:
    """A feature's figures read at each scrape, in the request's app context."""
    app.extensions.setdefault(SOURCES, []).append(source)


def note_backend_error(error: BaseException) -> None:
    """Count a failure of the task backend, named by the app's TASK_BACKEND."""
    backend = current_app.config["TASK_BACKEND"] if has_app_context() else "unknown"
    BACKEND_ERRORS.labels(backend=backend, error=type(error).__name__).inc()


def note_cache(cache: str, hit: bool) -> None:
    """Count one read of a cache."""
    CACHE_LOOKUPS.labels(cache=cache, result="hit" if hit else "miss").inc()


def cache_counts() -> dict[str, dict[str, int]]:
    """Hits and misses of each cache, added up over every serving process."""
    counts: dict[str, dict[str, int]] = {}
    for family in registry().collect():
        for sample in family.samples:
            if sample.name == "helpdesk_cache_lookups_total":
                figures = counts.setdefault(sample.labels["cache"], {"hits": 0, "misses": 0})
                field = "hits" if sample.labels["result"] == "hit" else "misses"
                figures[field] += int(sample.value)
    return counts


def multiprocess_mode() -> bool:
    """Whether the figures are kept in files every process writes (set before the first import)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def registry() -> CollectorRegistry:
    """Every process's figures when they share a directory, else this process's."""
    if not multiprocess_mode():
        return REGISTRY
    combined = CollectorRegistry()
    multiprocess.MultiProcessCollector(combined)
    return combined


class SourcesCollector:
    """The features' scrape-time figures."""

    def __init__(self, sources: Iterable[ScrapeSource]):
        self.sources = list(sources)

    def collect(self) -> Iterable[Metric]:
        """Each source's families."""
        for source in self.sources:
            yield from source()


def exposition() -> bytes:
    """The text /metrics answers."""
    extra = CollectorRegistry()
    extra.register(SourcesCollector(current_app.extensions.get(SOURCES, ())))
    return generate_latest(registry()) + generate_latest(extra)


def allowed_networks(config: dict[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """METRICS_ALLOW_FROM as networks; a value that is no address stops start-up."""
    networks = []
    for entry in config["METRICS_ALLOW_FROM"]:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise RuntimeError(
                f"METRICS_ALLOW_FROM must list addresses or networks, not {entry!r}"
            ) from None
    return networks


def may_read_metrics(remote_addr: str | None) -> bool:
    """An administrator's session, or a client address METRICS_ALLOW_FROM lists (the address
    after PROXY_COUNT proxies: a request through nginx is nginx's client's, not loopback)."""
    if remote_addr:
        try:
            address = ipaddress.ip_address(remote_addr)
        except ValueError:
            address = None
        networks = current_app.extensions["metrics_allowed"]
        if address is not None and any(address in network for network in networks):
            return True
    return bool(current_user.is_authenticated and current_user.is_admin)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
@documented(
    "Prometheus text format (administrators, METRICS_ALLOW_FROM)",
    response=None,
    response_type="text/plain",
    access="admin",
    tag="health",
    enveloped=False,
)
def metrics() -> Response:
    """Prometheus's text format, for the scraper and for administrators."""
    if not may_read_metrics(request.remote_addr):
        abort(403)
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


def register_metrics(app: Flask) -> None:
    """Check METRICS_ALLOW_FROM and add /metrics."""
    app.extensions["metrics_allowed"] = allowed_networks(app.config)
    app.register_blueprint(bp)
