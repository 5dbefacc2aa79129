"""Administration: users' permission flags and request metrics."""

from flask import Flask


def register_admin(app: Flask) -> None:
    """Add the administration pages."""
    from helpdesk.admin.views import bp

    app.register_blueprint(bp)
