"""Shared fixtures: a fresh app and database per test, user factories and login helpers."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from contract_world import WORLD_BUILDERS, World
from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.users import service
from helpdesk.users.models import User
from helpdesk.users.presence import close_presence
from redmine_server import RedmineServer, RedmineUnavailable

PASSWORD = "correct-horse-42"
BROWSER = {"Sec-Fetch-Site": "same-origin"}
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
HELPDESK = str(Path(sys.executable).with_name("helpdesk"))  # the command line of this install
DEMO_PASSWORD = "demo-password-1"  # HELPDESK_DEMO_PASSWORD of the servers tests start


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing on a laptop; fail in CI (HELPDESK_REQUIRE_SERVICES=1)."""
    message = f"{name} is not available: {reason}"
    if os.environ.get("HELPDESK_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


class RequestScopedClient(FlaskClient):
    """Runs each request in a fresh app context, as a real server does, so `g` and the database
    session never leak from one request (or one client) into the next."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Send the request in its own app context; the test's session ends its transaction
        before (on SQLite it may hold the one writer, which the request may need) and starts a
        new one after, so it sees what the request committed."""
        db.session.rollback()
        with self.application.app_context():
            response = super().open(*args, **kwargs)
        db.session.rollback()
        return response


def _template_app(uri: str, instance: Path) -> Flask:
    """An app on a given database, for migrating the template."""
    os.environ["HELPDESK_INSTANCE_PATH"] = str(instance)
    try:
        return create_app("testing", SQLALCHEMY_DATABASE_URI=uri)
    finally:
        del os.environ["HELPDESK_INSTANCE_PATH"]


def _migrate(uri: str, instance: Path) -> None:
    """Build a database by running every migration, as `helpdesk db upgrade` does."""
    application = _template_app(uri, instance)
    with application.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()


class SqliteDatabases:
    """Each test gets a copy of one migrated SQLite file."""

    def __init__(self, folder: Path):
        self.template = folder / "template.db"
        _migrate(f"sqlite:///{self.template}", folder / "instance")

    def create(self, folder: Path) -> str:
        """A fresh database for one test."""
        target = folder / "test.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"

    def drop(self, uri: str) -> None:
        """Nothing to do: the file goes with the test's temporary folder."""


class PostgresDatabases:
    """Each test gets a database cloned from one migrated template database."""

    def __init__(self, url: str, folder: Path):
        self.url = make_url(url)
        self.admin = create_engine(
            self.url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        self.template = f"{self.url.database}_template_{os.getpid()}"  # runs may overlap
        self.counter = itertools.count()
        try:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        except OperationalError as error:
            require_service("PostgreSQL", str(error).splitlines()[0])
        _migrate(self.url.set(database=self.template).render_as_string(False), folder / "instance")

    def create(self, folder: Path) -> str:
        """A fresh database for one test (CREATE DATABASE … TEMPLATE is a fast file copy)."""
        name = f"{self.url.database}_{os.getpid()}_{next(self.counter)}"
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return self.url.set(database=name).render_as_string(False)

    def drop(self, uri: str) -> None:
        """Remove a test's database."""
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(uri).database}" WITH (FORCE)'))

    def close(self) -> None:
        """Remove the template at the end of the run."""
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def databases(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SqliteDatabases | PostgresDatabases]:
    """Migrated template databases: PostgreSQL when TEST_DATABASE_URL says so, else SQLite."""
    folder = tmp_path_factory.mktemp("db-template")
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql"):
        postgres = PostgresDatabases(url, folder)
        yield postgres
        postgres.close()
        return
    yield SqliteDatabases(folder)


@pytest.fixture
def app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, databases: SqliteDatabases | PostgresDatabases
) -> Iterator[Flask]:
    """An app on its own freshly migrated database, with the default statuses and priorities."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    uri = databases.create(tmp_path)
    application = create_app(
        "testing", SQLALCHEMY_DATABASE_URI=uri, UPLOAD_FOLDER=str(tmp_path / "uploads")
    )
    application.test_client_class = RequestScopedClient
    with application.app_context():
        yield application
        close_presence(application)
        db.session.remove()
        wait_for_connections_back()
        db.engine.dispose()
    databases.drop(uri)


def wait_for_connections_back(seconds: float = 5.0) -> None:
    """Threads of the app (a live server's requests) may still be ending their work when a test
    ends: wait until they have given their connections back, or disposing of the pool would
    leave them open for the garbage collector to find in a later test."""
    deadline = time.monotonic() + seconds
    while db.engine.pool.checkedout() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)


@pytest.fixture(scope="session")
def redmine_server() -> Iterator[RedmineServer]:
    """A real Redmine 5 for this test session, with a database of its own (dropped at the end)."""
    try:
        server = RedmineServer.start(f"t{os.getpid()}")
    except RedmineUnavailable as missing:
        require_service("Redmine", str(missing))
    yield server
    server.drop()


@pytest.fixture
def postgresql_only(app: Flask) -> None:
    """Skip a test of PostgreSQL's behaviour (its transactions, its driver) on SQLite."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's behaviour: SQLite has its own tests")


@pytest.fixture
def server_engine(app: Flask) -> Iterator[Engine]:
    """A second engine of one connection on the test's PostgreSQL database, for a connection
    the server can drop (SQLite's are files)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a connection the server drops: PostgreSQL's; SQLite's are files")
    engine = create_engine(db.engine.url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


REDIS_URL = "redis://127.0.0.1:6379/0"  # the shared Redis of the tests that need one


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of its own in the shared Redis, emptied afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    prefix = f"helpdesk-test-{uuid.uuid4().hex}:"
    yield prefix
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that behaves like a script (no Origin, no CSRF token needed)."""
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    """Create and commit a user; keyword arguments set profile fields and flags."""
    counter = iter(range(1, 10_000))

    def factory(username: str | None = None, password: str = PASSWORD, **fields: Any) -> User:
        username = username or f"user{next(counter)}"
        email = fields.pop("email", f"{username}@example.com")
        user = service.create_user(username, email, password, **fields)
        db.session.commit()
        return user

    return factory


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., Any]:
    """Log the test client in as a user (JSON login, as a script would)."""

    def do_login(user: User, password: str = PASSWORD, the_client: FlaskClient | None = None):
        response = (the_client or client).post(
            "/users/login", json={"username": user.username, "password": password}
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        return response

    return do_login


def csrf_token_from(client: FlaskClient, path: str) -> str:
    """Fetch a page as a browser would and read the CSRF token from its form."""
    page = client.get(path, headers=BROWSER).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


# -- `helpdesk` processes on a demo site ----------------------------------------------------


def demo_environment(instance: Path) -> dict[str, str]:
    """Environment of a `helpdesk` process on an instance folder of its own (SQLite there), as
    `make run` starts it; callers add their settings."""
    env = {
        **os.environ,
        "HELPDESK_ENV": "development",
        "HELPDESK_INSTANCE_PATH": str(instance),
        "HELPDESK_DEMO_PASSWORD": DEMO_PASSWORD,
        "HELPDESK_DEMO_LANGUAGE": "en",  # the browser tests pick "Web Portal", "Bob Petrov"
        "LOG_REQUESTS": "false",
    }
    env.pop("TEST_DATABASE_URL", None)
    env.pop("SOCKETIO_MESSAGE_QUEUE", None)
    return env


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance folder migrated and loaded with the demo data once per run, by the commands
    `make run` uses."""
    instance = tmp_path_factory.mktemp("demo-template") / "instance"
    env = demo_environment(instance)
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run([HELPDESK, *command], env=env, check=True, capture_output=True, timeout=120)
    return instance


def demo_copy(template: Path, folder: Path) -> dict[str, str]:
    """A copy of the demo instance in folder/instance, and the environment of a `helpdesk`
    process on it."""
    instance = folder / "instance"
    shutil.copytree(template, instance)
    return demo_environment(instance)


@pytest.fixture
def demo_site(demo_template: Path, tmp_path: Path) -> dict[str, str]:
    """A copy of the demo instance in tmp_path/instance for this test's servers alone."""
    return demo_copy(demo_template, tmp_path)


# The task tests that run on the local backend only, and why; tests/contract runs the task API
# and the backend interface on every backend (the worlds of contract_world.py). Marked
# `local_backend`, so `pytest -m local_backend` lists them.
ROWS = (
    "build their tasks, journals, workflows and memberships as rows of the helpdesk's own tables "
    "and check those rows; tests/contract/test_api_contract.py asks the same API of every backend"
)
EVENTS = (
    "hear of changes from the local backend's events; on Redmine the same events come from its "
    "change feed (test_redmine_change_feed.py, e2e/test_redmine_browser.py)"
)
LOCAL_ONLY = {
    "integration/test_tasks_api.py": ROWS,
    "integration/test_tasks_pages.py": ROWS,
    "integration/test_task_history.py": ROWS,
    "integration/test_tasks_sql_counts.py": "counts the local store's SQL statements",
    "integration/test_seed_client.py": ROWS,
    "integration/test_api_tokens.py": ROWS,
    "integration/test_fuzz_routes.py": ROWS,
    "integration/test_hardening.py": ROWS,
    "integration/test_transaction_endings.py": "the local store's writes in the request's commit",
    "integration/test_cache.py": "the local store's lookups in the cache",
    "integration/test_change_feed.py": "the local backend's own change feed",
    "integration/test_notifications.py": EVENTS,
    "integration/test_notification_preferences.py": EVENTS,
    "integration/test_all_channels.py": EVENTS,
    "integration/test_email.py": EVENTS,
    "integration/test_webpush.py": EVENTS,
    "integration/test_realtime.py": EVENTS,
    "integration/test_realtime_processes.py": EVENTS,
    "e2e/test_live_board.py": "serve the local demo data (e2e/test_redmine_browser.py: Redmine)",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of LOCAL_ONLY `local_backend`; a listed file that is gone is an error."""
    tests = Path(__file__).parent
    missing = [name for name in LOCAL_ONLY if not (tests / name).exists()]
    if missing:
        raise pytest.UsageError(f"LOCAL_ONLY in tests/conftest.py names missing files: {missing}")
    for item in items:
        if item.path.relative_to(tests).as_posix() in LOCAL_ONLY:
            item.add_marker(pytest.mark.local_backend)


POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class DemoPostgres:
    """A PostgreSQL database migrated and loaded with the demo data by the commands, once per
    run; each test that wants one gets a copy (CREATE DATABASE … TEMPLATE, a file copy)."""

    def __init__(self, folder: Path):
        self.admin = create_engine(
            POSTGRES_SERVER, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        self.template = f"demo_template_{os.getpid()}"
        self.counter = itertools.count()
        try:
            self.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self.execute(f'CREATE DATABASE "{self.template}"')
        except OperationalError as error:
            require_service("PostgreSQL", str(error).splitlines()[0])
        env = {**demo_environment(folder / "instance"), "DATABASE_URL": self.url(self.template)}
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run(
                [HELPDESK, *command], env=env, check=True, capture_output=True, timeout=180
            )

    def execute(self, statement: str) -> None:
        """Run one statement on the server's maintenance database."""
        with self.admin.connect() as connection:
            connection.execute(text(statement))

    def url(self, database: str) -> str:
        """The URL of a database on the server."""
        return make_url(POSTGRES_SERVER).set(database=database).render_as_string(False)

    def copy(self, prefix: str) -> str:
        """A fresh copy of the demo database; its URL."""
        name = f"{prefix}_{os.getpid()}_{next(self.counter)}"
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        """Remove a copy."""
        self.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def close(self) -> None:
        """Remove the template at the end of the run."""
        self.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self.admin.dispose()


@pytest.fixture(scope="session")
def demo_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPostgres]:
    """The demo data on PostgreSQL, for the tests of the production layout and of backups."""
    databases = DemoPostgres(tmp_path_factory.mktemp("demo-postgres"))
    yield databases
    databases.close()


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.redmine] if name.startswith("redmine") else [])
        for name in sorted(WORLD_BUILDERS)
    ]
)
def world(request: pytest.FixtureRequest, app: Any, make_user: Callable[..., Any]) -> World:
    """The same world in each backend; the contract tests must pass on all of them."""
    app.config["TASK_BACKEND"] = request.param
    return WORLD_BUILDERS[request.param](make_user, request)


@pytest.fixture(scope="session")
def ldap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real OpenLDAP (Debian's slapd) for the whole run; stopped at the end."""
    from ldap_server import LdapServer, missing_tools

    missing = missing_tools()
    if missing:
        require_service("OpenLDAP", f"{', '.join(missing)} not installed (slapd, ldap-utils)")
    server = LdapServer(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()
