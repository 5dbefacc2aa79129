"""Personal API tokens: scripts send `Authorization: Bearer hd_…` instead of a session cookie."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.core.models import utcnow
from helpdesk.extensions import Model, db
from helpdesk.users.models import User

TOKEN_PREFIX = "hd_"  # noqa: S105 - a marker, not a secret
LAST_USED_RESOLUTION = timedelta(minutes=5)  # write last_used_at at most this often


def _digest(token: str) -> str:
    """Tokens are stored as SHA-256 digests; the plain token is shown once and never kept."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(Model):
    """A named, revocable token that acts as its owner."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Issue a token; returns the row and the plain token, which only the caller ever sees."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name.strip(), token_hash=_digest(plain), hint=plain[:7])
    db.session.add(token)
    db.session.flush()
    return token, plain


def user_tokens(user: User) -> list[ApiToken]:
    """A user's tokens that still work, newest first."""
    return list(
        db.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False if it is not theirs or already revoked."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        return False
    token.revoked_at = utcnow()
    db.session.flush()
    return True


def user_for_bearer(header: str | None) -> User | None:
    """The owner of a valid bearer token in an Authorization header, else None."""
    scheme, _sep, plain = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    plain = plain.strip()
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _digest(plain), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.is_active:  # a locked account's tokens open nothing
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token.user
