"""The off-hours policy on fixed clocks, and the seed's CacheManager and
weekend_performance_optimizer on the application's one cache (SimpleCache here)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from helpdesk import create_app
from helpdesk.config import ConfigurationError
from helpdesk.core.cache_manager import (
    CacheManager,
    WorkingTime,
    lifetime,
    weekend_performance_optimizer,
)
from helpdesk.core.metrics import cache_counts

DEFAULTS = {
    "WORKING_HOURS": "09:00-18:00",
    "WORKING_DAYS": ("mon", "tue", "wed", "thu", "fri"),
    "DISPLAY_TIMEZONE": "Europe/Moscow",  # UTC+3 all year
    "CACHE_OFF_HOURS_FACTOR": 4,
}


def policy(**changes: Any) -> WorkingTime:
    """The policy of the defaults with some settings changed."""
    return WorkingTime.from_config({**DEFAULTS, **changes})


def utc(text: str) -> datetime:
    """A fixed UTC moment, "2026-12-07 06:00" (a Monday)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        ("2026-12-07 05:59", False),  # Monday 08:59 in Moscow
        ("2026-12-07 06:00", True),  # Monday 09:00
        ("2026-12-07 14:59", True),  # Monday 17:59
        ("2026-12-07 15:00", False),  # Monday 18:00: the end is not working time
        ("2026-12-11 12:00", True),  # Friday 15:00
        ("2026-12-12 12:00", False),  # Saturday 15:00
        ("2026-12-13 12:00", False),  # Sunday 15:00
        ("2026-12-06 22:00", False),  # Monday 01:00 in Moscow, still Sunday in UTC
    ],
)
def test_working_time_is_read_in_the_display_timezone(moment: str, working: bool) -> None:
    assert policy().is_working(utc(moment)) is working


def test_lifetimes_grow_by_the_factor_only_off_hours() -> None:
    rules = policy(CACHE_OFF_HOURS_FACTOR=6)
    assert rules.lifetime(60, utc("2026-12-08 10:00")) == 60  # Tuesday 13:00
    assert rules.lifetime(60, utc("2026-12-08 20:00")) == 360  # Tuesday 23:00
    assert rules.lifetime(60, utc("2026-12-12 10:00")) == 360  # Saturday
    assert rules.lifetime(0, utc("2026-12-12 10:00")) == 0  # "for ever" stays for ever


def test_hours_that_pass_midnight_belong_to_the_day_they_start() -> None:
    night = policy(WORKING_HOURS="22:00-06:00", WORKING_DAYS=("fri",), DISPLAY_TIMEZONE="UTC")
    assert night.is_working(utc("2026-12-11 23:00"))  # Friday night
    assert night.is_working(utc("2026-12-12 05:00"))  # Saturday early: Friday's shift
    assert not night.is_working(utc("2026-12-12 23:00"))  # Saturday night: no shift
    assert not night.is_working(utc("2026-12-11 05:00"))  # Friday early: Thursday's shift


def test_days_may_be_written_as_one_comma_list_and_naive_times_are_utc() -> None:
    weekend = policy(WORKING_DAYS="sat, SUN", DISPLAY_TIMEZONE="UTC")
    assert weekend.is_working(datetime(2026, 12, 12, 10, 0))
    assert not weekend.is_working(datetime(2026, 12, 11, 10, 0))


@pytest.mark.parametrize(
    ("setting", "value", "words"),
    [
        ("WORKING_HOURS", "9-18", "WORKING_HOURS must be two times"),
        ("WORKING_HOURS", "09:00-09:00", "starts when it ends"),
        ("WORKING_DAYS", ("mon", "funday"), "not funday"),
        ("DISPLAY_TIMEZONE", "Mars/Olympus", "no known time zone"),
        ("CACHE_OFF_HOURS_FACTOR", 0, "at least 1"),
    ],
)
def test_a_setting_that_cannot_be_read_stops_start_up(setting: str, value: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        policy(**{setting: value})
    with pytest.raises(ConfigurationError, match=words):
        create_app("testing", **{setting: value})


@pytest.fixture
def app() -> Iterator[Flask]:
    """An app with the in-process cache and the default working days, in a request (each
    request has its own context, so nothing read in one is held in the next)."""
    application = create_app("testing")
    with application.test_request_context():
        yield application


def test_the_current_apps_policy_sets_the_lifetime(app: Flask) -> None:
    assert lifetime(300, utc("2026-12-08 10:00")) == 300
    assert lifetime(300, utc("2026-12-12 10:00")) == 1200


def test_the_managers_get_set_delete_and_clear(app: Flask) -> None:
    one, other = CacheManager(name="one"), CacheManager(60, name="other")
    assert one.default_timeout == 300
    assert one.get("k", "none") == "none"
    one.set("k", {"a": 1})
    other.set("k", [2])
    assert one.get("k") == {"a": 1}
    assert other.get("k") == [2]  # names keep managers apart
    one.delete("k")
    assert one.get("k") is None
    assert other.get("k") == [2]
    other.clear()
    assert other.get("k") is None
    counts = cache_counts()
    assert counts["one"]["hits"] >= 1
    assert counts["one"]["misses"] >= 2
    assert counts["other"]["hits"] >= 1


def test_a_tags_keys_are_dropped_together(app: Flask) -> None:
    tasks = CacheManager(name="tagged")
    first = tasks.tagged("task:7", "alice")
    tasks.set(first, "seen by alice")
    tasks.set(tasks.tagged("task:8", "alice"), "another task")
    assert tasks.get(tasks.tagged("task:7", "alice")) == "seen by alice"
    tasks.invalidate("task:7")
    assert tasks.tagged("task:7", "alice") != first
    assert tasks.get(tasks.tagged("task:7", "alice")) is None
    assert tasks.get(tasks.tagged("task:8", "alice")) == "another task"


class Source:
    """Counts how often the decorated methods really run."""

    def __init__(self) -> None:
        self.calls = 0

    @weekend_performance_optimizer(name="test-source", timeout=30)
    def square(self, number: int) -> int:
        """The square, counted."""
        self.calls += 1
        return number * number


@weekend_performance_optimizer
def shout(word: str) -> str:
    """Upper case, once."""
    return word.upper() + "!"


def test_the_decorator_keeps_results_by_argument_leaving_self_out(app: Flask) -> None:
    source = Source()
    assert source.square(3) == 9
    assert source.square(3) == 9
    assert source.calls == 1
    assert Source().square(3) == 9  # another instance: the same key (one backend per app)
    assert source.square(4) == 16
    assert source.calls == 2
    assert shout("hi") == "HI!"
    assert cache_counts()["test-source"]["misses"] >= 2


def test_the_decorator_reads_once_per_request_then_from_the_shared_cache() -> None:
    application = create_app("testing")
    source = Source()
    with application.test_request_context():
        source.square(5)
        hits = cache_counts()["test-source"]["hits"]
        source.square(5)
        assert cache_counts()["test-source"]["hits"] == hits  # held by the request
    with application.test_request_context():
        assert source.square(5) == 25
        assert cache_counts()["test-source"]["hits"] == hits + 1  # the shared cache's
    assert source.calls == 1


def test_the_decorator_refuses_arguments_it_cannot_name(app: Flask) -> None:
    source = Source()
    with pytest.raises(TypeError, match="simple values"):
        source.square([1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="positional"):
        source.square(number=2)
