"""Helpers for the posts, admin, core and CLI tests (not imported from conftest.py by name:
tests/contract has a conftest.py too, and `from conftest import` would pick either)."""

from __future__ import annotations

import re

from flask import Flask, g
from flask.testing import FlaskClient

BROWSER = {"Sec-Fetch-Site": "same-origin"}  # as tests/conftest.py's BROWSER
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token_from(client: FlaskClient, path: str) -> str:
    """Fetch a page as a browser would and read the CSRF token from its form."""
    page = client.get(path, headers=BROWSER).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def forget_request_caches(app: Flask) -> None:
    """Give each request its own per-request caches, as production does.

    The shared `app` fixture keeps one app context pushed, so every test request reuses its `g`;
    Flask-Babel caches the locale and Flask-Login the user there, which would otherwise leak from
    one request to the next.
    """

    def forget() -> None:
        for name in ("_flask_babel", "_login_user"):
            g.pop(name, None)

    app.before_request_funcs.setdefault(None, []).insert(0, forget)
