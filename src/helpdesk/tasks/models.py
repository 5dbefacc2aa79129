"""Tables of the local task backend, shaped like Redmine's so either backend maps onto the other."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from helpdesk.core.models import utcnow
from helpdesk.extensions import Model


class Project(Model):
    """A project groups tasks; its members may see them."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    created_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Tracker(Model):
    """A kind of task: bug, feature, support."""

    __tablename__ = "trackers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class TaskStatus(Model):
    """A step of the workflow; closed statuses end a task."""

    __tablename__ = "task_statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


class TaskPriority(Model):
    """How urgent a task is; a higher position is more urgent."""

    __tablename__ = "task_priorities"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Role(Model):
    """A member's role in a project (developer, reporter, …); the workflow is set per role."""

    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    can_be_assigned: Mapped[bool] = mapped_column(Boolean, default=True)


class Member(Model):
    """A user's membership of a project, with one role."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"))

    role: Mapped[Role] = relationship(lazy="joined")


class WorkflowTransition(Model):
    """A status change a role may make; a role with no rows may make any change."""

    __tablename__ = "workflow_transitions"
    __table_args__ = (UniqueConstraint("role_id", "old_status_id", "new_status_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    old_status_id: Mapped[int] = mapped_column(ForeignKey("task_statuses.id", ondelete="CASCADE"))
    new_status_id: Mapped[int] = mapped_column(ForeignKey("task_statuses.id", ondelete="CASCADE"))


class CustomField(Model):
    """An extra task field (the seed's custom_fields on create)."""

    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    max_length: Mapped[int] = mapped_column(Integer, default=255)
    is_required: Mapped[bool] = mapped_column(Boolean, default=False)


class Task(Model):
    """A task (a Redmine issue)."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_assignee_status", "assigned_to_id", "status_id"),
        # My Tasks: one range per member project, counted from the index alone
        Index("ix_tasks_assignee_project_status", "assigned_to_id", "project_id", "status_id"),
        Index("ix_tasks_project_status", "project_id", "status_id"),
        Index("ix_tasks_updated_on", "updated_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    tracker_id: Mapped[int] = mapped_column(ForeignKey("trackers.id"))
    status_id: Mapped[int] = mapped_column(ForeignKey("task_statuses.id"))
    priority_id: Mapped[int] = mapped_column(ForeignKey("task_priorities.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    subject: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    start_date: Mapped[date | None] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    estimated_hours: Mapped[float | None] = mapped_column(Float)
    done_ratio: Mapped[int] = mapped_column(Integer, default=0)
    created_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    closed_on: Mapped[datetime | None] = mapped_column(DateTime)
    lock_version: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": lock_version}


class CustomValue(Model):
    """A task's value for one custom field."""

    __tablename__ = "custom_values"
    __table_args__ = (UniqueConstraint("task_id", "custom_field_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    custom_field_id: Mapped[int] = mapped_column(ForeignKey("custom_fields.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(Text, default="")


class Journal(Model):
    """One change of a task: optional notes plus field changes (details)."""

    __tablename__ = "journals"
    __table_args__ = (Index("ix_journals_task_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    details: Mapped[list[JournalDetail]] = relationship(
        cascade="all, delete-orphan", order_by="JournalDetail.id"
    )


class JournalDetail(Model):
    """One field change in a journal: property name with old and new value."""

    __tablename__ = "journal_details"

    id: Mapped[int] = mapped_column(primary_key=True)
    journal_id: Mapped[int] = mapped_column(
        ForeignKey("journals.id", ondelete="CASCADE"), index=True
    )
    prop_key: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)


class Watcher(Model):
    """A user who follows a task's changes."""

    __tablename__ = "watchers"

    task_id: Mapped[int] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )


class Attachment(Model):
    """A file on a task, added on its own or with a comment (journal_id); the bytes live under
    UPLOAD_FOLDER/attachments by a random stored_name, never the name the uploader gave."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_task_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    journal_id: Mapped[int | None] = mapped_column(
        ForeignKey("journals.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    is_image: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
