"""Health: whether the helpdesk and every system it relies on answer (the seed's
ConnectionMonitor), for load balancers and for the people who run it."""

from flask import Flask


def register_health(app: Flask) -> None:
    """Add /health, /health/ready and the admin page."""
    from helpdesk.health.views import bp

    app.register_blueprint(bp)
