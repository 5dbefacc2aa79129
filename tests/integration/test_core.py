"""Cross-cutting behaviour: errors, request id and timing, security headers, origin guard, i18n."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Blueprint, Flask, abort, request
from flask.testing import FlaskClient

from conftest import BROWSER
from helpdesk.core.errors import APIException
from helpdesk.core.models import SiteSetting
from helpdesk.core.rate_limits import rate_limit
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import JSON

ERROR_KEYS = {"error", "message", "status_code", "success"}
# Headers as a browser sends them when loading a page.
PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HTML_LANG = re.compile(r'<html lang="([^"]+)"')


@pytest.fixture
def probe(app: Flask) -> Flask:
    """Extra routes on the test app (added before its first request) that fail on purpose."""
    bp = Blueprint("probe", __name__)

    @bp.get("/probe/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    @bp.get("/api/probe/boom")
    def api_boom() -> str:
        raise RuntimeError("secret internal detail")

    @bp.post("/probe/write-then-boom")
    def write_then_boom() -> str:
        SiteSetting.put("probe", "written")
        db.session.flush()
        raise RuntimeError("after a write")

    @bp.get("/probe/api-error")
    def api_error() -> str:
        raise APIException("Quota exceeded", 409, {"quota": 5, "used": 7})

    @bp.get("/probe/api-error-default")
    def api_error_default() -> str:
        raise APIException("Something is wrong")

    @bp.get("/probe/abort-message")
    def abort_message() -> str:
        abort(403, "You shall not pass")

    @bp.post("/probe/echo")
    def echo() -> dict[str, Any]:
        return {"form": dict(request.form), "json": request.get_json(silent=True)}

    @bp.get("/probe/limited")
    @rate_limit("2 per minute")
    def limited() -> str:
        return "ok"

    app.register_blueprint(bp)
    return app


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    """The common JSON error shape, and its body."""
    assert response.status_code == status
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.json
    assert set(body) >= ERROR_KEYS
    assert body["status_code"] == status
    assert body["success"] is False
    assert body["error"]
    assert body["message"]
    return body


def assert_html_error(response: Any, status: int) -> str:
    """An HTML error page for browsers, showing the status."""
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert f'<div class="display-3 text-muted">{status}</div>' in page
    return page


# --- errors: JSON or HTML ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/no-such-page", JSON),
        ("/api/no-such-thing", {}),
        ("/no-such-page", {"X-Requested-With": "XMLHttpRequest"}),
        ("/no-such-page", {"Accept": "application/json;q=1, text/html;q=0.5"}),
    ],
)
def test_404_json_clients(client: FlaskClient, path: str, headers: dict[str, str]) -> None:
    """JSON clients (Accept, /api/ path or XHR) get the seed's JSON error body."""
    body = assert_json_error(client.get(path, headers=headers), 404)
    assert set(body) == ERROR_KEYS


def test_404_json_text_is_the_seeds(client: FlaskClient) -> None:
    """The JSON texts are the seed's."""
    body = client.get("/no-such-page", headers=JSON).json
    assert body == {
        "error": "Resource not found",
        "message": "The requested resource was not found on this server.",
        "status_code": 404,
        "success": False,
    }


def test_404_json_body_on_post(client: FlaskClient) -> None:
    """A JSON request body marks an API client even without an Accept header."""
    assert_json_error(client.post("/no-such-page", json={"a": 1}), 404)


@pytest.mark.parametrize("headers", [PAGE, {}, {"Accept": "application/json, text/html"}])
def test_404_browsers_get_html(client: FlaskClient, headers: dict[str, str]) -> None:
    """Browsers (and clients with no preference) get an HTML page."""
    assert_html_error(client.get("/no-such-page", headers=headers), 404)


def test_405_has_allow_header(client: FlaskClient) -> None:
    """A wrong method is 405 with the allowed methods, in JSON and HTML."""
    response = client.delete("/healthz", headers=JSON)
    assert_json_error(response, 405)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "GET" in allowed
    assert "DELETE" not in allowed
    html = client.put("/healthz", headers=PAGE)
    assert_html_error(html, 405)
    assert "GET" in html.headers["Allow"]


def test_413_json_and_html(app: Flask, probe: Flask, client: FlaskClient) -> None:
    """A body over MAX_CONTENT_LENGTH is 413 for JSON and form clients alike."""
    app.config["MAX_CONTENT_LENGTH"] = 1000
    assert_json_error(client.post("/probe/echo", json={"text": "x" * 2000}), 413)
    assert_html_error(
        client.post("/probe/echo", data={"text": "x" * 2000}, headers=PAGE),
        413,
    )
    # Just under the limit is fine.
    response = client.post("/probe/echo", json={"text": "x" * 500})
    assert response.status_code == 200
    assert response.json["json"] == {"text": "x" * 500}


def test_413_default_limit_is_16_megabytes(app: Flask) -> None:
    """The configured upload limit is the issue's 16 MB."""
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024


def test_429_json_and_html(probe: Flask, client: FlaskClient) -> None:
    """Going over a rate limit is 429 with Retry-After, in JSON and HTML."""
    assert client.get("/probe/limited").status_code == 200
    assert client.get("/probe/limited").status_code == 200
    response = client.get("/probe/limited", headers=JSON)
    body = assert_json_error(response, 429)
    assert body["error"] == "Too many requests"
    assert int(response.headers["Retry-After"]) > 0
    assert_html_error(client.get("/probe/limited", headers=PAGE), 429)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/probe/boom", JSON),
        ("/api/probe/boom", {}),
        ("/probe/boom", {"X-Requested-With": "XMLHttpRequest"}),
    ],
)
def test_500_json(
    probe: Flask,
    client: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    path: str,
    headers: dict[str, str],
) -> None:
    """An unhandled exception is a 500 without internal details, and is logged."""
    with caplog.at_level(logging.ERROR, logger="helpdesk"):
        response = client.get(path, headers=headers)
    body = assert_json_error(response, 500)
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert body["status_code"] == 500
    assert any(
        record.exc_info and "secret internal detail" in str(record.exc_info[1])
        for record in caplog.records
    )


def test_500_html(probe: Flask, client: FlaskClient) -> None:
    """Browsers get the HTML 500 page, without the exception text."""
    response = client.get("/probe/boom", headers=PAGE)
    page = assert_html_error(response, 500)
    assert "secret internal detail" not in page
    assert "Traceback" not in page


def test_500_rolls_back_the_session(probe: Flask, client: FlaskClient) -> None:
    """A failed request leaves no half-written rows behind."""
    response = client.post("/probe/write-then-boom", json={})
    assert_json_error(response, 500)
    db.session.expire_all()
    assert SiteSetting.get("probe") is None
    assert client.get("/healthz").status_code == 200


def test_api_exception_json(probe: Flask, client: FlaskClient) -> None:
    """APIException answers with its payload, message and status code (plus success=false)."""
    response = client.get("/probe/api-error", headers=JSON)
    assert response.status_code == 409
    assert response.json == {
        "quota": 5,
        "used": 7,
        "message": "Quota exceeded",
        "status_code": 409,
        "success": False,
    }
    response = client.get("/probe/api-error-default", headers=JSON)
    assert response.status_code == 400
    assert response.json["message"] == "Something is wrong"
    assert response.json["status_code"] == 400


def test_api_exception_to_dict_is_the_seeds() -> None:
    """to_dict is the payload plus message and status_code, as in the seed."""
    error = APIException("Nope", 418, {"detail": "teapot"})
    assert error.to_dict() == {"detail": "teapot", "message": "Nope", "status_code": 418}
    assert APIException("Plain").to_dict() == {"message": "Plain", "status_code": 400}
    assert str(APIException("Text")) == "Text"


def test_api_exception_browser_gets_html(probe: Flask, client: FlaskClient) -> None:
    """A browser sees the APIException's message on the error page of its status."""
    page = assert_html_error(client.get("/probe/api-error", headers=PAGE), 409)
    assert "Quota exceeded" in page


def test_abort_message_is_kept(probe: Flask, client: FlaskClient) -> None:
    """abort() with a message shows that message instead of the stock one."""
    body = assert_json_error(client.get("/probe/abort-message", headers=JSON), 403)
    assert body["message"] == "You shall not pass"
    assert body["error"] == "Access forbidden"


def test_csrf_error_is_400(client: FlaskClient) -> None:
    """A browser form post with a bad token gets a 400 page, in the common shape."""
    response = client.post(
        "/users/logout", data={"csrf_token": "forged"}, headers={**BROWSER, **PAGE}
    )
    assert_html_error(response, 400)
    response = client.post(
        "/users/logout",
        data={"csrf_token": "forged"},
        headers={**BROWSER, **JSON},
    )
    assert_json_error(response, 400)


# --- request id and timing -----------------------------------------------------------------


@pytest.mark.parametrize("incoming", ["abc-123", "req.42_X-y", "a" * 64, "0f" * 16])
def test_request_id_is_kept_when_well_formed(client: FlaskClient, incoming: str) -> None:
    """A proxy's well-formed X-Request-ID follows the request."""
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["a" * 65, "has space", "with\ttab", "<script>", "semi;colon", "ünïcode", "a/b", ""],
)
def test_request_id_is_replaced_when_malformed(client: FlaskClient, incoming: str) -> None:
    """A malformed or missing id is replaced by a generated one."""
    response = client.get("/healthz", headers={"X-Request-ID": incoming})
    generated = response.headers["X-Request-ID"]
    assert generated != incoming
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


def test_request_id_generated_per_request_and_on_errors(probe: Flask, client: FlaskClient) -> None:
    """Every response, errors included, has its own id and a response time."""
    ids = set()
    for path in ("/healthz", "/healthz", "/no-such-page", "/probe/boom"):
        response = client.get(path)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), path
        assert re.fullmatch(r"\d+\.\d{3}s", response.headers["X-Response-Time"]), path
        ids.add(response.headers["X-Request-ID"])
    assert len(ids) == 4
    kept = client.get("/probe/boom", headers={"X-Request-ID": "trace-me"})
    assert kept.status_code == 500
    assert kept.headers["X-Request-ID"] == "trace-me"


def test_one_log_line_per_request(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Each request is logged once with its id, method, path and status."""
    with caplog.at_level(logging.INFO, logger="helpdesk.request"):
        client.get("/healthz", headers={"X-Request-ID": "log-me-1"})
        client.get("/no-such-page", headers={"X-Request-ID": "log-me-2"})
    lines = [r.getMessage() for r in caplog.records if r.name == "helpdesk.request"]
    assert len(lines) == 2
    assert "[log-me-1] GET /healthz 200" in lines[0]
    assert "[log-me-2] GET /no-such-page 404" in lines[1]
    assert lines[0].endswith("user=-")


def test_the_log_line_names_the_user_the_request_signed_in(
    client: FlaskClient,
    make_user: Callable[..., User],
    login: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Named from the login on, after a commit too; a request that never looks its user up (the
    health check) names none rather than loading them for the log."""
    user = make_user("alice")
    with caplog.at_level(logging.INFO, logger="helpdesk.request"):
        login(user)
        client.get("/users/account", headers=JSON)
        client.post("/users/account", json={"department": "IT"}, headers=JSON)
        client.get("/healthz")
    lines = [r.getMessage() for r in caplog.records if r.name == "helpdesk.request"]
    assert [line.rsplit(" ", 1)[1] for line in lines] == [f"user={user.id}"] * 3 + ["user=-"]
    assert " POST /users/account 200 " in lines[2]


# --- security headers ----------------------------------------------------------------------


def csp_directives(response: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy as a dict of directive -> sources."""
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


@pytest.mark.parametrize("path", ["/users/login", "/healthz", "/no-such-page"])
def test_security_headers(client: FlaskClient, path: str) -> None:
    """Every response forbids framing, sniffing and inline script."""
    response = client.get(path, headers=PAGE)
    csp = csp_directives(response)
    script_sources = csp.get("script-src", csp.get("default-src"))
    assert script_sources is not None
    assert "'unsafe-inline'" not in script_sources
    assert "'unsafe-eval'" not in script_sources
    assert "'self'" in script_sources
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_pages_have_no_inline_script(client: FlaskClient) -> None:
    """The CSP would block inline script, so pages must not rely on any."""
    for path in ("/users/login", "/users/register"):
        page = client.get(path, headers=PAGE).get_data(as_text=True)
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts, path
        assert all("src=" in tag for tag in scripts), (path, scripts)
        assert not re.search(r"\son[a-z]+\s*=", page), path


def test_uploads_are_sandboxed(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    """Uploaded files are served with a sandboxing policy, to signed-in users only."""
    from pathlib import Path

    folder = Path(app.config["UPLOAD_FOLDER"]) / "posts"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG fake")
    assert client.get("/uploads/posts/a.png", headers=BROWSER).status_code == 302
    login(make_user())
    response = client.get("/uploads/posts/a.png")
    assert response.status_code == 200
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response.close()
    assert client.get("/uploads/secrets/a.png").status_code == 404
    assert client.get("/uploads/posts/missing.png").status_code == 404
    assert client.get("/uploads/posts/..%2F..%2Fsecret_key").status_code == 404


# --- cross-origin protection ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost.evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_cross_origin_unsafe_requests_are_403(
    probe: Flask, client: FlaskClient, headers: dict[str, str], method: str
) -> None:
    """Unsafe methods from another site are refused before any view runs."""
    response = getattr(client, method)("/language/en", json={}, headers={**headers, **JSON})
    body = assert_json_error(response, 403)
    assert body["error"] == "Access forbidden"


def test_cross_origin_post_changes_nothing(
    client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    """A foreign page cannot switch a logged-in user's language (or do anything else)."""
    user = make_user()
    user.language = "ru"
    db.session.commit()
    login(user)
    response = client.post("/language/en", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, user.id).language == "ru"
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert HTML_LANG.search(page).group(1) == "ru"


def test_cross_origin_safe_methods_are_allowed(client: FlaskClient) -> None:
    """Reading is not a write: a cross-site GET is answered normally."""
    response = client.get("/healthz", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}],
)
def test_same_origin_json_is_allowed(
    probe: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    """Same-origin browser JSON calls pass the guard (JSON cannot be sent cross-site unasked)."""
    response = client.post("/probe/echo", json={"a": 1}, headers=headers)
    assert response.status_code == 200
    assert response.json["json"] == {"a": 1}


def test_same_origin_form_needs_csrf_token(probe: Flask, client: FlaskClient) -> None:
    """A same-origin browser form post still needs the CSRF token; a script does not."""
    response = client.post("/probe/echo", data={"a": "1"}, headers={"Origin": "http://localhost"})
    assert response.status_code == 400
    script = client.post("/probe/echo", data={"a": "1"})
    assert script.status_code == 200
    assert script.json["form"] == {"a": "1"}


# --- health --------------------------------------------------------------------------------


def test_healthz(client: FlaskClient) -> None:
    """The health check answers without login."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "healthy"}
    assert client.head("/healthz").status_code == 200


# --- language ------------------------------------------------------------------------------


def html_lang(client: FlaskClient, path: str = "/users/login", **headers: str) -> str:
    """The language the page declares in <html lang>."""
    response = client.get(path, headers={**PAGE, **headers})
    assert response.status_code == 200
    match = HTML_LANG.search(response.get_data(as_text=True))
    assert match
    return match.group(1)


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("de-DE,en;q=0.5", "en"),
        ("de, fr", "ru"),  # nothing we speak: the default
        (None, "ru"),
    ],
)
def test_accept_language_for_anonymous_users(
    client: FlaskClient, accept_language: str | None, expected: str
) -> None:
    """Without a choice, the browser's Accept-Language picks the language (default Russian)."""
    headers = {"Accept-Language": accept_language} if accept_language else {}
    assert html_lang(client, **headers) == expected


def test_language_switch_for_anonymous_users(client: FlaskClient) -> None:
    """/language/<code> switches the session's language, over Accept-Language."""
    response = client.post("/language/en", data={"next": "/users/register"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/register"
    assert html_lang(client, **{"Accept-Language": "ru"}) == "en"
    assert html_lang(client, "/users/register") == "en"

    assert client.post("/language/ru").status_code == 302
    assert html_lang(client, **{"Accept-Language": "en"}) == "ru"


@pytest.mark.parametrize("code", ["de", "xx", "EN", "en-US", "../ru"])
def test_language_switch_ignores_unknown_codes(client: FlaskClient, code: str) -> None:
    """An unknown code changes nothing."""
    assert client.post("/language/en").status_code == 302
    response = client.post(f"/language/{code}")
    assert response.status_code in {302, 404}
    assert html_lang(client) == "en"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example"])
def test_language_switch_does_not_redirect_off_site(client: FlaskClient, target: str) -> None:
    """The next parameter cannot send the user to another site."""
    response = client.post("/language/en", data={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_works_from_our_pages_only(client: FlaskClient) -> None:
    """The navbar's language form (signed-out visitors have no CSRF token) is refused from
    another site and works from our own pages."""
    refused = client.post("/language/en", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    assert html_lang(client) == "ru"
    response = client.post("/language/en", headers=BROWSER)
    assert response.status_code == 302
    assert html_lang(client) == "en"


def test_language_switch_is_saved_for_the_user(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    """A logged-in user's choice is stored and follows them to a new session."""
    user = make_user()
    login(user)
    assert client.post("/language/en").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).language == "en"
    assert html_lang(client, "/", **{"Accept-Language": "ru"}) == "en"

    other_browser = app.test_client()
    login(user, the_client=other_browser)
    assert html_lang(other_browser, "/", **{"Accept-Language": "ru"}) == "en"

    assert client.post("/language/xx").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).language == "en"


def test_every_rate_limit_is_declared_through_rate_limit() -> None:
    """Flask-Limiter checks only views marked by core/rate_limits.py: a limit put on a view with
    limiter.limit directly would never be checked."""
    source = Path(__file__).resolve().parents[2] / "src" / "helpdesk"
    direct = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if "limiter.limit(" in path.read_text(encoding="utf-8")
    ]
    assert direct == ["core/rate_limits.py"]
