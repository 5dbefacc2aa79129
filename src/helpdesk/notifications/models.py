"""Notifications for users, and the browsers that receive them as push messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.core.models import utcnow
from helpdesk.extensions import Model
from helpdesk.users.models import User

NOTIFICATION_TYPES = ("status_change", "comment", "assigned", "task_updated", "mention", "watcher")


class Notifications(Model):
    """One notification for one user about one change (the seed's model, plus type and text).

    (user_id, event_key) is unique, so a replayed change never notifies anyone twice.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("user_id", "event_key"),
        Index("ix_notifications_user_unread", "user_id", "is_read", "id"),
        Index("ix_notifications_event_key", "event_key"),  # delivery reads a change's rows
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    issue_id: Mapped[int | None] = mapped_column(Integer)
    old_status: Mapped[str | None] = mapped_column(String(60))
    new_status: Mapped[str | None] = mapped_column(String(60))
    old_subj: Mapped[str | None] = mapped_column(String(255))
    date_created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    type: Mapped[str] = mapped_column(String(20), default="status_change")
    title: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)
    event_key: Mapped[str] = mapped_column(String(100))

    def __init__(
        self,
        user_id: int | None = None,
        issue_id: int | None = None,
        old_status: str | None = None,
        new_status: str | None = None,
        old_subj: str | None = None,
        date_created: datetime | None = None,
        **fields: Any,
    ) -> None:
        """The seed's positional form, Notifications(user_id, issue_id, old_status, new_status,
        old_subj, date_created), as well as keywords; a row made the seed's way gets a status
        change's title and message and a key of its own."""
        super().__init__(user_id=user_id, issue_id=issue_id, **fields)
        self.old_status, self.new_status, self.old_subj = old_status, new_status, old_subj
        self.date_created = date_created or utcnow()
        self.is_read = bool(fields.get("is_read", False))
        if "event_key" not in fields:
            self.event_key = f"seed:{uuid.uuid4().hex}"
        if "title" not in fields and issue_id is not None:
            from helpdesk.notifications.service import status_change_texts

            self.title, self.message = status_change_texts(
                issue_id, old_status, new_status, old_subj
            )


class UnreadCount(Model):
    """How many unread notifications a user has, kept by the database's triggers on
    notifications (migration 3f6c2d1e8a47): reading it costs the same at ten unread or ten
    thousand, where counting the rows grew with them. A user with none may have no row."""

    __tablename__ = "notification_unread_counts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    unread: Mapped[int] = mapped_column(Integer, default=0)


SQLITE_UNREAD_TRIGGERS = (
    """
    CREATE TRIGGER notifications_unread_on_insert AFTER INSERT ON notifications
    WHEN NOT NEW.is_read
    BEGIN
        INSERT INTO notification_unread_counts (user_id, unread) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET unread = unread + 1;
    END
    """,
    """
    CREATE TRIGGER notifications_unread_on_delete AFTER DELETE ON notifications
    WHEN NOT OLD.is_read
    BEGIN
        UPDATE notification_unread_counts SET unread = unread - 1 WHERE user_id = OLD.user_id;
    END
    """,
    """
    CREATE TRIGGER notifications_unread_on_update AFTER UPDATE OF is_read, user_id
    ON notifications
    WHEN OLD.is_read IS NOT NEW.is_read OR OLD.user_id IS NOT NEW.user_id
    BEGIN
        UPDATE notification_unread_counts SET unread = unread - 1
        WHERE user_id = OLD.user_id AND NOT OLD.is_read;
        INSERT INTO notification_unread_counts (user_id, unread)
        SELECT NEW.user_id, 1 WHERE NOT NEW.is_read
        ON CONFLICT (user_id) DO UPDATE SET unread = unread + 1;
    END
    """,
)

POSTGRESQL_UNREAD_TRIGGER = (
    """
    CREATE OR REPLACE FUNCTION notifications_count_unread() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND NOT OLD.is_read THEN
            UPDATE notification_unread_counts SET unread = unread - 1
            WHERE user_id = OLD.user_id;
        END IF;
        IF TG_OP <> 'DELETE' AND NOT NEW.is_read THEN
            INSERT INTO notification_unread_counts (user_id, unread) VALUES (NEW.user_id, 1)
            ON CONFLICT (user_id)
            DO UPDATE SET unread = notification_unread_counts.unread + 1;
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER notifications_count_unread
    AFTER INSERT OR DELETE OR UPDATE OF is_read, user_id ON notifications
    FOR EACH ROW EXECUTE FUNCTION notifications_count_unread()
    """,
)


def create_unread_triggers(_metadata: Any, connection: Connection, **kw: Any) -> None:
    """A database made by `db.create_all()` (the seed's install path) counts unread
    notifications like a migrated one: the triggers come with the tables."""
    created = {table.name for table in kw.get("tables", ())}
    if not {"notifications", "notification_unread_counts"} <= created:
        return
    statements = {"sqlite": SQLITE_UNREAD_TRIGGERS, "postgresql": POSTGRESQL_UNREAD_TRIGGER}
    if connection.dialect.name not in statements:
        raise RuntimeError(
            f"unread counts need triggers this helpdesk has only for SQLite and PostgreSQL, "
            f"not {connection.dialect.name}"
        )
    for statement in statements[connection.dialect.name]:
        connection.exec_driver_sql(statement)


event.listen(Model.metadata, "after_create", create_unread_triggers)


class PushSubscription(Model):
    """A browser's Web Push subscription; endpoints are unique, re-subscribing updates the row."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    user: Mapped[User] = relationship(back_populates="push_subscriptions")


class MailOutbox(Model):
    """One email to send, queued in the transaction of its notification so a rolled-back change
    mails nobody; a sender claims rows with a lease, so two senders never send one twice.

    notification_id is unique: a replayed change finds its mail already queued.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), unique=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(255))
    template: Mapped[str] = mapped_column(String(60))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
