"""Account operations shared by the pages, the JSON API and the CLI; callers commit."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import bcrypt as bcrypt_lib
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from helpdesk.core.images import store_image
from helpdesk.extensions import db
from helpdesk.users.models import PERMISSION_FLAGS, User, new_session_token, password_matches

PROFILE_FIELDS = ("full_name", "department", "position", "office", "phone")
COMMON_PASSWORDS = frozenset(
    {
        "password",
        "password1",
        "qwerty123",
        "qwertyuiop",
        "iloveyou",
        "11111111",
        "12345678",
        "123456789",
        "1234567890",
        "abcdefgh",
        "abc12345",
        "letmein1",
        "welcome1",
        "admin123",
        "passw0rd",
        "p@ssw0rd",
        "changeme",
        "helpdesk",
    }
)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_BYTES = 72  # bcrypt ignores anything beyond


def password_problem(password: str, username: str | None = None) -> str | None:
    """Why a password is too weak, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(count)d characters.", count=MIN_PASSWORD_LENGTH)
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return _("Use at most %(count)d bytes.", count=MAX_PASSWORD_BYTES)
    if password.isdigit():
        return _("Use letters as well as digits.")
    if password.lower() in COMMON_PASSWORDS or (username and password.lower() == username.lower()):
        return _("This password is too easy to guess.")
    return None


def find_by_login(login: str) -> User | None:
    """The user whose username or e-mail is login, ignoring case."""
    login = login.strip().lower()
    return db.session.scalar(
        select(User).where((func.lower(User.username) == login) | (User.email == login))
    )


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    """A hash of nothing at the configured cost, made once per process."""
    return bcrypt_lib.hashpw(b"no-such-user", bcrypt_lib.gensalt(rounds)).decode("ascii")


def dummy_hash() -> str:
    """Compared against when the user does not exist, so a miss costs what a wrong password does."""
    return _dummy_hash(current_app.config.get("BCRYPT_LOG_ROUNDS", 12))


def authenticate(login: str, password: str) -> User | None:
    """The user if the password matches; a miss takes as long as a wrong password."""
    user = find_by_login(login)
    stored = user.password if user is not None else dummy_hash()
    db.session.rollback()  # end the read: no lock is held through the slow hash
    return user if password_matches(stored, password) and user is not None else None


def username_taken(username: str, exclude_id: int | None = None) -> bool:
    """Whether another user already has this username (case-insensitive)."""
    query = select(User.id).where(func.lower(User.username) == username.strip().lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.scalar(query) is not None


def email_taken(email: str, exclude_id: int | None = None) -> bool:
    """Whether another user already has this e-mail address."""
    query = select(User.id).where(User.email == email.strip().lower())
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    return db.session.scalar(query) is not None


def _clean(value: str | None) -> str | None:
    """Trimmed text, or None for an empty field."""
    value = (value or "").strip()
    return value or None


def account_exists(username: str, email: str, password: str) -> bool:
    """Whether the username or the e-mail (either, ignoring case) already has an account. Both
    are looked up, and a refusal spends the password hash an account would have cost, so the
    answer takes as long either way."""
    taken = username_taken(username) | email_taken(email)
    if taken:
        password_matches(dummy_hash(), password)
    return taken


def create_user(
    username: str, email: str, password: str | None, auth_source: str = "local", **profile: Any
) -> User:
    """Add a user: with a hashed password, or none for one whose source checks it."""
    user = User(username=username.strip(), email=email.strip().lower(), auth_source=auth_source)
    for name in PROFILE_FIELDS:
        setattr(user, name, _clean(profile.get(name)))
    for flag in PERMISSION_FLAGS:
        setattr(user, flag, bool(profile.get(flag, False)))
    if password is None:
        user.password = ""
    else:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def update_profile(user: User, data: dict[str, Any], picture: FileStorage | None) -> str | None:
    """Apply profile changes; returns the replaced avatar to delete once the change is committed.

    A rejected picture raises ImageRejected before anything changes.
    """
    new_image = None
    if picture is not None and picture.filename:
        new_image = store_image(picture, "avatars", current_app.config["AVATAR_SIZE"])
    if user.auth_source == "local":  # a directory's user keeps the name and address it gives
        user.username = data["username"].strip()
        user.email = data["email"].strip().lower()
    for name in PROFILE_FIELDS:
        setattr(user, name, _clean(data.get(name)))
    user.language = data.get("language") or None
    user.timezone = data.get("timezone") or None
    replaced = None
    if new_image:
        replaced, user.image_file = user.image_file, new_image
    db.session.flush()
    return replaced


def change_password(user: User, new_password: str) -> None:
    """Set a new password, which ends the user's other sessions."""
    user.set_password(new_password)
    db.session.flush()


def end_all_sessions(user: User) -> None:
    """A new session token: every session and remember-me cookie of the user stops working
    (Flask-Login's remember cookie holds the same "id:token" as the sessions)."""
    user.session_token = new_session_token()
    db.session.flush()


def set_permissions(user: User, flags: dict[str, bool], actor: User) -> None:
    """Set permission flags; an admin cannot remove their own admin right (no lock-out)."""
    for flag in PERMISSION_FLAGS:
        if flag in flags:
            setattr(user, flag, bool(flags[flag]))
    if user.id == actor.id:
        user.is_admin = True
    db.session.flush()
