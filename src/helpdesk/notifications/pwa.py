"""The installable-app pieces: the service worker at the site root, the manifest, the push key."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, send_from_directory
from flask_login import login_required

from helpdesk.core.api import envelope
from helpdesk.core.openapi import documented
from helpdesk.notifications.schemas import PushKeyOut
from helpdesk.notifications.webpush import public_key

bp = Blueprint("pwa", __name__)


def _static(name: str, mimetype: str) -> Response:
    """A file from the static folder, revalidated on each fetch so updates reach browsers."""
    response = send_from_directory(
        current_app.static_folder or "static", name, mimetype=mimetype, max_age=0
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker, served from the root so its scope covers every page."""
    response = _static("sw.js", "text/javascript")
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest that lets browsers install the helpdesk."""
    return _static("manifest.webmanifest", "application/manifest+json")


@bp.get("/tasks/api/push-key")
@documented(
    "The VAPID public key (404 when push is not set up)",
    response=PushKeyOut,
    access="session",
    tag="notifications",
    also=(404,),
)
@login_required
def push_key() -> Response:
    """The VAPID public key pages pass to pushManager.subscribe(); 404 when push is not set up."""
    key = public_key(current_app)
    if key is None:
        abort(404)
    return envelope(PushKeyOut(public_key=key).model_dump())
