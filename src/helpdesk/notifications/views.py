"""The notification API of the seed: list, mark read, delete, and browser push subscriptions."""

from __future__ import annotations

from flask import Blueprint, Response
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import func, select

from helpdesk.core.api import envelope, parse_args, parse_body
from helpdesk.core.errors import APIException
from helpdesk.core.events import commit
from helpdesk.core.openapi import documented
from helpdesk.extensions import db
from helpdesk.notifications import service
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.notifications.preferences import preferences_of, update_preferences
from helpdesk.notifications.schemas import (
    AllReadOut,
    NotificationListOut,
    NotificationPreferencesIn,
    NotificationQuery,
    PreferencesOut,
    PushSubscriptionIn,
    PushUnsubscribeIn,
    SubscriptionOut,
    UnreadOut,
    notification_out,
)
from helpdesk.users.snapshot import signed_in_row

bp = Blueprint("notifications", __name__, url_prefix="/tasks/api")
bp.before_request(login_required(lambda: None))


@bp.get("/notifications")
@documented(
    "The user's notifications, newest first",
    query=NotificationQuery,
    response=NotificationListOut,
    access="session",
    tag="notifications",
)
def get_notifications() -> Response:
    """The user's notifications, newest first, with total and unread counts."""
    params = parse_args(NotificationQuery)
    mine = select(Notifications).where(Notifications.user_id == current_user.id)
    if params.unread_only:
        mine = mine.where(Notifications.is_read.is_(False))
    if params.type:
        mine = mine.where(Notifications.type == params.type)
    total = db.session.scalar(select(func.count()).select_from(mine.subquery())) or 0
    items = db.session.scalars(
        mine.order_by(Notifications.id.desc()).limit(params.limit).offset(params.offset)
    )
    return envelope(
        NotificationListOut(
            notifications=[notification_out(item) for item in items],
            total_count=total,
            unread_count=service.unread_count(current_user.id),
        ).model_dump()
    )


@bp.put("/notifications/<int:notification_id>/read")
@documented("Mark a notification read", response=UnreadOut, access="session", tag="notifications")
def mark_notification_read(notification_id: int) -> Response:
    """Mark one of one's own notifications read; anyone else's is "not found"."""
    if not service.mark_read(current_user.id, notification_id):
        raise APIException(_("Notification not found."), 404)
    commit()
    return envelope(
        UnreadOut(unread_count=service.unread_count(current_user.id)).model_dump(),
        _("Notification marked as read"),
    )


@bp.put("/notifications/read-all")
@documented(
    "Mark every notification read", response=AllReadOut, access="session", tag="notifications"
)
def mark_all_read() -> Response:
    """Mark all of one's notifications read."""
    changed = service.mark_all_read(current_user.id)
    service.note_check(signed_in_row(current_user))
    commit()
    return envelope(
        AllReadOut(marked=changed, unread_count=0).model_dump(),
        _("All notifications marked as read"),
    )


@bp.delete("/notifications/<int:notification_id>")
@documented("Delete a notification", response=UnreadOut, access="session", tag="notifications")
def delete_notification(notification_id: int) -> Response:
    """Delete one of one's own notifications."""
    if not service.delete(current_user.id, notification_id):
        raise APIException(_("Notification not found."), 404)
    commit()
    return envelope(
        UnreadOut(unread_count=service.unread_count(current_user.id)).model_dump(),
        _("Notification deleted"),
    )


@bp.post("/push-subscribe")
@documented(
    "Subscribe this browser to push",
    body=PushSubscriptionIn,
    response=SubscriptionOut,
    status=201,
    also=(200, 409),
    access="session",
    tag="notifications",
)
def subscribe_to_push() -> Response:
    """Store the browser's push subscription; the same endpoint again updates it."""
    body = parse_body(PushSubscriptionIn)
    try:
        subscription, created = service.save_push_subscription(
            current_user.id, body.endpoint, body.keys.p256dh, body.keys.auth
        )
    except service.SubscriptionTaken:
        raise APIException(_("This browser is subscribed by another account."), 409) from None
    commit()
    message = _("Push subscription created") if created else _("Push subscription updated")
    return envelope(
        SubscriptionOut(subscription_id=subscription.id).model_dump(),
        message,
        201 if created else 200,
        subscription_id=subscription.id,
    )


@bp.post("/push-unsubscribe")
@documented(
    "Stop pushing to a browser",
    body=PushUnsubscribeIn,
    response=None,
    also=(404,),
    access="session",
    tag="notifications",
)
def unsubscribe_from_push() -> Response:
    """Stop pushing to a browser of one's own."""
    body = parse_body(PushUnsubscribeIn)
    subscription = db.session.scalar(
        select(PushSubscription).where(
            PushSubscription.endpoint == body.endpoint,
            PushSubscription.user_id == current_user.id,
        )
    )
    if subscription is None:
        raise APIException(_("Subscription not found."), 404)
    subscription.is_active = False
    commit()
    return envelope(None, _("Push subscription removed"))


@bp.get("/notification-preferences")
@documented(
    "How the user hears of changes", response=PreferencesOut, access="session", tag="notifications"
)
def get_notification_preferences() -> Response:
    """How the user wants to hear of changes: widget, browser push, e-mail."""
    return envelope(PreferencesOut(**preferences_of(current_user)).model_dump())


@bp.put("/notification-preferences")
@documented(
    "Change how the user hears of changes",
    body=NotificationPreferencesIn,
    response=PreferencesOut,
    access="session",
    tag="notifications",
)
def put_notification_preferences() -> Response:
    """Change some of the switches; a wrong field refuses the whole request."""
    body = parse_body(NotificationPreferencesIn)
    preferences = update_preferences(signed_in_row(current_user), body.model_dump())
    commit()
    return envelope(
        PreferencesOut(**preferences).model_dump(), _("Notification preferences saved.")
    )
