"""The application's one cache (extensions.cache): lookups now, and what later backends keep."""

from __future__ import annotations

from flask import Flask

from helpdesk.core.cache_manager import init_working_time
from helpdesk.extensions import cache

CACHE_TYPES = ("SimpleCache", "RedisCache")


def register_cache(app: Flask) -> None:
    """Bind the cache: in the process for one process, in Redis when several share the work, so
    that an invalidation reaches every one of them; and check its off-hours policy."""
    init_working_time(app)
    kind = app.config["CACHE_TYPE"]
    if kind not in CACHE_TYPES:
        raise RuntimeError(f"CACHE_TYPE must be 'SimpleCache' or 'RedisCache', not {kind!r}")
    if kind == "RedisCache":
        seconds = float(app.config["REDIS_TIMEOUT"])
        timeouts = {"socket_timeout": seconds, "socket_connect_timeout": seconds}
        cache.init_app(app, {"CACHE_OPTIONS": timeouts})
    else:
        cache.init_app(app)
