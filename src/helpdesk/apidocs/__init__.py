"""The API's machine-readable description: the OpenAPI document and a page to browse it."""

from flask import Flask


def register_apidocs(app: Flask) -> None:
    """Serve /tasks/api/openapi.json and the page that shows it."""
    from helpdesk.apidocs.views import bp

    app.register_blueprint(bp)
