"""The seed's template helpers, available as Jinja filters and as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_format_datetime
from flask import Flask, current_app, has_app_context, has_request_context
from flask_babel import format_datetime, get_locale, get_timezone
from markupsafe import Markup

from helpdesk.core.markup import render_markdown

DEFAULT_TIMEZONE = "Europe/Moscow"

STATUS_COLORS = {
    "new": "primary",
    "новая": "primary",
    "in progress": "warning",
    "in_progress": "warning",
    "в работе": "warning",
    "resolved": "success",
    "решена": "success",
    "feedback": "info",
    "обратная связь": "info",
    "closed": "secondary",
    "закрыта": "secondary",
    "rejected": "danger",
    "отклонена": "danger",
}

PRIORITY_ICONS = {
    "low": "fas fa-arrow-down text-secondary",
    "низкий": "fas fa-arrow-down text-secondary",
    "normal": "fas fa-minus text-primary",
    "нормальный": "fas fa-minus text-primary",
    "high": "fas fa-exclamation-triangle text-danger",
    "высокий": "fas fa-exclamation-triangle text-danger",
    "urgent": "fas fa-exclamation-circle text-danger",
    "срочный": "fas fa-exclamation-circle text-danger",
    "immediate": "fas fa-bolt text-danger",
    "немедленный": "fas fa-bolt text-danger",
}


def format_datetime_msk(dt: datetime | None, format_string: str = "%d.%m.%Y %H:%M") -> str:
    """Show a time in the office timezone; naive datetimes are taken to be UTC."""
    if dt is None:
        return ""
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    if has_request_context():
        return aware.astimezone(get_timezone()).strftime(format_string)
    zone = DEFAULT_TIMEZONE
    if has_app_context():
        zone = current_app.config.get("DISPLAY_TIMEZONE", DEFAULT_TIMEZONE)
    return aware.astimezone(ZoneInfo(zone)).strftime(format_string)


def as_naive_utc(value: datetime | str) -> datetime:
    """A time as the database keeps it (naive UTC), from a datetime (naive is UTC) or the API's
    ISO text."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def local_datetime(value: datetime | str | None) -> Markup | str:
    """The one way pages show a time: in the reader's zone (core/i18n.py select_timezone), in the
    short form of their language (Babel; the pages' JavaScript formats the same way with Intl),
    as a <time> that names the instant, so the page adds the zone's label when the browser's own
    clock is elsewhere (static/js/app.js, Helpdesk.zoneLabel). Takes a datetime (naive is UTC)
    or the API's ISO text."""
    if not value:
        return ""
    value = as_naive_utc(value)
    return Markup('<time class="local-time" datetime="{}Z">{}</time>').format(
        value.isoformat(timespec="seconds"), format_datetime(value, "short")
    )


def labelled_datetime(value: datetime | str | None, zone: str | None = None) -> str:
    """A time for texts read outside the helpdesk's pages (e-mails), where the reader's clock is
    unknown: in the given zone (else the reader's), in the current language's short form, always
    with the zone's label, the one the pages add ("07.12.2026, 13:25 GMT+03:00")."""
    if not value:
        return ""
    tzinfo = ZoneInfo(zone) if zone else get_timezone()
    moment = as_naive_utc(value).replace(tzinfo=UTC)
    locale = get_locale()
    text = babel_format_datetime(moment, "short", tzinfo=tzinfo, locale=locale)
    return f"{text} {babel_format_datetime(moment, 'ZZZZ', tzinfo=tzinfo, locale=locale)}"


def get_status_color(status_name: str | None) -> str:
    """Bootstrap colour for a status name, English or Russian; unknown names are grey."""
    return STATUS_COLORS.get((status_name or "").strip().lower(), "secondary")


def get_priority_icon(priority_name: str | None) -> str:
    """Font Awesome classes for a priority name, English or Russian."""
    return PRIORITY_ICONS.get((priority_name or "").strip().lower(), "fas fa-minus text-secondary")


def truncate_text(text: str | None, max_length: int = 100, suffix: str = "...") -> str:
    """Shorten text to at most max_length characters, suffix included."""
    if not text:
        return ""
    if len(text) <= max_length:
        return text
    if max_length < len(suffix):  # no room for the suffix: a plain cut keeps the limit
        return text[: max(max_length, 0)]
    return text[: max_length - len(suffix)].rstrip() + suffix


def register_filters(app: Flask) -> None:
    """Make the helpers available to every template."""
    helpers = (
        format_datetime_msk,
        local_datetime,
        labelled_datetime,
        get_status_color,
        get_priority_icon,
        truncate_text,
    )
    for helper in helpers:
        app.add_template_filter(helper)
        app.add_template_global(helper)
    app.add_template_filter(render_markdown, "markdown")  # the one way user text becomes HTML
