"""Users: accounts, sign-in and profiles."""

from __future__ import annotations

import secrets
from functools import cache, lru_cache
from hashlib import sha512
from typing import Any

from flask import Flask, Request, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from werkzeug.wrappers import Response

from helpdesk.core.database import reads_before_writing
from helpdesk.core.security import SAFE_METHODS
from helpdesk.extensions import db, login_manager
from helpdesk.users.signed_in import mark_shared, register_signed_in_users, signed_in_users

TOKEN_PATHS = ("/tasks/api/", "/tasks/my-tasks")


@cache
def _user_by_id() -> Select[tuple[Any]]:
    """The user loader's statement, built once (building it cost more than running it)."""
    from helpdesk.users.models import User

    return select(User).where(User.id == bindparam("user_id"))


def load_user(session_id: str) -> object | None:
    """Resolve Flask-Login's "id:token"; a stale token (password changed) means logged out.

    A user not kept is read on a connection of its own (reads_before_writing): a writing request
    would otherwise take SQLite's write lock for this read.
    """
    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit():
        return None
    users = signed_in_users()
    kept = users.get(session_id)
    if kept is not None:
        return for_this_request(kept)
    from helpdesk.users.models import User

    statement, params = _user_by_id(), {"user_id": int(user_id)}
    if identity_key(User, int(user_id)) in db.session.identity_map:
        user = db.session.execute(statement, params).scalar_one_or_none()
        return user if user is not None and _token_matches(user, token) else None
    generation = users.generation()
    with reads_before_writing() as reading, Session(bind=reading) as loader:
        user = loader.execute(statement, params).scalar_one_or_none()
        if user is None or not _token_matches(user, token):
            return None
        loader.expunge(user)
    users.keep(session_id, user, generation)
    return for_this_request(user)


def for_this_request(user: Any) -> Any:
    """A reading request (GET, HEAD) shares the detached user, read-only: making it a request's
    own, in its session, was a tenth of such a request. A writing request gets its own copy,
    merged without a query, so it may change it and hand it to the ORM."""
    if request.method in SAFE_METHODS:
        mark_shared(user)
        return user
    return db.session.merge(user, load=False)


def session_identifier() -> str:
    """The client's fingerprint (address and browser) that Flask-Login's session protection
    compares, worked out as Flask-Login does, but from the environ (its header reads raise for an
    absent header) and hashed once per client rather than on every request."""
    environ = request.environ
    return _fingerprint(
        environ.get("HTTP_X_FORWARDED_FOR", request.remote_addr), environ.get("HTTP_USER_AGENT")
    )


@lru_cache(maxsize=256)  # user agents run to kilobytes: a bounded few
def _fingerprint(address: str | None, user_agent: str | None) -> str:
    """Flask-Login's identifier of one address and user agent."""
    first = address.encode("utf-8").split(b",")[0].strip() if address is not None else None
    agent = user_agent.encode("utf-8") if user_agent is not None else None
    return sha512(f"{first!s}|{agent!s}".encode()).hexdigest()


def _token_matches(user: Any, token: str) -> bool:
    """Whether the session's token is the user's current one (a new password changes it)."""
    return secrets.compare_digest(user.session_token, token)


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
    from helpdesk.users.token_views import bp as tokens_bp
    from helpdesk.users.views import bp as users_bp

    login_manager.init_app(app)
    login_manager._session_identifier_generator = session_identifier  # it has no setter
    login_manager.user_loader(load_user)
    login_manager.request_loader(load_user_from_request)
    login_manager.unauthorized_handler(unauthorized)
    login_manager.login_message = _l("Please log in to access this page.")
    app.register_blueprint(users_bp)
    app.register_blueprint(tokens_bp)
    register_presence(app)
    register_signed_in_users(app)
