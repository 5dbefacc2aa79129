"""Recording checks on a schedule, and reading them back for the admin page and readiness."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select

from helpdesk.core.events import commit
from helpdesk.extensions import db
from helpdesk.health.checks import SERVICES, ConnectionMonitor, now_iso, overall_status
from helpdesk.health.models import ServiceCheck

log = logging.getLogger(__name__)


def monitor() -> ConnectionMonitor:
    """The monitor of the current app, on its own pool for its own database."""
    return ConnectionMonitor(current_app.config, engine=db.engine)


def record_checks() -> dict[str, dict[str, Any]]:
    """The worker's job: check every service, keep the result and the last HEALTH_HISTORY checks
    of each, and log a service that changed state once, not at every check."""
    results = monitor().check_all()
    before = latest_statuses()
    for name, check in results.items():
        db.session.add(
            ServiceCheck(
                service=name,
                status=check["status"],
                response_time=check["response_time"],
                error=check["error"],
            )
        )
        previous = before.get(name)
        if previous is not None and previous != check["status"]:
            level = logging.WARNING if check["status"] == "unhealthy" else logging.INFO
            log.log(level, "%s is now %s (%s)", name, check["status"], check["error"] or "ok")
    db.session.flush()
    keep = max(int(current_app.config["HEALTH_HISTORY"]), 1)
    for name in results:
        oldest_kept = db.session.scalar(
            select(ServiceCheck.id)
            .where(ServiceCheck.service == name)
            .order_by(ServiceCheck.id.desc())
            .offset(keep - 1)
            .limit(1)
        )
        if oldest_kept is not None:
            db.session.execute(
                delete(ServiceCheck).where(
                    ServiceCheck.service == name, ServiceCheck.id < oldest_kept
                )
            )
    commit()
    return results


def latest_statuses() -> dict[str, str]:
    """Each service's state at its last recorded check."""
    newest = (
        select(ServiceCheck.service, func.max(ServiceCheck.id).label("id"))
        .group_by(ServiceCheck.service)
        .subquery()
    )
    rows = db.session.execute(
        select(ServiceCheck.service, ServiceCheck.status).join(
            newest, newest.c.id == ServiceCheck.id
        )
    )
    return dict(rows.all())


def recorded_report() -> dict[str, Any]:
    """Each service's last recorded state, its last error and its recent checks (newest first),
    in the shape of the seed's get_system_health."""
    rows = db.session.scalars(
        select(ServiceCheck).order_by(ServiceCheck.service, ServiceCheck.id.desc())
    ).all()
    history: dict[str, list[ServiceCheck]] = {name: [] for name in SERVICES}
    for row in rows:
        history.setdefault(row.service, []).append(row)
    services: dict[str, dict[str, Any]] = {}
    for name, checks in history.items():
        if checks:
            entry = checks[0].to_dict()
        else:
            entry = {"status": "unknown", "response_time": None, "last_check": None, "error": None}
        failed = next((check for check in checks if check.error), None)
        entry["last_error"] = failed.error if failed else None
        entry["last_error_at"] = failed.to_dict()["last_check"] if failed else None
        entry["history"] = [check.to_dict() for check in checks]
        services[name] = entry
    return {
        "overall_status": overall_status(services, monitor().required()),
        "services": services,
        "last_updated": max(
            (entry["last_check"] for entry in services.values() if entry["last_check"]),
            default=None,
        ),
    }


def readiness() -> tuple[bool, dict[str, Any]]:
    """Whether this process can serve: its database (and Redis when sessions or the Socket.IO
    queue use it) checked now; the other services as last recorded, which can only make the
    answer "degraded", never take the process out of the load balancer."""
    checker = monitor()
    required = checker.required()
    live = checker.check_all(sorted(required))
    ready = all(check["status"] == "healthy" for check in live.values())
    statuses = {name: check["status"] for name, check in live.items()}
    if ready:
        try:
            recorded = latest_statuses()
        finally:
            db.session.rollback()
        for name, status in recorded.items():
            statuses.setdefault(name, status)
    degraded = any(status == "unhealthy" for status in statuses.values())
    state = "unavailable" if not ready else "degraded" if degraded else "ready"
    return ready, {"status": state, "services": statuses, "checked_at": now_iso()}
