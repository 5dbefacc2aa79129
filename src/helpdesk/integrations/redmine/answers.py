"""The shapes of the Redmine REST answers the helpdesk reads, checked in one step (parse).

Each answer is validated whole before any of it is used: a body that is not JSON, lacks a key
the helpdesk reads or has a value of the wrong type is a malformed answer (502, "Redmine is
unavailable"), never a KeyError deep inside a page. Keys the helpdesk does not read are dropped;
times come out as naive UTC datetimes and dates as dates, as the backend's DTOs carry them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, NotRequired, TypeVar

from pydantic import AfterValidator, TypeAdapter, ValidationError
from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

T = TypeVar("T")


def naive_utc(value: datetime) -> datetime:
    """Redmine's times ("2026-12-07T15:37:11Z") as naive UTC, like the helpdesk's columns."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


Time = Annotated[datetime, AfterValidator(naive_utc)]


class Ref(TypedDict):
    """An object named inside another: a project, tracker, priority or person."""

    id: int
    name: str


class StatusRef(TypedDict):
    """A status as an issue or a status list names it."""

    id: int
    name: str
    is_closed: NotRequired[bool]


class Detail(TypedDict):
    """One field change of a journal."""

    property: str
    name: str
    old_value: NotRequired[str | None]
    new_value: NotRequired[str | None]


class Journal(TypedDict):
    """One entry of an issue's history."""

    id: int
    user: NotRequired[Ref]
    notes: NotRequired[str | None]
    private_notes: NotRequired[bool]
    created_on: Time
    details: NotRequired[list[Detail]]


class CustomValue(TypedDict):
    """An issue's value of a custom field (a list for a field with several values)."""

    id: int
    name: str
    value: NotRequired[str | list[str] | None]


class Attachment(TypedDict):
    """A file of an issue (include=attachments); its type is Redmine's word, verified before an
    image is shown inline."""

    id: int
    filename: NotRequired[str]
    filesize: NotRequired[int]
    content_type: NotRequired[str | None]
    author: NotRequired[Ref]
    created_on: Time


class Upload(TypedDict):
    """A file sent to /uploads.json: its token attaches it to an issue, its id removes it
    while it belongs to none."""

    id: int
    token: str


class UploadAnswer(TypedDict):
    """POST /uploads.json."""

    upload: Upload


class SearchResult(TypedDict):
    """One hit of Redmine's search."""

    id: int
    type: str


class SearchAnswer(TypedDict):
    """GET /search.json."""

    results: list[SearchResult]
    total_count: int


class Issue(TypedDict):
    """An issue as a list row or on its own (journals, watchers, allowed statuses and files
    when included)."""

    id: int
    project: Ref
    tracker: Ref
    status: StatusRef
    priority: Ref
    author: Ref
    assigned_to: NotRequired[Ref]
    subject: str
    description: NotRequired[str | None]
    start_date: NotRequired[date | None]
    due_date: NotRequired[date | None]
    done_ratio: NotRequired[int | None]
    estimated_hours: NotRequired[float | None]
    created_on: Time
    updated_on: Time
    closed_on: NotRequired[Time | None]
    custom_fields: NotRequired[list[CustomValue]]
    journals: NotRequired[list[Journal]]
    watchers: NotRequired[list[Ref]]
    allowed_statuses: NotRequired[list[StatusRef]]
    attachments: NotRequired[list[Attachment]]


class IssueAnswer(TypedDict):
    """GET /issues/<id>.json, POST /issues.json."""

    issue: Issue


class IssuesPage(TypedDict):
    """GET /issues.json."""

    issues: list[Issue]
    total_count: int


class StatusesAnswer(TypedDict):
    """GET /issue_statuses.json."""

    issue_statuses: list[StatusRef]


class Priority(TypedDict):
    """An issue priority."""

    id: int
    name: str
    is_default: NotRequired[bool]
    active: NotRequired[bool]


class PrioritiesAnswer(TypedDict):
    """GET /enumerations/issue_priorities.json."""

    issue_priorities: list[Priority]


class TrackersAnswer(TypedDict):
    """GET /trackers.json."""

    trackers: list[Ref]


class CustomField(TypedDict):
    """A custom field's definition (only administrators may list them)."""

    id: int
    name: str
    customized_type: str
    is_required: NotRequired[bool]
    max_length: NotRequired[int | None]


class CustomFieldsAnswer(TypedDict):
    """GET /custom_fields.json."""

    custom_fields: list[CustomField]


class Project(TypedDict):
    """A project (its issue custom fields when included)."""

    id: int
    identifier: str
    name: str
    issue_custom_fields: NotRequired[list[Ref]]


class ProjectAnswer(TypedDict):
    """GET /projects/<id>.json, POST /projects.json."""

    project: Project


class ProjectsPage(TypedDict):
    """GET /projects.json."""

    projects: list[Project]
    total_count: int


class Membership(TypedDict):
    """A user's (or a group's) roles in a project."""

    id: int
    user: NotRequired[Ref]
    roles: list[Ref]


class MembershipsPage(TypedDict):
    """GET /projects/<id>/memberships.json."""

    memberships: list[Membership]
    total_count: int


class Role(TypedDict):
    """A role, its permissions and whether tasks can be assigned to its members."""

    id: int
    name: str
    permissions: NotRequired[list[str]]
    assignable: NotRequired[bool]


class RoleAnswer(TypedDict):
    """GET /roles/<id>.json."""

    role: Role


class User(TypedDict):
    """A Redmine user as the key asking may see them."""

    id: int
    login: str
    firstname: NotRequired[str | None]
    lastname: NotRequired[str | None]
    mail: NotRequired[str | None]
    admin: NotRequired[bool]
    api_key: NotRequired[str | None]


class UserAnswer(TypedDict):
    """GET /users/current.json, GET /users/<id>.json, POST /users.json."""

    user: User


class UsersPage(TypedDict):
    """GET /users.json."""

    users: list[User]


ADAPTERS: dict[Any, TypeAdapter[Any]] = {}  # one validator per shape, built on first use


def parse(shape: type[T], body: bytes) -> T:
    """An answer's body as the shape, strictly typed (JSON's types, no coercion); ValueError
    naming the places that do not fit (never their values, which may be people's data)."""
    try:
        if shape not in ADAPTERS:
            ADAPTERS[shape] = TypeAdapter(shape)
        parsed: T = ADAPTERS[shape].validate_json(body, strict=True)
    except ValidationError as error:
        places = sorted(
            {".".join(str(part) for part in e["loc"]) or "(body)" for e in error.errors()}
        )
        raise ValueError(f"does not fit {shape.__name__} at {', '.join(places[:5])}") from None
    return parsed
