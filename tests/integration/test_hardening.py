"""Hostile input and small leaks (issue 24's low findings): each gets a clear 4xx, never a 500,
and tells an attacker nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import BROWSER
from helpdesk.users.models import User
from helpdesk.worker import JOBS, run_job


@pytest.mark.parametrize("path", ["/users/login", "/users/register", "/no-such-page"])
def test_anonymous_pages_create_no_server_side_session(
    app: Flask, client: FlaskClient, path: str
) -> None:
    response = client.get(path, headers=BROWSER)
    assert response.status_code in (200, 404)
    assert "session=" not in response.headers.get("Set-Cookie", "")
    folder = Path(app.instance_path) / "sessions"
    assert not folder.exists() or not list(folder.iterdir())


def test_the_origin_check_compares_the_scheme(client: FlaskClient) -> None:
    # The test server is http://localhost: a page of https://localhost is another origin.
    response = client.post("/language/en", headers={"Origin": "https://localhost"})
    assert response.status_code == 403
    assert client.post("/language/en", headers={"Origin": "http://localhost"}).status_code == 302


def test_expired_session_files_are_removed(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    login(make_user("alice"))
    folder = Path(app.instance_path) / "sessions"
    [current] = list(folder.iterdir())
    stale = folder / "0123456789abcdef"
    stale.write_bytes(current.read_bytes())
    long_ago = time.time() - app.permanent_session_lifetime.total_seconds() - 60
    os.utime(stale, (long_ago, long_ago))

    [job] = [job for job in JOBS if job.name == "expire_sessions"]
    assert run_job(app, job) == "ran"

    assert list(folder.iterdir()) == [current]
    assert client.get("/tasks/api/notifications").status_code == 200
