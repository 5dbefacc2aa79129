"""No rate-limiter work around the views that have no limit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.globals import request_ctx

from helpdesk.extensions import limiter

# Where Flask-Limiter keeps a request's limits, made when a limited view first checks one.
LIMITER_CONTEXT = "_limiter_request_context"


def register_limits(app: Flask) -> None:
    """Bind the limiter without its work around every request. The helpdesk sets no default or
    application limits, only limits on views, and a view that limiter.limit decorated checks
    its own (Flask-Limiter's wrapper, pinned in pyproject.toml); the check before each request
    found nothing to do, and the headers after it and the reset at teardown have nothing to do
    for a request that met no limit: together about a twentieth of a small request. The
    login-limit and rate-limit header tests fail if either stops working."""
    limiter.init_app(app)
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    after, teardown = app.after_request_funcs[None], app.teardown_request_funcs[None]
    at = _index_of_limiters(after)  # functools.partial(Limiter.__inject_headers, limiter)
    after[at] = only_if_limited(after[at])
    at = _index_of_limiters(teardown)  # limiter.__release_context
    teardown[at] = only_if_limited(teardown[at])


def _index_of_limiters(hooks: list[Callable[..., Any]]) -> int:
    """Where the limiter's own hook is in an app's list of hooks."""
    for index, hook in enumerate(hooks):
        if getattr(hook, "__self__", None) is limiter or getattr(hook, "args", ()) == (limiter,):
            return index
    raise RuntimeError("Flask-Limiter registered its hooks differently: see helpdesk.core.limits")


def only_if_limited(hook: Callable[..., Any]) -> Callable[..., Any]:
    """The limiter's hook for a request that met a limit; the rest pass their first argument
    through (the response an after-request hook must return; teardown's return is ignored)."""

    def hook_if_limited(*args: Any) -> Any:
        if hasattr(request_ctx, LIMITER_CONTEXT):
            return hook(*args)
        return args[0] if args else None

    return hook_if_limited
