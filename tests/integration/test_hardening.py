"""Hostile input and small leaks (issue 24's low findings): each gets a clear 4xx, never a 500,
and tells an attacker nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import BROWSER


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
