"""Helpers several test modules share: request headers, committed-row reads and test images.

Fixtures and the constants PASSWORD and BROWSER live in conftest.py; the task world is in
integration/task_api_support.py.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import Engine, create_engine, func, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from conftest import BROWSER, DEMO_PASSWORD, HELPDESK, require_service
from helpdesk.extensions import db
from helpdesk.users.models import User

JSON = {"Accept": "application/json", "Accept-Language": "en"}
HTML = {"Accept": "text/html", "Accept-Language": "en"}
FORM = {**BROWSER, **HTML}  # a browser posting a form


def is_logged_in(the_client: FlaskClient) -> bool:
    """Whether the client's cookies belong to a signed-in user."""
    response = the_client.get("/users/account", headers=JSON)
    assert response.status_code in {200, 401}
    return response.status_code == 200


# -- reading the database as committed -------------------------------------------------------


def fresh() -> None:
    """Forget anything the test's own session holds, so the next read sees committed rows."""
    db.session.rollback()
    db.session.expire_all()


def count_rows(model: Any) -> int:
    """How many rows a model's table holds."""
    fresh()
    count = db.session.scalar(select(func.count()).select_from(model)) or 0
    db.session.rollback()  # hold no transaction: on SQLite the app's other threads may write
    return count


def user_row(user_id: int) -> dict[str, Any]:
    """The user's row as committed in the database (nothing cached by the session)."""
    fresh()
    row = dict(
        db.session.execute(select(User.__table__).where(User.id == user_id)).mappings().one()
    )
    db.session.rollback()  # hold no transaction: on SQLite the app's background writers wait for it
    return row


def user_named(username: str) -> User | None:
    """The committed account with this username, if any."""
    fresh()
    return db.session.scalar(select(User).where(User.username == username))


def json_sign_in(the_client: FlaskClient, username: str, password: str) -> Any:
    """Sign in through the login page's JSON twin, whatever the answer."""
    body = {"username": username, "password": password}
    return the_client.post("/users/login", json=body, headers=JSON)


def committed_rows(statement: Any) -> list[tuple[Any, ...]]:
    """A select's rows as committed, read on a driver connection of the pool's own, outside any
    transaction of the app's (a subscriber's proof that it runs after the commit)."""
    sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
    connection = db.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        connection.close()


def fetch_user(user_id: int) -> User:
    """A freshly loaded User."""
    fresh()
    user = db.session.get(User, user_id)
    assert user is not None
    return user


# -- images ----------------------------------------------------------------------------------


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (64, 48),
    mode: str = "RGB",
    color: Any = None,
    **save: Any,
) -> bytes:
    """An image made with Pillow, encoded in fmt (red, half transparent in RGBA).

    Keep uploads under 500 KB: the test client spools a larger multipart body to a temporary
    file that it never closes, and the ResourceWarning fails the test (warnings are errors).
    """
    if color is None:
        color = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def upload(data: bytes, filename: str = "picture.png") -> tuple[io.BytesIO, str]:
    """A file part for the test client's multipart body."""
    return io.BytesIO(data), filename


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, seconds: float = 60) -> None:
    """Poll the health check until the server answers (a loaded CI machine may take long)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # a worker may still be booting
            time.sleep(0.1)
    raise AssertionError(f"{url} did not start")


@contextmanager
def helpdesk_serving(
    env: dict[str, str], port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`helpdesk serve` on a loopback port (a free one unless given): its URL and process once
    it answers, stopped after the block."""
    port = port or free_port()
    process = subprocess.Popen(
        [HELPDESK, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=15)


# -- a running server, driven as a script would ----------------------------------------------


def signed_in(url: str, username: str) -> requests.Session:
    """A requests session logged in as a demo user of the server at url."""
    session = requests.Session()
    response = session.post(
        f"{url}/users/login", json={"username": username, "password": DEMO_PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return session


def own_id(url: str, session: requests.Session) -> int:
    """The id of the user a session is logged in as."""
    account = session.get(
        f"{url}/users/account", headers={"Accept": "application/json"}, timeout=10
    )
    return int(account.json()["data"]["id"])


def open_task_assigned_to(url: str, session: requests.Session, user_id: int) -> dict[str, Any]:
    """An open task of the user's that the session's user can see and move."""
    tasks = session.get(
        f"{url}/tasks/api/tasks",
        params={"assigned_to": user_id, "status": "open", "per_page": 1},
        timeout=10,
    ).json()["data"]["tasks"]
    assert tasks, "the demo data gives bob open tasks alice can see"
    return dict(tasks[0])


def backend_pid(engine: Engine) -> int:
    """The PostgreSQL server process behind the engine's pooled connection."""
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def drop_on_the_server(pid: int) -> None:
    """End a connection from the server's side, as a restart or an idle timeout would."""
    with db.engine.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own on the tests' server (TEST_DATABASE_URL's, else the
    local one) for a system other than the helpdesk's (an ERP, Redmine's), dropped afterwards."""
    server = make_url(
        os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    admin = create_engine(
        server.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    name = f"{prefix}_{os.getpid()}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as error:
        admin.dispose()
        require_service("PostgreSQL", str(error).splitlines()[0])
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
