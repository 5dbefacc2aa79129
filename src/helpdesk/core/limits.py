"""No rate-limiter work on the views that have no limit."""

from __future__ import annotations

from flask import Flask, current_app, request

from helpdesk.extensions import limiter

# Flask-Limiter marks the views that limiter.limit decorated with this attribute (pinned in
# pyproject.toml; tests/integration/test_core.py and the login tests fail if it stops).
LIMITED = "__wrapper-limiter-instance"


@limiter.request_filter
def unlimited_view() -> bool:
    """Exempt a request whose view limiter.limit did not decorate: the helpdesk sets no default
    or blueprint limits, and the limiter's check before every request cost about 60 µs, a tenth
    of a small request."""
    view = current_app.view_functions.get(request.endpoint or "")
    return getattr(view, LIMITED, None) is None


def register_limits(app: Flask) -> None:
    """Bind the limiter; the filter above came with this module."""
    limiter.init_app(app)
