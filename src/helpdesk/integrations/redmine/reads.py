"""Reading tasks from Redmine's own tables (REDMINE_READS=database): the answers Redmine's REST
API gives each user, read with SQLAlchemy Core in a query or two instead of an HTTP round trip.

Who sees what is visibility.py's (Redmine's own rules); this module is the rest of what REST
does for a read: IssueQuery's filters, sorts and pages, an issue's fields and visible custom
values, its visible journals and details, projects, members and lookups. Rows come back as plain
data in Redmine's ids; the backend (tasks/backends/redmine_reads.py) turns them into the task
interface's records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from helpdesk.config import ConfigurationError
from helpdesk.integrations.redmine.database import database_url
from helpdesk.integrations.redmine.tables import (
    custom_fields,
    custom_fields_projects,
    custom_fields_roles,
    custom_fields_trackers,
    custom_values,
    enumerations,
    issue_statuses,
    issues,
    journal_details,
    journals,
    member_roles,
    members,
    projects,
    roles,
    settings,
    trackers,
    users,
    watchers,
)
from helpdesk.integrations.redmine.visibility import (
    PROJECT_ACTIVE,
    Principal,
    ProjectFacts,
    load_project,
    visible_condition,
    visible_projects_condition,
)

PAGE_LIMIT = 100  # Redmine's largest page
SORT_CRITERIA = 3  # Redmine keeps the first three sort keys
SEARCH_TOKENS = 5  # Redmine's tokenizer keeps the first five words
TOKEN = re.compile(r'((\s|^)"[^"]+"(\s|$)|\S+)')
TOKEN_QUOTES = re.compile(r'(^\s*"\s*|\s*"\s*$)')
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

author = aliased(users, name="authors")
assignee = aliased(users, name="assignees")

# Setting.user_format: how Redmine writes a user's name, and the columns it sorts them by
NAME_FORMATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "firstname_lastname": ("{firstname} {lastname}", ("firstname", "lastname", "id")),
    "firstname_lastinitial": ("{firstname} {lastinitial}.", ("firstname", "lastname", "id")),
    "firstinitial_lastname": ("{initials} {lastname}", ("firstname", "lastname", "id")),
    "firstname": ("{firstname}", ("firstname", "id")),
    "lastname_firstname": ("{lastname} {firstname}", ("lastname", "firstname", "id")),
    "lastnamefirstname": ("{lastname}{firstname}", ("lastname", "firstname", "id")),
    "lastname_comma_firstname": ("{lastname}, {firstname}", ("lastname", "firstname", "id")),
    "lastname": ("{lastname}", ("lastname", "id")),
    "username": ("{login}", ("login", "id")),
}
DEFAULT_NAME_FORMAT = "firstname_lastname"
INITIAL = re.compile(r"(([^\W\d_])[^\W\d_]*\.?)")


READS_MODES = ("rest", "database")


def reads_mode(config: Mapping[str, Any]) -> str:
    """REDMINE_READS: "database" or "rest"; unset, the database when one is configured. Asking
    for the database without one, or for neither, stops start-up."""
    chosen = str(config.get("REDMINE_READS") or "").strip().lower()
    configured = database_url(config) is not None
    if not chosen:
        return "database" if configured else "rest"
    if chosen not in READS_MODES:
        raise ConfigurationError(f"REDMINE_READS must be rest or database, not {chosen!r}.")
    if chosen == "database" and not configured:
        raise ConfigurationError(
            "REDMINE_READS=database needs Redmine's database: set REDMINE_DB_URL (or "
            "REDMINE_DB_HOST and REDMINE_DB_NAME)."
        )
    return chosen


def setting(connection: Connection, name: str) -> str | None:
    """A Redmine setting as stored (None: never changed, so Redmine's default applies)."""
    value = connection.scalar(select(settings.c.value).where(settings.c.name == name).limit(1))
    return None if value is None else str(value)


def name_format(connection: Connection) -> str:
    """Setting.user_format, or Redmine's default."""
    stored = (setting(connection, "user_format") or "").replace("---", "").strip().lstrip(":")
    return stored if stored in NAME_FORMATS else DEFAULT_NAME_FORMAT


def person_name(row: Any, prefix: str, fmt: str) -> str:
    """Principal#name: a user's name in the site's format, a group's name (its lastname)."""
    kind = getattr(row, f"{prefix}type")
    first = getattr(row, f"{prefix}firstname") or ""
    last = getattr(row, f"{prefix}lastname") or ""
    if kind != "User":
        return "Anonymous" if kind == "AnonymousUser" else last
    template = NAME_FORMATS[fmt][0]
    return template.format(
        firstname=first,
        lastname=last,
        lastinitial=last[:1],
        initials=INITIAL.sub(r"\2.", first),
        login=getattr(row, f"{prefix}login") or "",
    )


def person_columns(alias: Any, prefix: str) -> list[Any]:
    """The columns person_name reads, labelled with a prefix."""
    return [
        alias.c.id.label(f"{prefix}id"),
        alias.c.login.label(f"{prefix}login"),
        alias.c.firstname.label(f"{prefix}firstname"),
        alias.c.lastname.label(f"{prefix}lastname"),
        alias.c.type.label(f"{prefix}type"),
    ]


@dataclass(frozen=True, slots=True)
class Person:
    """A Redmine principal by id and display name; is_user: a user, not a group (or the
    Anonymous user a deleted account's entries fall to)."""

    id: int
    name: str
    is_user: bool = True


@dataclass(frozen=True, slots=True)
class IssueRow:
    """An issue as the REST API shows it (Redmine's ids; times as Redmine stored them)."""

    id: int
    subject: str
    description: str
    project: Person
    tracker: Person
    status_id: int
    status_name: str
    status_closed: bool
    priority: Person
    author: Person | None
    assigned_to: Person | None
    start_date: date | None
    due_date: date | None
    estimated_hours: float | None
    done_ratio: int
    created_on: datetime
    updated_on: datetime
    closed_on: datetime | None


@dataclass(frozen=True, slots=True)
class JournalRow:
    """A visible journal with its visible details (property, key, old, new)."""

    id: int
    user: Person | None
    notes: str
    created_on: datetime
    details: tuple[tuple[str, str, str | None, str | None], ...]


@dataclass(frozen=True, slots=True)
class ListFilters:
    """IssueQuery's filters as the REST path sends them; None means "any"."""

    assigned_to_id: int | None = None
    unassigned: bool = False  # assigned_to_id=!*
    author_id: int | None = None
    watcher_id: int | None = None
    task_id: int | None = None  # issue_id: a task number searched for
    task_ids: tuple[int, ...] | None = None  # the hits of Redmine's own search, if searched
    status: tuple[str, str] = ("group", "open")  # base.status_filter's answer
    status_id: int | None = None  # for ("name", ...)
    priority_id: int | None = None
    project_id: int | None = None
    search: str = ""
    closed_since: datetime | None = None  # the board: closed issues only if closed since


def issue_columns() -> list[Any]:
    """Everything an issue row shows."""
    return [
        issues,
        projects.c.name.label("project_name"),
        trackers.c.name.label("tracker_name"),
        issue_statuses.c.name.label("status_name"),
        issue_statuses.c.is_closed.label("status_closed"),
        enumerations.c.name.label("priority_name"),
        *person_columns(author, "author_person_"),
        *person_columns(assignee, "assignee_person_"),
    ]


def issue_from() -> Any:
    """issues with what IssueQuery joins: status and project always, the rest when there."""
    return (
        issues.join(projects, projects.c.id == issues.c.project_id)
        .join(issue_statuses, issue_statuses.c.id == issues.c.status_id)
        .outerjoin(trackers, trackers.c.id == issues.c.tracker_id)
        .outerjoin(enumerations, enumerations.c.id == issues.c.priority_id)
        .outerjoin(author, author.c.id == issues.c.author_id)
        .outerjoin(assignee, assignee.c.id == issues.c.assigned_to_id)
    )


def issue_row(row: Any, fmt: str) -> IssueRow:
    """An issue row as plain data."""
    return IssueRow(
        id=int(row.id),
        subject=row.subject or "",
        description=row.description or "",
        project=Person(int(row.project_id), row.project_name or ""),
        tracker=Person(int(row.tracker_id), row.tracker_name or ""),
        status_id=int(row.status_id),
        status_name=row.status_name or "",
        status_closed=bool(row.status_closed),
        priority=Person(int(row.priority_id), row.priority_name or ""),
        author=Person(
            int(row.author_id),
            person_name(row, "author_person_", fmt),
            row.author_person_type == "User",
        )
        if row.author_id is not None
        else None,
        assigned_to=Person(
            int(row.assigned_to_id),
            person_name(row, "assignee_person_", fmt),
            row.assignee_person_type == "User",
        )
        if row.assigned_to_id is not None and row.assignee_person_id is not None
        else None,
        start_date=row.start_date,
        due_date=row.due_date,
        estimated_hours=float(row.estimated_hours) if row.estimated_hours is not None else None,
        done_ratio=int(row.done_ratio or 0),
        created_on=row.created_on,
        updated_on=row.updated_on,
        closed_on=row.closed_on,
    )


# -- one issue ---------------------------------------------------------------------------------


def visible_issue(connection: Connection, principal: Principal, issue_id: int) -> IssueRow | None:
    """An issue the principal may see (None: missing or hidden, never telling which)."""
    fmt = name_format(connection)
    row = connection.execute(
        select(*issue_columns())
        .select_from(issue_from())
        .where(issues.c.id == issue_id, visible_condition(principal))
    ).first()
    return issue_row(row, fmt) if row is not None else None


def is_visible(connection: Connection, principal: Principal, issue_id: int) -> bool:
    """Issue#visible? for one issue."""
    return bool(
        connection.scalar(
            select(literal(1))
            .select_from(issues.join(projects, projects.c.id == issues.c.project_id))
            .where(issues.c.id == issue_id, visible_condition(principal))
        )
    )


def custom_field_visible(
    principal: Principal, project: ProjectFacts, visible: Any, field_roles: set[int]
) -> bool:
    """IssueCustomField#visible_by?: visible to all, or to an admin, or to one of the roles the
    principal holds in the project."""
    if visible or principal.admin:
        return True
    return any(role.id in field_roles for role in principal.roles_for_project(project))


def field_roles(connection: Connection, field_ids: Sequence[int]) -> dict[int, set[int]]:
    """The roles each custom field is shown to (when not visible to all)."""
    found: dict[int, set[int]] = {}
    if field_ids:
        for field_id, role_id in connection.execute(
            select(custom_fields_roles.c.custom_field_id, custom_fields_roles.c.role_id).where(
                custom_fields_roles.c.custom_field_id.in_(list(field_ids))
            )
        ):
            found.setdefault(int(field_id), set()).add(int(role_id))
    return found


def custom_values_of(
    connection: Connection, principal: Principal, issue: IssueRow, project: ProjectFacts
) -> list[tuple[int, str, str]]:
    """Issue#visible_custom_field_values with a value: (field id, name, value) in id order,
    for the fields of the issue's project and tracker the principal may see."""
    fields = connection.execute(
        select(custom_fields.c.id, custom_fields.c.name, custom_fields.c.visible)
        .where(custom_fields.c.type == "IssueCustomField")
        .where(
            or_(
                custom_fields.c.is_for_all == true(),
                custom_fields.c.id.in_(
                    select(custom_fields_projects.c.custom_field_id).where(
                        custom_fields_projects.c.project_id == issue.project.id
                    )
                ),
            )
        )
        .where(
            custom_fields.c.id.in_(
                select(custom_fields_trackers.c.custom_field_id).where(
                    custom_fields_trackers.c.tracker_id == issue.tracker.id
                )
            )
        )
        .order_by(custom_fields.c.id)
    ).all()
    shown_to = field_roles(connection, [int(f.id) for f in fields if not f.visible])
    shown = {
        int(f.id): f.name
        for f in fields
        if custom_field_visible(principal, project, f.visible, shown_to.get(int(f.id), set()))
    }
    if not shown:
        return []
    values: dict[int, list[str]] = {}
    for field_id, value in connection.execute(
        select(custom_values.c.custom_field_id, custom_values.c.value)
        .where(
            custom_values.c.customized_type == "Issue",
            custom_values.c.customized_id == issue.id,
            custom_values.c.custom_field_id.in_(list(shown)),
        )
        .order_by(custom_values.c.id)
    ):
        if value not in (None, ""):
            values.setdefault(int(field_id), []).append(str(value))
    return [(fid, shown[fid], ", ".join(values[fid])) for fid in sorted(values)]


def watcher_ids(connection: Connection, issue_id: int) -> list[int]:
    """The users watching an issue (a watching group is nobody's helpdesk account)."""
    return sorted(
        int(uid)
        for uid in connection.scalars(
            select(watchers.c.user_id)
            .join(users, users.c.id == watchers.c.user_id)
            .where(
                watchers.c.watchable_type == "Issue",
                watchers.c.watchable_id == issue_id,
                users.c.type == "User",
            )
        )
    )


def visible_journals(
    connection: Connection, principal: Principal, issue: IssueRow, project: ProjectFacts
) -> list[JournalRow]:
    """Issue#visible_journals_with_index with Journal#visible_details: private notes only for
    their writer or a role with view_private_notes; a custom field's change only where the field
    is visible; a relation only to a visible issue; entries left with neither notes nor details
    dropped."""
    fmt = name_format(connection)
    writer = aliased(users, name="writers")
    rows = connection.execute(
        select(
            journals.c.id,
            journals.c.user_id,
            journals.c.notes,
            journals.c.private_notes,
            journals.c.created_on,
            *person_columns(writer, "writer_"),
            journal_details.c.property,
            journal_details.c.prop_key,
            journal_details.c.old_value,
            journal_details.c.value,
        )
        .select_from(
            journals.outerjoin(writer, writer.c.id == journals.c.user_id).outerjoin(
                journal_details, journal_details.c.journal_id == journals.c.id
            )
        )
        .where(journals.c.journalized_type == "Issue", journals.c.journalized_id == issue.id)
        .order_by(journals.c.created_on, journals.c.id, journal_details.c.id)
    ).all()
    private_ok = principal.allowed_to("view_private_notes", project)
    field_ids = sorted(
        {int(r.prop_key) for r in rows if r.property == "cf" and str(r.prop_key).isdigit()}
    )
    fields = {
        int(f.id): f.visible
        for f in connection.execute(
            select(custom_fields.c.id, custom_fields.c.visible).where(
                custom_fields.c.id.in_(field_ids)
            )
        )
    }
    shown_to = field_roles(connection, [fid for fid, visible in fields.items() if not visible])
    related_seen: dict[int, bool] = {}

    def detail_visible(row: Any) -> bool:
        """Journal#visible_details for one detail."""
        if row.property == "cf":
            key = int(row.prop_key) if str(row.prop_key).isdigit() else None
            if key is None or key not in fields:
                return False
            return custom_field_visible(principal, project, fields[key], shown_to.get(key, set()))
        if row.property == "relation":
            target = row.value or row.old_value
            if not (target and str(target).isdigit()):
                return False
            if int(target) not in related_seen:
                related_seen[int(target)] = is_visible(connection, principal, int(target))
            return related_seen[int(target)]
        return True

    entries: dict[int, list[Any]] = {}
    for row in rows:
        entries.setdefault(int(row.id), []).append(row)
    result = []
    for journal_id, parts in entries.items():
        first = parts[0]
        if first.private_notes and not private_ok and first.user_id != principal.id:
            continue
        details = tuple(
            (str(p.property), str(p.prop_key), p.old_value, p.value)
            for p in parts
            if p.property is not None and detail_visible(p)
        )
        notes = first.notes or ""
        if not notes.strip() and not details:
            continue
        user = (
            Person(
                int(first.user_id), person_name(first, "writer_", fmt), first.writer_type == "User"
            )
            if first.user_id is not None and first.writer_id is not None
            else None
        )
        result.append(JournalRow(journal_id, user, notes, first.created_on, details))
    return result


# -- lists -------------------------------------------------------------------------------------


def search_tokens(text: str) -> list[str]:
    """Redmine's Search::Tokenizer as IssueQuery's "contains" uses it: quoted phrases and words
    of two or more characters, unique, at most five; none: the whole text."""
    found = [TOKEN_QUOTES.sub("", m.group(1)) for m in TOKEN.finditer(text)]
    unique = list(dict.fromkeys(found))
    tokens = [w for w in unique if len(w) > 1 or HAN.search(w)][:SEARCH_TOKENS]
    return tokens or [text]


def escape_like(text: str) -> str:
    """ActiveRecord's sanitize_sql_like: the LIKE wildcards and the escape itself, escaped."""
    return re.sub(r"([\\%_])", r"\\\1", text)


def contains(connection: Connection, column: Any, token: str) -> ColumnElement[bool]:
    """Redmine::Database.like for "contains": ILIKE on PostgreSQL, LIKE elsewhere (MySQL's
    collations ignore case)."""
    pattern = f"%{escape_like(token)}%"
    if connection.dialect.name == "postgresql":
        return column.ilike(pattern, escape="\\")
    return column.like(pattern, escape="\\")


def sort_columns(key: str, fmt: str) -> list[Any]:
    """IssueQuery's sortable columns for a key."""
    if key == "assigned_to":
        return [assignee.c[name] for name in NAME_FORMATS[fmt][1]]
    return {
        "id": [issues.c.id],
        "subject": [issues.c.subject],
        "status": [issue_statuses.c.position],
        "priority": [enumerations.c.position],
        "project": [projects.c.name],
        "tracker": [trackers.c.position],
        "due_date": [issues.c.due_date],
        "start_date": [issues.c.start_date],
        "created_on": [issues.c.created_on],
        "updated_on": [issues.c.updated_on],
        "done_ratio": [issues.c.done_ratio],
        "closed_on": [issues.c.closed_on],
    }.get(key, [])


def order_by(sort: Sequence[tuple[str, bool]], fmt: str) -> list[Any]:
    """SortCriteria: unique keys, the first three, then issues.id DESC unless id is one."""
    criteria: dict[str, bool] = {}
    for key, descending in sort:
        criteria.setdefault(key, descending)
    chosen = list(criteria.items())[:SORT_CRITERIA]
    order = [
        column.desc() if descending else column.asc()
        for key, descending in chosen
        for column in sort_columns(key, fmt)
    ]
    if "id" not in dict(chosen):
        order.append(issues.c.id.desc())
    return order


def project_condition(connection: Connection, project_id: int) -> ColumnElement[bool]:
    """Query#project_statement: the project with its subprojects when Redmine shows
    subprojects' issues (Setting.display_subprojects_issues, on by default)."""
    if (setting(connection, "display_subprojects_issues") or "1") != "1":
        return projects.c.id == project_id
    bounds = connection.execute(
        select(projects.c.lft, projects.c.rgt).where(projects.c.id == project_id)
    ).first()
    if bounds is None or bounds.lft is None:
        return projects.c.id == project_id
    return and_(projects.c.lft >= bounds.lft, projects.c.rgt <= bounds.rgt)


def list_conditions(
    connection: Connection, principal: Principal, filters: ListFilters
) -> list[ColumnElement[bool]]:
    """IssueQuery#statement for the filters, with Issue.visible_condition."""
    clauses = [visible_condition(principal)]
    kind, value = filters.status
    if kind == "group" and value == "open":
        clauses.append(issue_statuses.c.is_closed == false())
    elif kind == "group" and value == "closed":
        clauses.append(issue_statuses.c.is_closed == true())
    elif kind == "name":
        clauses.append(issues.c.status_id == filters.status_id)
    if filters.assigned_to_id is not None:
        clauses.append(issues.c.assigned_to_id == filters.assigned_to_id)
    if filters.unassigned:
        clauses.append(issues.c.assigned_to_id.is_(None))
    if filters.author_id is not None:
        clauses.append(issues.c.author_id == filters.author_id)
    if filters.watcher_id is not None:
        clauses.append(
            exists().where(
                watchers.c.watchable_type == "Issue",
                watchers.c.watchable_id == issues.c.id,
                watchers.c.user_id == filters.watcher_id,
            )
        )
    if filters.task_id is not None:
        clauses.append(issues.c.id == filters.task_id)
    if filters.task_ids is not None:
        clauses.append(issues.c.id.in_(filters.task_ids))
    if filters.priority_id is not None:
        clauses.append(issues.c.priority_id == filters.priority_id)
    if filters.project_id is not None:
        clauses.append(project_condition(connection, filters.project_id))
    if filters.search:
        clauses.extend(
            contains(connection, issues.c.subject, token) for token in search_tokens(filters.search)
        )
    if filters.closed_since is not None:
        clauses.append(
            or_(issue_statuses.c.is_closed == false(), issues.c.closed_on >= filters.closed_since)
        )
    return clauses


def issue_page(
    connection: Connection,
    principal: Principal,
    filters: ListFilters,
    sort: Sequence[tuple[str, bool]],
    offset: int,
    limit: int,
) -> tuple[list[IssueRow], int]:
    """One page of IssueQuery#issues and its total count. The page's ids are sorted first and
    its rows read after by id: sorting whole rows, descriptions and all, makes MariaDB put its
    temporary table on disk (a TEXT column), and reads every matching row where 25 are shown."""
    fmt = name_format(connection)
    clauses = list_conditions(connection, principal, filters)
    page = list(
        connection.scalars(
            select(issues.c.id)
            .select_from(issue_from())
            .where(*clauses)
            .order_by(*order_by(sort, fmt))
            .offset(offset)
            .limit(limit)
        )
    )
    found = (
        {
            int(row.id): row
            for row in connection.execute(
                select(*issue_columns()).select_from(issue_from()).where(issues.c.id.in_(page))
            )
        }
        if page
        else {}
    )
    rows = [found[issue_id] for issue_id in page if issue_id in found]  # one gone meanwhile
    if len(page) < limit and (page or offset == 0):
        total = offset + len(page)
    else:
        total = int(
            connection.scalar(
                select(func.count())
                .select_from(
                    issues.join(projects, projects.c.id == issues.c.project_id).join(
                        issue_statuses, issue_statuses.c.id == issues.c.status_id
                    )
                )
                .where(*clauses)
            )
            or 0
        )
    return [issue_row(row, fmt) for row in rows], total


# -- projects, members, lookups ----------------------------------------------------------------


def visible_projects(connection: Connection, principal: Principal) -> list[tuple[int, str, str]]:
    """GET /projects.json as the principal: the active projects they may see (id, identifier,
    name)."""
    rows = connection.execute(
        select(projects.c.id, projects.c.identifier, projects.c.name)
        .where(projects.c.status == PROJECT_ACTIVE, visible_projects_condition(principal))
        .order_by(projects.c.lft)
    )
    return [(int(r.id), r.identifier, r.name) for r in rows]


def project_by_name(connection: Connection, value: str) -> int | None:
    """The active project whose identifier is value or whose name is value (any case), as the
    administrator's project list finds it."""
    rows = connection.execute(
        select(projects.c.id, projects.c.identifier, projects.c.name)
        .where(projects.c.status == PROJECT_ACTIVE)
        .order_by(projects.c.lft)
    )
    for row in rows:
        if row.identifier == value or (row.name or "").lower() == value.lower():
            return int(row.id)
    return None


def viewable_project(
    connection: Connection, principal: Principal, project_id: int
) -> ProjectFacts | None:
    """A project the principal may open (GET /projects/:id.json), else None."""
    project = load_project(connection, project_id)
    if project is None or not principal.allowed_to("view_project", project):
        return None
    return project


def memberships(connection: Connection, project_id: int) -> list[tuple[Person, str, bool]]:
    """The project's members who are users (any status), each with the name of their first
    role and whether any of their roles takes tasks, in membership order: what GET
    /projects/:id/memberships.json lists."""
    fmt = name_format(connection)
    rows = connection.execute(
        select(
            members.c.id.label("member_id"),
            *person_columns(users, "user_"),
            roles.c.name,
            roles.c.assignable,
        )
        .select_from(
            members.join(users, users.c.id == members.c.user_id)
            .outerjoin(member_roles, member_roles.c.member_id == members.c.id)
            .outerjoin(roles, roles.c.id == member_roles.c.role_id)
        )
        .where(members.c.project_id == project_id, users.c.type == "User")
        .order_by(members.c.id, member_roles.c.id)
    ).all()
    found: dict[int, tuple[Person, str, bool]] = {}
    for row in rows:
        person, role, takes = found.get(
            row.member_id, (Person(int(row.user_id), person_name(row, "user_", fmt)), "", False)
        )
        found[row.member_id] = (person, role or row.name or "", takes or bool(row.assignable))
    return list(found.values())


def project_custom_fields(
    connection: Connection, project_id: int
) -> list[tuple[int, str, bool, int]]:
    """The issue custom fields enabled on a project (id, name, required, max length), as its
    REST answer names them (fields "for all projects" are not listed there)."""
    rows = connection.execute(
        select(
            custom_fields.c.id,
            custom_fields.c.name,
            custom_fields.c.is_required,
            custom_fields.c.max_length,
        )
        .join(
            custom_fields_projects, custom_fields_projects.c.custom_field_id == custom_fields.c.id
        )
        .where(
            custom_fields_projects.c.project_id == project_id,
            custom_fields.c.type == "IssueCustomField",
        )
        .order_by(custom_fields.c.id)
    )
    return [(int(r.id), r.name, bool(r.is_required), int(r.max_length or 0)) for r in rows]


def status_rows(connection: Connection) -> list[tuple[int, str, bool]]:
    """Every status in Redmine's order."""
    rows = connection.execute(
        select(issue_statuses.c.id, issue_statuses.c.name, issue_statuses.c.is_closed).order_by(
            issue_statuses.c.position, issue_statuses.c.id
        )
    )
    return [(int(r.id), r.name, bool(r.is_closed)) for r in rows]


def priority_rows(connection: Connection) -> list[tuple[int, str, bool, bool]]:
    """The shared priorities in Redmine's order (id, name, default, active)."""
    rows = connection.execute(
        select(
            enumerations.c.id,
            enumerations.c.name,
            enumerations.c.is_default,
            enumerations.c.active,
        )
        .where(enumerations.c.type == "IssuePriority", enumerations.c.project_id.is_(None))
        .order_by(enumerations.c.position, enumerations.c.id)
    )
    return [(int(r.id), r.name, bool(r.is_default), bool(r.active)) for r in rows]


def tracker_rows(connection: Connection) -> list[tuple[int, str]]:
    """Every tracker in Redmine's order."""
    rows = connection.execute(
        select(trackers.c.id, trackers.c.name).order_by(trackers.c.position, trackers.c.id)
    )
    return [(int(r.id), r.name) for r in rows]
