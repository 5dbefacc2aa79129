"""Cross-cutting pieces every feature relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from helpdesk.core import rate_limits  # noqa: F401 - registers the limiter's request filter
from helpdesk.core.api import register_json
from helpdesk.core.cache import register_cache
from helpdesk.core.database import register_database
from helpdesk.core.errors import register_error_handlers
from helpdesk.core.filters import register_filters
from helpdesk.core.i18n import register_i18n
from helpdesk.core.metrics import register_metrics
from helpdesk.core.middleware import register_middleware
from helpdesk.core.security import register_security
from helpdesk.core.sessions import register_sessions
from helpdesk.core.static_files import register_static_versions
from helpdesk.core.urls import BoundedInt
from helpdesk.core.views import bp as core_bp
from helpdesk.extensions import bcrypt, csrf, db, limiter

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register_core(app: Flask) -> None:
    """Bind the extensions and install error handling, middleware, security and i18n."""
    app.url_map.converters["int"] = BoundedInt  # before any feature adds its routes
    db.init_app(app)
    register_database(app)
    register_cache(app)
    if app.config["MIGRATIONS_CLI"]:
        register_migrations(app)
    csrf.init_app(app)
    bcrypt.init_app(app)
    app.config["RATELIMIT_STORAGE_OPTIONS"] = limit_storage_options(app)
    limiter.init_app(app)  # limits only on the views that declare one (core/rate_limits.py);
    # its storage also counts sign-in attempts (users/throttle.py)
    register_json(app)
    register_sessions(app)
    register_middleware(app)
    register_metrics(app)
    register_security(app)
    register_i18n(app)
    register_filters(app)
    register_static_versions(app)
    register_error_handlers(app)
    app.register_blueprint(core_bp)


def limit_storage_options(app: Flask) -> dict[str, Any]:
    """Storage errors as limits' StorageError, and a Redis that stops answering gives up after
    REDIS_TIMEOUT instead of holding the request."""
    options: dict[str, Any] = {"wrap_exceptions": True}
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith(("redis", "rediss")):
        timeout = float(app.config["REDIS_TIMEOUT"])
        options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    return options


def register_migrations(app: Flask) -> None:
    """The `db` commands, imported only where they may run: a serving worker never needs Alembic
    and what it pulls in."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)
