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


def taking_turns(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Under gevent, yield to the other connections before each request: a keep-alive client
    whose next request is already waiting would otherwise be served on and on while the rest of
    the worker's connections wait (p99 of 0.1-3 s at 8 clients). gevent.idle(), not sleep(0):
    that resumes before the loop polls the sockets, so requests that arrived meanwhile still wait;
    nor a short timer: libev rounds its poll up to 1 ms, which an idle worker then waited out."""
    if not gevent_patched():
        return wsgi_app
    import gevent

    def turn(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        gevent.idle()
        return wsgi_app(environ, start_response)

    return turn
