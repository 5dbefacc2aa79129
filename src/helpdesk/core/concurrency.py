"""What the serving process runs on: plain threads, or greenlets after gevent's patching."""

from __future__ import annotations

import sys
import threading
import time
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


class Background:
    """A call running on a daemon thread (a greenlet under gevent), waited for with a limit: for
    drivers with no timeout of their own for every stage (python-oracledb's thin handshake waits
    for a server that accepted the connection and never answers). A call past its limit is left
    to end when its server does, and never keeps the process from exiting."""

    def __init__(self, function: Callable[[], Any]):
        self.value: Any = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.started = time.perf_counter()
        self.elapsed = 0.0
        self.function = function
        threading.Thread(target=self.run, daemon=True, name="background-call").start()

    def run(self) -> None:
        """Call, keeping what it returned or raised and how long it took."""
        try:
            self.value = self.function()
        except Exception as error:
            self.error = error
        finally:
            self.elapsed = time.perf_counter() - self.started
            self.done.set()

    def wait(self, seconds: float) -> bool:
        """Whether the call ended within seconds."""
        return self.done.wait(max(seconds, 0.0))


def within(seconds: float, function: Callable[[], Result]) -> Result:
    """The function's result, or TimeoutError when it takes longer than seconds."""
    call = Background(function)
    if not call.wait(seconds):
        raise TimeoutError(f"no answer within {seconds:g} s")
    if call.error is not None:
        raise call.error
    return call.value
