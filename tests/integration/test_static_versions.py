"""Static files named by a digest of their contents: kept for a year by browsers, and a changed
file reaches them at once because its address changes."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Flask

from helpdesk.core.static_files import static_url

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
        current = static_url("js/app.js")
    with client.get(current) as kept:
        assert kept.status_code == 200
        assert kept.headers["Cache-Control"] == YEAR
    for address in ("/static/js/app.js", "/static/js/app.js?v=0000000000000000"):
        with client.get(address) as plain:
            assert plain.status_code == 200
            assert "immutable" not in plain.headers.get("Cache-Control", "")
            assert "max-age=31536000" not in plain.headers.get("Cache-Control", "")
    assert client.get("/static/js/no-such-file.js?v=1").status_code == 404


def test_in_debug_a_changed_file_gets_a_new_address(app: Flask, tmp_path: Path) -> None:
    app.static_folder = str(tmp_path)
    app.debug = True
    sheet = tmp_path / "site.css"
    sheet.write_text("body { color: black }")
    with app.test_request_context():
        first = static_url("site.css")
        assert static_url("site.css") == first
        sheet.write_text("body { color: navy }")
        os.utime(sheet, ns=(1, sheet.stat().st_mtime_ns + 1_000_000))
        second = static_url("site.css")
        missing = static_url("gone.css")
    assert first != second
    assert first.startswith("/static/site.css?v=")
    assert missing == "/static/gone.css"
    with app.test_client().get(second) as answer:
        assert answer.get_data(as_text=True) == "body { color: navy }"
        assert answer.headers["Cache-Control"] == YEAR


def test_a_serving_process_works_an_address_out_once(app: Flask, tmp_path: Path) -> None:
    """Out of debug, files change only with a release, which restarts the processes."""
    app.static_folder = str(tmp_path)
    sheet = tmp_path / "site.css"
    sheet.write_text("body { color: black }")
    with app.test_request_context():
        first = static_url("site.css")
        sheet.unlink()
        assert static_url("site.css") == first
    with app.test_request_context(base_url="http://localhost/help/"):
        assert static_url("site.css") == "/help/static/site.css"


def test_templates_name_static_files_by_version() -> None:
    """One way to name a static file in a page, so none is left out of the year-long cache."""
    templates = STATIC.parent / "templates"
    unversioned = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if re.search(r"url_for\(\s*['\"]static['\"]", path.read_text(encoding="utf-8"))
    ]
    assert unversioned == [], "use static_url('…') instead of url_for('static', …)"
