"""Declared shapes of the task API's input (pydantic) and output (the seed's JSON documents)."""

from __future__ import annotations

from collections.abc import Iterable
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
    JournalDetailInfo,
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
IsoDate = Annotated[str, Field(json_schema_extra={"format": "date"})]
IsoTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]  # UTC, with Z
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=65_535)]
MAX_PER_PAGE = 100
MAX_BULK = 100


def no_default(schema: dict[str, Any]) -> None:
    """Leave out of the document a default that only fills a field never sent."""
    schema.pop("default", None)


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
        plain = (name for name in TaskCreateIn.model_fields if name != "custom_fields")
        data: dict[str, Any] = {name: form.get(name) for name in plain if form.get(name)}
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
    ] = Field("", json_schema_extra=no_default)  # the defaults are never used: only the fields
    # sent change
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


class PeopleQuery(BaseModel):
    """GET /tasks/api/projects/<id>/people: the start of a username or of a word of a name."""

    model_config = ConfigDict(extra="ignore")

    q: str = ""


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


class Out(BaseModel):
    """An answer's document: built through its model, so it always has the declared shape."""

    model_config = ConfigDict(extra="forbid")


class TaskRowOut(Out):
    """A task in a list, in the seed's shape plus ids for clients that need them."""

    id: int
    subject: str
    status: str
    priority: str
    project: str
    due_date: IsoDate | None
    assigned_to: str | None
    status_id: int
    is_closed: bool
    priority_id: int
    project_id: int
    tracker: str
    assigned_to_id: int | None
    done_ratio: int
    updated_on: IsoTime | None


class PaginationOut(Out):
    """Where a page of a list is."""

    page: int
    per_page: int
    total: int
    pages: int


class FiltersOut(Out):
    """The filters a list applied, as sent (assigned_to with the list's default)."""

    status: str | None
    priority: str | None
    project: str | None
    search: str | None
    sort: str | None
    assigned_to: str | int
    author: str | int | None
    watcher: str | None


class TaskListOut(Out):
    """GET /tasks/my-tasks and /tasks/api/tasks: the seed's tasks, pagination and filters."""

    tasks: list[TaskRowOut]
    pagination: PaginationOut
    filters: FiltersOut
    task_number: int | None


class CustomValueOut(Out):
    """A custom field's value on a task."""

    id: int
    name: str
    value: str


class TaskOut(Out):
    """One task, in the seed's get_task_by_id shape plus the fields Redmine has."""

    id: int
    subject: str
    description: str
    status_id: int
    status_name: str
    is_closed: bool
    priority_id: int
    priority_name: str
    project_id: int
    project_name: str
    tracker_id: int
    tracker_name: str
    author_id: int
    author_name: str
    assigned_to_id: int | None
    assigned_to_name: str | None
    start_date: IsoDate | None
    due_date: IsoDate | None
    estimated_hours: float | None
    done_ratio: int
    created_on: IsoTime | None
    updated_on: IsoTime | None
    closed_on: IsoTime | None
    custom_fields: list[CustomValueOut]
    watcher_ids: list[int]
    lock_version: int


class DetailOut(Out):
    """One field's change in a history entry (Redmine's property names)."""

    property: str
    old_value: str | None
    new_value: str | None


class JournalOut(Out):
    """One history entry."""

    id: int
    user_id: int
    user_name: str
    notes: str
    created_on: IsoTime | None
    details: list[DetailOut]


class StatusOut(Out):
    """A status for lookups."""

    id: int
    name: str
    is_closed: bool


class PriorityOut(Out):
    """A priority for lookups."""

    id: int
    name: str
    is_default: bool


class ProjectOut(Out):
    """A project for lookups."""

    id: int
    identifier: str
    name: str


class MemberOut(Out):
    """A project member for lookups."""

    user_id: int
    name: str
    role: str


class NamedOut(Out):
    """An id and name."""

    id: int
    name: str


def task_row(task: TaskSummary) -> dict[str, Any]:
    """A task in a list, in the seed's shape plus ids for clients that need them."""
    return TaskRowOut.model_validate(task_row_fields(task)).model_dump()


def task_row_fields(task: TaskSummary) -> dict[str, Any]:
    """A task in a list, before validation: a list validates its whole document at once, which
    costs about half of building a model per row."""
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
    return task_out(task).model_dump()


def task_out(task: TaskInfo) -> TaskOut:
    """One task, as its model."""
    return TaskOut(
        id=task.id,
        subject=task.subject,
        description=task.description,
        status_id=task.status.id,
        status_name=task.status.name,
        is_closed=task.status.is_closed,
        priority_id=task.priority.id,
        priority_name=task.priority.name,
        project_id=task.project.id,
        project_name=task.project.name,
        tracker_id=task.tracker.id,
        tracker_name=task.tracker.name,
        author_id=task.author.id,
        author_name=task.author.name,
        assigned_to_id=task.assigned_to.id if task.assigned_to else None,
        assigned_to_name=task.assigned_to.name if task.assigned_to else None,
        start_date=iso(task.start_date),
        due_date=iso(task.due_date),
        estimated_hours=task.estimated_hours,
        done_ratio=task.done_ratio,
        created_on=iso(task.created_on),
        updated_on=iso(task.updated_on),
        closed_on=iso(task.closed_on),
        custom_fields=[
            CustomValueOut(id=c.id, name=c.name, value=c.value) for c in task.custom_fields
        ],
        watcher_ids=list(task.watcher_ids),
        lock_version=task.lock_version,
    )


def details_doc(details: Iterable[JournalDetailInfo]) -> list[DetailOut]:
    """A history entry's field changes."""
    return [
        DetailOut(property=d.prop_key, old_value=d.old_value, new_value=d.new_value)
        for d in details
    ]


def journal_doc(journal: JournalInfo) -> dict[str, Any]:
    """One history entry."""
    return journal_out(journal).model_dump()


def journal_out(journal: JournalInfo) -> JournalOut:
    """One history entry, as its model."""
    return JournalOut(
        id=journal.id,
        user_id=journal.user.id,
        user_name=journal.user.name,
        notes=journal.notes,
        created_on=iso(journal.created_on),
        details=details_doc(journal.details),
    )


def status_doc(status: StatusInfo) -> dict[str, Any]:
    """A status for lookups."""
    return StatusOut(id=status.id, name=status.name, is_closed=status.is_closed).model_dump()


def priority_doc(priority: PriorityInfo) -> dict[str, Any]:
    """A priority for lookups."""
    return PriorityOut(
        id=priority.id, name=priority.name, is_default=priority.is_default
    ).model_dump()


def project_doc(project: ProjectInfo) -> dict[str, Any]:
    """A project for lookups."""
    return ProjectOut(id=project.id, identifier=project.identifier, name=project.name).model_dump()


def member_doc(member: MemberInfo) -> dict[str, Any]:
    """A project member for lookups."""
    return MemberOut(user_id=member.user_id, name=member.name, role=member.role).model_dump()


def named_doc(item: Named) -> dict[str, Any]:
    """An id and name."""
    return NamedOut(id=item.id, name=item.name).model_dump()


def attachment_doc(info: AttachmentInfo) -> dict[str, Any]:
    """A file as the API shows it, with the address to download it."""
    return attachment_out(info).model_dump()


def attachment_out(info: AttachmentInfo) -> AttachmentOut:
    """A file as its model."""
    return AttachmentOut(
        id=info.id,
        task_id=info.task_id,
        filename=info.filename,
        size=info.size,
        content_type=info.content_type,
        author_id=info.author.id,
        author_name=info.author.name,
        created_on=iso(info.created_on),
        journal_id=info.journal_id,
        url=url_for("task_files.download", task_id=info.task_id, attachment_id=info.id),
    )


class StatusChangeOut(Out):
    """PUT /tasks/api/task/<id>/status: the move made (changed: false when it had that status)."""

    task_id: int
    old_status: str
    new_status: str
    old_status_id: int
    new_status_id: int
    changed: bool
    comment_added: bool
    notifications_sent: int


class BulkResultOut(BaseModel):
    """One task of a bulk status change: its statuses, or why it was refused (an error's
    details, such as allowed_statuses, follow)."""

    model_config = ConfigDict(extra="allow")

    task_id: int
    success: bool
    old_status: str | None = None
    new_status: str | None = None
    status_code: int | None = None
    message: str | None = None


class BulkStatusOut(Out):
    """PUT /tasks/api/tasks/status: each task's outcome and the counts."""

    results: list[BulkResultOut]
    succeeded: int
    failed: int


class TaskCreatedOut(Out):
    """POST /tasks/api/task: the seed's summary of the new task, and the whole task."""

    task_id: int
    subject: str
    status: str
    assigned_to: str | None
    project: str
    created_on: IsoTime | None
    task: TaskOut
    attachments: list[AttachmentOut]  # the files sent with a multipart create


class TaskEditedOut(Out):
    """PATCH /tasks/api/task/<id>: the task now and the change journaled (none: nothing
    differed)."""

    task: TaskOut
    changed: bool
    journal_id: int | None
    details: list[DetailOut]


class WatcherOut(Out):
    """A watcher by name."""

    user_id: int
    name: str


class WatchersOut(Out):
    """A task's watchers, whether the user watches it and may choose others."""

    watchers: list[WatcherOut]
    watching: bool
    may_manage: bool


class PersonOut(Out):
    """A project member one may @mention."""

    user_id: int
    username: str
    name: str


class SavedFilterOut(Out):
    """A saved filter: its name and My Tasks query string."""

    id: int
    name: str
    query: str


class ConflictOut(Out):
    """409 of an edit with a stale lock_version: the task now and its newest history entry."""

    success: Literal[False]
    message: str
    status_code: int
    task: TaskOut
    last_change: JournalOut | None


class AttachmentOut(Out):
    """A file on a task, with the address to download it."""

    id: int
    task_id: int
    filename: str
    size: int
    content_type: str
    author_id: int
    author_name: str
    created_on: IsoTime | None
    journal_id: int | None
    url: str


class FilesIn(BaseModel):
    """POST /tasks/api/task/<id>/attachments, multipart/form-data: the files and a comment (the
    view reads the form itself; this model describes it)."""

    files: Annotated[list[bytes], Field(min_length=1, max_length=20)]
    notes: Annotated[str, StringConstraints(max_length=65_535)] = ""


class TaskCreateFilesIn(TaskCreateIn):
    """POST /tasks/api/task as multipart/form-data: the same fields, custom fields as cf_<id>,
    and files to attach (the view reads the form itself; this model describes it)."""

    files: Annotated[list[bytes], Field(max_length=20)] = []


class FilesAddedOut(Out):
    """The history entry that added the files, and the files."""

    journal: JournalOut
    attachments: list[AttachmentOut]


class FileDeletedOut(Out):
    """The file removed."""

    id: int
    task_id: int
