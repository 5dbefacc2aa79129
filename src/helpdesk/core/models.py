"""Small shared models and the clock every model uses."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.extensions import Model, db


def utcnow() -> datetime:
    """The current time in UTC, naive, as every timestamp column stores it."""
    return datetime.now(UTC).replace(tzinfo=None)


def escape_like(text: str) -> str:
    """Escape LIKE wildcards (use with escape="\\") so a search for "50%" means those characters."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SiteSetting(Model):
    """A key/value setting kept in the database (for example, whether demo data is loaded)."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")

    @classmethod
    def get(cls, key: str, default: str | None = None) -> str | None:
        """The value of a setting, or default when it is absent."""
        value = db.session.scalar(select(cls.value).where(cls.key == key))
        return default if value is None else value

    @classmethod
    def put(cls, key: str, value: str) -> None:
        """Set a setting in the current transaction."""
        setting = db.session.get(cls, key) or cls(key=key)
        setting.value = value
        db.session.add(setting)


class PublishedEvent(Model):
    """The key of a change some unit of work has announced (core/events.py publish_once)."""

    __tablename__ = "published_events"

    event_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    published_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
