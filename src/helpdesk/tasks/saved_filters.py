"""Saved task filters: a user's named queues (a My Tasks address's filters), theirs alone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator
from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from helpdesk.core.api import errors_by_field
from helpdesk.core.models import Model, utcnow
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import TaskNotFound, TaskValidationError
from helpdesk.tasks.schemas import SavedFilterOut, TaskListQuery

# The filters a saved queue keeps (the page number is where one was, not what one wants)
KEPT = ("assigned_to", "author", "watcher", "status", "priority", "project", "search", "sort")
KEPT_WITH_SIZE = (*KEPT, "per_page")
MAX_SAVED = 50  # per user: a menu, not a store


class SavedFilter(Model):
    """A user's named task filter: the query string of a My Tasks address."""

    __tablename__ = "saved_task_filters"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000))
    created_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class SavedFilterIn(BaseModel):
    """A saved filter's name and query string, as a form or JSON sends them."""

    model_config = ConfigDict(extra="ignore", strict=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    query: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""

    @field_validator("query")
    @classmethod
    def valid_filters(cls, value: str) -> str:
        """Only filters My Tasks accepts, in a canonical order: a saved filter always opens."""
        pairs = dict(parse_qsl(value.removeprefix("?")))
        try:
            TaskListQuery.model_validate(pairs)
        except ValidationError as error:
            fields = errors_by_field(error)
            raise ValueError(
                "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
            ) from error
        return urlencode([(key, pairs[key]) for key in KEPT_WITH_SIZE if pairs.get(key)])


def doc(saved: SavedFilter) -> dict[str, Any]:
    """A saved filter for the API."""
    return SavedFilterOut(id=saved.id, name=saved.name, query=saved.query).model_dump()


def of_user(user_id: int) -> list[SavedFilter]:
    """A user's saved filters, by name."""
    return list(
        db.session.scalars(
            select(SavedFilter).where(SavedFilter.user_id == user_id).order_by(SavedFilter.name)
        )
    )


def owned(user_id: int, filter_id: int) -> SavedFilter:
    """One of the user's saved filters; another user's is as missing as one that never was."""
    saved = db.session.get(SavedFilter, filter_id)
    if saved is None or saved.user_id != user_id:
        raise TaskNotFound(_("Saved filter %(id)d was not found.", id=filter_id))
    return saved


def _name_taken(user_id: int, name: str, but: int | None = None) -> bool:
    """Whether the user has another filter of this name."""
    query = select(SavedFilter.id).where(SavedFilter.user_id == user_id, SavedFilter.name == name)
    return any(found != but for found in db.session.scalars(query))


def save(user_id: int, body: SavedFilterIn) -> SavedFilter:
    """Save a new named filter; the caller commits."""
    if _name_taken(user_id, body.name):
        raise TaskValidationError(
            _("Some fields are invalid."),
            errors={"name": [_("You already have a filter with this name.")]},
        )
    if len(of_user(user_id)) >= MAX_SAVED:
        raise TaskValidationError(
            _("Some fields are invalid."),
            errors={"name": [_("You have %(count)d saved filters already.", count=MAX_SAVED)]},
        )
    saved = SavedFilter(user_id=user_id, name=body.name, query=body.query)
    db.session.add(saved)
    db.session.flush()
    return saved


def update(user_id: int, filter_id: int, body: SavedFilterIn) -> SavedFilter:
    """Rename or re-point one of the user's filters; the caller commits."""
    saved = owned(user_id, filter_id)
    if _name_taken(user_id, body.name, but=saved.id):
        raise TaskValidationError(
            _("Some fields are invalid."),
            errors={"name": [_("You already have a filter with this name.")]},
        )
    saved.name, saved.query = body.name, body.query
    db.session.flush()
    return saved


def delete(user_id: int, filter_id: int) -> None:
    """Delete one of the user's filters; the caller commits."""
    db.session.delete(owned(user_id, filter_id))
    db.session.flush()
