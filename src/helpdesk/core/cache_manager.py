"""The seed's CacheManager and weekend_performance_optimizer over the application's one cache
(extensions.cache: in the process, or Redis shared by every process), with the off-hours policy.

Outside WORKING_HOURS on WORKING_DAYS (read in DISPLAY_TIMEZONE) few people change anything, so
every lifetime given here grows by CACHE_OFF_HOURS_FACTOR. A longer lifetime stays safe because
what a change touches is dropped by name when the change is seen (`invalidate`), not left to
expire. Each manager counts its hits and misses under its name (core/metrics.py: /metrics and the
`caches` part of /admin/metrics).
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, g, has_request_context

from helpdesk.config import ConfigurationError
from helpdesk.core.metrics import note_cache
from helpdesk.extensions import cache

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # datetime.weekday() order
EXTENSION = "working_time"  # app.extensions key
MEMO_KEY = "memoized"  # in flask.g: what weekend_performance_optimizer read this request
SIMPLE_ARGUMENTS = (str, int, float, bool, type(None))

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class WorkingTime:
    """When people work (the hours of a working day, the days, the zone they are read in) and
    how much longer cached things may live outside it."""

    start: time
    end: time
    days: frozenset[int]
    zone: ZoneInfo
    factor: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkingTime:
        """Read WORKING_HOURS, WORKING_DAYS, DISPLAY_TIMEZONE and CACHE_OFF_HOURS_FACTOR; a
        value that cannot be read stops start-up with one sentence."""
        hours = str(config["WORKING_HOURS"])
        try:
            first, last = (time.fromisoformat(part.strip()) for part in hours.split("-"))
        except ValueError:
            raise ConfigurationError(
                f"WORKING_HOURS must be two times like 09:00-18:00, not {hours!r}."
            ) from None
        if first == last:
            raise ConfigurationError(f"WORKING_HOURS {hours!r} starts when it ends.")
        days = config["WORKING_DAYS"]
        names = [days] if isinstance(days, str) else list(days)
        names = [part.strip().lower() for name in names for part in name.split(",") if part.strip()]
        unknown = [name for name in names if name not in WEEKDAYS]
        if unknown:
            raise ConfigurationError(
                f"WORKING_DAYS must name days as {','.join(WEEKDAYS)}, not {','.join(unknown)}."
            )
        try:
            zone = ZoneInfo(str(config["DISPLAY_TIMEZONE"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"DISPLAY_TIMEZONE {config['DISPLAY_TIMEZONE']!r} is no known time zone."
            ) from None
        factor = config["CACHE_OFF_HOURS_FACTOR"]
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise ConfigurationError(
                f"CACHE_OFF_HOURS_FACTOR must be a whole number of at least 1, not {factor!r}."
            )
        return cls(first, last, frozenset(WEEKDAYS.index(name) for name in names), zone, factor)

    def is_working(self, moment: datetime) -> bool:
        """Whether a moment (aware, or naive UTC) falls in working hours on a working day; hours
        that pass midnight (22:00-06:00) belong to the day they start on."""
        local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(self.zone)
        clock = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= clock < self.end
        if clock >= self.start:
            return local.weekday() in self.days
        return clock < self.end and (local.weekday() - 1) % 7 in self.days

    def lifetime(self, seconds: int, moment: datetime) -> int:
        """A cache lifetime at that moment: as given in working time, longer outside it (0,
        Flask-Caching's "for ever", stays 0)."""
        return seconds if self.is_working(moment) else seconds * self.factor


def init_working_time(app: Any) -> None:
    """Check the off-hours settings at start-up and keep them for the app."""
    app.extensions[EXTENSION] = WorkingTime.from_config(app.config)


def lifetime(seconds: int, moment: datetime | None = None) -> int:
    """A lifetime under the current app's off-hours policy, now or at the given moment."""
    policy: WorkingTime = current_app.extensions[EXTENSION]
    return policy.lifetime(seconds, moment or datetime.now(UTC))


class CacheManager:
    """A named part of the application's cache: the seed's get/set/delete/clear, with its
    lifetimes under the off-hours policy and its reads counted under its name."""

    def __init__(self, default_timeout: int = 300, name: str = "default") -> None:
        self.default_timeout = default_timeout
        self.name = name

    def key(self, key: str) -> str:
        """The key in the shared cache: names keep managers apart."""
        return f"{self.name}:{key}"

    def get(self, key: str, default: Any = None) -> Any:
        """The value kept under key, else default (a kept None reads as missing)."""
        value = cache.get(self.key(key))
        note_cache(self.name, hit=value is not None)
        return default if value is None else value

    def set(self, key: str, value: Any, timeout: int | None = None) -> None:
        """Keep a value for timeout seconds (default_timeout if None), longer off hours."""
        seconds = self.default_timeout if timeout is None else timeout
        cache.set(self.key(key), value, timeout=lifetime(seconds))

    def delete(self, key: str) -> None:
        """Forget one key."""
        cache.delete(self.key(key))

    def clear(self) -> None:
        """Forget everything in the application's cache (every manager's keys and the lookups:
        all of it can be read again; sessions live elsewhere)."""
        cache.clear()

    def version(self, tag: str) -> str:
        """The current version of a tag (a task, say): keys built on it are dropped all at once
        by invalidate(). A version that expired is named anew, so its keys are only missed."""
        key = self.key(f"version:{tag}")
        found: str | None = cache.get(key)
        if found is None:
            cache.add(key, uuid.uuid4().hex, timeout=lifetime(self.default_timeout) * 2)
            found = cache.get(key)
        return found or ""

    def tagged(self, tag: str, key: str) -> str:
        """A key that lives as long as the tag's current version. Read the version before
        loading what is kept under it: a change invalidated meanwhile then goes to a version
        nobody reads again, never staying for the whole lifetime."""
        return f"{tag}:{self.version(tag)}:{key}"

    def invalidate(self, tag: str) -> None:
        """Drop every key of a tag, in every process sharing the cache."""
        cache.set(
            self.key(f"version:{tag}"), uuid.uuid4().hex, timeout=lifetime(self.default_timeout) * 2
        )


def call_key(function: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """The cache key of a call: the function's full name and its (simple) arguments."""
    wrong = [type(arg).__name__ for arg in args if not isinstance(arg, SIMPLE_ARGUMENTS)]
    if wrong:
        raise TypeError(
            f"{function.__qualname__} is memoized by its arguments, which must be simple values,"
            f" not {', '.join(wrong)}"
        )
    return f"{function.__module__}.{function.__qualname__}{args!r}"


def weekend_performance_optimizer(
    function: Callable[P, R] | None = None, *, name: str | None = None, timeout: int = 300
) -> Any:
    """The seed's decorator: a function's result kept in the application's cache under the
    off-hours policy (and read once per request), by its positional arguments; a method's
    `self` is left out of the key (one backend per app). Bare or as
    `@weekend_performance_optimizer(name=..., timeout=...)`; None results are not kept."""

    def decorate(wrapped: Callable[P, R]) -> Callable[P, R]:
        manager = CacheManager(timeout, name or wrapped.__qualname__)
        parameters = list(inspect.signature(wrapped).parameters)
        skip = 1 if parameters[:1] == ["self"] else 0

        @functools.wraps(wrapped)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if kwargs:
                raise TypeError(f"{wrapped.__qualname__} takes positional arguments only")
            key = call_key(wrapped, args[skip:])
            held: dict[str, Any] = g.setdefault(MEMO_KEY, {}) if has_request_context() else {}
            if key in held:
                return held[key]
            value = manager.get(key)
            if value is None:
                value = wrapped(*args, **kwargs)
                if value is not None:
                    manager.set(key, value)
            held[key] = value
            return value

        return wrapper

    return decorate(function) if function is not None else decorate
