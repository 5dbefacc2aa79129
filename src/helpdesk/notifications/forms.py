"""The notification preferences form of the settings page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField

from helpdesk.core.forms import BaseForm


class NotificationPreferencesForm(BaseForm):
    """The three ways to hear of changes; an unticked box turns its way off."""

    notifications_widget_enabled = BooleanField(_l("Bell and pop-up messages in the page"))
    browser_notifications_enabled = BooleanField(
        _l("Browser notifications, even with the tab closed")
    )
    email_notifications_enabled = BooleanField(_l("E-mail"))
