"""Prometheus metrics: who may read /metrics, what it counts, and that the figures of every
gunicorn worker add up (a real `helpdesk serve` with two processes on PostgreSQL and Redis)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.middleware.proxy_fix import ProxyFix

from conftest import require_service
from helpdesk import create_app
from helpdesk.core.metrics import allowed_networks
from helpdesk.extensions import db, socketio
from helpdesk.notifications import mail
from helpdesk.notifications.models import MailOutbox
from helpdesk.notifications.realtime import NAMESPACE
from helpdesk.tasks.backends.base import BackendUnavailable
from helpers import JSON, helpdesk_serving
from smtp_server import smtp_server

REDIS_URL = "redis://127.0.0.1:6379/0"
OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}  # a client address no default allows


def scrape(
    client: FlaskClient, **kwargs: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    assert response.content_type.startswith("text/plain")
    return parse(response.get_data(as_text=True))


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus's text format as {(sample name, sorted labels): value}."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(figures: dict[Any, float], name: str, **labels: str) -> float:
    """One sample's value, 0 when absent."""
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


# -- who may read ----------------------------------------------------------------------------


def test_loopback_and_administrators_may_read_others_may_not(
    client: FlaskClient, make_user: Any, login: Any
) -> None:
    assert client.get("/metrics").status_code == 200  # the scraper on the same machine
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403
    login(make_user("staff"))
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 403
    login(make_user("root", is_admin=True))
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 200


def test_through_a_proxy_the_client_is_not_loopback(app: Flask) -> None:
    """nginx on the same machine connects from 127.0.0.1; with PROXY_COUNT=1 the address that
    counts is the one nginx forwards."""
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)  # what create_app does for PROXY_COUNT=1
    client = app.test_client()
    outside = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/metrics", headers=outside).status_code == 403
    app.config["METRICS_ALLOW_FROM"] = ("203.0.113.0/24",)
    app.extensions["metrics_allowed"] = allowed_networks(app.config)  # as at start-up
    assert client.get("/metrics", headers=outside).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 403


def test_metrics_allow_from_is_read_from_the_environment_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("METRICS_ALLOW_FROM", "10.0.0.0/8, 192.0.2.7")
    app = create_app("testing")
    assert [str(n) for n in app.extensions["metrics_allowed"]] == ["10.0.0.0/8", "192.0.2.7/32"]
    monkeypatch.setenv("METRICS_ALLOW_FROM", "10.0.0.0/8, everyone")
    with pytest.raises(RuntimeError, match="METRICS_ALLOW_FROM"):
        create_app("testing")


# -- what it counts --------------------------------------------------------------------------


def test_requests_by_endpoint_and_admin_metrics_tell_the_same(
    client: FlaskClient, make_user: Any, login: Any
) -> None:
    before = scrape(client)
    for _ in range(3):
        client.get("/health")
    client.get("/no-such-page")
    after = scrape(client)
    labels = {"method": "GET", "endpoint": "health.health", "status": "200"}
    assert (
        value(after, "helpdesk_http_requests_total", **labels)
        - value(before, "helpdesk_http_requests_total", **labels)
        == 3
    )
    missing = {"method": "GET", "endpoint": "unknown", "status": "404"}
    assert (
        value(after, "helpdesk_http_requests_total", **missing)
        - value(before, "helpdesk_http_requests_total", **missing)
        == 1
    )
    count = value(after, "helpdesk_http_request_duration_seconds_count", endpoint="health.health")
    login(make_user("root", is_admin=True))
    figures = client.get("/admin/metrics", headers=JSON).json["health.health"]
    assert figures["count"] == count
    assert figures["total_time"] == pytest.approx(
        value(after, "helpdesk_http_request_duration_seconds_sum", endpoint="health.health")
    )
    assert figures["max_time"] == value(
        after, "helpdesk_http_request_duration_max_seconds", endpoint="health.health"
    )


def test_outbox_depth_and_mail_sent(app: Flask, client: FlaskClient, make_user: Any) -> None:
    user = make_user("reader")
    db.session.add_all(
        MailOutbox(
            user_id=user.id,
            to_address=f"reader{n}@example.com",
            language="en",
            subject=f"Message {n}",
            template="task_notification",
            context={"title": f"Message {n}", "message": "", "task_id": n},
        )
        for n in range(2)
    )
    db.session.commit()
    before = scrape(client)
    assert value(before, "helpdesk_mail_outbox", status="pending") == 2
    with smtp_server() as server:
        app.config.update(
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=server.port,
            MAIL_USE_TLS=False,
            MAIL_DEFAULT_SENDER="helpdesk@example.com",
        )
        assert mail.send_due_mail() == 2
    after = scrape(client)
    assert value(after, "helpdesk_mail_outbox", status="pending") == 0
    sent = "helpdesk_notifications_sent_total"
    assert value(after, sent, channel="email") - value(before, sent, channel="email") == 2


def test_open_sockets(app: Flask, client: FlaskClient, make_user: Any, login: Any) -> None:
    login(make_user("bob"))
    before = value(scrape(client), "helpdesk_socket_connections")
    with app.app_context():
        socket = socketio.test_client(app, namespace=NAMESPACE, flask_test_client=client)
    assert socket.is_connected(NAMESPACE)
    assert value(scrape(client), "helpdesk_socket_connections") == before + 1
    with app.app_context():
        socket.disconnect(namespace=NAMESPACE)
    assert value(scrape(client), "helpdesk_socket_connections") == before


def test_backend_errors_and_cache_lookups(client: FlaskClient, make_user: Any, login: Any) -> None:
    before = scrape(client)
    BackendUnavailable("Redmine did not answer")
    login(make_user("worker", is_redmine_user=True))
    for _ in range(2):
        assert client.get("/tasks/api/statuses", headers=JSON).status_code == 200
    after = scrape(client)
    errors = {"backend": "local", "error": "BackendUnavailable"}
    assert (
        value(after, "helpdesk_backend_errors_total", **errors)
        - value(before, "helpdesk_backend_errors_total", **errors)
        == 1
    )
    looked_up = sum(
        value(after, "helpdesk_cache_lookups_total", cache="lookups", result=result)
        - value(before, "helpdesk_cache_lookups_total", cache="lookups", result=result)
        for result in ("hit", "miss")
    )
    assert looked_up >= 2
    hits = value(after, "helpdesk_cache_lookups_total", cache="lookups", result="hit") - value(
        before, "helpdesk_cache_lookups_total", cache="lookups", result="hit"
    )
    assert hits >= 1  # the second request found the first one's read


# -- two serving processes --------------------------------------------------------------------


@pytest.fixture(params=["gevent", "gthread"])
def two_workers(
    request: pytest.FixtureRequest, app: Flask, postgresql_only: None, tmp_path: Path
) -> Iterator[tuple[str, Path]]:
    """`helpdesk serve` in production with two processes on PostgreSQL and Redis, gunicorn's
    gevent or gthread worker: its URL and the folder where its workers keep their figures."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    instance = tmp_path / "instance"
    env = {
        **os.environ,
        "HELPDESK_ENV": "production",
        "SECRET_KEY": "test-secret-key-0123456789abcdef",
        "HELPDESK_INSTANCE_PATH": str(instance),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOG_REQUESTS": "false",
        "SOCKETIO_MESSAGE_QUEUE": REDIS_URL,
        "SOCKETIO_CHANNEL": f"helpdesk-test-{uuid.uuid4().hex}",
        "CACHE_TYPE": "RedisCache",  # several processes: WEB_CONCURRENCY needs the shared cache
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": f"helpdesk-test-{uuid.uuid4().hex}:",
        "WEB_CONCURRENCY": "2",
        "WEB_WORKER": request.param,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with helpdesk_serving(env) as (url, _process):
        yield url, instance / "metrics" / url.rsplit(":", 1)[1]


def test_metrics_add_up_the_requests_of_both_workers(two_workers: tuple[str, Path]) -> None:
    url, folder = two_workers
    sent = 40
    for _ in range(sent):  # a new connection each: the kernel picks a worker for each
        response = requests.get(f"{url}/health/ready", headers={"Connection": "close"}, timeout=10)
        assert response.status_code == 200, response.text
    writers = [path.name for path in folder.glob("counter_*.db")]
    assert len(writers) == 2, f"both workers counted requests: {writers}"
    labels = {"method": "GET", "endpoint": "health.ready", "status": "200"}
    for _ in range(6):  # whichever worker answers a scrape, it tells the site's total
        figures = parse(requests.get(f"{url}/metrics", timeout=10).text)
        assert value(figures, "helpdesk_http_requests_total", **labels) == sent
        assert (
            value(figures, "helpdesk_http_request_duration_seconds_count", endpoint="health.ready")
            == sent
        )
