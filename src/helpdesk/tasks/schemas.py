"""Declared shapes of the task API's input (pydantic) and output (the seed's JSON documents)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from flask import url_for
from flask_babel import gettext as _
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from helpdesk.core.api import iso
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import (
    RELEVANCE,
    AttachmentInfo,
    JournalInfo,
    MemberInfo,
    Named,
    NewTask,
    PriorityInfo,
    ProjectInfo,
    StatusInfo,
    TaskInfo,
    TaskSummary,
    as_id,
)
from helpdesk.tasks.backends.edits import EDITABLE_FIELDS, TaskChanges

Id = Annotated[int, Field(gt=0, le=2**31 - 1)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=65_535)]
FORM_FIELDS = (
    "subject",
    "description",
    "project_id",
    "tracker_id",
    "status_id",
    "priority_id",
    "assigned_to_id",
    "start_date",
    "due_date",
    "estimated_hours",
)  # TaskCreateIn's fields sent as form fields (custom fields: cf_<id>)
MAX_PER_PAGE = 100
MAX_BULK = 100


class Body(BaseModel):
    """JSON request bodies: strict types (a string is not a number), unknown keys ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


class StatusChangeIn(Body):
    """PUT /tasks/api/task/<id>/status."""

    status_id: Id
    comment: Text | None = None
    notify_users: bool = True


class CustomFieldIn(Body):
    """One custom field value of a new task."""

    id: Id
    value: Annotated[str, StringConstraints(max_length=65_535)] | int | float


class TaskCreateIn(Body):
    """POST /tasks/api/task."""

    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    description: Text = ""
    project_id: Id
    tracker_id: Id | None = None
    status_id: Id | None = None
    priority_id: Id | None = None
    assigned_to_id: Id | None = None
    start_date: date | None = None
    due_date: date | None = None
    estimated_hours: Annotated[float, Field(ge=0, le=100_000)] | None = None
    custom_fields: Annotated[list[CustomFieldIn], Field(max_length=100)] = []

    def to_new_task(self) -> NewTask:
        """The backend's input for these fields."""
        return NewTask(
            project_id=self.project_id,
            subject=self.subject,
            description=self.description,
            tracker_id=self.tracker_id,
            status_id=self.status_id,
            priority_id=self.priority_id,
            assigned_to_id=self.assigned_to_id,
            start_date=self.start_date,
            due_date=self.due_date,
            estimated_hours=self.estimated_hours,
            custom_fields={item.id: str(item.value) for item in self.custom_fields},
        )

    @classmethod
    def form_fields(cls, form: Any, offered: set[int] | None = None) -> dict[str, Any]:
        """A new task sent as form fields (the new-task page, the API's multipart create) as
        this model's input: empty boxes are absent values, a custom field's value is cf_<id>
        (only those offered, when given: the page's boxes of another project are not sent)."""
        data: dict[str, Any] = {name: form.get(name) for name in FORM_FIELDS if form.get(name)}
        data["custom_fields"] = [
            {"id": int(key[3:]), "value": value}
            for key, value in form.items()
            if key.startswith("cf_") and key[3:].isdigit() and len(key) < 13 and value
            if offered is None or int(key[3:]) in offered
        ]
        return data

    @model_validator(mode="after")
    def due_after_start(self) -> TaskCreateIn:
        """A task cannot be due before it starts."""
        if self.start_date and self.due_date and self.due_date < self.start_date:
            raise ValueError("due_date: " + _("The due date is before the start date."))
        return self


class TaskEditIn(Body):
    """PATCH /tasks/api/task/<id>: the fields sent change (null clears an optional one), the
    others stay; lock_version, when sent, must still be the task's."""

    subject: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
    ] = ""  # the defaults are never used: only the fields sent change
    description: Text = ""
    assigned_to_id: Id | None = None
    priority_id: Id = 1
    tracker_id: Id = 1
    start_date: date | None = None
    due_date: date | None = None
    estimated_hours: Annotated[float, Field(ge=0, le=100_000)] | None = None
    done_ratio: Annotated[int, Field(ge=0, le=100)] = 0
    custom_fields: Annotated[list[CustomFieldIn], Field(max_length=100)] = []
    notes: Text = ""
    lock_version: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def due_after_start(self) -> TaskEditIn:
        """An edit names at least one field, or notes; a task cannot be due before it starts
        (when both are sent; the backend checks one against the other's stored value)."""
        if not self.model_fields_set & {*EDITABLE_FIELDS, "custom_fields"} and not self.notes:
            raise ValueError(_("Send at least one field to change."))
        if self.start_date and self.due_date and self.due_date < self.start_date:
            raise ValueError("due_date: " + _("The due date is before the start date."))
        return self

    def to_changes(self) -> TaskChanges:
        """The backend's input: only the fields that were sent."""
        sent = self.model_fields_set
        return TaskChanges(
            fields={name: getattr(self, name) for name in EDITABLE_FIELDS if name in sent},
            custom_fields={item.id: str(item.value) for item in self.custom_fields},
            notes=self.notes,
        )


class WatcherIn(Body):
    """POST /tasks/api/task/<id>/watchers."""

    user_id: Id


class CommentIn(Body):
    """POST /tasks/api/task/<id>/comments."""

    notes: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=65_535)]


class BulkItemIn(StatusChangeIn):
    """One task of a bulk status change."""

    task_id: Id


class BulkStatusIn(Body):
    """PUT /tasks/api/tasks/status: several status changes at once."""

    updates: Annotated[list[BulkItemIn], Field(min_length=1, max_length=MAX_BULK)]


class TaskListQuery(BaseModel):
    """Query parameters of task lists (strings from the URL, converted and bounded)."""

    model_config = ConfigDict(extra="ignore")

    @field_validator("assigned_to", "author", "watcher", mode="before")
    @classmethod
    def empty_means_default(cls, value: Any) -> Any:
        """An empty choice in a form means the list's default."""
        return None if value == "" else value

    def task_number(self) -> int | None:
        """The task a search of one number ("#123" or "123") names, else None."""
        text = (self.search or "").removeprefix("#")
        return as_id(text) if text and not text[0].isspace() else None

    def people(self, user_id: int, default_assignee: str) -> dict[str, Any]:
        """TaskQuery's assignee, author and watcher filters for the signed-in user; lists differ
        only in the assignee they default to (My Tasks: me, the API: any)."""
        assignee = self.assigned_to if self.assigned_to is not None else default_assignee
        return {
            "assigned_to_id": None if assignee in ("any", "none") else _who(assignee, user_id),
            "unassigned": assignee == "none",
            "author_id": None if self.author is None else _who(self.author, user_id),
            "watcher_id": None if self.watcher is None else user_id,
        }

    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] = 25
    status: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    priority: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    project: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)] | None = None
    search: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    sort: Annotated[str, StringConstraints(max_length=200)] | None = None
    assigned_to: Literal["me", "any", "none"] | Id | None = None  # default: the list's own
    author: Literal["me"] | Id | None = None
    watcher: Literal["me"] | None = None
    closed_days: Annotated[int, Field(ge=1, le=3650)] | None = None  # closed in the last N days

    @model_validator(mode="before")
    @classmethod
    def limit_is_per_page(cls, values: Any) -> Any:
        """The seed's client sends `limit`; it means per_page."""
        if isinstance(values, dict) and "limit" in values and "per_page" not in values:
            values = {**values, "per_page": values["limit"]}
        return values

    @field_validator("status", "priority", "project", "search", "sort", mode="before")
    @classmethod
    def empty_is_none(cls, value: Any) -> Any:
        """An empty filter box means no filter."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("sort")
    @classmethod
    def known_sort_keys(cls, value: str | None) -> str | None:
        """Sort by what the configured backend can sort by: "priority", "-updated_on",
        "status,-due_date" (checked in a request, where the backend is known)."""
        if value is None:
            return None
        sort_keys = get_backend().sort_keys
        for key in value.split(","):
            if key.strip().lstrip("-") not in sort_keys:
                raise ValueError(
                    _(
                        "Unknown sort key %(key)s. Use: %(keys)s.",
                        key=key.strip(),
                        keys=", ".join(sorted(sort_keys)),
                    )
                )
        return value

    def sort_order(self) -> tuple[tuple[str, bool], ...] | None:
        """The sort as (column, descending) pairs, or None for the default: a search's default
        is its best matches first."""
        if not self.sort:
            return ((RELEVANCE, True),) if self.search else None
        keys = [key.strip() for key in self.sort.split(",") if key.strip()]
        return tuple((key.lstrip("-"), key.startswith("-")) for key in keys)


def _who(value: str | int, user_id: int) -> int:
    """A user filter's value: "me" is the signed-in user, else a user id."""
    return user_id if value == "me" else int(value)


def task_row(task: TaskSummary) -> dict[str, Any]:
    """A task in a list, in the seed's shape plus ids for clients that need them."""
    return {
        "id": task.id,
        "subject": task.subject,
        "status": task.status.name,
        "priority": task.priority.name,
        "project": task.project.name,
        "due_date": iso(task.due_date),
        "assigned_to": task.assigned_to.name if task.assigned_to else None,
        "status_id": task.status.id,
        "is_closed": task.status.is_closed,
        "priority_id": task.priority.id,
        "project_id": task.project.id,
        "tracker": task.tracker.name,
        "assigned_to_id": task.assigned_to.id if task.assigned_to else None,
        "done_ratio": task.done_ratio,
        "updated_on": iso(task.updated_on),
    }


def task_detail(task: TaskInfo) -> dict[str, Any]:
    """One task, in the seed's get_task_by_id shape plus the fields Redmine has."""
    return {
        "id": task.id,
        "subject": task.subject,
        "description": task.description,
        "status_id": task.status.id,
        "status_name": task.status.name,
        "is_closed": task.status.is_closed,
        "priority_id": task.priority.id,
        "priority_name": task.priority.name,
        "project_id": task.project.id,
        "project_name": task.project.name,
        "tracker_id": task.tracker.id,
        "tracker_name": task.tracker.name,
        "author_id": task.author.id,
        "author_name": task.author.name,
        "assigned_to_id": task.assigned_to.id if task.assigned_to else None,
        "assigned_to_name": task.assigned_to.name if task.assigned_to else None,
        "start_date": iso(task.start_date),
        "due_date": iso(task.due_date),
        "estimated_hours": task.estimated_hours,
        "done_ratio": task.done_ratio,
        "created_on": iso(task.created_on),
        "updated_on": iso(task.updated_on),
        "closed_on": iso(task.closed_on),
        "custom_fields": [
            {"id": c.id, "name": c.name, "value": c.value} for c in task.custom_fields
        ],
        "watcher_ids": list(task.watcher_ids),
        "lock_version": task.lock_version,
    }


def journal_doc(journal: JournalInfo) -> dict[str, Any]:
    """One history entry."""
    return {
        "id": journal.id,
        "user_id": journal.user.id,
        "user_name": journal.user.name,
        "notes": journal.notes,
        "created_on": iso(journal.created_on),
        "details": [
            {"property": d.prop_key, "old_value": d.old_value, "new_value": d.new_value}
            for d in journal.details
        ],
    }


def status_doc(status: StatusInfo) -> dict[str, Any]:
    """A status for lookups."""
    return {"id": status.id, "name": status.name, "is_closed": status.is_closed}


def priority_doc(priority: PriorityInfo) -> dict[str, Any]:
    """A priority for lookups."""
    return {"id": priority.id, "name": priority.name, "is_default": priority.is_default}


def project_doc(project: ProjectInfo) -> dict[str, Any]:
    """A project for lookups."""
    return {"id": project.id, "identifier": project.identifier, "name": project.name}


def member_doc(member: MemberInfo) -> dict[str, Any]:
    """A project member for lookups."""
    return {"user_id": member.user_id, "name": member.name, "role": member.role}


def named_doc(item: Named) -> dict[str, Any]:
    """An id and name."""
    return {"id": item.id, "name": item.name}


def attachment_doc(info: AttachmentInfo) -> dict[str, Any]:
    """A file as the API shows it, with the address to download it."""
    return {
        "id": info.id,
        "task_id": info.task_id,
        "filename": info.filename,
        "size": info.size,
        "content_type": info.content_type,
        "author_id": info.author.id,
        "author_name": info.author.name,
        "created_on": iso(info.created_on),
        "journal_id": info.journal_id,
        "url": url_for("task_files.download", task_id=info.task_id, attachment_id=info.id),
    }
