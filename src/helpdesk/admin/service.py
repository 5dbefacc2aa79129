"""Account administration: create, lock, unlock, delete, reset a password; callers commit."""

from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError

from helpdesk.core.errors import APIException
from helpdesk.extensions import db
from helpdesk.tasks.models import Journal, Task
from helpdesk.users import service
from helpdesk.users.models import PERMISSION_FLAGS, User

TEMPORARY_PASSWORD_BYTES = 12  # 16 URL-safe characters


def temporary_password() -> str:
    """A random password to hand over once; strong enough for any password rule here."""
    return secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)


def create_account(
    username: str, email: str, auth_source: str, flags: dict[str, bool], **profile: str | None
) -> tuple[User, str | None]:
    """A new account, and its temporary password when the helpdesk keeps its password (an
    account of a directory or Redmine signs in there and has none here)."""
    taken = APIException(
        _("This username or e-mail already has an account."),
        409,
        {"errors": {"username": [_("Already taken.")], "email": [_("Already taken.")]}},
    )
    if service.username_taken(username) or service.email_taken(email):
        raise taken
    password = temporary_password() if auth_source == "local" else None
    flags = {flag: bool(flags.get(flag)) for flag in PERMISSION_FLAGS}
    try:
        user = service.create_user(username, email, password, auth_source, **profile, **flags)
    except IntegrityError:  # the same name added at the same moment by someone else
        db.session.rollback()
        raise taken from None
    return user, password


def _not_yourself(user: User, actor: User) -> None:
    """An administrator cannot lock or delete their own account (no lock-out)."""
    if user.id == actor.id:
        raise APIException(_("You cannot do this to your own account."), 409)


def lock(user: User, actor: User) -> None:
    """No more sign-ins; every session, remember-me cookie and API token stops working."""
    _not_yourself(user, actor)
    user.locked = True
    service.end_all_sessions(user)


def unlock(user: User) -> None:
    """Sign-ins work again (sessions ended by the lock stay ended)."""
    user.locked = False
    db.session.flush()


def has_history(user: User) -> bool:
    """Whether tasks or their history name the user: those must keep their author."""
    return bool(
        db.session.scalar(
            select(
                exists().where(or_(Task.author_id == user.id, Task.assigned_to_id == user.id))
                | exists().where(Journal.user_id == user.id)
            )
        )
    )


def delete(user: User, actor: User) -> None:
    """Remove an account that took part in no task (its notifications, tokens, subscriptions
    and posts go with it); one with history is locked instead, so its tasks keep their names."""
    _not_yourself(user, actor)
    in_use = APIException(
        _(
            "%(name)s appears in tasks or their history: lock the account instead.",
            name=user.username,
        ),
        409,
    )
    if has_history(user):
        raise in_use
    db.session.delete(user)
    try:
        db.session.flush()
    except IntegrityError:  # something else still names the user
        db.session.rollback()
        raise in_use from None


def reset_password(user: User) -> str:
    """A new temporary password for a local account (its sessions end)."""
    if user.auth_source != "local":
        raise APIException(
            _(
                "%(name)s signs in with %(source)s: the password is changed there.",
                name=user.username,
                source=user.auth_source,
            ),
            409,
        )
    password = temporary_password()
    service.change_password(user, password)
    return password
