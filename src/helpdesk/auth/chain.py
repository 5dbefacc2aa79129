"""The sign-in chain: a known user is checked by their own source only; a newcomer is tried
against AUTH_PROVIDERS in order and created locally from the first directory that knows them."""

from __future__ import annotations

import logging

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import String
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.base import AuthProvider, Profile, ProviderUnavailable, SignInError
from helpdesk.extensions import db
from helpdesk.users.models import User, password_matches
from helpdesk.users.service import dummy_hash, email_taken, find_by_login, username_taken

log = logging.getLogger(__name__)

LOCAL = "local"


def providers() -> dict[str, AuthProvider]:
    """The configured providers by name, in AUTH_PROVIDERS order (built at start-up)."""
    chain: dict[str, AuthProvider] = current_app.extensions["auth_providers"]
    return chain


def sign_in(login: str, password: str) -> User | None:
    """The user whose credentials one provider accepts, created or refreshed from its profile;
    None for a wrong password or an unknown user. Raises SignInError (ProviderUnavailable when
    the user's directory cannot be asked) with the sentence to show."""
    login = login.strip()
    chain = providers()
    user = find_by_login(login)
    if user is None:
        return _newcomer(chain, login, password)
    provider = chain.get(user.auth_source)
    if provider is None:  # a source no longer configured signs nobody in
        _spend_a_hash()
        return None
    user_id, name = user.id, _login_name(user, login)
    db.session.rollback()  # end the read: nothing is held while a directory answers
    profile = provider.authenticate(name, password)
    if profile is None:
        if provider.name != LOCAL:
            _spend_a_hash()
        return None
    user = db.session.get(User, user_id)
    if user is not None and provider.name != LOCAL:
        _apply(user, profile)
    return user


def _login_name(user: User, typed: str) -> str:
    """What the user's own source knows them by (they may have typed their e-mail here)."""
    if user.auth_source == LOCAL:
        return typed
    if user.auth_source == "redmine":
        return user.redmine_username or user.username
    return user.username


def _newcomer(chain: dict[str, AuthProvider], login: str, password: str) -> User | None:
    """Try each provider in order; the first that accepts creates the local account."""
    db.session.rollback()
    down: ProviderUnavailable | None = None
    for provider in chain.values():
        try:
            profile = provider.authenticate(login, password)
        except ProviderUnavailable as error:
            down = down or error
            continue
        if profile is None:
            continue
        if provider.name == LOCAL:  # created by someone else since our read
            return find_by_login(profile.username)
        return _create(provider.name, profile)
    if down is not None:  # the user may be one of that directory's: do not say "wrong password"
        raise down
    if LOCAL not in chain:
        _spend_a_hash()
    return None


def _spend_a_hash() -> None:
    """A miss that checked no local hash still costs one, so timing tells nothing."""
    password_matches(dummy_hash(), "")


def _create(source: str, profile: Profile) -> User:
    """A local account for a directory's user, without a local password."""
    if not profile.email:
        log.warning("sign-in by %s refused: the %s entry has no e-mail", profile.username, source)
        raise SignInError(_("Your account has no e-mail address; ask an administrator."))
    if len(profile.username) > _length("username"):
        log.warning("sign-in by %s from %s refused: the name is too long", profile.username, source)
        raise SignInError(_("Your user name is too long for the helpdesk; ask an administrator."))
    if username_taken(profile.username) or email_taken(profile.email):
        raise _taken(source, profile)
    user = User(username=profile.username, email=profile.email, password="", auth_source=source)
    _apply(user, profile)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # a second first sign-in of the same person won the race
        db.session.rollback()
        twin = find_by_login(profile.username)
        if twin is None or twin.auth_source != source:
            raise _taken(source, profile) from None
        _apply(twin, profile)
        return twin
    log.info("created user %s from %s", user.username, source)
    return user


def _taken(source: str, profile: Profile) -> SignInError:
    """The refusal for a newcomer whose name or e-mail is another account's here (never merged:
    the directory must not take over a local account)."""
    log.warning("sign-in by %s from %s refused: name or e-mail taken", profile.username, source)
    return SignInError(
        _("An account with this name or e-mail already exists here; ask an administrator.")
    )


def _apply(user: User, profile: Profile) -> None:
    """Copy the directory's view of the user onto the local account (names, e-mail, flags)."""
    for name, value in profile.fields.items():
        setattr(user, name, _fit(name, value) if isinstance(value, str) or value is None else value)
    if profile.email and profile.email != user.email:
        if email_taken(profile.email, exclude_id=user.id):
            log.warning("kept %s's e-mail: %s is another user's", user.username, profile.email)
        else:
            user.email = profile.email
    for flag, granted in profile.flags.items():
        setattr(user, flag, granted)
    if profile.redmine_username:
        user.redmine_username = profile.redmine_username


def _length(column: str) -> int:
    """The width of a user column, so a long directory value is cut rather than refused."""
    kind = User.__table__.c[column].type
    return kind.length if isinstance(kind, String) and kind.length else 10_000


def _fit(column: str, value: str | None) -> str | None:
    """A directory value cut to its column."""
    return value[: _length(column)] if value else None
