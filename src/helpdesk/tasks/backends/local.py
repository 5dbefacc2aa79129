"""The built-in task store: tables in the helpdesk's own database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, exists, false, func, or_, select, true
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from helpdesk.core.database import is_write_conflict
from helpdesk.core.models import escape_like, utcnow
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import (
    Actor,
    Change,
    ChangeBatch,
    CustomValueInfo,
    InvalidTransition,
    JournalDetailInfo,
    JournalInfo,
    MemberInfo,
    Named,
    NewTask,
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
    TaskValidationError,
)
from helpdesk.tasks.labels import label
from helpdesk.tasks.models import (
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
from helpdesk.users.models import User

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

SUMMARY_COLUMNS = (
    Task.id,
    Task.subject,
    Task.project_id,
    Project.name.label("project_name"),
    Task.tracker_id,
    Tracker.name.label("tracker_name"),
    Task.status_id,
    TaskStatus.name.label("status_name"),
    TaskStatus.is_closed,
    TaskStatus.position.label("status_position"),
    Task.priority_id,
    TaskPriority.name.label("priority_name"),
    TaskPriority.position.label("priority_position"),
    Task.assigned_to_id,
    _user_name(Assignee).label("assignee_name"),
    Task.due_date,
    Task.updated_on,
    Task.done_ratio,
)


def as_id(text: str) -> int | None:
    """An id written in ASCII digits that fits the id columns, else None (then it is a name)."""
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return int(text)
    return None


def _summary(row: Any) -> TaskSummary:
    """A list row from a joined result row."""
    return TaskSummary(
        id=row.id,
        subject=row.subject,
        project=Named(row.project_id, row.project_name),
        tracker=Named(row.tracker_id, row.tracker_name),
        status=StatusInfo(row.status_id, row.status_name, row.is_closed, row.status_position),
        priority=PriorityInfo(row.priority_id, row.priority_name, row.priority_position),
        assigned_to=Named(row.assigned_to_id, row.assignee_name) if row.assigned_to_id else None,
        due_date=row.due_date,
        updated_on=row.updated_on,
        done_ratio=row.done_ratio,
    )


def _status_info(status: TaskStatus) -> StatusInfo:
    """Plain data for a status row."""
    return StatusInfo(status.id, status.name, status.is_closed, status.position)


class LocalBackend:
    """Tasks stored in the helpdesk database; visibility follows project membership."""

    name = "local"

    # -- visibility and permissions -------------------------------------------------------

    def _visible(self, actor: Actor, query: Select[Any]) -> Select[Any]:
        """Restrict a task query to projects the actor belongs to (admins see everything)."""
        if actor.is_admin:
            return query
        member_projects = select(Member.project_id).where(Member.user_id == actor.user_id)
        return query.where(Task.project_id.in_(member_projects))

    def _role_id(self, actor: Actor, project_id: int) -> int | None:
        """The actor's role in a project, or None when not a member."""
        return db.session.scalar(
            select(Member.role_id).where(
                Member.project_id == project_id, Member.user_id == actor.user_id
            )
        )

    def _task(self, actor: Actor, task_id: int) -> Task:
        """A task row the actor may see, or TaskNotFound."""
        task = db.session.get(Task, task_id)
        if task is None or not (actor.is_admin or self._role_id(actor, task.project_id)):
            raise TaskNotFound(_("Task #%(id)d was not found.", id=task_id))
        return task

    def _require_member(self, actor: Actor, project_id: int) -> int | None:
        """The actor's role in the project; TaskForbidden when not a member (admins pass)."""
        role_id = self._role_id(actor, project_id)
        if role_id is None and not actor.is_admin:
            raise TaskForbidden(_("You are not a member of this project."))
        return role_id

    def _allowed_status_ids(self, actor: Actor, task: Task) -> list[int]:
        """Statuses the actor may move the task to, by the workflow of their role."""
        all_ids = list(db.session.scalars(select(TaskStatus.id).order_by(TaskStatus.position)))
        role_id = self._role_id(actor, task.project_id)
        if actor.is_admin or role_id is None:
            return [sid for sid in all_ids if sid != task.status_id]
        role_has_rules = db.session.scalar(
            select(exists().where(WorkflowTransition.role_id == role_id))
        )
        if not role_has_rules:
            return [sid for sid in all_ids if sid != task.status_id]
        allowed = set(
            db.session.scalars(
                select(WorkflowTransition.new_status_id).where(
                    WorkflowTransition.role_id == role_id,
                    WorkflowTransition.old_status_id == task.status_id,
                )
            )
        )
        return [sid for sid in all_ids if sid in allowed and sid != task.status_id]

    # -- reading ------------------------------------------------------------------------

    def _summary_query(self) -> Select[Any]:
        """Task rows joined with the names a list shows."""
        return (
            select(*SUMMARY_COLUMNS)
            .join(Project, Project.id == Task.project_id)
            .join(Tracker, Tracker.id == Task.tracker_id)
            .join(TaskStatus, TaskStatus.id == Task.status_id)
            .join(TaskPriority, TaskPriority.id == Task.priority_id)
            .outerjoin(Assignee, Assignee.id == Task.assigned_to_id)
        )

    def _filters(self, query: TaskQuery) -> list[Any]:
        """WHERE clauses for a task query's filters."""
        clauses: list[Any] = []
        if query.assigned_to_id is not None:
            clauses.append(Task.assigned_to_id == query.assigned_to_id)
        status = (query.status or "open").strip().lower()
        if status == "open":
            clauses.append(TaskStatus.is_closed == false())
        elif status == "closed":
            clauses.append(TaskStatus.is_closed == true())
        elif status not in {"all", "*"}:
            clauses.append(func.lower(TaskStatus.name) == status)
        if query.priority:
            clauses.append(func.lower(TaskPriority.name) == query.priority.strip().lower())
        if query.project:
            value = query.project.strip()
            project_id = as_id(value)
            if project_id is not None:
                clauses.append(Task.project_id == project_id)
            else:
                clauses.append(
                    or_(func.lower(Project.name) == value.lower(), Project.identifier == value)
                )
        for word in (query.search or "").split():
            clauses.append(Task.subject.ilike(f"%{escape_like(word)}%", escape="\\"))
        return clauses

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """One page of visible tasks matching the query, and the total count."""
        clauses = self._filters(query)
        rows_query = self._visible(actor, self._summary_query().where(*clauses))
        order = []
        for key, descending in query.sort:
            column = SORT_COLUMNS[key]
            order.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
        order.append(Task.id.desc())
        offset = (query.page - 1) * query.per_page
        rows = db.session.execute(
            rows_query.order_by(*order).limit(query.per_page).offset(offset)
        ).all()
        count_query = (
            select(func.count())
            .select_from(Task)
            .join(TaskStatus, TaskStatus.id == Task.status_id)
            .where(*clauses)
        )
        if query.priority:
            count_query = count_query.join(TaskPriority, TaskPriority.id == Task.priority_id)
        if query.project and as_id(query.project) is None:
            count_query = count_query.join(Project, Project.id == Task.project_id)
        total = db.session.scalar(self._visible(actor, count_query)) or 0
        return TaskPage([_summary(row) for row in rows], total, query.page, query.per_page)

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One visible task with its custom values and watchers."""
        return self._info(self._task(actor, task_id))

    def _info(self, task: Task) -> TaskInfo:
        """Plain data for a task row."""
        row = db.session.execute(
            select(
                Project.name,
                Tracker.name,
                _user_name(Author),
                _user_name(Assignee),
            )
            .select_from(Task)
            .join(Project, Project.id == Task.project_id)
            .join(Tracker, Tracker.id == Task.tracker_id)
            .join(Author, Author.id == Task.author_id)
            .outerjoin(Assignee, Assignee.id == Task.assigned_to_id)
            .where(Task.id == task.id)
        ).one()
        status = db.session.get(TaskStatus, task.status_id)
        priority = db.session.get(TaskPriority, task.priority_id)
        custom = db.session.execute(
            select(CustomField.id, CustomField.name, CustomValue.value)
            .join(CustomValue, CustomValue.custom_field_id == CustomField.id)
            .where(CustomValue.task_id == task.id)
            .order_by(CustomField.id)
        ).all()
        watchers = db.session.scalars(
            select(Watcher.user_id).where(Watcher.task_id == task.id).order_by(Watcher.user_id)
        ).all()
        assert status is not None
        assert priority is not None
        return TaskInfo(
            id=task.id,
            subject=task.subject,
            description=task.description or "",
            project=Named(task.project_id, row[0]),
            tracker=Named(task.tracker_id, row[1]),
            status=_status_info(status),
            priority=PriorityInfo(priority.id, priority.name, priority.position),
            author=Named(task.author_id, row[2]),
            assigned_to=Named(task.assigned_to_id, row[3]) if task.assigned_to_id else None,
            start_date=task.start_date,
            due_date=task.due_date,
            estimated_hours=task.estimated_hours,
            done_ratio=task.done_ratio,
            created_on=task.created_on,
            updated_on=task.updated_on,
            closed_on=task.closed_on,
            custom_fields=tuple(CustomValueInfo(*item) for item in custom),
            watcher_ids=tuple(watchers),
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
        task = self._task(actor, task_id)
        ids = self._allowed_status_ids(actor, task)
        statuses = {s.id: s for s in db.session.scalars(select(TaskStatus))}
        return [_status_info(statuses[sid]) for sid in ids]

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
        query = select(TaskStatus).order_by(TaskStatus.position, TaskStatus.id)
        return [_status_info(s) for s in db.session.scalars(query)]

    def priorities(self) -> list[PriorityInfo]:
        """All priorities, least urgent first."""
        query = select(TaskPriority).order_by(TaskPriority.position, TaskPriority.id)
        return [
            PriorityInfo(p.id, p.name, p.position, p.is_default) for p in db.session.scalars(query)
        ]

    def trackers(self) -> list[Named]:
        """All trackers."""
        query = select(Tracker).order_by(Tracker.position, Tracker.id)
        return [Named(t.id, t.name) for t in db.session.scalars(query)]

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """Members of a project the actor can see, by name."""
        if db.session.get(Project, project_id) is None or not (
            actor.is_admin or self._role_id(actor, project_id)
        ):
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id))
        rows = db.session.execute(
            select(User.id, _user_name(User), Role.name)
            .join(Member, Member.user_id == User.id)
            .join(Role, Role.id == Member.role_id)
            .where(Member.project_id == project_id)
            .order_by(_user_name(User))
        ).all()
        return [MemberInfo(*row) for row in rows]

    # -- writing ------------------------------------------------------------------------

    def create_task(self, actor: Actor, new: NewTask) -> TaskInfo:
        """Create a task after checking every reference; errors name the field."""
        errors: dict[str, list[str]] = {}
        project = db.session.get(Project, new.project_id)
        if project is None:
            errors["project_id"] = [_("Unknown project.")]
        elif not actor.is_admin and self._role_id(actor, project.id) is None:
            errors["project_id"] = [_("You are not a member of this project.")]
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
        db.session.flush()
        return self._info(task)

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
            field = fields.get(field_id)
            if field is None:
                problems.append(_("Unknown custom field %(id)d.", id=field_id))
            elif len(value) > field.max_length:
                problems.append(
                    _(
                        "%(name)s is longer than %(max)d characters.",
                        name=field.name,
                        max=field.max_length,
                    )
                )
        for field in fields.values():
            if field.is_required and not values.get(field.id, "").strip():
                problems.append(_("%(name)s is required.", name=field.name))
        return {"custom_fields": problems} if problems else {}

    def change_status(
        self, actor: Actor, task_id: int, status_id: int, comment: str | None
    ) -> StatusChange:
        """Move a task along the workflow, writing a journal; refuses statuses not allowed."""
        task = self._task(actor, task_id)
        self._require_member(actor, task.project_id)
        old_status = db.session.get(TaskStatus, task.status_id)
        new_status = db.session.get(TaskStatus, status_id)
        assert old_status is not None
        if new_status is None:
            raise TaskValidationError(
                _("Unknown status."), errors={"status_id": [_("Unknown status.")]}
            )
        if new_status.id == old_status.id:
            journal_id = self._add_journal(actor, task, comment or "", []) if comment else None
            return StatusChange(
                self._info(task),
                _status_info(old_status),
                _status_info(old_status),
                journal_id,
                changed=False,
            )
        allowed = self._allowed_status_ids(actor, task)
        if new_status.id not in allowed:
            names = [label(s.name) for s in self.statuses() if s.id in allowed]
            raise InvalidTransition(
                _(
                    "You may not move this task from %(old)s to %(new)s. Allowed: %(allowed)s.",
                    old=label(old_status.name),
                    new=label(new_status.name),
                    allowed=", ".join(names) or "—",
                ),
                allowed_statuses=[
                    {"id": s.id, "name": s.name} for s in self.statuses() if s.id in allowed
                ],
            )
        now = utcnow()
        task.status_id = new_status.id
        task.updated_on = now
        if new_status.is_closed and not old_status.is_closed:
            task.closed_on = now
        journal_id = self._add_journal(
            actor, task, comment or "", [("status_id", str(old_status.id), str(new_status.id))]
        )
        return StatusChange(
            self._info(task),
            _status_info(old_status),
            _status_info(new_status),
            journal_id,
            changed=True,
        )

    def _add_journal(
        self, actor: Actor, task: Task, notes: str, details: Sequence[tuple[str, str, str]]
    ) -> int:
        """Record a change in the task's history and bump its version (optimistic lock)."""
        journal = Journal(task_id=task.id, user_id=actor.user_id, notes=notes, created_on=utcnow())
        journal.details = [
            JournalDetail(prop_key=k, old_value=o, new_value=n) for k, o, n in details
        ]
        task.updated_on = journal.created_on
        db.session.add(journal)
        try:
            db.session.flush()
        except (StaleDataError, OperationalError) as error:
            if isinstance(error, OperationalError) and not is_write_conflict(error):
                raise
            raise TaskConflict(
                _("Someone else changed this task. Reload and try again.")
            ) from error
        return journal.id

    def add_comment(self, actor: Actor, task_id: int, notes: str) -> JournalInfo:
        """Add notes to a visible task of a project the actor belongs to."""
        task = self._task(actor, task_id)
        self._require_member(actor, task.project_id)
        journal_id = self._add_journal(actor, task, notes, [])
        return self._journal_infos(select(Journal).where(Journal.id == journal_id))[0]

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Admins and members of the task's project, among the given users."""
        project_id = db.session.scalar(select(Task.project_id).where(Task.id == task_id))
        if project_id is None or not user_ids:
            return set()
        members = select(Member.user_id).where(Member.project_id == project_id)
        rows = db.session.scalars(
            select(User.id).where(
                User.id.in_(user_ids), (User.is_admin.is_(True)) | User.id.in_(members)
            )
        )
        return set(rows)

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
                select(Task.id, Task.subject, Task.author_id, Task.assigned_to_id).where(
                    Task.id.in_(task_ids)
                )
            )
        }
        watchers: dict[int, set[int]] = {}
        for task_id, user_id in db.session.execute(
            select(Watcher.task_id, Watcher.user_id).where(Watcher.task_id.in_(task_ids))
        ):
            watchers.setdefault(task_id, set()).add(user_id)
        changes = []
        for journal in journals:
            task = tasks[journal.task_id]
            people = {task.author_id, task.assigned_to_id, *watchers.get(task.id, set())}
            people.discard(None)
            people.discard(journal.user.id)
            allowed = self.visible_to(task.id, sorted(people))
            changes.append(Change(journal, task.subject, tuple(sorted(allowed))))
        return ChangeBatch(changes, str(journals[-1].id))
