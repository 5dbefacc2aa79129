"""Routes that belong to no feature: uploaded images and the health check."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, send_from_directory
from flask_login import login_required
from sqlalchemy import text
from werkzeug.wrappers import Response

from helpdesk.core.images import IMAGE_FOLDERS, image_folder
from helpdesk.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/uploads/<kind>/<name>")
@login_required
def uploaded_image(kind: str, name: str) -> Response:
    """Serve a stored avatar or announcement image to signed-in staff."""
    if kind not in IMAGE_FOLDERS:
        abort(404)
    response = send_from_directory(image_folder(kind), name, max_age=86400)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.get("/healthz")
def health() -> Response:
    """Liveness for load balancers: answers 200 when the database answers."""
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "healthy"})
