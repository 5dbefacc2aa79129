"""Liveness and readiness for load balancers, and the admin page of every service's state."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from helpdesk.core.decorators import admin_required
from helpdesk.core.errors import wants_json_response
from helpdesk.core.events import rollback
from helpdesk.core.openapi import documented
from helpdesk.health import service
from helpdesk.health.schemas import HealthReportOut, LivenessOut, ReadinessOut

H: dict[str, Any] = {"access": "public", "tag": "health", "enveloped": False}
ADMIN: dict[str, Any] = {"access": "admin", "tag": "health", "enveloped": False}

bp = Blueprint("health", __name__)


@bp.get("/health")
@bp.get("/healthz")
@documented("Liveness: the process answers", response=LivenessOut, **H)
def health() -> Response:
    """Liveness: the process answers. Cheap, touches nothing, tells nothing."""
    return jsonify(LivenessOut(status="healthy").model_dump())


@bp.get("/health/ready")
@documented(
    "Readiness: 503 while this process cannot serve",
    response=ReadinessOut,
    extra_responses={503: ReadinessOut},
    **H,
)
def ready() -> tuple[Response, int]:
    """Readiness: 503 only while this process cannot serve (its database, its required Redis)."""
    is_ready, body = service.readiness()
    return jsonify(ReadinessOut(**body).model_dump()), 200 if is_ready else 503


@bp.get("/admin/health")
@documented("Each service's recorded state (JSON with Accept)", response=HealthReportOut, **ADMIN)
@admin_required
def admin_health() -> Response | str:
    """Each service's last recorded state, last error and recent checks."""
    report = service.recorded_report()
    if wants_json_response():
        return jsonify(HealthReportOut(**report).model_dump())
    return render_template("health/admin.html", report=report)


@bp.post("/admin/health/check")
@documented("Check every service now (JSON with Accept)", response=HealthReportOut, **ADMIN)
@admin_required
def check_now() -> Response:
    """Check every service now and record it, rather than wait for the worker's next run."""
    rollback()  # hold no transaction (on SQLite: the one writer) while the services answer
    service.record_checks()
    if wants_json_response():
        return jsonify(HealthReportOut(**service.recorded_report()).model_dump())
    flash(_("Every service was checked."), "success")
    return redirect(url_for("health.admin_health"))
