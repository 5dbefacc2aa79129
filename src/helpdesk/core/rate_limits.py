"""Rate limits live on the views that declare one (`rate_limit`); no other request is checked.

The application has no default or application-wide limits, so Flask-Limiter's check before every
request could only ever find nothing to do outside the limited views; its public request filter
skips that work for any view not declared here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request

from helpdesk.extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])
LIMITED = "helpdesk_rate_limited"  # set on a view that declares a limit


def rate_limit(limit_value: str | Callable[[], str], **options: Any) -> Callable[[F], F]:
    """Flask-Limiter's limit on a view, marked so that the view's requests are checked."""

    def decorator(view: F) -> F:
        limited = limiter.limit(limit_value, **options)(view)
        setattr(limited, LIMITED, True)
        return limited  # type: ignore[return-value]

    return decorator


@limiter.request_filter
def declares_no_limit() -> bool:
    """Exempt a request whose view declares no limit (registered once, on the one limiter)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, LIMITED, False)
