"""Helpdesk: a real-time helpdesk and task board, standalone or in front of Redmine."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from helpdesk.config import (
    CONFIGS,
    Config,
    check_registration,
    ensure_secret_key,
    load_settings,
    name_shared_keys,
)


def create_app(config: type[Config] | str | None = None, **overrides: Any) -> Flask:
    """Build the application: configuration, then extensions, then each feature's blueprint."""
    app = Flask(__name__, instance_path=default_instance_path(os.environ))
    configure(app, config, overrides)

    from helpdesk.admin import register_admin
    from helpdesk.apidocs import register_apidocs
    from helpdesk.auth import register_auth
    from helpdesk.core import register_core
    from helpdesk.health import register_health
    from helpdesk.notifications import register_notifications
    from helpdesk.posts import register_posts
    from helpdesk.tasks import register_tasks
    from helpdesk.users import register_users

    register_core(app)
    register_users(app)
    register_auth(app)
    register_admin(app)
    register_posts(app)
    register_tasks(app)
    register_notifications(app)
    register_health(app)
    register_apidocs(app)
    return app


def default_instance_path(environ: Mapping[str, str]) -> str | None:
    """HELPDESK_INSTANCE_PATH, else a source checkout's own instance/ (beside src/), so every
    command run from a checkout (`make run`, `helpdesk vapid`, `helpdesk demo`) uses one folder;
    an installed package keeps Flask's default (None)."""
    if environ.get("HELPDESK_INSTANCE_PATH"):
        return environ["HELPDESK_INSTANCE_PATH"]
    source = Path(__file__).resolve().parent.parent
    if source.name == "src" and (source.parent / "pyproject.toml").is_file():
        return str(source.parent / "instance")
    return None


def configure(app: Flask, config: type[Config] | str | None, overrides: dict[str, Any]) -> None:
    """Load settings in order: class defaults, config.ini, environment, explicit overrides."""
    if config is None or isinstance(config, str):
        config = CONFIGS[config or os.environ.get("HELPDESK_ENV", "development")]
    app.config.from_object(config)
    app.config.update(load_settings(config, os.environ))
    app.config.update(overrides)
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'helpdesk.db'}"
    if not app.config["UPLOAD_FOLDER"]:
        app.config["UPLOAD_FOLDER"] = str(instance / "uploads")
    ensure_secret_key(app.config, app.instance_path)
    check_registration(app.config)
    name_shared_keys(app.config)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
