"""Helpers shared by the test_users_* modules: request isolation, row snapshots, test images."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.users.models import User

# Copies of tests/conftest.py's constants: `from conftest import` picks whichever conftest.py
# pytest loaded last (tests/contract has one too), so these modules do not rely on it.
PASSWORD = "correct-horse-42"  # the make_user fixture's default password
BROWSER = {"Sec-Fetch-Site": "same-origin"}
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

JSON = {"Accept": "application/json", "Accept-Language": "en"}
HTML = {"Accept": "text/html", "Accept-Language": "en"}


class RequestScopedClient(FlaskClient):
    """Run every request in its own app context, as a real server does.

    The app fixture keeps one app context open for the whole test; Flask reuses it for requests,
    so `g` (where Flask-Login caches the user and Flask-WTF the CSRF token) and the database
    session would otherwise leak from one request, or one client, into the next.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        """Send the request inside a fresh app context."""
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def isolated_requests(app: Flask) -> Iterator[None]:
    """Make app.test_client() (and so the client fixture) use request-scoped contexts."""
    app.test_client_class = RequestScopedClient
    yield
    db.session.rollback()


def csrf_token_from(client: FlaskClient, path: str) -> str:
    """Fetch a page as a browser would and read the CSRF token from its form."""
    page = client.get(path, headers=BROWSER).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def user_row(user_id: int) -> dict[str, Any]:
    """The user's row as committed in the database (nothing cached by the session)."""
    db.session.rollback()
    row = db.session.execute(select(User.__table__).where(User.id == user_id)).mappings().one()
    return dict(row)


def user_count() -> int:
    """How many users the database holds."""
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def fetch_user(user_id: int) -> User:
    """A freshly loaded User."""
    db.session.rollback()
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def image_bytes(
    size: tuple[int, int] = (600, 400),
    mode: str = "RGB",
    fmt: str = "PNG",
    color: Any = (200, 30, 30),
    **save: Any,
) -> bytes:
    """An image made with Pillow, encoded in fmt."""
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def upload(data: bytes, filename: str = "avatar.png") -> tuple[io.BytesIO, str]:
    """A file part for the test client's multipart body."""
    return io.BytesIO(data), filename
