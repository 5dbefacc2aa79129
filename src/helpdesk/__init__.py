"""Helpdesk: a real-time helpdesk and task board, standalone or in front of Redmine."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from helpdesk.config import CONFIGS, Config, ensure_secret_key, load_settings


class Helpdesk(Flask):
    """Flask, asking once per hook and view whether it is a coroutine: Flask's check, made for
    each of a request's ~15 hooks on every request, cost 4 % of a small request's CPU."""

    MAX_REMEMBERED = 1024  # hooks and views are few; functions made per request are not kept

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Flask's ensure_sync, remembered."""
        synchronous = self._synchronous.get(func)
        if synchronous is None:
            synchronous = super().ensure_sync(func)
            if len(self._synchronous) < self.MAX_REMEMBERED:
                self._synchronous[func] = synchronous
        return synchronous


def create_app(config: type[Config] | str | None = None, **overrides: Any) -> Flask:
    """Build the application: configuration, then extensions, then each feature's blueprint."""
    app = Helpdesk(__name__, instance_path=os.environ.get("HELPDESK_INSTANCE_PATH") or None)
    configure(app, config, overrides)

    from helpdesk.admin import register_admin
    from helpdesk.core import register_core
    from helpdesk.notifications import register_notifications
    from helpdesk.posts import register_posts
    from helpdesk.tasks import register_tasks
    from helpdesk.users import register_users

    register_core(app)
    register_users(app)
    register_admin(app)
    register_posts(app)
    register_tasks(app)
    register_notifications(app)
    return app


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
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]
