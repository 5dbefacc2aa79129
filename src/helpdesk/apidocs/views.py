"""The OpenAPI document, open to anyone (it holds no data), and the Swagger UI page over it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, render_template
from werkzeug.wrappers import Response

from helpdesk.core.openapi import openapi_document

bp = Blueprint("apidocs", __name__, url_prefix="/tasks/api")

DOCUMENT = "helpdesk_openapi"  # app.extensions: the document, built once per application


def document() -> dict[str, Any]:
    """The application's document: its routes do not change while it runs."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if DOCUMENT not in app.extensions:
        app.extensions[DOCUMENT] = openapi_document(app)
    return dict(app.extensions[DOCUMENT])


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 document of every JSON route."""
    return jsonify(document())


@bp.get("/docs")
def docs_page() -> str:
    """Swagger UI over the document (vendored; booted by a script of ours, as the CSP wants)."""
    return render_template("apidocs/docs.html")
