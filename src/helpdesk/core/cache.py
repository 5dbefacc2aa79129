"""The application's one cache (extensions.cache): lookups now, and what later backends keep."""

from __future__ import annotations

from flask import Flask

from helpdesk.extensions import cache

CACHE_TYPES = ("SimpleCache", "RedisCache")
REDIS_TIMEOUT_SECONDS = 2.0


def register_cache(app: Flask) -> None:
    """Bind the cache: in the process for one process, in Redis when several share the work, so
    that an invalidation reaches every one of them."""
    kind = app.config["CACHE_TYPE"]
    if kind not in CACHE_TYPES:
        raise RuntimeError(f"CACHE_TYPE must be 'SimpleCache' or 'RedisCache', not {kind!r}")
    if kind == "RedisCache":
        timeouts = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
        cache.init_app(app, {"CACHE_OPTIONS": timeouts})
    else:
        cache.init_app(app)
