"""Health: liveness, readiness and the admin page, against real servers the tests start, stop and
slow down (a Redis of their own, aiosmtpd, MariaDB, a socket that accepts and never answers)."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from conftest import RequestScopedClient, csrf_token_from, require_service
from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.health import service
from helpdesk.health.checks import ConnectionMonitor, redis_uses
from helpdesk.health.models import ServiceCheck
from helpdesk.worker import JOBS, run_job
from helpers import BROWSER, JSON, count_rows, free_port
from smtp_server import smtp_server

TIMEOUT = 1  # HEALTH_CHECK_TIMEOUT of these tests, in seconds
SLOW_LIMIT = TIMEOUT + 1.5  # a check of a silent server ends by then (deadline and grace)
REDIS_PORTS = range(6380, 6390)
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/mysql"
NOTHING = {  # every outside system unset, whatever the environment says
    "REDMINE_URL": "",
    "REDMINE_DB_HOST": "",
    "REDMINE_DB_URL": "",
    "ERP_ORACLE_HOST": "",
    "ERP_DATABASE_URL": "",
    "LDAP_URL": "",
    "MAIL_SERVER": "",
}


def monitor(**settings: Any) -> ConnectionMonitor:
    """A monitor of the given outside systems only, on the test's database."""
    return ConnectionMonitor(
        {**NOTHING, "HEALTH_CHECK_TIMEOUT": TIMEOUT, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
        | settings
    )


# -- servers the tests start, stop and slow --------------------------------------------------


@contextmanager
def silent_server() -> Iterator[int]:
    """A port whose connections the kernel accepts and nothing ever answers: a hung server."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@contextmanager
def own_redis() -> Iterator[Callable[[], None]]:
    """A Redis of the test's own on a port of 6380-6389; yields the function that stops it."""
    binary = shutil.which("redis-server")
    if binary is None:
        require_service("redis-server", "Debian's redis-server package is not installed")
    for port in REDIS_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
    else:
        raise AssertionError("ports 6380-6389 are all taken")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=1).ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)

    stop.url = url  # type: ignore[attr-defined]
    try:
        yield stop
    finally:
        stop()


@contextmanager
def web_server(status: int) -> Iterator[str]:
    """An HTTP server answering every GET with the given status."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_down(check: dict[str, Any], *words: str) -> None:
    """An unhealthy check within the time limit, saying why."""
    assert check["status"] == "unhealthy", check
    assert check["response_time"] is not None
    assert check["response_time"] < SLOW_LIMIT
    assert check["error"]
    for word in words:
        assert word.lower() in check["error"].lower(), check["error"]


def assert_slow(probe: Callable[[], dict[str, Any]]) -> None:
    """A hung server costs the timeout, then shows as down."""
    started = time.monotonic()
    check = probe()
    assert time.monotonic() - started < SLOW_LIMIT
    assert_down(check)


def assert_up(check: dict[str, Any]) -> None:
    """The seed's shape of a healthy check."""
    assert check["status"] == "healthy", check
    assert check["error"] is None
    assert 0 <= check["response_time"] < TIMEOUT
    assert check["last_check"].endswith("Z")


# -- the seed's monitor, service by service --------------------------------------------------


def test_nothing_configured_is_not_a_failure() -> None:
    report = monitor().get_system_health()
    assert set(report) == {"overall_status", "services", "last_updated"}
    assert report["overall_status"] == "healthy"
    services = report["services"]
    assert_up(services["database"])
    for name in ("redis", "redmine", "redmine_database", "oracle", "ldap", "smtp"):
        assert services[name] == {
            "status": "not_configured",
            "response_time": None,
            "last_check": services[name]["last_check"],
            "error": None,
        }


def test_redis_up_stopped() -> None:
    with own_redis() as stop:
        checker = monitor(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=stop.url)  # type: ignore[attr-defined]
        assert_up(checker.check_redis())
        stop()
        assert_down(checker.check_redis(), "ConnectionError")
        assert checker.get_system_health()["overall_status"] == "degraded"  # a cache only


def test_smtp_up_stopped_slow() -> None:
    with smtp_server() as server:
        checker = monitor(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        assert_up(checker.check_smtp_connection())
    assert_down(checker.check_smtp_connection(), "refused")
    with silent_server() as port:
        assert_slow(monitor(MAIL_SERVER="127.0.0.1", MAIL_PORT=port).check_smtp_connection)


def test_redmine_web_up_failing_stopped_slow() -> None:
    with web_server(302) as url:  # Redmine sending the visitor to sign in
        assert_up(monitor(REDMINE_URL=url).check_redmine_connection())
    with web_server(503) as url:
        assert_down(monitor(REDMINE_URL=url).check_redmine_connection(), "HTTP 503")
    closed = f"http://127.0.0.1:{free_port()}/"
    assert_down(monitor(REDMINE_URL=closed).check_redmine_connection(), "ConnectionError")
    with silent_server() as port:
        slow = monitor(REDMINE_URL=f"http://127.0.0.1:{port}/")
        assert_slow(slow.check_redmine_connection)


@pytest.mark.redmine
def test_a_real_redmine_and_its_database(redmine_server: Any) -> None:
    checker = monitor(REDMINE_URL=redmine_server.url, REDMINE_DB_URL=redmine_server.db_url)
    assert_up(checker.check_redmine_connection())
    assert_up(checker.check_redmine_database())


def mariadb_available() -> None:
    """MariaDB at 127.0.0.1:3306 (root, no password), or a clear skip (a failure in CI)."""
    engine = create_engine(MARIADB_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        require_service("MariaDB", str(error).splitlines()[0])
    finally:
        engine.dispose()


def test_redmine_database_up_stopped_slow() -> None:
    mariadb_available()
    assert_up(monitor(REDMINE_DB_URL=MARIADB_URL).check_redmine_database())
    closed = monitor(
        REDMINE_DB_HOST="127.0.0.1",
        REDMINE_DB_PORT=free_port(),
        REDMINE_DB_NAME="redmine",
        REDMINE_DB_USER="redmine",
        REDMINE_DB_PASSWORD="db-secret-9431",
    )
    check = closed.check_redmine_database()
    assert_down(check, "OperationalError")
    assert "db-secret-9431" not in check["error"]
    with silent_server() as port:
        slow = monitor(REDMINE_DB_URL=f"mysql+pymysql://root@127.0.0.1:{port}/redmine")
        assert_slow(slow.check_redmine_database)


def test_oracle_stopped_slow_and_the_same_probe_on_another_database(tmp_path: Path) -> None:
    """No Oracle server here: a closed port and a silent one fail as they would with Oracle; the
    same probe (SELECT 1, FROM DUAL on Oracle) answers on a database that is there."""
    oracle = {"ERP_ORACLE_HOST": "127.0.0.1", "ERP_ORACLE_SERVICE_NAME": "ERP"}
    closed = monitor(**oracle, ERP_ORACLE_PORT=free_port(), ERP_ORACLE_PASSWORD="erp-secret-77")
    check = closed.check_oracle_connection()
    assert_down(check, "DPY-6005")  # python-oracledb thin: cannot connect
    assert "erp-secret-77" not in check["error"]
    with silent_server() as port:
        assert_slow(monitor(**oracle, ERP_ORACLE_PORT=port).check_oracle_connection)
    erp = monitor(ERP_DATABASE_URL=f"sqlite:///{tmp_path / 'erp.db'}")
    assert_up(erp.check_oracle_connection())


def test_ldap_up_then_stopped(ldap_server: Any) -> None:
    """A real slapd: healthy while it answers the service account's bind, unhealthy once it is
    stopped, and a wrong service password is a failure too, not "healthy"."""
    from ldap_server import ROOT_DN, ROOT_PASSWORD

    settings = {"LDAP_URL": ldap_server.url, "LDAP_BIND_DN": ROOT_DN}
    assert_up(monitor(**settings, LDAP_BIND_PASSWORD=ROOT_PASSWORD).check_ldap_connection())
    assert_down(monitor(**settings, LDAP_BIND_PASSWORD="wrong").check_ldap_connection())
    ldap_server.stop()
    try:
        assert_down(monitor(**settings, LDAP_BIND_PASSWORD=ROOT_PASSWORD).check_ldap_connection())
    finally:
        ldap_server.start()


def test_ldap_stopped_slow() -> None:
    """A directory that refuses and one that never answers."""
    closed = monitor(LDAP_URL=f"ldap://127.0.0.1:{free_port()}")
    assert_down(closed.check_ldap_connection())
    with silent_server() as port:
        assert_slow(monitor(LDAP_URL=f"ldap://127.0.0.1:{port}").check_ldap_connection)


def test_every_check_runs_side_by_side() -> None:
    """Three hung systems cost one timeout, not three."""
    with silent_server() as port:
        hung = monitor(
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=port,
            REDMINE_URL=f"http://127.0.0.1:{port}/",
            LDAP_URL=f"ldap://127.0.0.1:{port}",
        )
        started = time.monotonic()
        report = hung.get_system_health()
        assert time.monotonic() - started < SLOW_LIMIT
    assert report["overall_status"] == "degraded"
    assert {report["services"][name]["status"] for name in ("smtp", "redmine", "ldap")} == {
        "unhealthy"
    }


def test_which_redis_a_process_cannot_serve_without() -> None:
    config = {
        "SESSION_TYPE": "redis",
        "SESSION_REDIS_URL": "redis://a/0",
        "SOCKETIO_MESSAGE_QUEUE": "redis://b/0",
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": "redis://a/0",
        "RATELIMIT_STORAGE_URI": "memory://",
        "JOBS_LOCK_URL": "redis://c/0",
    }
    uses = {use.url: (use.purposes, use.required) for use in redis_uses(config)}
    assert uses == {
        "redis://a/0": (("sessions", "cache"), True),
        "redis://b/0": (("socket.io queue",), True),
        "redis://c/0": (("job locks",), False),
    }
    assert redis_uses({"SESSION_TYPE": "filesystem", "CACHE_TYPE": "SimpleCache"}) == []


# -- liveness and readiness -------------------------------------------------------------------


@pytest.fixture
def database_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app whose PostgreSQL nobody listens for."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    uri = f"postgresql+psycopg://postgres:pg-secret-55@127.0.0.1:{free_port()}/helpdesk"
    application = create_app("testing", SQLALCHEMY_DATABASE_URI=uri, HEALTH_CHECK_TIMEOUT=TIMEOUT)
    application.test_client_class = RequestScopedClient
    with application.app_context():
        yield application
        db.engine.dispose()


def test_liveness_answers_while_the_database_is_down_and_readiness_does_not(
    database_down: Flask,
) -> None:
    client = database_down.test_client()
    for path in ("/health", "/healthz"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json == {"status": "healthy"}
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert response.json["services"] == {"database": "unhealthy"}
    assert b"pg-secret-55" not in response.data
    assert b"127.0.0.1" not in response.data  # the public answer names no host, no error


@pytest.fixture
def configured(app: Flask) -> Flask:
    """The test app with a fast timeout and nothing outside configured."""
    app.config.update(NOTHING, HEALTH_CHECK_TIMEOUT=TIMEOUT)
    return app


def test_readiness_stays_200_while_outside_systems_are_down(
    configured: Flask, client: FlaskClient
) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    configured.config["REDMINE_URL"] = f"http://127.0.0.1:{free_port()}/"
    service.record_checks()
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json["status"] == "degraded"
    assert response.json["services"]["redmine"] == "unhealthy"
    assert response.json["services"]["database"] == "healthy"


def test_readiness_needs_the_redis_of_sessions(configured: Flask, client: FlaskClient) -> None:
    with own_redis() as stop:
        configured.config.update(SESSION_TYPE="redis", SESSION_REDIS_URL=stop.url)  # type: ignore[attr-defined]
        assert client.get("/health/ready").status_code == 200
        stop()
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json["services"] == {"database": "healthy", "redis": "unhealthy"}


# -- recorded checks and the admin page -------------------------------------------------------


def check_job() -> Any:
    return next(job for job in JOBS if job.name == "check_services")


def test_the_worker_records_checks_and_keeps_a_short_history(
    configured: Flask, client: FlaskClient, make_user: Any, login: Any
) -> None:
    configured.config["HEALTH_HISTORY"] = 3
    with smtp_server() as server:
        configured.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        for _ in range(4):
            assert run_job(configured, check_job()) == "ran"
    assert run_job(configured, check_job()) == "ran"  # the mail server has stopped
    assert count_rows(ServiceCheck) == 3 * 7
    login(make_user("root", is_admin=True))
    report = client.get("/admin/health", headers=JSON).json
    smtp = report["services"]["smtp"]
    assert smtp["status"] == "unhealthy"
    assert "refused" in smtp["error"].lower()
    assert smtp["last_error"] == smtp["error"]
    assert [check["status"] for check in smtp["history"]] == ["unhealthy", "healthy", "healthy"]
    assert report["services"]["database"]["status"] == "healthy"
    assert report["services"]["ldap"]["status"] == "not_configured"
    assert report["overall_status"] == "degraded"


def test_a_change_of_state_is_logged_once(
    configured: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    configured.config["REDMINE_URL"] = f"http://127.0.0.1:{free_port()}/"
    with caplog.at_level(logging.INFO, logger="helpdesk.health"):
        service.record_checks()  # the first check: nothing to compare with
        service.record_checks()
        service.record_checks()
        with web_server(200) as url:
            configured.config["REDMINE_URL"] = url
            service.record_checks()
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["redmine is now healthy (ok)"]


def test_a_failure_is_logged_when_it_starts(
    configured: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with web_server(200) as url:
        configured.config["REDMINE_URL"] = url
        service.record_checks()
    with caplog.at_level(logging.WARNING, logger="helpdesk.health"):
        service.record_checks()
        service.record_checks()
    (line,) = [record.getMessage() for record in caplog.records]
    assert line.startswith("redmine is now unhealthy (ConnectionError")


def test_the_admin_page(configured: Flask, client: FlaskClient, make_user: Any, login: Any) -> None:
    page = client.get("/admin/health", headers={**BROWSER, "Accept": "text/html"})
    assert page.status_code == 302  # to sign in
    login(make_user("staff"))
    assert client.get("/admin/health", headers=JSON).status_code == 403
    assert client.post("/admin/health/check", headers=JSON).status_code == 403
    assert count_rows(ServiceCheck) == 0

    login(make_user("root", is_admin=True))
    before = client.get("/admin/health", headers=JSON).json
    assert before["services"]["database"]["status"] == "unknown"
    assert before["last_updated"] is None
    page = client.get("/admin/health", headers={**BROWSER, "Accept": "text/html"})
    assert page.status_code == 200
    assert 'href="/admin/health"' in client.get("/", headers=BROWSER).text  # in the menu
    token = csrf_token_from(client, "/admin/health")
    assert client.post("/admin/health/check", headers=BROWSER).status_code == 400  # no token
    done = client.post("/admin/health/check", data={"csrf_token": token}, headers=BROWSER)
    assert done.status_code == 302
    page = client.get("/admin/health", headers={**BROWSER, "Accept": "text/html"}).text
    assert "redmine_database" in page
    assert "not_configured" in page
    assert count_rows(ServiceCheck) == 7


def test_settings_no_driver_can_use_are_a_failure_not_a_crash() -> None:
    report = monitor(REDMINE_DB_URL="nosuchdriver://127.0.0.1/redmine").get_system_health()
    check = report["services"]["redmine_database"]
    assert check["status"] == "unhealthy"
    assert "nosuchdriver" in check["error"]
    assert report["services"]["database"]["status"] == "healthy"
    assert report["overall_status"] == "degraded"


def test_a_password_inside_a_url_is_masked_too() -> None:
    checker = monitor(
        REDMINE_DB_URL=f"mysql+pymysql://redmine:url-secret-316@127.0.0.1:{free_port()}/redmine"
    )
    error = checker.describe(RuntimeError("cannot log in with url-secret-316 to the database"))
    assert error == "RuntimeError: cannot log in with *** to the database"
