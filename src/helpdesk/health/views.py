"""Liveness and readiness for load balancers, and the admin page of every service's state."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from helpdesk.core.decorators import admin_required
from helpdesk.core.errors import wants_json_response
from helpdesk.core.events import rollback
from helpdesk.health import service

bp = Blueprint("health", __name__)


@bp.get("/health")
@bp.get("/healthz")
def health() -> Response:
    """Liveness: the process answers. Cheap, touches nothing, tells nothing."""
    return jsonify({"status": "healthy"})


@bp.get("/health/ready")
def ready() -> tuple[Response, int]:
    """Readiness: 503 only while this process cannot serve (its database, its required Redis)."""
    is_ready, body = service.readiness()
    return jsonify(body), 200 if is_ready else 503


@bp.get("/admin/health")
@admin_required
def admin_health() -> Response | str:
    """Each service's last recorded state, last error and recent checks."""
    report = service.recorded_report()
    if wants_json_response():
        return jsonify(report)
    return render_template("health/admin.html", report=report)


@bp.post("/admin/health/check")
@admin_required
def check_now() -> Response:
    """Check every service now and record it, rather than wait for the worker's next run."""
    rollback()  # hold no transaction (on SQLite: the one writer) while the services answer
    service.record_checks()
    if wants_json_response():
        return jsonify(service.recorded_report())
    flash(_("Every service was checked."), "success")
    return redirect(url_for("health.admin_health"))
