"""Helpdesk users and Redmine users: the one place that knows both numberings.

A helpdesk user is the Redmine user whose login is their redmine_username (else their username).
The Redmine id is looked up once and kept in users.redmine_user_id; a Redmine user without a
helpdesk account has no helpdesk id and is shown by the name Redmine gives.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import g
from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import aliased

from helpdesk.core.cache_manager import CacheManager
from helpdesk.core.database import may_write
from helpdesk.extensions import db
from helpdesk.integrations.redmine.answers import Ref, UserAnswer, UsersPage
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.tasks.backends.base import Named, TaskNotFound
from helpdesk.users.models import User

LOGIN_SECONDS = 3600  # how long a Redmine id's login is cached (logins almost never change)
LOGINS = CacheManager(LOGIN_SECONDS, name="redmine-logins")
REQUEST_KEY = "redmine_people"  # in flask.g: Redmine id -> (helpdesk id or None, name or None)


def login_column() -> Any:
    """SQL for the Redmine login a helpdesk user stands for."""
    return func.coalesce(func.nullif(User.redmine_username, ""), User.username)


def display_name() -> Any:
    """SQL for the name the helpdesk shows: full name, else username."""
    return func.coalesce(func.nullif(User.full_name, ""), User.username)


class RedmineUserIds:
    """UserIds for Redmine: helpdesk id <-> Redmine id through redmine_user_id, resolved by
    login on first use."""

    def __init__(self, client: RedmineClient) -> None:
        self.client = client

    # -- helpdesk -> Redmine ---------------------------------------------------------------

    def to_backend(self, user_id: int) -> int | None:
        """The Redmine id of a helpdesk user, resolved by login once; None: not in Redmine."""
        row = db.session.execute(
            select(User.redmine_user_id, login_column()).where(User.id == user_id)
        ).first()
        if row is None:
            return None
        if row[0] is not None:
            return int(row[0])
        redmine_id = self.find_login(row[1])
        if redmine_id is not None:
            self.remember(user_id, redmine_id)
        return redmine_id

    def logins(self, user_ids: list[int]) -> dict[int, str]:
        """The Redmine login each of these helpdesk users stands for."""
        if not user_ids:
            return {}
        rows = db.session.execute(select(User.id, login_column()).where(User.id.in_(user_ids)))
        return {row[0]: row[1] for row in rows}

    def find_login(self, login: str) -> int | None:
        """The Redmine id of a login (any status: a locked user is still that user)."""
        body = self.client.get(
            "/users.json", {"name": login, "status": "", "limit": 100}, shape=UsersPage
        )
        for user in body["users"]:
            if user["login"].lower() == login.lower():
                return user["id"]
        return None

    def remember(self, user_id: int, redmine_id: int) -> None:
        """Keep a resolved id (unless another helpdesk user already holds that Redmine user);
        a reading request commits it at once, as it commits nothing else, and other work
        commits it with its own changes."""
        other = aliased(User)
        db.session.execute(
            update(User)
            .where(User.id == user_id, User.redmine_user_id.is_(None))
            .where(~exists().where(other.redmine_user_id == redmine_id))
            .values(redmine_user_id=redmine_id)
            .execution_options(synchronize_session=False)
        )
        if not may_write():
            db.session.commit()

    # -- Redmine -> helpdesk ---------------------------------------------------------------

    def to_helpdesk(self, backend_user_id: int) -> int | None:
        """The helpdesk id of a Redmine user; None: they have no helpdesk account."""
        return self.people([backend_user_id]).get(backend_user_id, (None, None))[0]

    def people(self, redmine_ids: Iterable[int]) -> dict[int, tuple[int | None, str | None]]:
        """Helpdesk id and display name of each Redmine user (None, None for those without a
        helpdesk account): one statement for those already linked, then one for the rest by the
        logins Redmine gives them (cached)."""
        known: dict[int, tuple[int | None, str | None]] = g.setdefault(REQUEST_KEY, {})
        wanted = {rid for rid in redmine_ids if rid not in known}
        if not wanted:
            return known
        for user_id, redmine_id, name in db.session.execute(
            select(User.id, User.redmine_user_id, display_name()).where(
                User.redmine_user_id.in_(wanted)
            )
        ):
            known[redmine_id] = (user_id, name)
        unlinked = wanted - set(known)
        logins = {rid: login for rid in unlinked if (login := self.login_of(rid))}
        if logins:
            by_login = {login.lower(): rid for rid, login in logins.items()}
            for user_id, login, name in db.session.execute(
                select(User.id, login_column(), display_name()).where(
                    User.redmine_user_id.is_(None),
                    func.lower(login_column()).in_(list(by_login)),
                )
            ):
                redmine_id = by_login[login.lower()]
                self.remember(user_id, redmine_id)
                known[redmine_id] = (user_id, name)
        for rid in unlinked - set(known):
            known[rid] = (None, None)
        return known

    def login_of(self, redmine_id: int) -> str | None:
        """A Redmine user's login (a group or a deleted user has none), cached."""
        login: str | None = LOGINS.get(str(redmine_id))
        if login is None:
            try:
                body = self.client.get(f"/users/{redmine_id}.json", shape=UserAnswer)
            except TaskNotFound:  # a group, or a user deleted since
                login = ""
            else:
                login = body["user"]["login"]
            LOGINS.set(str(redmine_id), login)
        return login or None

    def named(self, person: Ref | None) -> Named | None:
        """A Redmine {"id", "name"} as a helpdesk Named: the helpdesk id and name of a linked
        user, else id 0 and Redmine's name (call people() first for a whole page)."""
        if not person:
            return None
        redmine_id = person["id"]
        user_id, name = self.people([redmine_id])[redmine_id]
        if user_id is None:
            return Named(0, person["name"])
        return Named(user_id, name or "")
