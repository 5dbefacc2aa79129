"""The seed's template helpers: Moscow time, status colours, priority icons, truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask, render_template_string

from helpdesk.core.filters import (
    format_datetime_msk,
    get_priority_icon,
    get_status_color,
    labelled_datetime,
    local_datetime,
    register_filters,
    truncate_text,
)

# --- format_datetime_msk -------------------------------------------------------------------


def test_naive_datetime_is_utc_shown_in_moscow() -> None:
    """A naive time is UTC; Moscow is UTC+3 all year."""
    assert format_datetime_msk(datetime(2024, 1, 15, 11, 30)) == "15.01.2024 14:30"
    assert format_datetime_msk(datetime(2024, 7, 15, 11, 30)) == "15.07.2024 14:30"  # no DST


def test_conversion_crosses_midnight_and_year() -> None:
    """The date follows the shifted time."""
    assert format_datetime_msk(datetime(2023, 12, 31, 22, 15)) == "01.01.2024 01:15"


def test_aware_datetime_is_converted() -> None:
    """An aware time in another zone is converted, not reinterpreted."""
    vladivostok = timezone(timedelta(hours=10))
    assert (
        format_datetime_msk(datetime(2024, 3, 1, 12, 0, tzinfo=vladivostok)) == "01.03.2024 05:00"
    )
    assert format_datetime_msk(datetime(2024, 3, 1, 12, 0, tzinfo=UTC)) == "01.03.2024 15:00"


def test_custom_format() -> None:
    """The format string is the second argument, as in the seed."""
    moment = datetime(2024, 1, 15, 11, 30, 45)
    assert format_datetime_msk(moment, "%Y-%m-%d %H:%M:%S") == "2024-01-15 14:30:45"
    assert format_datetime_msk(moment, format_string="%H:%M") == "14:30"


def test_none_is_empty() -> None:
    """No time shows as nothing."""
    assert format_datetime_msk(None) == ""


def test_timezone_is_configurable() -> None:
    """DISPLAY_TIMEZONE changes the zone inside an app."""
    app = Flask(__name__)
    app.config["DISPLAY_TIMEZONE"] = "Asia/Yekaterinburg"  # UTC+5
    with app.app_context():
        assert format_datetime_msk(datetime(2024, 1, 15, 11, 30)) == "15.01.2024 16:30"
    assert format_datetime_msk(datetime(2024, 1, 15, 11, 30)) == "15.01.2024 14:30"


# --- get_status_color ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "colour"),
    [
        ("In Progress", "warning"),
        ("in progress", "warning"),
        ("  IN PROGRESS ", "warning"),
        ("New", "primary"),
        ("Resolved", "success"),
        ("Feedback", "info"),
        ("Closed", "secondary"),
        ("Rejected", "danger"),
        ("Новая", "primary"),
        ("В работе", "warning"),
        ("Решена", "success"),
        ("Обратная связь", "info"),
        ("Закрыта", "secondary"),
        ("Отклонена", "danger"),
    ],
)
def test_status_colours(status: str, colour: str) -> None:
    """English and Russian status names map to Bootstrap colours, ignoring case."""
    assert get_status_color(status) == colour


@pytest.mark.parametrize("status", ["Something else", "", None])
def test_unknown_status_is_secondary(status: str | None) -> None:
    """Unknown or missing statuses are grey."""
    assert get_status_color(status) == "secondary"


# --- get_priority_icon ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("priority", "icon"),
    [
        ("High", "fas fa-exclamation-triangle text-danger"),
        ("high", "fas fa-exclamation-triangle text-danger"),
        ("Высокий", "fas fa-exclamation-triangle text-danger"),
        ("Low", "fas fa-arrow-down text-secondary"),
        ("Низкий", "fas fa-arrow-down text-secondary"),
        ("Normal", "fas fa-minus text-primary"),
        ("Нормальный", "fas fa-minus text-primary"),
        ("Urgent", "fas fa-exclamation-circle text-danger"),
        ("Срочный", "fas fa-exclamation-circle text-danger"),
        ("Immediate", "fas fa-bolt text-danger"),
        ("Немедленный", "fas fa-bolt text-danger"),
    ],
)
def test_priority_icons(priority: str, icon: str) -> None:
    """English and Russian priority names map to Font Awesome classes."""
    assert get_priority_icon(priority) == icon


@pytest.mark.parametrize("priority", ["Whenever", "", None])
def test_unknown_priority_has_a_neutral_icon(priority: str | None) -> None:
    """Unknown priorities still get an icon, a neutral one."""
    assert get_priority_icon(priority) == "fas fa-minus text-secondary"


# --- truncate_text -------------------------------------------------------------------------


def test_short_text_is_unchanged() -> None:
    """Text within the limit is returned as it is (the limit is inclusive)."""
    assert truncate_text("hello", 10) == "hello"
    assert truncate_text("x" * 100) == "x" * 100
    assert truncate_text("exactly10!", 10) == "exactly10!"


def test_long_text_is_cut_with_suffix_within_limit() -> None:
    """Longer text is cut so that the result, suffix included, fits the limit."""
    result = truncate_text("x" * 101)
    assert result == "x" * 97 + "..."
    assert len(result) == 100
    assert truncate_text("abcdefghijk", 10) == "abcdefg..."


def test_trailing_space_is_not_left_before_the_suffix() -> None:
    """A cut at a word boundary does not leave 'word ...'."""
    assert truncate_text("hello world again", 9) == "hello..."


def test_custom_suffix() -> None:
    """The suffix can be changed, and still counts towards the limit."""
    assert truncate_text("abcdefghijk", 6, suffix="…") == "abcde…"
    assert truncate_text("abcdefghijk", 6, suffix="") == "abcdef"


@pytest.mark.parametrize(
    ("max_length", "expected"), [(0, ""), (1, "a"), (2, "ab"), (3, "..."), (4, "a...")]
)
def test_tiny_limits_never_exceed_max_length(max_length: int, expected: str) -> None:
    """Even a limit shorter than the suffix is respected."""
    assert truncate_text("abcdefghijk", max_length) == expected
    assert len(truncate_text("abcdefghijk", max_length)) <= max_length


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_text(empty: str | None) -> None:
    """Nothing in, nothing out."""
    assert truncate_text(empty) == ""


# --- as Jinja filters ----------------------------------------------------------------------


def test_helpers_are_template_filters_and_globals() -> None:
    """Templates can use each helper as a filter or call it as a function."""
    app = Flask(__name__)
    register_filters(app)
    with app.app_context():
        rendered = render_template_string(
            "{{ when | format_datetime_msk }}|{{ 'In Progress' | get_status_color }}|"
            "{{ get_priority_icon('High') }}|{{ text | truncate_text(8) }}|"
            "{{ format_datetime_msk(when, '%H:%M') }}",
            when=datetime(2024, 1, 15, 11, 30),
            text="a long sentence",
        )
    assert rendered == (
        "15.01.2024 14:30|warning|fas fa-exclamation-triangle text-danger|a lon...|14:30"
    )


def test_truncated_text_is_still_escaped_in_templates() -> None:
    """Truncation returns plain text, which Jinja escapes."""
    app = Flask(__name__)
    register_filters(app)
    with app.app_context():
        rendered = render_template_string(
            "{{ text | truncate_text(40) }}", text="<script>alert(1)</script>"
        )
    assert rendered == "&lt;script&gt;alert(1)&lt;/script&gt;"


# --- local_datetime and labelled_datetime ---------------------------------------------------


@pytest.fixture
def babel_app() -> Flask:
    """An app with Flask-Babel in Moscow time and the helpers as filters."""
    from flask_babel import Babel

    app = Flask(__name__)
    app.config.update(BABEL_DEFAULT_LOCALE="ru", BABEL_DEFAULT_TIMEZONE="Europe/Moscow")
    Babel(app)
    register_filters(app)
    return app


def test_a_page_time_names_its_instant_for_the_zone_label(babel_app: Flask) -> None:
    """Pages get the short form in the reader's zone inside a <time> that names the instant in
    UTC, from which the page adds the zone's label when the browser's clock is elsewhere."""
    with babel_app.test_request_context():
        shown = local_datetime(datetime(2026, 12, 7, 10, 25, 30))
        assert shown == (
            '<time class="local-time" datetime="2026-12-07T10:25:30Z">07.12.2026, 13:25</time>'
        )
        assert local_datetime("2026-12-07T10:25:30+00:00") == shown
        assert local_datetime(None) == ""


@pytest.mark.parametrize(
    ("language", "zone", "expected"),
    [
        ("ru", None, "07.12.2026, 13:25 GMT+03:00"),  # the reader's (here: the company's) zone
        ("ru", "Asia/Kolkata", "07.12.2026, 15:55 GMT+05:30"),
        ("en", "America/New_York", "12/7/26, 5:25\u202fAM GMT-05:00"),
        ("en", "UTC", "12/7/26, 10:25\u202fAM GMT+00:00"),
    ],
)
def test_a_time_read_outside_the_pages_always_carries_its_zone(
    babel_app: Flask, language: str, zone: str | None, expected: str
) -> None:
    from flask_babel import force_locale

    with babel_app.test_request_context(), force_locale(language):
        assert labelled_datetime(datetime(2026, 12, 7, 10, 25), zone) == expected
        assert labelled_datetime("2026-12-07T10:25:00", zone) == expected
