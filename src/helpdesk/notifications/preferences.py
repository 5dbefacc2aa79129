"""How each user wants to hear of changes: the in-page widget, browser push and e-mail."""

from __future__ import annotations

from collections.abc import Mapping

from helpdesk.extensions import db
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
