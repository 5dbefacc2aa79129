"""No rate-limiter work before the views that have no limit."""

from __future__ import annotations

from flask import Flask

from helpdesk.extensions import limiter


def register_limits(app: Flask) -> None:
    """Bind the limiter without its check before every request. The helpdesk sets no default or
    application limits, only limits on views, and a view that limiter.limit decorated checks
    its own (Flask-Limiter's wrapper, pinned in pyproject.toml); the check before each request
    found nothing to do and cost about 50 µs, a twentieth of a small request. The login-limit
    tests fail if the decorated views stop checking."""
    limiter.init_app(app)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
