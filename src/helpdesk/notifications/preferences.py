"""How each user wants to hear of changes: the in-page bell, browser push and e-mail. Every
channel asks here who gets it."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_

from helpdesk.extensions import db
from helpdesk.notifications.models import PushSubscription
from helpdesk.users.models import User

PREFERENCES = (
    "notifications_widget_enabled",
    "browser_notifications_enabled",
    "email_notifications_enabled",
)


def preferences_of(user: User) -> dict[str, bool]:
    """The user's three switches, as the API, the form and the page read them."""
    return {name: bool(getattr(user, name)) for name in PREFERENCES}


def update_preferences(user: User, changes: Mapping[str, bool | None]) -> dict[str, bool]:
    """Set the switches given (None or absent keeps a switch as it is); the caller commits."""
    for name in PREFERENCES:
        value = changes.get(name)
        if value is not None:
            setattr(user, name, bool(value))
    db.session.flush()
    return preferences_of(user)


def shows_bell(user: User) -> bool:
    """Whether the user's pages show the notification bell (live status moves come regardless)."""
    return bool(user.notifications_widget_enabled)


def gets_push() -> ColumnElement[bool]:
    """Which browsers are pushed to, in a query joining PushSubscription to its User: the live
    subscriptions of users who turned browser notifications on."""
    return and_(PushSubscription.is_active.is_(True), User.browser_notifications_enabled.is_(True))


def gets_email() -> ColumnElement[bool]:
    """Which users are mailed, in a query of User: those who kept e-mail on and have an address."""
    return and_(User.email_notifications_enabled.is_(True), User.email != "")
