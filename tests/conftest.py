"""Shared fixtures: a fresh app and database per test, user factories and login helpers."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.users import service
from helpdesk.users.models import User

PASSWORD = "correct-horse-42"
BROWSER = {"Sec-Fetch-Site": "same-origin"}
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def require_service(name: str, reason: str) -> None:
    """Skip when a service is missing on a laptop; fail in CI (HELPDESK_REQUIRE_SERVICES=1)."""
    message = f"{name} is not available: {reason}"
    if os.environ.get("HELPDESK_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def app(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app on a clean database (TEST_DATABASE_URL, else in-memory SQLite)."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    overrides: dict[str, Any] = {"UPLOAD_FOLDER": str(tmp_path / "uploads")}
    if os.environ.get("TEST_DATABASE_URL"):
        overrides["SQLALCHEMY_DATABASE_URI"] = os.environ["TEST_DATABASE_URL"]
    application = create_app("testing", **overrides)
    with application.app_context():
        db.drop_all()
        db.create_all()
        yield application
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


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
