"""Announcements shown on the home page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.core.models import utcnow
from helpdesk.extensions import Model

if TYPE_CHECKING:
    from helpdesk.users.models import User


class Post(Model):
    """An announcement: title, text and an optional image, written by one user."""

    __tablename__ = "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    date_posted: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    image_post: Mapped[str | None] = mapped_column(String(30))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)

    author: Mapped[User] = relationship(back_populates="posts")

    def can_edit(self, user: User) -> bool:
        """Only the author or an admin may change or delete a post."""
        return user.is_authenticated and (user.is_admin or user.id == self.user_id)

    def __repr__(self) -> str:
        return f"Post({self.title}, {self.date_posted})"
