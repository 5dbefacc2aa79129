"""Connection settings: a server connection that sat idle is checked before use (and replaced if
the server dropped it), a busy one is not; SQLite syncs its log as SQLITE_SYNCHRONOUS says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, NullPool, create_engine, text
from sqlalchemy.exc import OperationalError

from helpdesk import create_app
from helpdesk.core.database import configure_server
from helpdesk.extensions import db
from helpers import backend_pid, drop_on_the_server


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    server_engine: Engine,
) -> None:
    configure_server(server_engine, ping_after_idle=0)  # every checkout counts as idle
    dropped = backend_pid(server_engine)
    drop_on_the_server(dropped)
    replacement = backend_pid(server_engine)
    assert replacement != dropped


def test_a_connection_used_moments_ago_is_not_pinged(server_engine: Engine) -> None:
    configure_server(server_engine, ping_after_idle=3600)
    drop_on_the_server(backend_pid(server_engine))
    with pytest.raises(OperationalError):  # no ping found it dead: its first statement does
        backend_pid(server_engine)
    assert backend_pid(server_engine)  # the failure itself retires the pool's dead connections


def synchronous_of(app: Flask) -> int:
    """SQLite's synchronous setting on the app's connections (1 NORMAL, 2 FULL)."""
    with app.app_context(), db.engine.connect() as connection:
        return int(connection.exec_driver_sql("PRAGMA synchronous").scalar_one())


@pytest.mark.parametrize(("setting", "expected"), [(None, 1), ("FULL", 2), ("normal", 1)])
def test_sqlite_syncs_its_log_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: int
) -> None:
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    settings = {} if setting is None else {"SQLITE_SYNCHRONOUS": setting}
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/x.db", **settings)
    assert synchronous_of(app) == expected


def test_an_unknown_sqlite_sync_mode_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(RuntimeError, match="SQLITE_SYNCHRONOUS must be NORMAL or FULL"):
        create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://", SQLITE_SYNCHRONOUS="OFF")


def test_requests_after_the_server_dropped_every_connection_all_succeed(
    app: Flask, postgresql_only: None, make_user: Any, login: Any, client: Any
) -> None:
    # As a PostgreSQL restart does: every pooled connection is gone, moments after its last use.
    login(make_user("alice"))
    held = [db.engine.connect() for _ in range(3)]
    pids = [int(connection.scalar(text("SELECT pg_backend_pid()"))) for connection in held]
    for connection in held:
        connection.close()
    admin = create_engine(db.engine.url, poolclass=NullPool)
    with admin.connect() as connection:
        for pid in pids:
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()

    statuses = [client.get("/tasks/api/notifications").status_code for _ in range(10)]
    assert statuses == [200] * 10
