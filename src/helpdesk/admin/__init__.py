"""Administration: accounts and their permission flags, projects, members, roles and the
workflow, and request metrics."""

from flask import Flask


def register_admin(app: Flask) -> None:
    """Add the administration pages."""
    from helpdesk.admin import structure  # noqa: F401 (its routes join the blueprint)
    from helpdesk.admin.views import bp

    app.register_blueprint(bp)
