"""Static files named by a digest of their contents: kept for a year by browsers, and a changed
file reaches them at once because its address changes."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Flask, url_for

STATIC = Path(__file__).resolve().parents[2] / "src" / "helpdesk" / "static"
YEAR = "public, max-age=31536000, immutable"


def test_pages_name_static_files_by_their_contents(app: Flask) -> None:
    page = app.test_client().get("/users/login", headers={"Accept-Language": "en"})
    addresses = re.findall(r'(?:href|src)="/static/([^"?]+)\?v=(\w+)"', page.get_data(as_text=True))
    assert len(addresses) >= 5
    for filename, version in addresses:
        digest = hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()
        assert digest.startswith(version), filename


def test_only_the_current_version_is_kept_for_a_year(app: Flask) -> None:
    client = app.test_client()
    with app.test_request_context():
        current = url_for("static", filename="js/app.js")
    with client.get(current) as kept:
        assert kept.status_code == 200
        assert kept.headers["Cache-Control"] == YEAR
    for address in ("/static/js/app.js", "/static/js/app.js?v=0000000000000000"):
        with client.get(address) as plain:
            assert plain.status_code == 200
            assert "immutable" not in plain.headers.get("Cache-Control", "")
            assert "max-age=31536000" not in plain.headers.get("Cache-Control", "")
    assert client.get("/static/js/no-such-file.js?v=1").status_code == 404


def test_a_changed_file_gets_a_new_address(app: Flask, tmp_path: Path) -> None:
    app.static_folder = str(tmp_path)
    sheet = tmp_path / "site.css"
    sheet.write_text("body { color: black }")
    with app.test_request_context():
        first = url_for("static", filename="site.css")
        assert url_for("static", filename="site.css") == first
        sheet.write_text("body { color: navy }")
        os.utime(sheet, ns=(1, sheet.stat().st_mtime_ns + 1_000_000))
        second = url_for("static", filename="site.css")
        missing = url_for("static", filename="gone.css")
    assert first != second
    assert first.startswith("/static/site.css?v=")
    assert missing == "/static/gone.css"
    with app.test_client().get(second) as answer:
        assert answer.get_data(as_text=True) == "body { color: navy }"
        assert answer.headers["Cache-Control"] == YEAR
