"""Tasks in a real Redmine, over its REST API, acting as each helpdesk user.

Every call names the user it acts as (the admin key and X-Redmine-Switch-User, or the user's own
key), so Redmine's permissions, journals and authorship are the real person's. Lookups are kept
for LOOKUP_SECONDS in the application's cache; a task is read once per request whatever asks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from flask import Flask, g
from flask_babel import gettext as _

from helpdesk.config import ConfigurationError
from helpdesk.extensions import cache
from helpdesk.integrations.redmine import database, feed, reads
from helpdesk.integrations.redmine.client import NotLinked, RedmineClient
from helpdesk.integrations.redmine.identity import RedmineUserIds
from helpdesk.tasks.backends.base import (
    Actor,
    BackendUnavailable,
    ChangeBatch,
    CustomFieldInfo,
    CustomValueInfo,
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
    TaskError,
    TaskForbidden,
    TaskInfo,
    TaskNotFound,
    TaskPage,
    TaskQuery,
    TaskSummary,
    TaskValidationError,
    as_id,
    status_filter,
)
from helpdesk.tasks.workflow import refusal

LOOKUP_SECONDS = 60  # statuses, priorities, trackers, custom fields, projects' members
PAGE_LIMIT = 100  # Redmine's largest page
ISSUE_INCLUDES = "journals,watchers,allowed_statuses"
REQUEST_KEY = "redmine_issues"  # in flask.g: (login, task id) -> the issue as read this request
LOOKUPS_KEY = "redmine_lookups"  # in flask.g: the cached lookups this request has read
SORT_KEYS = frozenset(
    {
        "id",
        "subject",
        "status",
        "priority",
        "project",
        "tracker",
        "assigned_to",
        "due_date",
        "start_date",
        "created_on",
        "updated_on",
    }
)


def parse_time(value: str | None) -> datetime | None:
    """Redmine's UTC timestamps ("2026-12-07T15:37:11Z") as naive UTC, like our columns."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


def parse_date(value: str | None) -> date | None:
    """A Redmine date, or None."""
    return date.fromisoformat(value) if value else None


def check_redmine(client: RedmineClient) -> None:
    """Stop start-up on a definite misconfiguration (a key Redmine refuses, its REST API
    switched off, a key that is not an administrator's: it could not act as each user); a
    Redmine that cannot be reached now is no misconfiguration: the client has logged it, each
    request answers 503 until Redmine is back, and nothing needs a restart."""
    try:
        user = client.get("/users/current.json").get("user") or {}
    except TaskForbidden:
        raise ConfigurationError(
            f"The Redmine at {client.url} refuses REDMINE_API_KEY (a wrong key, or its REST API "
            "is disabled: Administration > Settings > API > Enable REST web service)."
        ) from None
    except TaskError as error:
        if isinstance(error, BackendUnavailable) and error.status_code == 503:
            return
        raise ConfigurationError(
            f"REDMINE_URL={client.url} does not answer like a Redmine REST API; check the address."
        ) from None
    if not user.get("admin"):
        raise ConfigurationError(
            f"REDMINE_API_KEY belongs to the Redmine user {user.get('login')!r}, who is not an "
            "administrator: the helpdesk needs an administrator's key to act as each user."
        )


class RedmineBackend:
    """The TaskBackend over Redmine's REST API."""

    name = "redmine"
    sort_keys = SORT_KEYS

    def __init__(self, client: RedmineClient) -> None:
        self.client = client
        self.user_ids = RedmineUserIds(client)

    @classmethod
    def from_app(cls, app: Flask) -> RedmineBackend:
        """The backend for an app's REDMINE_URL, REDMINE_API_KEY and REDMINE_TIMEOUT, checked
        before the app serves anything (check_redmine)."""
        config = app.config
        database.init_app(app)  # the change feed's database reader, checked at start-up
        if not (config["REDMINE_URL"] and config["REDMINE_API_KEY"]):
            raise ConfigurationError(
                "TASK_BACKEND=redmine needs REDMINE_URL (the Redmine's address) and "
                "REDMINE_API_KEY (an administrator's API key)."
            )
        client = RedmineClient(
            config["REDMINE_URL"], config["REDMINE_API_KEY"], float(config["REDMINE_TIMEOUT"])
        )
        check_redmine(client)
        if reads.reads_mode(config) == "database":  # REDMINE_READS: reads from Redmine's tables
            from helpdesk.tasks.backends.redmine_reads import RedmineDatabaseReads  # extends cls

            return RedmineDatabaseReads.for_app(app, client)
        return cls(client)

    # -- calls as the actor ----------------------------------------------------------------

    def as_actor(self, actor: Actor) -> dict[str, Any]:
        """The keyword arguments that make a client call act as this user."""
        if actor.redmine_api_key:
            return {"api_key": actor.redmine_api_key}
        return {"as_login": actor.login}

    def cached(self, key: str, load: Callable[[], Any]) -> Any:
        """A lookup from the application's cache, loaded (as the administrator) when missing;
        read once per request (a page of tasks asks for the statuses once per row)."""
        held: dict[str, Any] = g.setdefault(LOOKUPS_KEY, {})
        if key in held:
            return held[key]
        value = cache.get(key)
        if value is None:
            value = load()
            cache.set(key, value, timeout=LOOKUP_SECONDS)
        held[key] = value
        return value

    def all_pages(
        self, path: str, key: str, params: dict[str, Any] | None = None, **who: Any
    ) -> list[dict[str, Any]]:
        """Every item of a paged Redmine list."""
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = self.client.get(
                path, {**(params or {}), "offset": offset, "limit": PAGE_LIMIT}, **who
            )
            page = body.get(key) or []
            items.extend(page)
            offset += len(page)
            if not page or offset >= int(body.get("total_count", offset)):
                return items

    # -- lookups ---------------------------------------------------------------------------

    def statuses(self) -> list[StatusInfo]:
        """All statuses in Redmine's order."""
        rows = self.cached(
            "redmine:statuses", lambda: self.client.get("/issue_statuses.json")["issue_statuses"]
        )
        return [
            StatusInfo(row["id"], row["name"], bool(row.get("is_closed")), position)
            for position, row in enumerate(rows, 1)
        ]

    def priorities(self) -> list[PriorityInfo]:
        """The active priorities, least urgent first."""
        rows = self.cached(
            "redmine:priorities",
            lambda: self.client.get("/enumerations/issue_priorities.json")["issue_priorities"],
        )
        return [
            PriorityInfo(row["id"], row["name"], position, bool(row.get("is_default")))
            for position, row in enumerate(rows, 1)
            if row.get("active", True)
        ]

    def trackers(self) -> list[Named]:
        """All trackers."""
        rows = self.cached(
            "redmine:trackers", lambda: self.client.get("/trackers.json")["trackers"]
        )
        return [Named(row["id"], row["name"]) for row in rows]

    def issue_custom_fields(self) -> dict[int, dict[str, Any]]:
        """Every issue custom field's definition by id; only an administrator may read them
        (a seed connector acting with a user's own key gets none: no lengths, none required)."""

        def load() -> list[dict[str, Any]]:
            try:
                rows = self.client.get("/custom_fields.json")["custom_fields"]
            except TaskForbidden:
                return []
            return [row for row in rows if row.get("customized_type") == "issue"]

        return {row["id"]: row for row in self.cached("redmine:custom-fields", load)}

    def memberships(self, project_id: int) -> list[dict[str, Any]]:
        """A project's memberships, read by the administrator (who sees every project)."""
        return self.cached(
            f"redmine:members:{project_id}",
            lambda: self.all_pages(f"/projects/{project_id}/memberships.json", "memberships"),
        )

    def status(self, status_id: int) -> StatusInfo | None:
        """A status by id."""
        return next((s for s in self.statuses() if s.id == status_id), None)

    def priority_info(self, row: dict[str, Any]) -> PriorityInfo:
        """The priority of an issue (an inactive one keeps its name, last in order)."""
        found = next((p for p in self.priorities() if p.id == row["id"]), None)
        return found or PriorityInfo(row["id"], row["name"], 0, False)

    def status_info(self, row: dict[str, Any]) -> StatusInfo:
        """The status of an issue."""
        found = self.status(row["id"])
        return found or StatusInfo(row["id"], row["name"], bool(row.get("is_closed")), 0)

    def projects(self, actor: Actor) -> list[ProjectInfo]:
        """The projects Redmine shows the actor, by name."""
        rows = self.all_pages("/projects.json", "projects", **self.as_actor(actor))
        projects = [ProjectInfo(row["id"], row["identifier"], row["name"]) for row in rows]
        return sorted(projects, key=lambda p: p.name.lower())

    def visible_project(self, actor: Actor, project_id: int, **params: Any) -> dict[str, Any]:
        """A project as the actor sees it, or TaskNotFound (never telling hidden from missing)."""
        try:
            return self.client.get(f"/projects/{project_id}.json", params, **self.as_actor(actor))[
                "project"
            ]
        except NotLinked:
            raise
        except (TaskNotFound, TaskForbidden):
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id)) from None

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """The users with a role in a project the actor can see (groups left out), by name."""
        self.visible_project(actor, project_id)
        rows = [row for row in self.memberships(project_id) if row.get("user")]
        self.user_ids.people(row["user"]["id"] for row in rows)
        members = []
        for row in rows:
            person = self.user_ids.named(row["user"])
            assert person is not None
            roles = row.get("roles") or [{"name": ""}]
            members.append(MemberInfo(person.id, person.name, roles[0]["name"]))
        return sorted(members, key=lambda m: m.name.lower())

    def custom_fields(self, actor: Actor, project_id: int) -> list[CustomFieldInfo]:
        """The custom fields a new task in a visible project has, in id order."""
        project = self.visible_project(actor, project_id, include="issue_custom_fields")
        definitions = self.issue_custom_fields()
        fields = []
        for row in project.get("issue_custom_fields") or ():
            definition = definitions.get(row["id"], {})
            fields.append(
                CustomFieldInfo(
                    row["id"],
                    row["name"],
                    bool(definition.get("is_required")),
                    int(definition.get("max_length") or 0),
                )
            )
        return sorted(fields, key=lambda f: f.id)

    # -- reading tasks ---------------------------------------------------------------------

    def issue(self, actor: Actor, task_id: int) -> dict[str, Any]:
        """A task as the actor sees it, with its history, watchers and allowed statuses: read
        once per request whatever asks (the task page asks three times)."""
        memo: dict[tuple[str, int], dict[str, Any]] = g.setdefault(REQUEST_KEY, {})
        key = (actor.redmine_api_key or actor.login, task_id)
        if key not in memo:
            try:
                memo[key] = self.client.get(
                    f"/issues/{task_id}.json", {"include": ISSUE_INCLUDES}, **self.as_actor(actor)
                )["issue"]
            except NotLinked:
                raise
            except (TaskNotFound, TaskForbidden):
                raise TaskNotFound(_("Task #%(id)d was not found.", id=task_id)) from None
        return memo[key]

    def forget(self, task_id: int) -> None:
        """Drop a task read this request: it has just been changed."""
        memo: dict[tuple[str, int], dict[str, Any]] = g.setdefault(REQUEST_KEY, {})
        for key in [key for key in memo if key[1] == task_id]:
            del memo[key]

    def watcher_ids(self, actor: Actor, issue: dict[str, Any]) -> tuple[int, ...]:
        """The task's watchers as helpdesk ids (read by the administrator when the actor's role
        may not see them: who hears of a change never depends on who made it)."""
        watchers = issue.get("watchers")
        if watchers is None:
            watchers = self.client.get(f"/issues/{issue['id']}.json", {"include": "watchers"})[
                "issue"
            ].get("watchers", [])
        people = self.user_ids.people(row["id"] for row in watchers)
        return tuple(sorted(uid for row in watchers if (uid := people[row["id"]][0]) is not None))

    def task_info(self, actor: Actor, issue: dict[str, Any]) -> TaskInfo:
        """Plain data for a Redmine issue, its people as helpdesk users."""
        people = [issue.get("author"), issue.get("assigned_to")]
        self.user_ids.people(int(p["id"]) for p in people if p)
        author = self.user_ids.named(issue.get("author"))
        assert author is not None
        created_on = parse_time(issue["created_on"])
        updated_on = parse_time(issue["updated_on"])
        assert created_on is not None
        assert updated_on is not None
        return TaskInfo(
            id=issue["id"],
            subject=issue["subject"],
            description=issue.get("description") or "",
            project=Named(issue["project"]["id"], issue["project"]["name"]),
            tracker=Named(issue["tracker"]["id"], issue["tracker"]["name"]),
            status=self.status_info(issue["status"]),
            priority=self.priority_info(issue["priority"]),
            author=author,
            assigned_to=self.user_ids.named(issue.get("assigned_to")),
            start_date=parse_date(issue.get("start_date")),
            due_date=parse_date(issue.get("due_date")),
            estimated_hours=issue.get("estimated_hours"),
            done_ratio=int(issue.get("done_ratio") or 0),
            created_on=created_on,
            updated_on=updated_on,
            closed_on=parse_time(issue.get("closed_on")),
            custom_fields=tuple(
                CustomValueInfo(row["id"], row["name"], str(row.get("value") or ""))
                for row in sorted(issue.get("custom_fields") or (), key=lambda r: r["id"])
                if row.get("value") not in (None, "", [])
            ),
            watcher_ids=self.watcher_ids(actor, issue),
        )

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One task Redmine lets the actor see, or TaskNotFound."""
        return self.task_info(actor, self.issue(actor, task_id))

    def journal_info(self, task_id: int, row: dict[str, Any]) -> JournalInfo:
        """One entry of a task's history (call people() first for a whole history)."""
        user = self.user_ids.named(row.get("user")) or Named(0, "")
        created_on = parse_time(row["created_on"])
        assert created_on is not None
        return JournalInfo(
            id=row["id"],
            task_id=task_id,
            user=user,
            notes=row.get("notes") or "",
            created_on=created_on,
            details=tuple(
                JournalDetailInfo(
                    detail["name"]
                    if detail.get("property") == "attr"
                    else f"{detail.get('property')}_{detail['name']}",
                    detail.get("old_value"),
                    detail.get("new_value"),
                )
                for detail in row.get("details") or ()
            ),
        )

    def journals(self, actor: Actor, task_id: int) -> list[JournalInfo]:
        """A visible task's history as Redmine shows it to the actor, oldest first."""
        rows = self.issue(actor, task_id).get("journals") or []
        self.user_ids.people(int(row["user"]["id"]) for row in rows if row.get("user"))
        return [self.journal_info(task_id, row) for row in sorted(rows, key=lambda r: r["id"])]

    def allowed_statuses(self, actor: Actor, task_id: int) -> list[StatusInfo]:
        """The statuses Redmine's workflow lets the actor move the task to, in workflow order."""
        return self.allowed(actor, self.issue(actor, task_id))

    def role_permissions(self, role_id: int) -> list[str]:
        """A role's permissions (the administrator reads them)."""
        return self.cached(
            f"redmine:role:{role_id}",
            lambda: self.client.get(f"/roles/{role_id}.json")["role"].get("permissions") or [],
        )

    def may_edit(self, actor: Actor, project_id: int) -> bool:
        """Whether the actor's roles in the project may edit tasks: Redmine lists the workflow's
        statuses to anyone who may add notes, and silently keeps the status of a change made by
        a role without edit_issues. An actor without a role of their own there (an
        administrator, a group's member) is left to Redmine, and the change is confirmed."""
        redmine_id = self.user_ids.to_backend(actor.user_id)
        roles = [
            role["id"]
            for row in self.memberships(project_id)
            if (row.get("user") or {}).get("id") == redmine_id
            for role in row.get("roles") or ()
        ]
        return not roles or any("edit_issues" in self.role_permissions(r) for r in roles)

    def allowed(self, actor: Actor, issue: dict[str, Any]) -> list[StatusInfo]:
        """The allowed statuses of an issue read with include=allowed_statuses, less its own."""
        if not self.may_edit(actor, issue["project"]["id"]):
            return []
        ids = {row["id"] for row in issue.get("allowed_statuses") or ()}
        ids.discard(issue["status"]["id"])
        return [s for s in self.statuses() if s.id in ids]

    def list_params(self, query: TaskQuery) -> dict[str, Any] | None:
        """Redmine's filters for a query; None when nothing can match (a name Redmine lacks)."""
        params: dict[str, Any] = {
            "offset": (query.page - 1) * query.per_page,
            "limit": min(query.per_page, PAGE_LIMIT),
        }
        if query.assigned_to_id is not None:
            redmine_id = self.user_ids.to_backend(query.assigned_to_id)
            if redmine_id is None:
                return None
            params["assigned_to_id"] = redmine_id
        kind, status = status_filter(query.status, self.statuses())
        if kind == "group":
            params["status_id"] = "*" if status == "all" else status
        else:
            found = [s.id for s in self.statuses() if s.name.lower() == status]
            if not found:
                return None
            params["status_id"] = found[0]
        if query.priority:
            wanted = query.priority.strip().lower()
            priorities = [p.id for p in self.priorities() if p.name.lower() == wanted]
            if not priorities:
                return None
            params["priority_id"] = priorities[0]
        if query.project:
            value = query.project.strip()
            params["project_id"] = as_id(value) or self.project_by_name(value)
            if params["project_id"] is None:
                return None
        words = (query.search or "").split()
        if words:
            params["subject"] = "~" + " ".join(words)
        params["sort"] = ",".join(
            f"{key}:desc" if descending else key for key, descending in query.sort
        ) + (",id:desc" if all(key != "id" for key, _d in query.sort) else "")
        return params

    def project_by_name(self, value: str) -> int | None:
        """The id of a project named or identified by value (projects are few and cached)."""
        rows = self.cached("redmine:projects", lambda: self.all_pages("/projects.json", "projects"))
        for row in rows:
            if row["identifier"] == value or row["name"].lower() == value.lower():
                return int(row["id"])
        return None

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """One page of the tasks Redmine shows the actor, with Redmine's total."""
        params = self.list_params(query)
        if params is None:
            return TaskPage([], 0, query.page, query.per_page)
        body = self.client.get("/issues.json", params, **self.as_actor(actor))
        rows = body.get("issues") or []
        self.user_ids.people(
            int(row["assigned_to"]["id"]) for row in rows if row.get("assigned_to")
        )
        items = []
        for row in rows:
            updated_on = parse_time(row["updated_on"])
            assert updated_on is not None
            items.append(
                TaskSummary(
                    id=row["id"],
                    subject=row["subject"],
                    project=Named(row["project"]["id"], row["project"]["name"]),
                    tracker=Named(row["tracker"]["id"], row["tracker"]["name"]),
                    status=self.status_info(row["status"]),
                    priority=self.priority_info(row["priority"]),
                    assigned_to=self.user_ids.named(row.get("assigned_to")),
                    due_date=parse_date(row.get("due_date")),
                    updated_on=updated_on,
                    done_ratio=int(row.get("done_ratio") or 0),
                )
            )
        return TaskPage(items, int(body.get("total_count", len(items))), query.page, query.per_page)

    # -- writing ---------------------------------------------------------------------------

    def reference_errors(self, actor: Actor, new: NewTask) -> dict[str, list[str]]:
        """Field errors for ids Redmine would silently ignore or replace (checked against the
        cached lookups) and for a project the actor cannot add to."""
        errors: dict[str, list[str]] = {}
        if new.tracker_id is not None and new.tracker_id not in {t.id for t in self.trackers()}:
            errors["tracker_id"] = [_("Unknown tracker.")]
        if new.status_id is not None and self.status(new.status_id) is None:
            errors["status_id"] = [_("Unknown status.")]
        if new.priority_id is not None and new.priority_id not in {p.id for p in self.priorities()}:
            errors["priority_id"] = [_("Unknown priority.")]
        try:
            fields = {f.id: f for f in self.custom_fields(actor, new.project_id)}
        except TaskNotFound:
            errors["project_id"] = [_("Unknown project.")]
            return errors
        problems = []
        for field_id, value in new.custom_fields.items():
            field = fields.get(field_id)
            if field is None:
                problems.append(_("Unknown custom field %(id)d.", id=field_id))
            elif field.max_length and len(value) > field.max_length:
                problems.append(
                    _(
                        "%(name)s is longer than %(max)d characters.",
                        name=field.name,
                        max=field.max_length,
                    )
                )
        if problems:
            errors["custom_fields"] = problems
        return errors

    def create_task(self, actor: Actor, new: NewTask) -> TaskInfo:
        """Create an issue as the actor (Redmine checks their permission and the assignee), and
        make the actor a watcher, as the helpdesk always has."""
        errors = self.reference_errors(actor, new)
        assignee = None
        if new.assigned_to_id is not None:
            assignee = self.user_ids.to_backend(new.assigned_to_id)
            if assignee is None:
                errors["assigned_to_id"] = [_("The assignee must be a member of the project.")]
        if errors:
            raise TaskValidationError(_("Some fields are invalid."), errors=errors)
        fields: dict[str, Any] = {
            "project_id": new.project_id,
            "subject": new.subject,
            "description": new.description,
        }
        optional = {
            "tracker_id": new.tracker_id,
            "status_id": new.status_id,
            "priority_id": new.priority_id,
            "assigned_to_id": assignee,
            "start_date": new.start_date.isoformat() if new.start_date else None,
            "due_date": new.due_date.isoformat() if new.due_date else None,
            "estimated_hours": new.estimated_hours,
        }
        fields.update({key: value for key, value in optional.items() if value is not None})
        if new.custom_fields:
            fields["custom_fields"] = [
                {"id": field_id, "value": value} for field_id, value in new.custom_fields.items()
            ]
        try:
            created = self.client.post("/issues.json", {"issue": fields}, **self.as_actor(actor))
        except NotLinked:
            raise
        except (TaskForbidden, TaskNotFound):
            raise TaskValidationError(
                _("Some fields are invalid."),
                errors={"project_id": [_("You may not add tasks to this project.")]},
            ) from None
        except TaskValidationError as error:
            raise TaskValidationError(error.message, errors=self.field_errors(error)) from None
        task_id = int(created["issue"]["id"])
        self.watch(actor, task_id)
        return self.get_task(actor, task_id)

    @staticmethod
    def field_errors(error: TaskValidationError) -> dict[str, list[str]]:
        """Redmine's errors by field, a custom field's sentence (it starts with the field's
        name) under custom_fields."""
        errors = dict(error.payload.get("errors") or {})
        if "base" in errors:
            errors["custom_fields"] = errors.pop("base")
        return errors

    def watch(self, actor: Actor, task_id: int) -> None:
        """Add the actor to a new task's watchers (by the administrator: a reporter's role may
        not add watchers, and the author watches what they created all the same)."""
        redmine_id = self.user_ids.to_backend(actor.user_id)
        if redmine_id is not None:
            self.client.post(f"/issues/{task_id}/watchers.json", {"user_id": redmine_id})

    def change_status(
        self, actor: Actor, task_id: int, status_id: int, comment: str | None
    ) -> StatusChange:
        """Move a task to a status Redmine's workflow allows the actor (Redmine itself ignores
        any other, answering success), then read it back to confirm the move took."""
        issue = self.issue(actor, task_id)
        old_status = self.status_info(issue["status"])
        new_status = self.status(status_id)
        if new_status is None:
            raise TaskValidationError(
                _("Unknown status."), errors={"status_id": [_("Unknown status.")]}
            )
        if new_status.id == old_status.id:
            journal = self.write(actor, task_id, {"notes": comment}) if comment else None
            info = self.get_task(actor, task_id)
            return StatusChange(info, old_status, old_status, journal, changed=False)
        allowed = self.allowed(actor, issue)
        if new_status not in allowed:
            raise refusal(old_status, new_status, allowed)
        journal = self.write(actor, task_id, {"status_id": new_status.id, "notes": comment or ""})
        info = self.get_task(actor, task_id)
        if info.status.id != new_status.id:
            raise TaskConflict(_("Redmine did not take the change. Reload and try again."))
        return StatusChange(info, old_status, new_status, journal, changed=True)

    def write(self, actor: Actor, task_id: int, fields: dict[str, Any]) -> int | None:
        """Update an issue as the actor; the id of the journal Redmine wrote for it (the
        actor's newest entry once the update is done)."""
        try:
            self.client.put(f"/issues/{task_id}.json", {"issue": fields}, **self.as_actor(actor))
        except TaskForbidden as error:
            if isinstance(error, NotLinked):
                raise
            raise TaskForbidden(_("You may not change this task.")) from None
        self.forget(task_id)
        rows = self.issue(actor, task_id).get("journals") or []
        redmine_id = self.user_ids.to_backend(actor.user_id)
        mine = [row["id"] for row in rows if row.get("user", {}).get("id") == redmine_id]
        return max(mine) if mine else None

    def add_comment(self, actor: Actor, task_id: int, notes: str) -> JournalInfo:
        """Add notes to a visible task as the actor."""
        self.issue(actor, task_id)
        journal_id = self.write(actor, task_id, {"notes": notes})
        found = [j for j in self.journals(actor, task_id) if j.id == journal_id]
        if not found:
            raise TaskForbidden(_("You may not comment on this task."))
        return found[0]

    # -- audiences -------------------------------------------------------------------------

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Exactly those of the users Redmine lets read the task now: each is asked as that
        user (Redmine's own answer: roles, issue visibility, private issues, admins); a user
        Redmine does not know sees nothing."""
        visible = set()
        for user_id, login in self.user_ids.logins(user_ids).items():
            try:
                self.client.get(f"/issues/{task_id}.json", as_login=login)
            except (TaskNotFound, TaskForbidden):
                continue
            visible.add(user_id)
        return visible

    def member_ids(self, project_id: int) -> set[int]:
        """The helpdesk users with a role in the project (who see its board)."""
        try:
            rows = [row for row in self.memberships(project_id) if row.get("user")]
        except TaskNotFound:
            return set()
        redmine_ids = [int(row["user"]["id"]) for row in rows]
        people = self.user_ids.people(redmine_ids)
        return {uid for rid in redmine_ids if (uid := people[rid][0]) is not None}

    # -- change feed -----------------------------------------------------------------------

    def changes_since(self, cursor: str | None, limit: int = 100) -> ChangeBatch:
        """Journal entries after the cursor: Redmine's change feed."""
        return feed.changes_since(self, cursor, limit)
