"""Routes that belong to no feature: uploaded images."""

from __future__ import annotations

from flask import Blueprint, abort, send_from_directory
from flask_login import login_required
from werkzeug.wrappers import Response

from helpdesk.core.images import IMAGE_FOLDERS, image_folder

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
