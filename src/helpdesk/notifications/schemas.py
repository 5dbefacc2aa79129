"""Declared input of the notification API."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

from flask import current_app
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from helpdesk.core.api import iso
from helpdesk.notifications.endpoints import endpoint_problem
from helpdesk.notifications.models import NOTIFICATION_TYPES, Notifications

P256DH_BYTES = 65  # an uncompressed P-256 point
AUTH_BYTES = 16
Type = Literal[NOTIFICATION_TYPES]  # type: ignore[valid-type]


class NotificationQuery(BaseModel):
    """GET /tasks/api/notifications parameters."""

    model_config = ConfigDict(extra="ignore")

    unread_only: bool = False
    limit: Annotated[int, Field(ge=1, le=100)] = 50
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    type: Type | None = None


BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _decode(value: str) -> bytes:
    """Bytes of a base64url text, with or without padding (any other character is refused:
    the decoder would silently drop it)."""
    if not BASE64URL.fullmatch(value):
        raise ValueError(_("Not valid base64url."))
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(_("Not valid base64url.")) from error


class SubscriptionKeys(BaseModel):
    """The browser's encryption keys for a push subscription."""

    model_config = ConfigDict(strict=True, extra="ignore")

    p256dh: Annotated[str, StringConstraints(max_length=200)]
    auth: Annotated[str, StringConstraints(max_length=100)]

    @field_validator("p256dh")
    @classmethod
    def is_a_p256_point(cls, value: str) -> str:
        """p256dh is an uncompressed P-256 public key (65 bytes, starting with 4)."""
        raw = _decode(value)
        if len(raw) != P256DH_BYTES or raw[0] != 4:
            raise ValueError(_("Must be a 65-byte uncompressed P-256 key."))
        return value

    @field_validator("auth")
    @classmethod
    def is_sixteen_bytes(cls, value: str) -> str:
        """auth is a 16-byte secret."""
        if len(_decode(value)) != AUTH_BYTES:
            raise ValueError(_("Must be a 16-byte secret."))
        return value


class PushSubscriptionIn(BaseModel):
    """POST /tasks/api/push-subscribe: the browser's PushSubscription as JSON."""

    model_config = ConfigDict(strict=True, extra="ignore")

    endpoint: Annotated[str, StringConstraints(max_length=1000)]
    keys: SubscriptionKeys

    @field_validator("endpoint")
    @classmethod
    def is_a_push_service(cls, value: str) -> str:
        """An https URL of a known push service (anything else would let users make the server
        send requests into its own network)."""
        if endpoint_problem(value, current_app.config):
            raise ValueError(_("Must be an https URL of a browser push service."))
        return value


class PushUnsubscribeIn(BaseModel):
    """POST /tasks/api/push-unsubscribe."""

    model_config = ConfigDict(strict=True, extra="ignore")

    endpoint: Annotated[str, StringConstraints(max_length=1000)]


class Out(BaseModel):
    """An answer's document: built through its model, so it always has the declared shape."""

    model_config = ConfigDict(extra="forbid")


class NotificationOut(Out):
    """A notification as the seed's clients read it (API and socket alike)."""

    id: int
    type: str
    title: str
    message: str
    issue_id: int | None
    is_read: bool
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None
    read_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})] | None
    data: dict[str, Any]


class NotificationListOut(Out):
    """GET /tasks/api/notifications: a page of them, newest first, and the counts."""

    notifications: list[NotificationOut]
    total_count: int
    unread_count: int


class UnreadOut(Out):
    """How many notifications are left unread."""

    unread_count: int


class AllReadOut(Out):
    """PUT /tasks/api/notifications/read-all: how many were marked."""

    marked: int
    unread_count: int


class SubscriptionOut(Out):
    """The stored push subscription."""

    subscription_id: int


class PushKeyOut(Out):
    """The VAPID public key for pushManager.subscribe()."""

    public_key: str


class PreferencesOut(Out):
    """How the user hears of changes: the bell and toasts, browser push, e-mail."""

    notifications_widget_enabled: bool
    browser_notifications_enabled: bool
    email_notifications_enabled: bool


def notification_doc(item: Notifications) -> dict[str, Any]:
    """A notification as the seed's clients read it (API and socket alike)."""
    return notification_out(item).model_dump()


def notification_out(item: Notifications) -> NotificationOut:
    """A notification as its model."""
    return NotificationOut(
        id=item.id,
        type=item.type,
        title=item.title,
        message=item.message,
        issue_id=item.issue_id,
        is_read=item.is_read,
        created_at=iso(item.date_created),
        read_at=iso(item.read_at),
        data=item.data or {},
    )


class NotificationPreferencesIn(BaseModel):
    """PUT /tasks/api/notification-preferences: the switches to change; the others stay."""

    model_config = ConfigDict(strict=True, extra="forbid")

    notifications_widget_enabled: bool | None = None
    browser_notifications_enabled: bool | None = None
    email_notifications_enabled: bool | None = None
