"""What the serving process runs on: plain threads, or greenlets after gevent's patching."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


def gevent_patched() -> bool:
    """Whether gevent patched the standard library here (gunicorn's gevent worker)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def off_the_hub(function: Callable[..., Result], *args: Any) -> Result:
    """Run slow work that releases the GIL (bcrypt) on a real thread under gevent, so that one
    login does not pause every other connection of the worker; elsewhere simply call it."""
    if gevent_patched():
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)
