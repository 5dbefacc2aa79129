"""Cross-origin protection, CSRF for browser forms, and security headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, abort, request
from flask_babel import gettext as _

from helpdesk.extensions import csrf

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

# Forms signed-out visitors post (sign in, register, pick a language): a CSRF token would need a
# server-side session for every anonymous page view, so these rely on the origin check alone,
# which refuses any browser post that does not say it comes from our own origin.
ORIGIN_CHECKED_ONLY = frozenset({"users.login", "users.register", "i18n.set_language"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self' ws: wss:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


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


def _has_nul(value: object) -> bool:
    """Whether a decoded JSON value holds a NUL character anywhere."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def refuse_nul_characters() -> None:
    """NUL never belongs in text and PostgreSQL cannot store it: refuse it before any view runs.
    Only a request with a body has form fields or JSON to look through."""
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
    found = any("\x00" in text for text in texts)
    if not found and has_body and request.is_json:
        found = _has_nul(request.get_json(silent=True))
    if found:
        abort(400, _("Text must not contain NUL characters."))


SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def add_security_headers(response: Response) -> Response:
    """Headers that keep the pages out of frames and stop content sniffing and inline script;
    a header a view set itself is kept."""
    wanted = (*SECURITY_HEADERS, HSTS) if request.is_secure else SECURITY_HEADERS
    headers = response.headers
    present = {name.lower() for name, _value in headers}  # `in headers` raises for each absent
    headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
    return response


def register_security(app: Flask) -> None:
    """Install the origin guard and, unless disabled, the security headers."""
    app.before_request(guard_unsafe_request)
    app.before_request(refuse_nul_characters)
    if app.config.get("SECURITY_HEADERS", True):
        app.after_request(add_security_headers)
