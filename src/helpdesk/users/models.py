"""The User model: the seed's fields, a bcrypt password and a token that ends old sessions."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, DateTime, Index, Integer, String, text
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from helpdesk.core.concurrency import off_the_hub
from helpdesk.core.crypto import EncryptedText
from helpdesk.core.models import utcnow
from helpdesk.extensions import Model, bcrypt

if TYPE_CHECKING:
    from helpdesk.notifications.models import PushSubscription
    from helpdesk.posts.models import Post

PERMISSION_FLAGS = (
    "is_admin",
    "is_redmine_user",
    "can_access_quality_control",
    "can_access_contact_center_moscow",
    "can_post_announcements",
)


def new_session_token() -> str:
    """A fresh random token; changing it logs the user out everywhere."""
    return secrets.token_urlsafe(16)


BCRYPT_MAX_BYTES = 72  # bcrypt refuses longer input; no password we stored is longer


def password_matches(stored: str | None, raw: str) -> bool:
    """Whether raw matches a stored bcrypt hash (an account without one matches nothing; a
    password longer than bcrypt takes matches nothing, since none such was stored); the hash
    runs off the gevent hub."""
    if not stored or len(raw.encode("utf-8", "surrogatepass")) > BCRYPT_MAX_BYTES:
        return False
    return off_the_hub(bcrypt.check_password_hash, stored, raw)


class AccountRules:
    """What follows from an account's fields, the same for its row (User) and its cached
    snapshot (users/snapshot.py SignedInUser)."""

    __slots__ = ()
    username: str
    full_name: str | None
    is_admin: bool
    is_redmine_user: bool
    can_post_announcements: bool

    @property
    def may_post_announcements(self) -> bool:
        """Announcements reach the whole company: admins and those given the right post them."""
        return self.is_admin or self.can_post_announcements

    @property
    def has_task_access(self) -> bool:
        """Whether the task pages and API are open to the user (the seed's is_redmine_user)."""
        return self.is_admin or self.is_redmine_user

    @property
    def display_name(self) -> str:
        """The name to show: full name, else username."""
        return self.full_name or self.username


class User(AccountRules, Model, UserMixin):
    """A member of staff who can sign in; permissions are the seed's boolean flags."""

    __tablename__ = "user"
    __table_args__ = (  # the few online users, for a status change's board audience; each
        # dialect's condition as SQLAlchemy writes `where(User.online)`, or the index goes unused
        Index(
            "ix_user_online",
            "id",
            postgresql_where=text("online"),
            sqlite_where=text("online = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)  # a Redmine login fits
    email: Mapped[str] = mapped_column(String(120), unique=True)
    password: Mapped[str] = mapped_column(String(60))  # empty: signs in elsewhere, never here
    auth_source: Mapped[str] = mapped_column(  # the one provider that checks this user
        String(20), default="local", server_default="local"
    )

    full_name: Mapped[str | None] = mapped_column(String(255))
    department: Mapped[str | None] = mapped_column(String(120))
    position: Mapped[str | None] = mapped_column(String(120))
    office: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(30))
    manager: Mapped[str | None] = mapped_column(String(255))  # the manager's name, from the ERP
    hire_date: Mapped[date | None] = mapped_column(Date)
    image_file: Mapped[str | None] = mapped_column(String(30))
    language: Mapped[str | None] = mapped_column(String(8))
    last_locale: Mapped[str | None] = mapped_column(String(8))  # the language of the last login
    timezone: Mapped[str | None] = mapped_column(String(64))  # None: the company's DISPLAY_TIMEZONE

    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_redmine_user: Mapped[bool] = mapped_column(Boolean, default=False)
    can_access_quality_control: Mapped[bool] = mapped_column(Boolean, default=False)
    can_access_contact_center_moscow: Mapped[bool] = mapped_column(Boolean, default=False)
    can_post_announcements: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=sa_false()
    )

    browser_notifications_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    notifications_widget_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_notifications_enabled: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=sa_true()
    )

    last_seen: Mapped[datetime | None] = mapped_column(DateTime, default=utcnow)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_notification_check: Mapped[datetime | None] = mapped_column(DateTime)

    redmine_username: Mapped[str | None] = mapped_column(String(255))
    # the Redmine user redmine_username (or username) named when first resolved (redmine identity)
    redmine_user_id: Mapped[int | None] = mapped_column(Integer, index=True, unique=True)
    redmine_api_key: Mapped[str | None] = mapped_column(EncryptedText)

    # locked by an administrator: the account keeps its history and signs in no more
    locked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    posts: Mapped[list[Post]] = relationship(back_populates="author", cascade="all, delete-orphan")
    push_subscriptions: Mapped[list[PushSubscription]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("redmine_username")
    def _relink(self, _key: str, value: str | None) -> str | None:
        """A new Redmine login names another Redmine user: resolve it again on next use."""
        if value != self.redmine_username:
            self.redmine_user_id = None
        return value

    def set_password(self, raw: str) -> None:
        """Store a bcrypt hash and end every other session of this user."""
        self.password = off_the_hub(bcrypt.generate_password_hash, raw).decode("ascii")
        self.session_token = new_session_token()

    def check_password(self, raw: str) -> bool:
        """Whether raw is this user's password."""
        return password_matches(self.password, raw)

    def get_id(self) -> str:
        """Flask-Login's session id: id and token, so a new token invalidates old sessions."""
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        """Flask-Login refuses to sign in a locked account."""
        return not self.locked

    def get_active_tasks(self) -> list[Any]:
        """The seed's helper: the user's open assigned tasks, as the tasks service lists them
        (imported here, so users does not depend on tasks)."""
        from helpdesk.tasks.service import active_tasks

        return active_tasks(self)

    def to_dict(self) -> dict[str, Any]:
        """The profile as API clients see it (never the password or the Redmine key)."""
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "full_name": self.full_name,
            "department": self.department,
            "position": self.position,
            "office": self.office,
            "phone": self.phone,
            "manager": self.manager,
            "hire_date": self.hire_date.isoformat() if self.hire_date else None,
            "image_file": self.image_file,
            "language": self.language,
            "timezone": self.timezone,
            **{flag: getattr(self, flag) for flag in PERMISSION_FLAGS},
            "browser_notifications_enabled": self.browser_notifications_enabled,
            "notifications_widget_enabled": self.notifications_widget_enabled,
            "redmine_username": self.redmine_username,
            "has_redmine_api_key": bool(self.redmine_api_key),
            "auth_source": self.auth_source,
            "locked": self.locked,
        }

    def __repr__(self) -> str:
        return f"User({self.id}, {self.username}, {self.email})"


# User.posts and User.push_subscriptions name their classes by string; importing them here lets
# mappers configure from any entry point.
from helpdesk.notifications import models as _notifications  # noqa: E402, F401
from helpdesk.posts import models as _posts  # noqa: E402, F401
