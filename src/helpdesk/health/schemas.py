"""The declared shapes of the health answers: liveness, readiness and the admin report."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Time = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Out(BaseModel):
    """An answer's document: built through its model, so it always has the declared shape."""

    model_config = ConfigDict(extra="forbid")


class LivenessOut(Out):
    """GET /health: the process answers."""

    status: Literal["healthy"]


class ReadinessOut(Out):
    """GET /health/ready: whether this process can serve, and each service's state."""

    status: Literal["ready", "degraded", "unavailable"]
    services: dict[str, str]
    checked_at: Time


class CheckOut(Out):
    """One recorded check of a service."""

    status: str
    response_time: float | None
    last_check: Time | None
    error: str | None


class ServiceStateOut(CheckOut):
    """A service's last check, its last error and its recent checks, newest first."""

    last_error: str | None
    last_error_at: Time | None
    history: list[CheckOut]


class HealthReportOut(Out):
    """GET /admin/health (JSON): the seed's get_system_health shape."""

    overall_status: Literal["healthy", "degraded", "unhealthy"]
    services: dict[str, ServiceStateOut]
    last_updated: Time | None
