"""The checks the worker recorded, so the admin page answers without waiting on any system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.core.models import utcnow
from helpdesk.extensions import Model


class ServiceCheck(Model):
    """One check of one service: its state, how long it took and what went wrong."""

    __tablename__ = "service_checks"
    __table_args__ = (Index("ix_service_checks_service_checked_at", "service", "checked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    response_time: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(String(300))
    checked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    def to_dict(self) -> dict[str, object]:
        """The check in the seed's shape."""
        return {
            "status": self.status,
            "response_time": self.response_time,
            "last_check": self.checked_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "error": self.error,
        }
