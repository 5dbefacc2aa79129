"""One error path: JSON for API clients, an HTML page for browsers, for every status code."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from markupsafe import escape
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from helpdesk.core.events import rollback
from helpdesk.core.urls import names_an_id_out_of_range

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    401: (_l("Authentication required"), _l("Please log in to continue.")),
    403: (_l("Access forbidden"), _l("You do not have permission to access this resource.")),
    404: (_l("Resource not found"), _l("The requested resource was not found on this server.")),
    405: (_l("Method not allowed"), _l("This method is not allowed for this address.")),
    413: (_l("Request too large"), _l("The request body is larger than the server accepts.")),
    422: (_l("Invalid data"), _l("Some fields are invalid.")),
    429: (_l("Too many requests"), _l("Too many attempts. Please wait and try again.")),
    500: (_l("Internal server error"), _l("An internal server error occurred.")),
    503: (_l("Service unavailable"), _l("The service is briefly unavailable.")),
}


class APIException(Exception):
    """An error a view raises to answer the client with a message and a status code."""

    def __init__(self, message: str, status_code: int = 400, payload: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.payload = payload

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, as in the seed: the payload plus message and status_code."""
        body = dict(self.payload or ())
        body["message"] = self.message
        body["status_code"] = self.status_code
        return body


def wants_json_response() -> bool:
    """Whether the client is an API client (JSON body, Accept or XHR) rather than a browser page."""
    if request.is_json or request.environ.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
        return True
    if "/api/" in request.path:
        return True
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "application/json" and (
        accept["application/json"] > accept["text/html"]
    )


def error_response(status: int, message: str | None = None, **extra: Any) -> Response:
    """Answer an error with the seed's JSON shape or the matching HTML page."""
    title, default_message = MESSAGES.get(status, (str(status), ""))
    text = str(message or default_message)
    if wants_json_response():
        body = {"success": False, "error": str(title), "message": text, "status_code": status}
        body.update(extra)
        response = jsonify(body)
    else:
        response = Response(_render_error_page(status, str(title), text), mimetype="text/html")
    response.status_code = status
    return response


def _render_error_page(status: int, title: str, message: str) -> str:
    """The HTML error page; plain text if the page itself cannot be rendered."""
    try:
        return render_template("errors/error.html", status=status, title=title, message=message)
    except Exception:
        log.exception("the error page for %s could not be rendered", status)
        return f"{status} {escape(title)}: {escape(message)}"


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug's HTTP errors (abort(404), 405, 413, 429, …) through the common shape."""
    if isinstance(error, MethodNotAllowed) and names_an_id_out_of_range(request.path):
        # Werkzeug's router counts a path's rules for other methods before it converts the id,
        # so an id no database holds answers 405 where the path has a rule per method
        return error_response(404)
    status = error.code or 500
    custom = status != 429 and _has_custom_description(error)
    response = error_response(status, error.description if custom else None)
    for name, value in error.get_headers():
        if name.lower() in {"allow", "retry-after", "www-authenticate"}:
            response.headers[name] = value
    return response


def _has_custom_description(error: HTTPException) -> bool:
    """True when a view gave abort() its own message rather than Werkzeug's stock text."""
    return error.description != type(error).description


def handle_csrf_error(error: CSRFError) -> Response:
    """A missing or stale CSRF token in a browser form."""
    return error_response(400, str(_l("The form has expired or is invalid. Please try again.")))


def handle_api_exception(error: APIException) -> Response:
    """The seed's APIException: its own body, plus success=false for our clients."""
    if not wants_json_response():
        return error_response(error.status_code, error.message)
    body = error.to_dict()
    body.setdefault("success", False)
    response = jsonify(body)
    response.status_code = error.status_code
    return response


def unavailable_message() -> str:
    """What a client is told while a service the helpdesk relies on is away."""
    return str(_l("The service is briefly unavailable. Please try again in a moment."))


def handle_service_unavailable(error: Exception) -> Response:
    """Redis (sessions, cache, rate limits) unreachable: a 503 that says so, never a 500."""
    rollback()
    log.warning("%s %s: a service is unreachable: %s", request.method, request.path, error)
    response = error_response(503, unavailable_message())
    response.headers["Retry-After"] = "5"
    return response


def handle_unexpected(error: Exception) -> Response:
    """Anything unhandled: roll back, log with the request id, answer 500 without details."""
    rollback()
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500)


def register_error_handlers(app: Flask) -> None:
    """Route every error through the handlers above."""
    app.register_error_handler(APIException, handle_api_exception)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(redis.RedisError, handle_service_unavailable)
    app.register_error_handler(StorageError, handle_service_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
