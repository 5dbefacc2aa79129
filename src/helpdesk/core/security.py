"""Cross-origin protection, CSRF for browser forms, and security headers."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urlsplit

from flask import Flask, Response, abort, request
from flask_babel import gettext as _

from helpdesk.extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Forms signed-out visitors post (sign in, register, pick a language): a CSRF token would need a
# server-side session for every anonymous page view, so these rely on the origin check alone,
# which refuses any browser post that does not say it comes from our own origin.
ORIGIN_CHECKED_ONLY = frozenset({"users.login", "users.register", "i18n.set_language"})

CSP_BEFORE_CONNECT = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
CSP_AFTER_CONNECT = (
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)


HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


@lru_cache(maxsize=64)
def content_security_policy(host: str, secure: bool) -> str:
    """The policy, whose connect-src names our own websocket origin: 'self' covers ws:/wss:
    only in browsers that implement CSP 3, and "ws: wss:" would allow any host."""
    if not HOST.fullmatch(host):  # a Host header no browser sends: no websocket source at all
        return f"{CSP_BEFORE_CONNECT}; connect-src 'self'; {CSP_AFTER_CONNECT}"
    sockets = f"wss://{host}" if secure else f"ws://{host} wss://{host}"
    return f"{CSP_BEFORE_CONNECT}; connect-src 'self' {sockets}; {CSP_AFTER_CONNECT}"


# Headers are read from the WSGI environ: werkzeug's header view raises (and builds) an HTTP error
# for every header that is absent, which is most of them on most requests.


def is_browser_request() -> bool:
    """Browsers send Sec-Fetch-Site or Origin on unsafe requests; scripts like `requests` do not."""
    return "HTTP_SEC_FETCH_SITE" in request.environ or "HTTP_ORIGIN" in request.environ


def is_cross_origin() -> bool:
    """True when the browser tells us the request comes from another site or origin."""
    fetch_site = request.environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        return fetch_site not in {"same-origin", "none"}
    origin = request.environ.get("HTTP_ORIGIN")
    if origin is None:
        return False
    if origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.scheme != request.scheme or parts.netloc != request.host


def guard_unsafe_request() -> None:
    """Refuse cross-origin writes; browser form posts must also carry a CSRF token."""
    if request.method in SAFE_METHODS:
        return
    if is_cross_origin():
        abort(403, _("Cross-origin requests are not allowed."))
    if not is_browser_request() or request.is_json:
        return
    if request.endpoint in ORIGIN_CHECKED_ONLY:
        if not is_same_origin():
            abort(403, _("Cross-origin requests are not allowed."))
        return
    csrf.protect()


def is_same_origin() -> bool:
    """True when the browser says the request comes from our own origin (or the user typed
    the address)."""
    fetch_site = request.environ.get("HTTP_SEC_FETCH_SITE")
    if fetch_site is not None:
        return fetch_site in {"same-origin", "none"}
    return "HTTP_ORIGIN" in request.environ and not is_cross_origin()


MAX_JSON_DEPTH = 32  # the API's bodies nest three levels; deeper is an attack on the parsers


def _json_problem(value: object) -> str | None:
    """What is wrong with the text of a decoded JSON body, walked without recursion: a NUL, a
    lone UTF-16 surrogate (no database can store it) or nesting deeper than MAX_JSON_DEPTH."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return _("The JSON body is nested too deeply.")
        texts: list[str] = []
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            texts.extend(item)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        for text in texts:
            problem = _text_problem(text)
            if problem:
                return problem
    return None


def _text_problem(text: str) -> str | None:
    """A NUL or a lone surrogate in one text."""
    if "\x00" in text:
        return _("Text must not contain NUL characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _("Text must be valid Unicode (no lone surrogates).")
    return None


def refuse_unstorable_text() -> None:
    """NUL and lone surrogates never belong in text (PostgreSQL cannot store them), nor does
    JSON nested deeper than any of our bodies: refuse them with 400 before any view runs. Only
    a request with a body has form fields or JSON to look through."""
    texts = [request.path]
    query = request.query_string
    if b"%00" in query or b"\x00" in query:  # else no decoded value can hold one
        for values in request.args.listvalues():
            texts.extend(values)
    has_body = bool(request.content_length) or "chunked" in request.environ.get(
        "HTTP_TRANSFER_ENCODING", ""
    )
    if has_body:
        for values in request.form.listvalues():
            texts.extend(values)
    if any("\x00" in text for text in texts):
        abort(400, _("Text must not contain NUL characters."))
    if has_body and request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            abort(400, _("The JSON body is nested too deeply."))
        problem = _json_problem(body)
        if problem:
            abort(400, problem)


SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def add_security_headers(response: Response) -> Response:
    """Headers that keep the pages out of frames and stop content sniffing and inline script;
    a header a view set itself is kept."""
    secure = request.is_secure
    policy = ("Content-Security-Policy", content_security_policy(request.host, secure))
    wanted = (policy, *SECURITY_HEADERS, HSTS) if secure else (policy, *SECURITY_HEADERS)
    headers = response.headers
    present = {name.lower() for name, _value in headers}  # `in headers` raises for each absent
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


def register_security(app: Flask) -> None:
    """Install the origin guard and, unless disabled, the security headers."""
    app.before_request(guard_unsafe_request)
    app.before_request(refuse_unstorable_text)
    if app.config.get("SECURITY_HEADERS", True):
        app.after_request(add_security_headers)
