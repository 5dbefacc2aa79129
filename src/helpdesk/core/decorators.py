"""View decorators for the seed's permission flags."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from helpdesk.extensions import login_manager

F = TypeVar("F", bound=Callable[..., Any])


def permission_required(flag: str) -> Callable[[F], F]:
    """Require a logged-in user whose boolean attribute `flag` is true (admins pass every check)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user._get_current_object()  # one lookup through the proxy, not three
            if not user.is_authenticated:
                return login_manager.unauthorized()
            if not (user.is_admin or getattr(user, flag, False)):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def admin_required(view: F) -> F:
    """Require administrative privileges."""
    return permission_required("is_admin")(view)


def redmine_user_required(view: F) -> F:
    """Require access to tasks (the seed's is_redmine_user flag)."""
    return permission_required("is_redmine_user")(view)
