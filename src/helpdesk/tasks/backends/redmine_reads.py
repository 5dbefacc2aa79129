"""The Redmine backend with its reads from Redmine's database (REDMINE_READS=database).

Every read a page makes (My Tasks, the board, a task, its history, lookups, members, who may
see a task) comes from Redmine's tables through integrations/redmine/reads.py, with Redmine's own
visibility rules (integrations/redmine/visibility.py); every write, and what a write needs to
read first (the workflow's allowed statuses), stays on RedmineBackend's REST calls as the user,
so Redmine's validations, workflow, callbacks and e-mails stay Redmine's. Redmine commits a
change before it answers, so the read after a write shows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from flask import Flask, g
from flask_babel import gettext as _
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from helpdesk.core.cache_manager import weekend_performance_optimizer
from helpdesk.integrations.redmine import reads
from helpdesk.integrations.redmine.client import NotLinked, RedmineClient, not_linked
from helpdesk.integrations.redmine.database import redmine_database, redmine_timezone, to_utc
from helpdesk.integrations.redmine.reads import IssueRow, ListFilters, Person
from helpdesk.integrations.redmine.tables import journals, users
from helpdesk.integrations.redmine.visibility import (
    PROJECT_ARCHIVED,
    Principal,
    ProjectFacts,
    load_principal,
    load_project,
)
from helpdesk.tasks.backends.base import (
    RELEVANCE,
    Actor,
    BackendUnavailable,
    CustomFieldInfo,
    CustomValueInfo,
    JournalInfo,
    MemberInfo,
    Named,
    PriorityInfo,
    ProjectInfo,
    StatusChange,
    StatusInfo,
    TaskConflict,
    TaskForbidden,
    TaskInfo,
    TaskNotFound,
    TaskPage,
    TaskQuery,
    TaskSummary,
    as_id,
    status_filter,
)
from helpdesk.tasks.backends.redmine import LOOKUP_SECONDS, LOOKUPS, RedmineBackend
from helpdesk.tasks.search import search_terms
from helpdesk.tasks.workflow import refusal

PRINCIPALS_KEY = "redmine_principals"  # in flask.g: Redmine user id -> Principal, per request
T = TypeVar("T")


def from_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A naive UTC time as Redmine stores times: naive, in its own zone."""
    return value.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)


class RedmineDatabaseReads(RedmineBackend):
    """RedmineBackend whose reads come from Redmine's database."""

    def __init__(self, client: RedmineClient, engine: Engine, zone: ZoneInfo) -> None:
        super().__init__(client)
        self.engine = engine
        self.zone = zone

    @classmethod
    def for_app(cls, app: Flask, client: RedmineClient) -> RedmineDatabaseReads:
        """The backend on the app's Redmine database (reads.reads_mode said there is one)."""
        engine = redmine_database(app)
        assert engine is not None
        return cls(client, engine, redmine_timezone(app.config))

    # -- the database ----------------------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled read-only connection; an unreachable database is an unavailable Redmine."""
        try:
            with self.engine.connect() as connection:
                yield connection
        except (DBAPIError, PoolTimeout) as error:
            raise BackendUnavailable(
                _("Redmine is unavailable. Try again later."),
                reason=f"database: {type(error).__name__}",
            ) from error

    def read(self, load: Callable[[Connection], T]) -> T:
        """One read on a connection of its own."""
        with self.reading() as connection:
            return load(connection)

    def principal(self, connection: Connection, actor: Actor) -> Principal:
        """The actor as Redmine's rules see them, read once per request; a helpdesk user who is
        no active Redmine user is not linked (REST's switch-user answers so too)."""
        redmine_id = self.user_ids.to_backend(actor.user_id)
        if redmine_id is None:
            raise not_linked()
        known: dict[int, Principal] = g.setdefault(PRINCIPALS_KEY, {})
        if redmine_id not in known:
            principal = load_principal(connection, redmine_id)
            if principal is None:
                raise not_linked()
            known[redmine_id] = principal
        return known[redmine_id]

    def time(self, value: datetime) -> datetime:
        """A Redmine time as naive UTC."""
        return to_utc(value, self.zone)

    def named(self, person: Person | None) -> Named | None:
        """A Redmine principal as the helpdesk names them (call people() first for many)."""
        if person is None:
            return None
        if not person.is_user:
            return Named(0, person.name)
        return self.user_ids.named({"id": person.id, "name": person.name})

    def people(self, persons: Iterable[Person | None]) -> None:
        """Resolve many users' helpdesk ids at once."""
        self.user_ids.people({p.id for p in persons if p is not None and p.is_user})

    # -- lookups ---------------------------------------------------------------------------

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def status_table(self) -> list[tuple[int, str, bool]]:
        """Redmine's statuses as its table keeps them."""
        return [tuple(row) for row in self.read(reads.status_rows)]  # type: ignore[misc]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def priority_table(self) -> list[tuple[int, str, bool, bool]]:
        """Redmine's priorities as its table keeps them."""
        return [tuple(row) for row in self.read(reads.priority_rows)]  # type: ignore[misc]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def tracker_table(self) -> list[tuple[int, str]]:
        """Redmine's trackers as its table keeps them."""
        return [tuple(row) for row in self.read(reads.tracker_rows)]  # type: ignore[misc]

    def statuses(self) -> list[StatusInfo]:
        """All statuses in Redmine's order."""
        rows = self.status_table()
        return [StatusInfo(i, name, closed, pos) for pos, (i, name, closed) in enumerate(rows, 1)]

    def priorities(self) -> list[PriorityInfo]:
        """The active priorities, least urgent first (positions counted as REST counts)."""
        rows = self.priority_table()
        return [
            PriorityInfo(i, name, position, default)
            for position, (i, name, default, active) in enumerate(rows, 1)
            if active
        ]

    def trackers(self) -> list[Named]:
        """All trackers."""
        return [Named(i, name) for i, name in self.tracker_table()]

    def projects(self, actor: Actor) -> list[ProjectInfo]:
        """The active projects Redmine shows the actor, by name."""
        with self.reading() as connection:
            rows = reads.visible_projects(connection, self.principal(connection, actor))
        return sorted((ProjectInfo(*row) for row in rows), key=lambda p: p.name.lower())

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """The users with a role in a project the actor can see, by name."""
        with self.reading() as connection:
            if reads.viewable_project(connection, self.principal(connection, actor), project_id):
                rows = reads.memberships(connection, project_id)
            else:
                raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
        self.people(person for person, _role, _takes in rows)
        found = []
        for person, role, takes in rows:
            named = self.named(person)
            assert named is not None
            found.append(MemberInfo(named.id, named.name, role, takes))
        return sorted(found, key=lambda m: m.name.lower())

    def custom_fields(self, actor: Actor, project_id: int) -> list[CustomFieldInfo]:
        """The custom fields enabled on a visible project, in id order."""
        with self.reading() as connection:
            if not reads.viewable_project(
                connection, self.principal(connection, actor), project_id
            ):
                raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
            rows = reads.project_custom_fields(connection, project_id)
        return [CustomFieldInfo(*row) for row in rows]

    # -- tasks -----------------------------------------------------------------------------

    def status_of(self, row: IssueRow) -> StatusInfo:
        """An issue's status (one missing from the cached lookups keeps its own name)."""
        found = self.status(row.status_id)
        return found or StatusInfo(row.status_id, row.status_name, row.status_closed, 0)

    def priority_of(self, row: IssueRow) -> PriorityInfo:
        """An issue's priority (an inactive one keeps its name, last in order)."""
        return self.priority_info({"id": row.priority.id, "name": row.priority.name})

    def visible(
        self, connection: Connection, actor: Actor, task_id: int
    ) -> tuple[Principal, IssueRow, ProjectFacts]:
        """The actor as Redmine sees them, and an issue they may see with its project, or
        TaskNotFound."""
        principal = self.principal(connection, actor)
        row = reads.visible_issue(connection, principal, task_id)
        if row is None:
            raise TaskNotFound(_("Task #%(id)d was not found.", id=task_id))
        project = load_project(connection, row.project.id)
        assert project is not None
        return principal, row, project

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One task Redmine lets the actor see, or TaskNotFound."""
        with self.reading() as connection:
            principal, row, project = self.visible(connection, actor, task_id)
            values = reads.custom_values_of(connection, principal, row, project)
            watching = reads.watcher_ids(connection, row.id)
            # as over REST: the newest journal the actor may see stands for the lock version
            entries = reads.visible_journals(connection, principal, row, project)
        people = self.user_ids.people(
            [*watching, *(p.id for p in (row.author, row.assigned_to) if p and p.is_user)]
        )
        author = self.named(row.author) or Named(0, "")
        return TaskInfo(
            id=row.id,
            subject=row.subject,
            description=row.description,
            project=Named(row.project.id, row.project.name),
            tracker=Named(row.tracker.id, row.tracker.name),
            status=self.status_of(row),
            priority=self.priority_of(row),
            author=author,
            assigned_to=self.named(row.assigned_to),
            start_date=row.start_date,
            due_date=row.due_date,
            estimated_hours=row.estimated_hours,
            done_ratio=row.done_ratio,
            created_on=self.time(row.created_on),
            updated_on=self.time(row.updated_on),
            closed_on=self.time(row.closed_on) if row.closed_on else None,
            custom_fields=tuple(CustomValueInfo(*value) for value in values),
            watcher_ids=tuple(sorted(uid for r in watching if (uid := people[r][0]) is not None)),
            lock_version=max((entry.id for entry in entries), default=0),
        )

    def journals(self, actor: Actor, task_id: int) -> list[JournalInfo]:
        """A visible task's history as Redmine shows it to the actor, oldest first."""
        with self.reading() as connection:
            principal, row, project = self.visible(connection, actor, task_id)
            entries = reads.visible_journals(connection, principal, row, project)
        self.people(entry.user for entry in entries)
        return [
            JournalInfo(
                id=entry.id,
                task_id=task_id,
                user=self.named(entry.user) or Named(0, ""),
                notes=entry.notes,
                created_on=self.time(entry.created_on),
                details=tuple(
                    self.detail_info(
                        {"property": prop, "name": key, "old_value": old, "new_value": new}
                    )
                    for prop, key, old, new in entry.details
                ),
            )
            for entry in sorted(entries, key=lambda e: e.id)
        ]

    def filters(
        self, connection: Connection, query: TaskQuery, found: list[int] | None = None
    ) -> ListFilters | None:
        """IssueQuery's filters for a query, as the REST path would send them (found: the hits
        of Redmine's search for its words, as the REST path asks it); None when nothing can
        match (a name Redmine lacks)."""
        people: dict[str, int | None] = {}
        for name, user_id in (
            ("assigned_to_id", query.assigned_to_id),
            ("author_id", query.author_id),
            ("watcher_id", query.watcher_id),
        ):
            people[name] = None
            if user_id is not None and not (name == "assigned_to_id" and query.unassigned):
                people[name] = self.user_ids.to_backend(user_id)
                if people[name] is None:
                    return None
        statuses = self.statuses()
        status = status_filter(query.status, statuses)
        status_id = None
        if status[0] == "name":
            status_id = next((s.id for s in statuses if s.name.lower() == status[1]), None)
            if status_id is None:
                return None
        priority_id = None
        if query.priority:
            wanted = query.priority.strip().lower()
            priority_id = next((p.id for p in self.priorities() if p.name.lower() == wanted), None)
            if priority_id is None:
                return None
        project_id = None
        if query.project:
            value = query.project.strip()
            project_id = as_id(value) or reads.project_by_name(connection, value)
            if project_id is None:
                return None
        return ListFilters(
            assigned_to_id=people["assigned_to_id"],
            unassigned=query.unassigned,
            author_id=people["author_id"],
            watcher_id=people["watcher_id"],
            task_id=query.task_id,
            status=status,
            status_id=status_id,
            priority_id=priority_id,
            project_id=project_id,
            search=" ".join(search_terms((query.search or "").split())[1]),
            task_ids=None if found is None else tuple(found),
            closed_since=from_utc(query.closed_since, self.zone) if query.closed_since else None,
        )

    def authorize_list(
        self, connection: Connection, principal: Principal, project_id: int | None
    ) -> None:
        """What Redmine checks before listing issues: view_issues in the named project (missing:
        not found, unless the user may view issues nowhere; archived, module off or no role:
        forbidden), else in any project."""
        project = load_project(connection, project_id) if project_id is not None else None
        if project is None:
            if not principal.allowed_globally("view_issues"):
                raise TaskForbidden(_("Redmine does not allow this."))
            if project_id is not None:
                raise TaskNotFound(_("Not found in Redmine."))
            return
        if not principal.allowed_to("view_issues", project):
            raise TaskForbidden(_("Redmine does not allow this."))

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """One page of the tasks Redmine shows the actor, with the total."""
        empty = TaskPage([], 0, query.page, query.per_page)
        tokens, _words = search_terms((query.search or "").split())
        found = self.search_ids(actor, tokens) if tokens else None  # full text: Redmine's search
        if found == []:
            return empty
        with self.reading() as connection:
            principal = self.principal(connection, actor)
            filters = self.filters(connection, query, found)
            if filters is None:
                return empty
            self.authorize_list(connection, principal, filters.project_id)
            rows, total = reads.issue_page(
                connection,
                principal,
                filters,
                [(key, descending) for key, descending in query.sort if key != RELEVANCE],
                (query.page - 1) * query.per_page,
                min(query.per_page, reads.PAGE_LIMIT),
            )
        self.people(row.assigned_to for row in rows)
        items = [
            TaskSummary(
                id=row.id,
                subject=row.subject,
                project=Named(row.project.id, row.project.name),
                tracker=Named(row.tracker.id, row.tracker.name),
                status=self.status_of(row),
                priority=self.priority_of(row),
                assigned_to=self.named(row.assigned_to),
                due_date=row.due_date,
                updated_on=self.time(row.updated_on),
                done_ratio=row.done_ratio,
            )
            for row in rows
        ]
        return TaskPage(items, total, query.page, query.per_page)

    # -- writing ---------------------------------------------------------------------------

    def change_status(
        self, actor: Actor, task_id: int, status_id: int, comment: str | None
    ) -> StatusChange:
        """A move without a comment is one REST call, as in Redmine's own client: the PUT, then
        the task read back from the database to confirm it took. Redmine ignores a status its
        workflow forbids and, with nothing else sent, writes nothing, so only a refused move
        reads the workflow's statuses over REST (to name them). A move with a comment asks the
        workflow first (RedmineBackend's way): Redmine would write the comment and drop the
        status."""
        new_status = self.status(status_id)
        if comment or new_status is None:
            return super().change_status(actor, task_id, status_id, comment)
        with self.reading() as connection:
            _principal, row, _project = self.visible(connection, actor, task_id)
        old_status = self.status_of(row)
        if new_status.id == old_status.id or not self.may_edit(actor, row.project.id):
            return super().change_status(actor, task_id, status_id, comment)
        self.forget(task_id)
        try:
            self.client.put(
                f"/issues/{task_id}.json",
                {"issue": {"status_id": new_status.id}},
                **self.as_actor(actor),
            )
        except TaskForbidden as error:
            if isinstance(error, NotLinked):
                raise
            raise TaskForbidden(_("You may not change this task.")) from None
        info = self.get_task(actor, task_id)
        if info.status.id != new_status.id:
            allowed = self.allowed(actor, self.issue(actor, task_id))
            if new_status not in allowed:
                raise refusal(old_status, new_status, allowed)
            raise TaskConflict(_("Redmine did not take the change. Reload and try again."))
        return StatusChange(info, old_status, new_status, self.own_journal(actor, task_id), True)

    def own_journal(self, actor: Actor, task_id: int) -> int | None:
        """The actor's newest journal on a task (the one their change just wrote: a journal of
        one's own is always visible to oneself)."""
        redmine_id = self.user_ids.to_backend(actor.user_id)
        with self.reading() as connection:
            newest = connection.scalar(
                select(func.max(journals.c.id)).where(
                    journals.c.journalized_type == "Issue",
                    journals.c.journalized_id == task_id,
                    journals.c.user_id == redmine_id,
                )
            )
        return None if newest is None else int(newest)

    # -- audiences -------------------------------------------------------------------------

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Exactly those of the users Redmine lets read the task now (by its own rules, as
        each of them: a locked or unknown Redmine user sees nothing)."""
        logins = self.user_ids.logins(user_ids)
        if not logins:
            return set()
        with self.reading() as connection:
            by_login = {
                str(login).lower(): int(rid)
                for rid, login in connection.execute(
                    select(users.c.id, users.c.login)
                    .where(func.lower(users.c.login).in_([v.lower() for v in logins.values()]))
                    .where(users.c.type == "User")
                )
            }
            visible = set()
            for user_id, login in logins.items():
                redmine_id = by_login.get(login.lower())
                principal = load_principal(connection, redmine_id) if redmine_id else None
                if principal is not None and reads.is_visible(connection, principal, task_id):
                    visible.add(user_id)
        return visible

    def member_ids(self, project_id: int) -> set[int]:
        """The helpdesk users with a role in the project (none for a missing or archived one)."""
        with self.reading() as connection:
            project = load_project(connection, project_id)
            if project is None or project.status == PROJECT_ARCHIVED:
                return set()
            rows = reads.memberships(connection, project_id)
        people = self.user_ids.people(person.id for person, _role, _takes in rows)
        return {uid for person, _role, _takes in rows if (uid := people[person.id][0]) is not None}
