"""Users: accounts, sign-in and profiles."""

from __future__ import annotations

from flask import Flask, Request, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from helpdesk.extensions import login_manager

TOKEN_PATHS = ("/tasks/api/", "/tasks/my-tasks")
MAX_ID_DIGITS = 18  # fits a 64-bit id column


def load_user(session_id: str) -> object | None:
    """Resolve Flask-Login's "id:token" to the user's snapshot (users/snapshot.py): from the
    cache while no commit has changed the user, else one read by primary key, so a revoked right,
    a new password or a lock counts from the next request in every process; a stale token (password
    changed, logged out everywhere) or a locked account means logged out."""
    from helpdesk.users.snapshot import signed_in_snapshot

    user_id, _, token = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) <= MAX_ID_DIGITS):
        return None
    snapshot = signed_in_snapshot(int(user_id))
    if snapshot is None or not snapshot.is_active or not snapshot.token_matches(token):
        return None
    return snapshot


def load_user_from_request(req: Request) -> object | None:
    """Authenticate API scripts by their personal token (Authorization: Bearer hd_…).

    Tokens open the API only: a leaked token cannot reach account pages or mint new tokens.
    """
    from helpdesk.users.tokens import user_for_bearer

    if not req.path.startswith(TOKEN_PATHS):
        return None
    return user_for_bearer(req.environ.get("HTTP_AUTHORIZATION"))


def unauthorized() -> Response:
    """JSON clients get 401; browsers are sent to the login page and brought back after."""
    from helpdesk.core.errors import error_response, wants_json_response

    if wants_json_response():
        return error_response(401)
    flash(str(login_manager.login_message), "info")
    return redirect(url_for("users.login", next=request.full_path.rstrip("?")))


def register_users(app: Flask) -> None:
    """Bind Flask-Login and the account pages."""
    from helpdesk.users.presence import register_presence
    from helpdesk.users.snapshot import listen_for_user_writes
    from helpdesk.users.token_views import bp as tokens_bp
    from helpdesk.users.views import bp as users_bp

    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_request)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.login_message = _l("Please log in to access this page.")
    app.register_blueprint(users_bp)
    app.register_blueprint(tokens_bp)
    register_presence(app)
    listen_for_user_writes()
