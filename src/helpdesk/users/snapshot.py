"""The signed-in user as most requests need them: an immutable snapshot of a few fields, kept in the
application's cache so a request need not read the user table, and made stale by every commit that
changes a user row, whoever writes it.

Where invalidation happens (the one place): SQLAlchemy's events on every session. A flush that
updates or deletes a User (mapper events) names that user; an UPDATE or DELETE statement on User
run through a session (do_orm_execute: presence, Redmine identities) names all users. When the
flush runs and again after the session commits, the named users' generations (or the generation of
all users) get new random values in the cache, so a snapshot taken before no longer matches. A
snapshot records the generations read before its row was read, so a commit that lands between that
read and the snapshot's storing makes it stale too. Writes that bypass the ORM session (a raw
connection, SQL text) are not seen: nothing in src/ writes the user table that way, and
tests/unit/test_user_writes.py keeps it so.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from flask import abort, current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Mapper, ORMExecuteState, Session, object_session

from helpdesk.extensions import cache, db
from helpdesk.users.models import AccountRules, User

log = logging.getLogger(__name__)

ALL_USERS_KEY = "user-generation:all"
CHANGED_USERS = "helpdesk_changed_user_ids"  # session.info: users flushed as changed
ALL_USERS_CHANGED = "helpdesk_all_users_changed"  # session.info: a statement wrote the table


def user_key(user_id: int) -> str:
    """The cache key of one user's generation."""
    return f"user-generation:{user_id}"


def snapshot_key(user_id: int) -> str:
    """The cache key of one user's snapshot."""
    return f"user-snapshot:{user_id}"


def token_digest(token: str) -> str:
    """The session token as the cache holds it: a digest, so the cache holds no credential."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SignedInUser(AccountRules):
    """What a request reads of its signed-in user; views that change the user read its row
    (signed_in_row)."""

    id: int
    username: str
    email: str
    full_name: str | None
    auth_source: str
    image_file: str | None
    language: str | None
    timezone: str | None
    is_admin: bool
    is_redmine_user: bool
    can_access_quality_control: bool
    can_access_contact_center_moscow: bool
    can_post_announcements: bool
    browser_notifications_enabled: bool
    notifications_widget_enabled: bool
    email_notifications_enabled: bool
    redmine_username: str | None
    locked: bool
    has_redmine_api_key: bool
    session_digest: str  # of session_token: a new password or a logout changes it
    generations: tuple[str, str]  # (all users, this user) when the row was read

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    @property
    def is_active(self) -> bool:
        """As User.is_active: a locked account is signed out."""
        return not self.locked

    @classmethod
    def of(cls, user: User, generations: tuple[str, str]) -> SignedInUser:
        """The snapshot of a user row."""
        values = {field.name: getattr(user, field.name) for field in FROM_ROW}
        return cls(
            **values,
            has_redmine_api_key=bool(user.redmine_api_key),
            session_digest=token_digest(user.session_token),
            generations=generations,
        )

    def get_id(self) -> str:
        """Flask-Login's id is "id:token"; a snapshot never starts a session, so this is never
        called (a view that signs in passes the user row)."""
        raise TypeError("sign in with the User row, not its snapshot")

    def token_matches(self, token: str) -> bool:
        """Whether a session's token is the user's current one."""
        return secrets.compare_digest(self.session_digest, token_digest(token))


DERIVED = frozenset({"has_redmine_api_key", "session_digest", "generations"})
FROM_ROW = tuple(field for field in fields(SignedInUser) if field.name not in DERIVED)


def current_generations(user_id: int) -> tuple[tuple[str, str], SignedInUser | None]:
    """The generations of all users and of this user, and the cached snapshot, in one cache call;
    a generation the cache has lost is named anew (which makes older snapshots stale)."""
    everyone, own, snapshot = cache.get_many(
        ALL_USERS_KEY, user_key(user_id), snapshot_key(user_id)
    )
    if everyone is None:
        everyone = name_generation(ALL_USERS_KEY)
    if own is None:
        own = name_generation(user_key(user_id))
    return (everyone, own), snapshot


def name_generation(key: str) -> str:
    """A first generation for a key (another process may name it first: theirs counts)."""
    cache.add(key, secrets.token_hex(8), timeout=0)
    value: str | None = cache.get(key)
    return value or ""


def signed_in_snapshot(user_id: int) -> SignedInUser | None:
    """The user's snapshot: the cached one while no commit changed the user since it was taken,
    else read from the user row (and cached). None: no such user."""
    try:
        generations, snapshot = current_generations(user_id)
    except Exception:  # the cache is unreachable: the row is the truth, read it
        log.warning("user snapshot cache unreachable; reading the user row", exc_info=True)
        user = db.session.get(User, user_id)
        return None if user is None else SignedInUser.of(user, ("", ""))
    if isinstance(snapshot, SignedInUser) and snapshot.generations == generations:
        return snapshot
    user = db.session.get(User, user_id)
    if user is None:
        return None
    snapshot = SignedInUser.of(user, generations)
    seconds = current_app.config["USER_SNAPSHOT_SECONDS"]
    try:
        cache.set(snapshot_key(user_id), snapshot, timeout=seconds)
    except Exception:  # not kept: the next request reads the row again
        log.warning("could not keep a user snapshot in the cache", exc_info=True)
    return snapshot


def signed_in_row(user: Any) -> User:
    """The signed-in user's row in this request's session, for a view that changes the user or
    reads fields the snapshot does not hold."""
    if isinstance(user, User):
        return user
    row = db.session.get(User, user.id)
    if row is None:  # deleted since the snapshot was read: as signed out
        abort(401)
    return row


def redmine_api_key(user: Any) -> str | None:
    """The user's own Redmine key: a snapshot holds only whether there is one (the cache keeps no
    secret), so the key is read from the row when there is one."""
    if not isinstance(user, SignedInUser):
        return user.redmine_api_key
    if not user.has_redmine_api_key:
        return None
    return db.session.scalar(select(User.redmine_api_key).where(User.id == user.id))


# -- invalidation: every session, every writer ----------------------------------------------


def note_user_changed(_mapper: Mapper[Any], _connection: Any, target: User) -> None:
    """A flush updated or deleted this user: their snapshot is stale now (a cache that cannot be
    told fails the flush, so nothing is committed that other processes would not see) and again
    once the session commits (a request that read the row meanwhile read it uncommitted)."""
    session = object_session(target)
    if session is not None:
        session.info.setdefault(CHANGED_USERS, set()).add(target.id)
        make_stale({target.id}, everyone=False)


def note_user_statement(state: ORMExecuteState) -> None:
    """An UPDATE or DELETE statement on the user table: which rows it meets is not known here,
    so every snapshot is stale, now and once the session commits."""
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is User:
        state.session.info[ALL_USERS_CHANGED] = True
        make_stale(set(), everyone=True)


def make_stale(user_ids: set[int], everyone: bool) -> None:
    """New generations for these users, or for all users, in the cache."""
    if not has_app_context():
        return
    if everyone:
        cache.set(ALL_USERS_KEY, secrets.token_hex(8), timeout=0)
    elif user_ids:
        cache.set_many({user_key(user_id): secrets.token_hex(8) for user_id in user_ids}, 0)


def forget_changed_users(session: Session) -> None:
    """After a commit: the changed users' snapshots are stale once more (see note_user_changed)."""
    changed: set[int] = session.info.pop(CHANGED_USERS, set())
    everyone = session.info.pop(ALL_USERS_CHANGED, False)
    try:
        make_stale(changed, everyone)
    except Exception:  # committed, and already made stale when flushed: only a race is left
        log.error("could not mark changed users in the cache after a commit", exc_info=True)


def listen_for_user_writes() -> None:
    """Install the invalidation hooks once per process (they serve every app and session)."""
    if event.contains(User, "after_update", note_user_changed):
        return
    event.listen(User, "after_update", note_user_changed)
    event.listen(User, "after_delete", note_user_changed)
    event.listen(Session, "do_orm_execute", note_user_statement)
    event.listen(Session, "after_commit", forget_changed_users)
