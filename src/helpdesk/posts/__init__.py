"""Posts: announcements on the home page."""

from flask import Flask


def register_posts(app: Flask) -> None:
    """Add the announcement pages."""
    from helpdesk.posts.views import bp

    app.register_blueprint(bp)
