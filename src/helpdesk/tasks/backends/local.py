"""The built-in task store: tables in the helpdesk's own database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    BindParameter,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from helpdesk.core.json_rows import json_rows
from helpdesk.core.models import escape_like, utcnow
from helpdesk.extensions import db
from helpdesk.tasks import files
from helpdesk.tasks.backends.base import (
    ATTACHMENT_PROP,
    RELEVANCE,
    Actor,
    AttachmentContent,
    AttachmentInfo,
    Change,
    ChangeBatch,
    CustomFieldInfo,
    CustomValueInfo,
    JournalDetailInfo,
    JournalInfo,
    MemberInfo,
    Named,
    NewFile,
    NewTask,
    PriorityInfo,
    ProjectInfo,
    SameIds,
    StatusChange,
    StatusInfo,
    TaskConflict,
    TaskFacts,
    TaskForbidden,
    TaskInfo,
    TaskNotFound,
    TaskPage,
    TaskQuery,
    TaskSummary,
    TaskValidationError,
    as_id,
    custom_value_problem,
    status_filter,
)
from helpdesk.tasks.backends.edits import (
    WATCHER,
    TaskChanges,
    TaskRights,
    TaskUpdate,
    WatchChange,
    detail_value,
)
from helpdesk.tasks.backends.lookups import LookupCache, Lookups
from helpdesk.tasks.models import (
    Attachment,
    CustomField,
    CustomValue,
    Journal,
    JournalDetail,
    Member,
    Project,
    Role,
    Task,
    TaskPriority,
    TaskStatus,
    Tracker,
    Watcher,
    WorkflowTransition,
)
from helpdesk.tasks.search import RANKED_MATCHES, FullText, search_params, search_terms
from helpdesk.tasks.workflow import allowed_initial_statuses, allowed_moves, refusal
from helpdesk.users.models import User

Detail = tuple[str, str | None, str | None]  # a journal detail: (field, old value, new value)

Assignee = aliased(User, name="assignee")
Author = aliased(User, name="author")


def _user_name(user: Any) -> Any:
    """SQL for a user's display name: full name, else username."""
    return func.coalesce(func.nullif(user.full_name, ""), user.username)


SORT_COLUMNS = {
    "id": Task.id,
    "subject": Task.subject,
    "status": TaskStatus.position,
    "priority": TaskPriority.position,
    "project": Project.name,
    "tracker": Tracker.name,
    "assigned_to": _user_name(Assignee),
    "due_date": Task.due_date,
    "start_date": Task.start_date,
    "created_on": Task.created_on,
    "updated_on": Task.updated_on,
}

# A list row: the task's own columns and the names that are not in the lookup cache (statuses,
# priorities and trackers come from there, so the page joins their tables only to filter or sort
# by them: on PostgreSQL each join cost the page ~1 ms of planning).
SUMMARY_COLUMNS = (
    Task.id,
    Task.subject,
    Task.project_id,
    Project.name.label("project_name"),
    Task.tracker_id,
    Task.status_id,
    Task.priority_id,
    Task.assigned_to_id,
    _user_name(Assignee).label("assignee_name"),
    Task.due_date,
    Task.updated_on,
    Task.done_ratio,
)


@dataclass(frozen=True, slots=True)
class ListShape:
    """What decides a list query's SQL; the values go in as parameters."""

    admin: bool
    assigned: bool
    status: str  # open, closed, all, name
    priority: bool
    project: str | None  # id, name
    words: int  # words of punctuation alone, matched in the subject
    sort: tuple[tuple[str, bool], ...]
    closed_since: bool = False
    dialect: str = "sqlite"  # the full-text index's kind
    full_text: bool = False  # words of letters or digits, matched by the search index
    unassigned: bool = False
    author: bool = False
    watcher: bool = False
    one_task: bool = False
    scoped: bool = False  # PostgreSQL: the search's projects and statuses are bound (fts_scope)
    window: bool = False  # rank the newest matches from the index alone (search.RANKED_MATCHES)


def _search(shape: ListShape) -> FullText | None:
    """The full-text search of a list shape, if it has one."""
    return FullText(shape.dialect, shape.scoped) if shape.full_text else None


def _matching(search: FullText, param: str, shape: ListShape) -> Any:
    """The condition that a task matches the bound query `param`. In a window, the newest
    matches, which the statement then looks up by number. Otherwise every match, tested against
    `task_id + 0` on SQLite, which takes an IN list for a handful of rows and would look every
    match up: there it starts from the other filters' index (a user's tasks) and tests each
    entry; PostgreSQL's planner picks the side as their sizes say."""
    if shape.window:
        return Task.id.in_(select(search.newest(param).c[0]))
    if shape.dialect == "sqlite":
        return (Task.id + 0).in_(search.matches(param))
    return Task.id.in_(search.matches(param))


def _list_clauses(shape: ListShape) -> list[Any]:
    """WHERE clauses of a list shape, with bound parameters for the values."""
    clauses: list[Any] = []
    if shape.unassigned:
        clauses.append(Task.assigned_to_id.is_(None))
    elif shape.assigned:
        clauses.append(Task.assigned_to_id == bindparam("assigned_to_id"))
    if shape.author:
        clauses.append(Task.author_id == bindparam("author_id"))
    if shape.watcher:
        clauses.append(
            exists().where(Watcher.task_id == Task.id, Watcher.user_id == bindparam("watcher_id"))
        )
    if shape.one_task:
        clauses.append(Task.id == bindparam("task_id"))
    search = _search(shape)
    if search is not None and shape.window:  # projects and statuses are in the search's query
        newest = union(*(select(search.newest(name).c[0]) for name in ("fts", "fts_subject")))
        member_projects = select(Member.project_id).where(Member.user_id == bindparam("actor_id"))
        if not shape.admin:  # again, from no index
            return [Task.id.in_(newest), (Task.project_id + 0).in_(member_projects)]
        return [Task.id.in_(newest)]
    if search is not None:
        clauses.append(_matching(search, "fts", shape))
    if shape.status in {"open", "closed"}:  # ids, so the (assignee, status) index takes both
        clauses.append(Task.status_id.in_(bindparam("status_ids", expanding=True)))
    elif shape.status == "name":
        clauses.append(func.lower(TaskStatus.name) == bindparam("status"))
    if shape.priority:
        clauses.append(func.lower(TaskPriority.name) == bindparam("priority"))
    if shape.project == "id":
        clauses.append(Task.project_id == bindparam("project_id"))
    elif shape.project == "name":
        clauses.append(
            or_(
                func.lower(Project.name) == bindparam("project_name"),
                Project.identifier == bindparam("project_identifier"),
            )
        )
    for index in range(shape.words):
        clauses.append(Task.subject.ilike(bindparam(f"word{index}"), escape="\\"))
    if shape.closed_since:  # a reopened task keeps its old closed_on: only closed statuses count
        clauses.append(
            or_(
                Task.status_id.in_(bindparam("open_status_ids", expanding=True)),
                Task.closed_on >= bindparam("closed_since"),
            )
        )
    if not shape.admin:
        member_projects = select(Member.project_id).where(Member.user_id == bindparam("actor_id"))
        clauses.append(Task.project_id.in_(member_projects))
    return clauses


@lru_cache(maxsize=256)
def list_statements(shape: ListShape) -> tuple[Select[Any], Select[Any]]:
    """The page and count statements of a list shape, built once: building a select costs more
    than running it."""
    clauses = _list_clauses(shape)
    search = _search(shape)
    order = []
    for key, descending in shape.sort:
        if key == RELEVANCE:  # ranks only a search's matches (search.py: by tiers)
            if search is not None:
                in_subject = _matching(search, "fts_subject", shape)
                order.append(in_subject.desc() if descending else in_subject.asc())
                order.append(Task.updated_on.desc() if descending else Task.updated_on.asc())
            continue
        column = SORT_COLUMNS[key]
        order.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
    order.append(Task.id.desc())
    sorted_by = {key for key, _descending in shape.sort}
    page = select(*SUMMARY_COLUMNS).join(Project, Project.id == Task.project_id)
    if search is not None and shape.window:  # the count the index made while finding them
        total = select(search.newest("fts").c.total).limit(1).scalar_subquery()
        page = page.add_columns(total.label("total"))
    if "tracker" in sorted_by:
        page = page.join(Tracker, Tracker.id == Task.tracker_id)
    if shape.status == "name" or "status" in sorted_by:
        page = page.join(TaskStatus, TaskStatus.id == Task.status_id)
    if shape.priority or "priority" in sorted_by:
        page = page.join(TaskPriority, TaskPriority.id == Task.priority_id)
    page = (
        page.outerjoin(Assignee, Assignee.id == Task.assigned_to_id)
        .where(*clauses)
        .order_by(*order)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    if search is not None and shape.window:
        return page, search.count()
    count = select(func.count()).select_from(Task)
    if shape.status == "name":
        count = count.join(TaskStatus, TaskStatus.id == Task.status_id)
    if shape.priority:
        count = count.join(TaskPriority, TaskPriority.id == Task.priority_id)
    if shape.project == "name":
        count = count.join(Project, Project.id == Task.project_id)
    return page, count.where(*clauses)


def _extras() -> Any:
    """A task's custom values ("c") and watchers ("w") as one JSON column of [kind, id, name,
    value] rows (see _extra_values)."""
    custom: Select[*tuple[Any, ...]] = (
        select(
            literal_column("'c'").label("kind"),
            CustomField.id.label("item_id"),
            CustomField.name,
            CustomValue.value,
        )
        .join(CustomValue, CustomValue.custom_field_id == CustomField.id)
        .where(CustomValue.task_id == bindparam("task_id"))
    )
    watchers: Select[*tuple[Any, ...]] = select(
        literal_column("'w'"), Watcher.user_id, null(), null()
    ).where(Watcher.task_id == bindparam("task_id"))
    items = union_all(custom, watchers).subquery()
    return select(json_rows(*items.c)).scalar_subquery().label("extras")


def _extra_values(extras: list[list[Any]] | None) -> tuple[list[CustomValueInfo], list[int]]:
    """The custom values and watcher ids of an extras column, each in id order."""
    custom: list[CustomValueInfo] = []
    watchers: list[int] = []
    for kind, item_id, name, value in sorted(extras or (), key=lambda item: item[1]):
        if kind == "c":
            custom.append(CustomValueInfo(item_id, name, value))
        else:
            watchers.append(item_id)
    return custom, watchers


NAME_COLUMNS = (
    Project.name.label("project_name"),
    Tracker.name.label("tracker_name"),
    _user_name(Author).label("author_name"),
    _user_name(Assignee).label("assignee_name"),
    _extras(),
)


def _with_names(statement: Select[Any]) -> Select[Any]:
    """Join a task statement with the names a task shows."""
    return (
        statement.join(Project, Project.id == Task.project_id)
        .join(Tracker, Tracker.id == Task.tracker_id)
        .join(Author, Author.id == Task.author_id)
        .outerjoin(Assignee, Assignee.id == Task.assigned_to_id)
        .where(Task.id == bindparam("task_id"))
    )


def _actor_role() -> Any:
    """The actor's role in the task's project (None: not a member), correlated with the task
    however deep it is nested."""
    return (
        select(Member.role_id)
        .where(Member.project_id == Task.project_id, Member.user_id == bindparam("actor_id"))
        .correlate(Task)
        .scalar_subquery()
    )


@cache
def task_statement() -> Select[Any]:
    """A task's columns, names, custom values, watchers and the actor's role, in one
    statement."""
    return _with_names(
        select(*Task.__table__.columns, *NAME_COLUMNS, _actor_role().label("role_id"))
    )


def _role_rules() -> Any:
    """The workflow rules of the actor's role in the task's project, as one JSON value of
    (old status id, new status id) pairs (None or [] when it has none)."""
    return (
        select(json_rows(WorkflowTransition.old_status_id, WorkflowTransition.new_status_id))
        .where(WorkflowTransition.role_id == _actor_role())
        .scalar_subquery()
    )


@cache
def change_statement() -> Select[Any]:
    """The task as an ORM object (its lock_version guards the write), its names, the actor's
    role and that role's workflow rules, in one statement."""
    return _with_names(
        select(Task, *NAME_COLUMNS, _actor_role().label("role_id"), _role_rules().label("rules"))
    )


@cache
def names_statement() -> Select[Any]:
    """The names, custom values and watchers a task shows, for a task already loaded."""
    return _with_names(select(*NAME_COLUMNS).select_from(Task))


def _summary(row: Any, lookups: Lookups, cache: LookupCache) -> TaskSummary:
    """A list row from a result row (SUMMARY_COLUMNS first) and the cached statuses, priorities
    and trackers (an id the cache does not know yet, added by another process, reloads it)."""
    (
        task_id,
        subject,
        project_id,
        project_name,
        tracker_id,
        status_id,
        priority_id,
        assignee_id,
        assignee_name,
        due_date,
        updated_on,
        done_ratio,
    ) = row[: len(SUMMARY_COLUMNS)]
    status = lookups.status_by_id.get(status_id) or cache.status(status_id)
    priority = lookups.priority_by_id.get(priority_id) or cache.priority(priority_id)
    tracker = lookups.tracker_by_id.get(tracker_id) or cache.tracker(tracker_id)
    assert status is not None  # the foreign keys promise all three
    assert priority is not None
    assert tracker is not None
    return TaskSummary(
        id=task_id,
        subject=subject,
        project=Named(project_id, project_name),
        tracker=tracker,
        status=status,
        priority=priority,
        assigned_to=Named(assignee_id, assignee_name) if assignee_id else None,
        due_date=due_date,
        updated_on=updated_on,
        done_ratio=done_ratio,
    )


@cache
def visible_to_statement() -> Select[Any]:
    """Admins and members of the task's project among the given users, built once."""
    task_id: BindParameter[int] = bindparam("task_id")
    is_member = (  # per candidate, through the (project, user) index: not the project's roster
        exists()
        .where(Member.user_id == User.id)
        .where(
            Member.project_id == select(Task.project_id).where(Task.id == task_id).scalar_subquery()
        )
    )
    return select(User.id).where(
        User.id.in_(bindparam("ids", expanding=True)),
        exists().where(Task.id == task_id),
        User.is_admin.is_(True) | is_member,
    )


def members_of(project_id: Any) -> Select[Any]:
    """The users with a role in a project, as one JSON value (a project may have hundreds of
    members, and fetching them as rows cost more than the statement); read with user_ids."""
    return select(json_rows(Member.user_id)).where(Member.project_id == project_id)


def user_ids(members: Any) -> set[int]:
    """The ids in members_of's value (None on PostgreSQL for a project without members)."""
    return {user_id for (user_id,) in members or ()}


@cache
def member_ids_statement() -> Select[Any]:
    """members_of a given project, built once."""
    return members_of(bindparam("project_id"))


class LocalBackend:
    """Tasks stored in the helpdesk database; visibility follows project membership."""

    name = "local"
    user_ids = SameIds()
    sort_keys = frozenset(SORT_COLUMNS) | {RELEVANCE}

    def __init__(self) -> None:
        self.lookups = LookupCache()

    # -- visibility and permissions -------------------------------------------------------

    def _role_id(self, actor: Actor, project_id: int) -> int | None:
        """The actor's role in a project, or None when not a member."""
        return db.session.scalar(
            select(Member.role_id).where(
                Member.project_id == project_id, Member.user_id == actor.user_id
            )
        )

    def _task(self, actor: Actor, task_id: int, statement: Select[Any] | None = None) -> Any:
        """A task the actor may see (a row of task_statement, or of the statement given), or
        TaskNotFound. Core rows for the hot reads: the ORM's handling of a result cost as much
        as the statement."""
        params = {"task_id": task_id, "actor_id": actor.user_id}
        if statement is None:
            row = db.session.connection().execute(task_statement(), params).first()
        else:
            row = db.session.execute(statement, params).first()
        if row is None or not (actor.is_admin or row.role_id):
            raise TaskNotFound(_("Task #%(id)d was not found.", id=task_id))
        return row

    def _require_member(self, actor: Actor, role_id: int | None) -> None:
        """TaskForbidden when the actor has no role in the project (admins pass)."""
        if role_id is None and not actor.is_admin:
            raise TaskForbidden(_("You are not a member of this project."))

    def _allowed_status_ids(self, actor: Actor, row: Any) -> list[int]:
        """The statuses the actor may move the task of a change_statement row to."""
        task = row[0]
        statuses = (status.id for status in self.lookups.get().statuses)
        return allowed_moves(actor.is_admin, row.role_id, row.rules or (), task.status_id, statuses)

    # -- reading ------------------------------------------------------------------------

    def _list_params(self, actor: Actor, query: TaskQuery) -> tuple[ListShape, dict[str, Any]]:
        """The shape of a list query (which prepared statement) and its parameter values."""
        params: dict[str, Any] = {
            "actor_id": actor.user_id,
            "assigned_to_id": query.assigned_to_id,
            "author_id": query.author_id,
            "watcher_id": query.watcher_id,
            "task_id": query.task_id,
            "limit": query.per_page,
            "offset": (query.page - 1) * query.per_page,
        }
        statuses = self.lookups.get().statuses
        kind, status = status_filter(query.status, statuses)
        if kind == "name":
            params["status"], status = status, "name"
        elif status in {"open", "closed"}:
            closed = status == "closed"
            params["status_ids"] = [s.id for s in statuses if s.is_closed == closed]
        if query.priority:
            params["priority"] = query.priority.strip().lower()
        project_kind = None
        if query.project:
            value = query.project.strip()
            project_id = as_id(value)
            if project_id is not None:
                project_kind, params["project_id"] = "id", project_id
            else:
                project_kind = "name"
                params["project_name"], params["project_identifier"] = value.lower(), value
        dialect = db.session.get_bind().dialect.name
        tokens, words = search_terms((query.search or "").split())
        # a search ranks from the index alone when the index holds every filter: who may see
        # the task, its project and whether it is open
        window = (
            bool(tokens)
            and query.sort == ((RELEVANCE, True),)
            and not (
                query.assigned_to_id is not None
                or query.unassigned
                or query.author_id is not None
                or query.watcher_id is not None
                or query.task_id is not None
                or query.priority
                or query.closed_since is not None
                or kind == "name"
                or project_kind == "name"
                or words
            )
        )
        if tokens:
            params.update(self._search_params(actor, dialect, tokens, params, window))
            params["window"] = max(RANKED_MATCHES, params["offset"] + query.per_page)
        for index, word in enumerate(words):
            params[f"word{index}"] = f"%{escape_like(word)}%"
        if query.closed_since is not None:
            params["closed_since"] = query.closed_since
            params["open_status_ids"] = [s.id for s in statuses if not s.is_closed]
        shape = ListShape(
            admin=actor.is_admin,
            assigned=query.assigned_to_id is not None,
            status="all" if status == "*" else status,
            priority=bool(query.priority),
            project=project_kind,
            words=len(words),
            sort=query.sort,
            closed_since=query.closed_since is not None,
            dialect=dialect,
            full_text=bool(tokens),
            unassigned=query.unassigned,
            author=query.author_id is not None,
            watcher=query.watcher_id is not None,
            one_task=query.task_id is not None,
            scoped="fts_scope" in params,
            window=window,
        )
        return shape, params

    def _search_params(
        self, actor: Actor, dialect: str, tokens: list[str], params: dict[str, Any], window: bool
    ) -> dict[str, str]:
        """The full-text queries of a list. In a window they are limited to the projects the
        actor may see, the project and the statuses asked for, so the index answers them;
        otherwise the statement's other filters do (a user's own tasks are fewer than the
        visible matches of a common word)."""
        if not window:
            return search_params(dialect, tokens, None, None)
        projects: list[int] | None = None
        if not actor.is_admin:
            projects = list(
                db.session.scalars(select(Member.project_id).where(Member.user_id == actor.user_id))
            )
        if "project_id" in params:
            wanted = params["project_id"]
            projects = [wanted] if projects is None or wanted in projects else []
        statuses = params.get("status_ids")
        return search_params(dialect, tokens, projects, statuses)

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """One page of visible tasks matching the query, and the total count."""
        shape, params = self._list_params(actor, query)
        page_statement, count_statement = list_statements(shape)
        connection = db.session.connection()
        rows = connection.execute(page_statement, params).all()
        if len(rows) < query.per_page and (rows or query.page == 1):
            total = params["offset"] + len(rows)  # the last page: nothing left to count
        elif rows and shape.window:
            total = rows[0].total
        else:
            total = connection.execute(count_statement, params).scalar_one()
        lookups = self.lookups.get()
        summaries = [_summary(row, lookups, self.lookups) for row in rows]
        return TaskPage(summaries, total, query.page, query.per_page)

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One visible task with its custom values and watchers (one statement)."""
        row = self._task(actor, task_id)
        return self._info(row, row)

    def _info(self, task: Any, names: Any) -> TaskInfo:
        """Plain data for a task (a Task or a row with its columns) and its joined names and
        extras (task_statement, names_statement)."""
        custom, watchers = _extra_values(names.extras)
        status = self.lookups.status(task.status_id)
        priority = self.lookups.priority(task.priority_id)
        assert status is not None
        assert priority is not None
        return TaskInfo(
            id=task.id,
            subject=task.subject,
            description=task.description or "",
            project=Named(task.project_id, names.project_name),
            tracker=Named(task.tracker_id, names.tracker_name),
            status=status,
            priority=priority,
            author=Named(task.author_id, names.author_name),
            assigned_to=(
                Named(task.assigned_to_id, names.assignee_name) if task.assigned_to_id else None
            ),
            start_date=task.start_date,
            due_date=task.due_date,
            estimated_hours=task.estimated_hours,
            done_ratio=task.done_ratio,
            created_on=task.created_on,
            updated_on=task.updated_on,
            closed_on=task.closed_on,
            custom_fields=tuple(custom),
            watcher_ids=tuple(watchers),
            lock_version=task.lock_version,
        )

    def journals(self, actor: Actor, task_id: int) -> list[JournalInfo]:
        """A visible task's history, oldest first."""
        self._task(actor, task_id)
        return self._journal_infos(select(Journal).where(Journal.task_id == task_id))

    def _journal_infos(self, query: Select[Any]) -> list[JournalInfo]:
        """Journals with their details and authors' names, in id order."""
        rows = db.session.execute(
            query.add_columns(_user_name(User))
            .join(User, User.id == Journal.user_id)
            .order_by(Journal.id)
        ).all()
        ids = [journal.id for journal, _name in rows]
        details: dict[int, list[JournalDetailInfo]] = {}
        if ids:
            for detail in db.session.scalars(
                select(JournalDetail)
                .where(JournalDetail.journal_id.in_(ids))
                .order_by(JournalDetail.id)
            ):
                details.setdefault(detail.journal_id, []).append(
                    JournalDetailInfo(detail.prop_key, detail.old_value, detail.new_value)
                )
        return [
            JournalInfo(
                id=journal.id,
                task_id=journal.task_id,
                user=Named(journal.user_id, name),
                notes=journal.notes or "",
                created_on=journal.created_on,
                details=tuple(details.get(journal.id, ())),
            )
            for journal, name in rows
        ]

    def allowed_statuses(self, actor: Actor, task_id: int) -> list[StatusInfo]:
        """Statuses the actor may choose for a visible task."""
        ids = self._allowed_status_ids(actor, self._task(actor, task_id, change_statement()))
        statuses = self.lookups.get().status_by_id
        return [statuses[sid] for sid in ids]

    def projects(self, actor: Actor) -> list[ProjectInfo]:
        """Projects the actor belongs to (all of them for admins), by name."""
        query = select(Project).order_by(Project.name)
        if not actor.is_admin:
            query = query.where(
                Project.id.in_(select(Member.project_id).where(Member.user_id == actor.user_id))
            )
        return [ProjectInfo(p.id, p.identifier, p.name) for p in db.session.scalars(query)]

    def statuses(self) -> list[StatusInfo]:
        """All statuses in workflow order."""
        return list(self.lookups.get().statuses)

    def priorities(self) -> list[PriorityInfo]:
        """All priorities, least urgent first."""
        return list(self.lookups.get().priorities)

    def trackers(self) -> list[Named]:
        """All trackers."""
        return list(self.lookups.get().trackers)

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """Members of a project the actor can see, by name."""
        if not (actor.is_admin or self._role_id(actor, project_id)):
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
        rows = db.session.execute(
            select(User.id, _user_name(User), Role.name, Role.can_be_assigned)
            .join(Member, Member.user_id == User.id)
            .join(Role, Role.id == Member.role_id)
            .where(Member.project_id == project_id)
            .order_by(_user_name(User))
        ).all()
        if not rows and db.session.get(Project, project_id) is None:  # a member proves it exists
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
        return [MemberInfo(*row) for row in rows]

    def custom_fields(self, actor: Actor, project_id: int) -> list[CustomFieldInfo]:
        """The custom fields of a project the actor can see (here every project has them all)."""
        member = self._role_id(actor, project_id) is not None  # a member proves it exists
        project = db.session.get(Project, project_id) if actor.is_admin else None
        if not member and project is None:
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
        fields = db.session.execute(
            select(
                CustomField.id, CustomField.name, CustomField.is_required, CustomField.max_length
            ).order_by(CustomField.id)
        )
        return [CustomFieldInfo(*row) for row in fields]

    # -- writing ------------------------------------------------------------------------

    def create_task(self, actor: Actor, new: NewTask) -> TaskInfo:
        """Create a task after checking every reference; errors name the field."""
        errors: dict[str, list[str]] = {}
        project = db.session.get(Project, new.project_id)
        role_id = None if project is None else self._role_id(actor, project.id)
        if project is None or (role_id is None and not actor.is_admin):
            # one answer for a project that does not exist and one the actor is not in, so
            # project ids cannot be probed
            errors["project_id"] = [_("Unknown project, or you are not a member of it.")]
            project = None
        tracker_id = new.tracker_id or db.session.scalar(
            select(Tracker.id).order_by(Tracker.position, Tracker.id).limit(1)
        )
        if tracker_id is None or db.session.get(Tracker, tracker_id) is None:
            errors["tracker_id"] = [_("Unknown tracker.")]
        status_id = new.status_id or db.session.scalar(
            select(TaskStatus.id).order_by(TaskStatus.position, TaskStatus.id).limit(1)
        )
        if status_id is None or db.session.get(TaskStatus, status_id) is None:
            errors["status_id"] = [_("Unknown status.")]
        elif project is not None and status_id not in self._initial_status_ids(actor, role_id):
            errors["status_id"] = [_("A new task cannot start in this status.")]
        priority_id = new.priority_id or self._default_priority_id()
        if priority_id is None or db.session.get(TaskPriority, priority_id) is None:
            errors["priority_id"] = [_("Unknown priority.")]
        assigned = new.assigned_to_id
        if (
            assigned is not None
            and project is not None
            and not self._assignable(project.id, assigned)
        ):
            errors["assigned_to_id"] = [_("The assignee must be a member of the project.")]
        errors.update(self._custom_field_errors(new.custom_fields))
        if errors:
            raise TaskValidationError(_("Some fields are invalid."), errors=errors)
        now = utcnow()
        task = Task(
            project_id=new.project_id,
            tracker_id=tracker_id,
            status_id=status_id,
            priority_id=priority_id,
            author_id=actor.user_id,
            assigned_to_id=new.assigned_to_id,
            subject=new.subject,
            description=new.description,
            start_date=new.start_date,
            due_date=new.due_date,
            estimated_hours=new.estimated_hours,
            created_on=now,
            updated_on=now,
            closed_on=now if self._is_closed(status_id) else None,
        )
        db.session.add(task)
        db.session.flush()
        for field_id, value in new.custom_fields.items():
            db.session.add(CustomValue(task_id=task.id, custom_field_id=field_id, value=value))
        db.session.add(Watcher(task_id=task.id, user_id=actor.user_id))
        self._store_files(actor, task.id, new.files, now)
        db.session.flush()
        names = db.session.execute(names_statement(), {"task_id": task.id}).one()
        return self._info(task, names)

    def _initial_status_ids(self, actor: Actor, role_id: int | None) -> list[int]:
        """The statuses a new task of the actor, with role_id in its project, may start in."""
        statuses = [status.id for status in self.lookups.get().statuses]
        rules = db.session.execute(
            select(WorkflowTransition.old_status_id, WorkflowTransition.new_status_id).where(
                WorkflowTransition.role_id == role_id
            )
        ).all()
        return allowed_initial_statuses(actor.is_admin, role_id, rules, statuses[0], statuses)

    def _is_closed(self, status_id: int | None) -> bool:
        """Whether a status ends a task."""
        status = db.session.get(TaskStatus, status_id) if status_id else None
        return bool(status and status.is_closed)

    def _default_priority_id(self) -> int | None:
        """The priority marked default, else the first one."""
        return db.session.scalar(
            select(TaskPriority.id)
            .order_by(TaskPriority.is_default.desc(), TaskPriority.position)
            .limit(1)
        )

    def _assignable(self, project_id: int, user_id: int) -> bool:
        """Whether a user is a member of the project in a role that can take tasks."""
        return bool(
            db.session.scalar(
                select(
                    exists().where(
                        Member.project_id == project_id,
                        Member.user_id == user_id,
                        Member.role_id == Role.id,
                        Role.can_be_assigned == true(),
                    )
                )
            )
        )

    def _custom_field_errors(self, values: dict[int, str]) -> dict[str, list[str]]:
        """Errors for unknown, too long or missing required custom fields."""
        fields = {f.id: f for f in db.session.scalars(select(CustomField))}
        problems: list[str] = []
        for field_id, value in values.items():
            problem = custom_value_problem(fields.get(field_id), field_id, value)
            if problem:
                problems.append(problem)
        for field in fields.values():
            if field.is_required and not values.get(field.id, "").strip():
                problems.append(_("%(name)s is required.", name=field.name))
        return {"custom_fields": problems} if problems else {}

    def change_status(
        self, actor: Actor, task_id: int, status_id: int, comment: str | None
    ) -> StatusChange:
        """Move a task along the workflow (allowed_moves), writing a journal; a change that
        raced another one is a TaskConflict (the task's lock_version)."""
        row = self._task(actor, task_id, change_statement())
        task: Task = row[0]
        self._require_member(actor, row.role_id)
        old_status = self.lookups.status(task.status_id)
        new_status = self.lookups.status(status_id)
        assert old_status is not None
        if new_status is None:
            raise TaskValidationError(
                _("Unknown status."), errors={"status_id": [_("Unknown status.")]}
            )
        now = utcnow()
        if new_status.id == old_status.id:
            journal_id = self._record(actor, task, now, comment) if comment else None
            info = self._info(task, row)
            return StatusChange(info, old_status, old_status, journal_id, changed=False)
        allowed = self._allowed_status_ids(actor, row)
        if new_status.id not in allowed:
            raise refusal(old_status, new_status, [s for s in self.statuses() if s.id in allowed])
        task.status_id = new_status.id
        if new_status.is_closed and not old_status.is_closed:
            task.closed_on = now
        details = [("status_id", str(old_status.id), str(new_status.id))]
        journal_id = self._record(actor, task, now, comment or "", details)
        return StatusChange(self._info(task, row), old_status, new_status, journal_id, changed=True)

    def _record(
        self, actor: Actor, task: Task, now: datetime, notes: str, details: Sequence[Detail] = ()
    ) -> int:
        """Write the task's changes, then a journal of them; TaskConflict if another change
        came first (the mapper's version_id_col, lock_version, guards the UPDATE)."""
        task.updated_on = now
        try:
            db.session.flush()
        except StaleDataError as error:
            raise TaskConflict(
                _("Someone else changed this task. Reload and try again.")
            ) from error
        journal = Journal(
            task_id=task.id,
            user_id=actor.user_id,
            notes=notes,
            created_on=now,
            details=[JournalDetail(prop_key=k, old_value=o, new_value=n) for k, o, n in details],
        )
        db.session.add(journal)
        db.session.flush()
        return journal.id

    def add_comment(self, actor: Actor, task_id: int, notes: str) -> JournalInfo:
        """Add notes to a visible task of a project the actor belongs to."""
        row = self._task(actor, task_id, change_statement())
        self._require_member(actor, row.role_id)
        journal_id = self._record(actor, row[0], utcnow(), notes)
        return self._journal_infos(select(Journal).where(Journal.id == journal_id))[0]

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Admins and members of the task's project, among the given users (one statement)."""
        if not user_ids:
            return set()
        return set(
            db.session.scalars(visible_to_statement(), {"task_id": task_id, "ids": user_ids})
        )

    def member_ids(self, project_id: int) -> set[int]:
        """Users with a role in the project (who see its board)."""
        return user_ids(db.session.scalar(member_ids_statement(), {"project_id": project_id}))

    # -- editing ------------------------------------------------------------------------

    def _rights(self, actor: Actor, role_id: int | None) -> TaskRights:
        """The local rule: admins and every member of the task's project edit it (as every
        member may change its status); admins and members whose role takes tasks (not
        reporters) choose who else watches it."""
        if actor.is_admin:
            return TaskRights(may_edit=True, may_manage_watchers=True)
        if role_id is None:
            return TaskRights(may_edit=False, may_manage_watchers=False)
        takes_tasks = db.session.scalar(select(Role.can_be_assigned).where(Role.id == role_id))
        return TaskRights(may_edit=True, may_manage_watchers=bool(takes_tasks))

    def task_rights(self, actor: Actor, task_id: int) -> TaskRights:
        """What the actor may do to a visible task."""
        return self._rights(actor, self._task(actor, task_id).role_id)

    def update_task(
        self, actor: Actor, task_id: int, changes: TaskChanges, lock_version: int | None
    ) -> TaskUpdate:
        """Edit the fields given, all checked before anything is written, and journal each
        change; the task's lock_version guards against an edit based on an older task."""
        row = self._task(actor, task_id, change_statement())
        task: Task = row[0]
        if not self._rights(actor, row.role_id).may_edit:
            raise TaskForbidden(_("You may not edit this task."))
        before = self._info(task, row)
        if lock_version is not None and lock_version != task.lock_version:
            raise TaskConflict(_("Someone else changed this task. Reload and try again."))
        errors = self._edit_errors(task, changes)
        if errors:
            raise TaskValidationError(_("Some fields are invalid."), errors=errors)
        details: list[Detail] = []
        for name, value in changes.fields.items():
            old = getattr(task, name)
            if detail_value(old) != detail_value(value):
                setattr(task, name, "" if value is None and name == "description" else value)
                details.append((name, detail_value(old), detail_value(value)))
        details.extend(self._set_custom_values(task.id, changes.custom_fields))
        if not details and not changes.notes:
            return TaskUpdate(before, before, None, ())
        journal_id = self._record(actor, task, utcnow(), changes.notes, details)
        names = db.session.execute(names_statement(), {"task_id": task.id}).one()
        return TaskUpdate(
            before,
            self._info(task, names),
            journal_id,
            tuple(JournalDetailInfo(*detail) for detail in details),
        )

    def _edit_errors(self, task: Task, changes: TaskChanges) -> dict[str, list[str]]:
        """Errors by field of an edit, each value checked against the task's project."""
        fields = changes.fields
        errors: dict[str, list[str]] = {}
        if "subject" in fields and not (fields["subject"] or "").strip():
            errors["subject"] = [_("This field is required.")]
        if "tracker_id" in fields and (
            fields["tracker_id"] is None or db.session.get(Tracker, fields["tracker_id"]) is None
        ):
            errors["tracker_id"] = [_("Unknown tracker.")]
        if "priority_id" in fields and self.lookups.priority(fields["priority_id"] or 0) is None:
            errors["priority_id"] = [_("Unknown priority.")]
        assignee = fields.get("assigned_to_id")
        if assignee is not None and not self._assignable(task.project_id, assignee):
            errors["assigned_to_id"] = [_("The assignee must be a member of the project.")]
        start = fields.get("start_date", task.start_date)
        due = fields.get("due_date", task.due_date)
        if start and due and due < start:
            errors["due_date"] = [_("The due date is before the start date.")]
        hours = fields.get("estimated_hours")
        if hours is not None and not 0 <= hours <= 100_000:
            errors["estimated_hours"] = [_("Must be at least %(limit)s.", limit=0)]
        if "done_ratio" in fields and not 0 <= (fields["done_ratio"] or 0) <= 100:
            errors["done_ratio"] = [_("Must be at most %(limit)s.", limit=100)]
        known = {f.id: f for f in db.session.scalars(select(CustomField))}
        problems = []
        for field_id, value in changes.custom_fields.items():
            custom = known.get(field_id)
            problem = custom_value_problem(custom, field_id, value)
            if problem:
                problems.append(problem)
            elif custom is not None and custom.is_required and not value.strip():
                problems.append(_("%(name)s is required.", name=custom.name))
        if problems:
            errors["custom_fields"] = problems
        return errors

    def _set_custom_values(self, task_id: int, values: dict[int, str]) -> list[Detail]:
        """Write the custom values that differ (an empty value removes the row); their
        journal details as cf_<field id>."""
        stored = {
            value.custom_field_id: value
            for value in db.session.scalars(
                select(CustomValue).where(CustomValue.task_id == task_id)
            )
        }
        details: list[Detail] = []
        for field_id, value in sorted(values.items()):
            row = stored.get(field_id)
            old = row.value if row is not None else ""
            if old == value:
                continue
            if row is None:
                db.session.add(CustomValue(task_id=task_id, custom_field_id=field_id, value=value))
            elif value:
                row.value = value
            else:
                db.session.delete(row)
            details.append((f"cf_{field_id}", old or None, value or None))
        return details

    def set_watching(self, actor: Actor, task_id: int, user_id: int, watching: bool) -> WatchChange:
        """Add or remove a watcher (see TaskBackend.set_watching), journaled; doing what is
        already done changes nothing. The task itself is not written: a watcher changes no
        field, so an edit begun meanwhile keeps its lock_version."""
        row = self._task(actor, task_id)
        if user_id != actor.user_id and not self._rights(actor, row.role_id).may_manage_watchers:
            raise TaskForbidden(_("You may not change who watches this task."))
        current = db.session.get(Watcher, (task_id, user_id))
        if watching and current is None:
            if not self.visible_to(task_id, [user_id]):
                raise TaskValidationError(
                    _("Some fields are invalid."),
                    errors={"user_id": [_("This user may not see the task.")]},
                )
            db.session.add(Watcher(task_id=task_id, user_id=user_id))
        elif not watching and current is not None:
            db.session.delete(current)
        else:
            return WatchChange(self.get_task(actor, task_id), changed=False)
        value = str(user_id)
        journal = Journal(
            task_id=task_id,
            user_id=actor.user_id,
            notes="",
            created_on=utcnow(),
            details=[
                JournalDetail(
                    prop_key=WATCHER,
                    old_value=None if watching else value,
                    new_value=value if watching else None,
                )
            ],
        )
        db.session.add(journal)
        db.session.flush()
        return WatchChange(self.get_task(actor, task_id), changed=True, journal_id=journal.id)

    # -- change feed --------------------------------------------------------------------

    def changes_since(self, cursor: str | None, limit: int = 100) -> ChangeBatch:
        """Journals after the cursor (a journal id); None starts from the newest."""
        if cursor is None or as_id(cursor) is None:
            newest = db.session.scalar(select(func.max(Journal.id))) or 0
            return ChangeBatch([], str(newest))
        journals = self._journal_infos(select(Journal).where(Journal.id > int(cursor)).limit(limit))
        if not journals:
            return ChangeBatch([], cursor)
        task_ids = {j.task_id for j in journals}
        tasks = {
            row.id: row
            for row in db.session.execute(
                select(
                    Task.id, Task.subject, Task.project_id, Task.author_id, Task.assigned_to_id
                ).where(Task.id.in_(task_ids))
            )
        }
        watchers: dict[int, list[int]] = {}
        for task_id, user_id in db.session.execute(
            select(Watcher.task_id, Watcher.user_id)
            .where(Watcher.task_id.in_(task_ids))
            .order_by(Watcher.task_id, Watcher.user_id)
        ):
            watchers.setdefault(task_id, []).append(user_id)
        changes = []
        for journal in journals:
            task = tasks[journal.task_id]
            facts = TaskFacts(
                task.id,
                task.subject,
                task.project_id,
                task.author_id,
                task.assigned_to_id,
                tuple(watchers.get(task.id, ())),
            )
            changes.append(Change(journal, facts))
        return ChangeBatch(changes, str(journals[-1].id))

    # -- attachments ----------------------------------------------------------------------

    def _attachment_infos(self, statement: Select[Any]) -> list[AttachmentInfo]:
        """Attachments with their authors' names, in id order."""
        rows = db.session.execute(
            statement.add_columns(_user_name(User))
            .join(User, User.id == Attachment.author_id)
            .order_by(Attachment.id)
        ).all()
        return [
            AttachmentInfo(
                id=attachment.id,
                task_id=attachment.task_id,
                filename=attachment.filename,
                size=attachment.size,
                content_type=attachment.content_type,
                author=Named(attachment.author_id, name),
                created_on=attachment.created_on,
                journal_id=attachment.journal_id,
                verified_image=attachment.is_image,
            )
            for attachment, name in rows
        ]

    def _visible_attachment(self, actor: Actor, task_id: int, attachment_id: int) -> Attachment:
        """An attachment of a task the actor can see, or TaskNotFound (the same answer for one
        that does not exist or is another task's, so ids cannot be probed)."""
        attachment = db.session.get(Attachment, attachment_id)
        try:
            if attachment is None or attachment.task_id != task_id:
                raise TaskNotFound("")
            self._task(actor, task_id)
        except TaskNotFound:
            raise TaskNotFound(_("File #%(id)d was not found.", id=attachment_id)) from None
        return attachment

    def attachments(self, actor: Actor, task_id: int) -> list[AttachmentInfo]:
        """A visible task's files, oldest first."""
        self._task(actor, task_id)
        return self._attachment_infos(select(Attachment).where(Attachment.task_id == task_id))

    def add_attachments(
        self, actor: Actor, task_id: int, new: list[NewFile], notes: str = ""
    ) -> JournalInfo:
        """Store the files (removed again if the transaction does not commit) and record them,
        with the notes, in one journal of a task of the actor's project."""
        row = self._task(actor, task_id, change_statement())
        self._require_member(actor, row.role_id)
        now = utcnow()
        added = self._store_files(actor, task_id, new, now)
        details = [(f"{ATTACHMENT_PROP}{item.id}", None, item.filename) for item in added]
        journal_id = self._record(actor, row[0], now, notes, details)
        for item in added:
            item.journal_id = journal_id
        db.session.flush()
        return self._journal_infos(select(Journal).where(Journal.id == journal_id))[0]

    def _store_files(
        self, actor: Actor, task_id: int, new: Sequence[NewFile], now: datetime
    ) -> list[Attachment]:
        """Store the files' bytes (removed again if the transaction does not commit) and add
        their rows, numbered."""
        added = [
            Attachment(
                task_id=task_id,
                author_id=actor.user_id,
                filename=item.filename,
                stored_name=files.store(item.data),
                content_type=item.content_type,
                size=len(item.data),
                is_image=item.is_image,
                created_on=now,
            )
            for item in new
        ]
        db.session.add_all(added)
        db.session.flush()
        return added

    def attachment(self, actor: Actor, task_id: int, attachment_id: int) -> AttachmentInfo:
        """A file of a visible task."""
        self._visible_attachment(actor, task_id, attachment_id)
        return self._attachment_infos(select(Attachment).where(Attachment.id == attachment_id))[0]

    def attachment_content(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> AttachmentContent:
        """A file of a visible task and its bytes from the attachments folder."""
        stored_name = self._visible_attachment(actor, task_id, attachment_id).stored_name
        info = self._attachment_infos(select(Attachment).where(Attachment.id == attachment_id))[0]
        return AttachmentContent(info, files.read_chunks(stored_name))

    def delete_attachment(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> JournalInfo | None:
        """Remove a file (its author or an administrator), journaled; the stored bytes go once
        the deletion has committed."""
        attachment = self._visible_attachment(actor, task_id, attachment_id)
        if not (actor.is_admin or attachment.author_id == actor.user_id):
            raise TaskForbidden(_("Only the file's author or an administrator may delete it."))
        row = self._task(actor, attachment.task_id, change_statement())
        details = [(f"{ATTACHMENT_PROP}{attachment.id}", attachment.filename, None)]
        journal_id = self._record(actor, row[0], utcnow(), "", details)
        files.remove_after_commit(attachment.stored_name)
        db.session.delete(attachment)
        db.session.flush()
        return self._journal_infos(select(Journal).where(Journal.id == journal_id))[0]

    def text_format(self) -> str:
        """Texts written here are Markdown."""
        return "markdown"
