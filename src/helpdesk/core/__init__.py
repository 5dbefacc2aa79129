"""Cross-cutting pieces every feature relies on."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from helpdesk.core import rate_limits  # noqa: F401 - registers the limiter's request filter
from helpdesk.core.api import register_json
from helpdesk.core.cache import register_cache
from helpdesk.core.database import register_database
from helpdesk.core.errors import register_error_handlers
from helpdesk.core.filters import register_filters
from helpdesk.core.i18n import register_i18n
from helpdesk.core.middleware import register_middleware
from helpdesk.core.security import register_security
from helpdesk.core.sessions import register_sessions
from helpdesk.core.views import bp as core_bp
from helpdesk.extensions import bcrypt, csrf, db, limiter

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def register_core(app: Flask) -> None:
    """Bind the extensions and install error handling, middleware, security and i18n."""
    db.init_app(app)
    register_database(app)
    register_cache(app)
    if app.config["MIGRATIONS_CLI"]:
        register_migrations(app)
    csrf.init_app(app)
    bcrypt.init_app(app)
    limiter.init_app(app)  # limits only on the views that declare one: core/rate_limits.py
    register_json(app)
    register_sessions(app)
    register_middleware(app)
    register_security(app)
    register_i18n(app)
    register_filters(app)
    register_error_handlers(app)
    app.register_blueprint(core_bp)


def register_migrations(app: Flask) -> None:
    """The `db` commands, imported only where they may run: a serving worker never needs Alembic
    and what it pulls in."""
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS), render_as_batch=True)
