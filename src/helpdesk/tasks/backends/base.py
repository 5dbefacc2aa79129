"""The task backend interface: what the local store and Redmine both provide, in plain data.

Every user id that crosses this interface, in arguments and in results, is a helpdesk user id
(users.id). A backend whose store numbers its users differently translates at its own edge,
through its UserIds, the one place that knows both numberings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

from flask_babel import gettext as _

from helpdesk.core.metrics import note_backend_error

if TYPE_CHECKING:
    from helpdesk.tasks.backends.edits import TaskChanges, TaskRights, TaskUpdate, WatchChange


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: the helpdesk user (user_id is theirs), and the login and key a backend
    acts as when it needs them."""

    user_id: int
    is_admin: bool = False
    login: str = ""
    redmine_api_key: str | None = None


@dataclass(frozen=True, slots=True)
class Named:
    """An id with its display name (project, tracker, user, role)."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """A workflow status."""

    id: int
    name: str
    is_closed: bool
    position: int = 0


@dataclass(frozen=True, slots=True)
class PriorityInfo:
    """A priority; a higher position is more urgent."""

    id: int
    name: str
    position: int = 0
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """A project the actor can see."""

    id: int
    identifier: str
    name: str


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A project member (a helpdesk user id) and their role."""

    user_id: int
    name: str
    role: str
    assignable: bool = True  # whether their role takes tasks (the assignee choices)


@dataclass(frozen=True, slots=True)
class CustomFieldInfo:
    """A field a new task in a project may or must fill in, as the form and the API offer it."""

    id: int
    name: str
    is_required: bool
    max_length: int


@dataclass(frozen=True, slots=True)
class CustomValueInfo:
    """A task's value for one custom field."""

    id: int
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """A row of a task list; assigned_to carries a helpdesk user id."""

    id: int
    subject: str
    project: Named
    tracker: Named
    status: StatusInfo
    priority: PriorityInfo
    assigned_to: Named | None
    due_date: date | None
    updated_on: datetime
    done_ratio: int = 0


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """Everything about one task; author, assigned_to and watcher_ids carry helpdesk user ids."""

    id: int
    subject: str
    description: str
    project: Named
    tracker: Named
    status: StatusInfo
    priority: PriorityInfo
    author: Named
    assigned_to: Named | None
    start_date: date | None
    due_date: date | None
    estimated_hours: float | None
    done_ratio: int
    created_on: datetime
    updated_on: datetime
    closed_on: datetime | None
    custom_fields: tuple[CustomValueInfo, ...] = ()
    watcher_ids: tuple[int, ...] = ()
    lock_version: int = 0  # changes with every change of the task: an edit names the one it saw


@dataclass(frozen=True, slots=True)
class JournalDetailInfo:
    """One field change: property, old value, new value (ids as strings, like Redmine)."""

    prop_key: str
    old_value: str | None
    new_value: str | None


@dataclass(frozen=True, slots=True)
class JournalInfo:
    """One entry of a task's history; user carries a helpdesk user id."""

    id: int
    task_id: int
    user: Named
    notes: str
    created_on: datetime
    details: tuple[JournalDetailInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters, sort (by the backend's sort_keys) and page of a task list; None means "any";
    user ids are helpdesk user ids.

    Each word of search must match: letters and digits match words that begin with them in the
    subject, the description or a comment (stemmed where the backend can: see
    docs/API.md, "Search"); a word with other characters ("50%") matches as text in the
    subject."""

    assigned_to_id: int | None = None
    status: str | None = None  # "open" (default), "closed", "all", or a status name (status_filter)
    priority: str | None = None  # a priority name
    project: str | None = None  # a project name, identifier or id
    search: str | None = None  # words in the subject, description and comments (see below)
    closed_since: datetime | None = None  # a closed task only if closed since then (the board)
    sort: tuple[tuple[str, bool], ...] = (("priority", True), ("updated_on", True))
    page: int = 1
    per_page: int = 25
    # Queues: whose tasks (helpdesk user ids; None means anyone). unassigned wins over
    # assigned_to_id; task_id narrows the list to one task (a task number typed as a search).
    unassigned: bool = False
    author_id: int | None = None
    watcher_id: int | None = None
    task_id: int | None = None


# The sort key that orders a search's matches best first (a backend that cannot rank keeps its
# default order); without a search it sorts nothing.
RELEVANCE = "relevance"


STATUS_GROUPS = frozenset({"open", "closed", "all"})


def status_filter(value: str | None, statuses: Iterable[StatusInfo]) -> tuple[str, str]:
    """What a list's status filter means: ("group", open|closed|all) or ("name", a lower-cased
    status name). A status's exact name wins, so `status=Closed` (the seed's filter by name)
    means the status called Closed, where `status=closed` means every closed status."""
    text = (value or "open").strip()
    if any(status.name == text for status in statuses):
        return "name", text.lower()
    lowered = "all" if text == "*" else text.lower()
    return ("group", lowered) if lowered in STATUS_GROUPS else ("name", lowered)


@dataclass(frozen=True, slots=True)
class TaskPage:
    """One page of a task list with the total across all pages."""

    items: list[TaskSummary]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True, slots=True)
class NewTask:
    """The fields of a task to create; ids refer to the backend's lookups, assigned_to_id to a
    helpdesk user; files, already checked, are attached with the task (no history entry of
    their own: they are part of the new task, as in Redmine)."""

    project_id: int
    subject: str
    description: str = ""
    tracker_id: int | None = None
    status_id: int | None = None
    priority_id: int | None = None
    assigned_to_id: int | None = None
    start_date: date | None = None
    due_date: date | None = None
    estimated_hours: float | None = None
    custom_fields: dict[int, str] = field(default_factory=dict)
    files: tuple[NewFile, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The outcome of a status change."""

    task: TaskInfo
    old_status: StatusInfo
    new_status: StatusInfo
    journal_id: int | None
    changed: bool


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What telling people of a change needs to know of its task (helpdesk user ids): the feed
    reads these with each journal, so announcing a change never reads the whole task again."""

    id: int
    subject: str
    project_id: int
    author_id: int
    assigned_to_id: int | None
    watcher_ids: tuple[int, ...] = ()

    @classmethod
    def of(cls, task: TaskInfo) -> TaskFacts:
        """The facts of a task a backend returned whole."""
        return cls(
            task.id,
            task.subject,
            task.project.id,
            task.author.id,
            task.assigned_to.id if task.assigned_to else None,
            task.watcher_ids,
        )


@dataclass(frozen=True, slots=True)
class Change:
    """A journal entry seen by the change feed, with the facts of its task as it is now: who
    hears of it is for notifications to decide, not the backend."""

    journal: JournalInfo
    task: TaskFacts


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    """Changes after a cursor, and the cursor to ask from next time."""

    changes: list[Change]
    cursor: str


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file to attach, already checked by the helpdesk (tasks/files.py inspect): a sanitised
    name, the content type sniffed from its bytes, whether Pillow verified it as a raster
    image."""

    filename: str
    content_type: str
    data: bytes
    is_image: bool = False


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    """A file on a task; journal_id: the history entry (a comment) it came with; author carries
    a helpdesk user id. verified_image: the helpdesk itself verified the bytes as a raster image
    (a file added in Redmine claims its type, and is verified when served)."""

    id: int
    task_id: int
    filename: str
    size: int
    content_type: str
    author: Named
    created_on: datetime
    journal_id: int | None = None
    verified_image: bool = False


class StreamedBytes:
    """Bytes read a chunk at a time from something that must be let go (a file, a connection):
    closed when the last chunk is read, or when the response that sends them is closed, even
    unread."""

    def __init__(self, chunks: Iterator[bytes], close: Callable[[], None]) -> None:
        self.chunks = chunks
        self.close = close

    def __iter__(self) -> StreamedBytes:
        """The chunks, once."""
        return self

    def __next__(self) -> bytes:
        """The next chunk; at the end the source is closed."""
        try:
            return next(self.chunks)
        except StopIteration:
            self.close()
            raise


@dataclass(frozen=True, slots=True)
class AttachmentContent:
    """A file and its bytes as they stream from the store."""

    info: AttachmentInfo
    chunks: StreamedBytes


ATTACHMENT_PROP = "attachment_"  # a journal detail's prop_key for a file: attachment_<id>


class TaskError(Exception):
    """Base of the errors a backend raises; the API turns each into a clear 4xx/5xx."""

    status_code = 400

    def __init__(self, message: str, **payload: Any):
        super().__init__(message)
        self.message = message
        self.payload = payload
        if self.status_code >= 500:  # the backend failed, not the request
            note_backend_error(self)


class TaskNotFound(TaskError):
    """The task does not exist or the actor may not see it (never tell which)."""

    status_code = 404


class TaskForbidden(TaskError):
    """The actor may see the task but not do this to it."""

    status_code = 403


class InvalidTransition(TaskError):
    """The actor's role may not move the task to that status; payload names the allowed ones."""

    status_code = 422


class TaskValidationError(TaskError):
    """Field values the backend refuses; payload carries errors by field."""

    status_code = 422


class TaskConflict(TaskError):
    """Someone else changed the task at the same moment; the client should reload and retry."""

    status_code = 409


class BackendUnavailable(TaskError):
    """The backend (a Redmine server) cannot be reached or answered badly."""

    status_code = 502


def as_id(text: str) -> int | None:
    """An id written in ASCII digits that fits the id columns, else None: then the text is a
    name (a query may name a project by id or by name)."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return int(text)
    return None


class UserIds(Protocol):
    """Translates between helpdesk user ids and a backend's own user ids; a backend calls it
    wherever an id crosses its edge (the actor, an assignee, a recipient) and nowhere else."""

    def to_backend(self, user_id: int) -> int | None:
        """The backend's id for a helpdesk user; None: the user has no account there."""
        ...

    def to_helpdesk(self, backend_user_id: int) -> int | None:
        """The helpdesk's id for a backend user; None: they have no helpdesk account (shown by
        name, never notified)."""
        ...


class SameIds:
    """The identity map of a backend that keeps its tasks in the helpdesk's own database."""

    def to_backend(self, user_id: int) -> int:
        """The same id: the backend's users are the helpdesk's."""
        return user_id

    def to_helpdesk(self, backend_user_id: int) -> int:
        """The same id: the backend's users are the helpdesk's."""
        return backend_user_id


class TaskBackend(Protocol):
    """What a task store offers the helpdesk; the contract tests hold every backend to it.

    A backend whose writes are not in the helpdesk's transaction (a REST server) writes first
    and lets the helpdesk record afterwards (notifications, the announcement's claim, one
    commit): a failed commit then leaves a change the feed announces later, never a notification
    of a change that was not made. Each write is one call on its own, never part of a batch the
    helpdesk could roll back (bulk changes are independent calls)."""

    name: str
    user_ids: UserIds
    sort_keys: frozenset[str]  # what TaskQuery.sort may name

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """Tasks the actor can see that match the query, one page, with the total."""
        ...

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One visible task, or TaskNotFound."""
        ...

    def journals(self, actor: Actor, task_id: int) -> list[JournalInfo]:
        """A visible task's history, oldest first."""
        ...

    def create_task(self, actor: Actor, new: NewTask) -> TaskInfo:
        """Create a task in a project the actor belongs to, with its files; a refusal (of a
        field or of a file) creates nothing and leaves no file behind."""
        ...

    def change_status(
        self, actor: Actor, task_id: int, status_id: int, comment: str | None
    ) -> StatusChange:
        """Move a task to a status the actor may choose, with an optional comment."""
        ...

    def add_comment(self, actor: Actor, task_id: int, notes: str) -> JournalInfo:
        """Add notes to a visible task."""
        ...

    def allowed_statuses(self, actor: Actor, task_id: int) -> list[StatusInfo]:
        """Statuses the actor may move this task to (its current status excluded)."""
        ...

    def projects(self, actor: Actor) -> list[ProjectInfo]:
        """Projects the actor can see."""
        ...

    def statuses(self) -> list[StatusInfo]:
        """All statuses in workflow order."""
        ...

    def priorities(self) -> list[PriorityInfo]:
        """All priorities, least urgent first."""
        ...

    def trackers(self) -> list[Named]:
        """All trackers."""
        ...

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """Members of a visible project."""
        ...

    def custom_fields(self, actor: Actor, project_id: int) -> list[CustomFieldInfo]:
        """The custom fields of a new task in a visible project, in id order."""
        ...

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Exactly those of these users who may see the task now; only they may be told of it,
        as a notification carries its subject.

        A user sees a task if they are an administrator, or hold a role in its project whose
        issue visibility covers it (local: every role sees all of its project's tasks; Redmine:
        all issues, the non-private ones, or those the user wrote or is assigned). A backend
        without a cheap answer for many users at once (REST) may read the project's members and
        their roles' visibility, or ask per recipient at delivery time by reading the task as
        that user; it never guesses."""
        ...

    def member_ids(self, project_id: int) -> set[int]:
        """The users with a role in the project: whose boards show its tasks move."""
        ...

    def changes_since(self, cursor: str | None, limit: int = 100) -> ChangeBatch:
        """Journal entries after the cursor (None: start from now), oldest first, with those
        the helpdesk made itself: the change feed (tasks/feed.py) announces each once."""
        ...

    def attachments(self, actor: Actor, task_id: int) -> list[AttachmentInfo]:
        """The files of a visible task, oldest first."""
        ...

    def add_attachments(
        self, actor: Actor, task_id: int, files: list[NewFile], notes: str = ""
    ) -> JournalInfo:
        """Attach files to a task the actor may comment on, with optional notes, as one history
        entry whose details name each file (prop_key attachment_<id>, new value its name)."""
        ...

    def attachment(self, actor: Actor, task_id: int, attachment_id: int) -> AttachmentInfo:
        """A file of a task the actor can see, or TaskNotFound (never telling which)."""
        ...

    def attachment_content(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> AttachmentContent:
        """A visible file and its bytes, streamed."""
        ...

    def delete_attachment(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> JournalInfo | None:
        """Remove a file (its author or an administrator; Redmine: whom its roles allow), with a
        history entry naming it (old value its name) when the store keeps one."""
        ...

    def text_format(self) -> str:
        """How the texts of this store are written: "markdown", or "plain" (a Redmine that
        formats with Textile: shown as typed, never guessed at)."""
        ...

    def task_rights(self, actor: Actor, task_id: int) -> TaskRights:
        """What the actor may do to a visible task (edit it, manage others' watching)."""
        ...

    def update_task(
        self, actor: Actor, task_id: int, changes: TaskChanges, lock_version: int | None
    ) -> TaskUpdate:
        """Edit a visible task's fields, journaling each change old -> new; TaskConflict when
        lock_version (if given) is not the task's any more, TaskValidationError by field."""
        ...

    def set_watching(self, actor: Actor, task_id: int, user_id: int, watching: bool) -> WatchChange:
        """Add or remove a watcher: oneself always, another user who may see the task only
        with task_rights' may_manage_watchers; journaled (detail "watcher", the user's id as
        new value when added, old value when removed) where the store keeps such history."""
        ...


def custom_value_problem(definition: Any, field_id: int, value: str) -> str | None:
    """What is wrong with a custom field's value (definition: one with name and max_length,
    or None for an id no field has), on every backend."""
    if definition is None:
        return _("Unknown custom field %(id)d.", id=field_id)
    if definition.max_length and len(value) > definition.max_length:
        return _(
            "%(name)s is longer than %(max)d characters.",
            name=definition.name,
            max=definition.max_length,
        )
    return None
