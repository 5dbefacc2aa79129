"""Tasks in a real Redmine, over its REST API, acting as each helpdesk user.

Every call names the user it acts as (the admin key and X-Redmine-Switch-User, or the user's own
key), so Redmine's permissions, journals and authorship are the real person's. Lookups are kept
for LOOKUP_SECONDS in the application's cache, and each person's read of a task for TASK_SECONDS
(both longer off hours, core/cache_manager.py) until a change to it is seen: the person's own
write, or the change feed's journal; a task is read once per request whatever asks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from flask import Flask, current_app, g
from flask_babel import gettext as _

from helpdesk.config import ConfigurationError
from helpdesk.core.cache_manager import CacheManager, weekend_performance_optimizer
from helpdesk.integrations.redmine import database, feed, reads
from helpdesk.integrations.redmine.answers import (
    Attachment,
    CustomField,
    CustomFieldsAnswer,
    Detail,
    Issue,
    IssueAnswer,
    IssuesPage,
    Journal,
    Membership,
    MembershipsPage,
    PrioritiesAnswer,
    Priority,
    Project,
    ProjectAnswer,
    ProjectsPage,
    Ref,
    Role,
    RoleAnswer,
    SearchAnswer,
    StatusesAnswer,
    StatusRef,
    TrackersAnswer,
    UserAnswer,
)
from helpdesk.integrations.redmine.client import NotLinked, RedmineClient
from helpdesk.integrations.redmine.identity import RedmineUserIds
from helpdesk.tasks.backends.base import (
    ATTACHMENT_PROP,
    RELEVANCE,
    Actor,
    AttachmentContent,
    AttachmentInfo,
    BackendUnavailable,
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
    StatusChange,
    StatusInfo,
    StreamedBytes,
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
    custom_value_problem,
    status_filter,
)
from helpdesk.tasks.backends.edits import (
    USER_FIELDS,
    TaskChanges,
    TaskRights,
    TaskUpdate,
    WatchChange,
)
from helpdesk.tasks.search import search_terms
from helpdesk.tasks.workflow import refusal

log = logging.getLogger(__name__)

TEXT_FORMATTINGS = {"markdown": "markdown", "common_mark": "markdown", "textile": "plain"}
LOOKUP_SECONDS = 60  # statuses, priorities, trackers, custom fields, projects' members
LOOKUPS = "redmine-lookups"  # their cache's name (hits and misses in /admin/metrics)
TASK_SECONDS = 30  # a person's read of a task: its journals, watchers and allowed statuses
TASKS = CacheManager(TASK_SECONDS, name="redmine-tasks")
PAGE_LIMIT = 100  # Redmine's largest page
SEARCH_WINDOW = 200  # a search filters at most this many of Redmine's newest matches
ISSUE_INCLUDES = "journals,watchers,allowed_statuses,attachments"
REQUEST_KEY = "redmine_issues"  # in flask.g: (login, task id) -> the issue as read this request
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


def last_journal_id(issue: Issue) -> int:
    """The newest journal id of an issue read with its journals (0 for none): it moves with
    every change, so it stands for the lock_version Redmine's REST API does not show."""
    return max((row["id"] for row in issue.get("journals") or ()), default=0)


def task_tag(task_id: int) -> str:
    """The cache tag of everything kept about one task."""
    return f"task:{task_id}"


def check_redmine(client: RedmineClient) -> None:
    """Stop start-up on a definite misconfiguration (a key Redmine refuses, its REST API
    switched off, a key that is not an administrator's: it could not act as each user); a
    Redmine that cannot be reached now is no misconfiguration: the client has logged it, each
    request answers 503 until Redmine is back, and nothing needs a restart."""
    try:
        user = client.get("/users/current.json", shape=UserAnswer)["user"]
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
    sort_keys = SORT_KEYS | {RELEVANCE}  # Redmine cannot rank: a search keeps its order

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
        if str(config["REDMINE_TEXT_FORMATTING"]).lower() not in TEXT_FORMATTINGS:
            raise ConfigurationError(
                "REDMINE_TEXT_FORMATTING must be markdown or textile (Redmine's Administration > "
                "Settings > General > Text formatting)."
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

    def all_pages(self, path: str, shape: type[Any], key: str, **who: Any) -> list[Any]:
        """Every item of a paged Redmine list (its answers of the shape, items under key)."""
        items: list[Any] = []
        offset = 0
        while True:
            params = {"offset": offset, "limit": PAGE_LIMIT}
            body = self.client.get(path, params, shape=shape, **who)
            page = body[key]
            items.extend(page)
            offset += len(page)
            if not page or offset >= body["total_count"]:
                return items

    # -- lookups ---------------------------------------------------------------------------

    # The lookups, read as the administrator, kept in the application's cache and read once
    # per request (a page of tasks asks for the statuses once per row).

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def status_rows(self) -> list[StatusRef]:
        """Redmine's statuses as it lists them."""
        return self.client.get("/issue_statuses.json", shape=StatusesAnswer)["issue_statuses"]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def priority_rows(self) -> list[Priority]:
        """Redmine's priorities as it lists them."""
        path = "/enumerations/issue_priorities.json"
        return self.client.get(path, shape=PrioritiesAnswer)["issue_priorities"]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def tracker_rows(self) -> list[Ref]:
        """Redmine's trackers as it lists them."""
        return self.client.get("/trackers.json", shape=TrackersAnswer)["trackers"]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def custom_field_rows(self) -> list[CustomField]:
        """The issue custom fields; only an administrator may read them (a seed connector acting
        with a user's own key gets none: no lengths, none required)."""
        try:
            rows = self.client.get("/custom_fields.json", shape=CustomFieldsAnswer)["custom_fields"]
        except TaskForbidden:
            return []
        return [row for row in rows if row.get("customized_type") == "issue"]

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def memberships(self, project_id: int) -> list[Membership]:
        """A project's memberships, read by the administrator (who sees every project)."""
        path = f"/projects/{project_id}/memberships.json"
        return self.all_pages(path, MembershipsPage, "memberships")

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def project_rows(self) -> list[Project]:
        """Every project (projects are few)."""
        return self.all_pages("/projects.json", ProjectsPage, "projects")

    def statuses(self) -> list[StatusInfo]:
        """All statuses in Redmine's order."""
        rows = self.status_rows()
        return [
            StatusInfo(row["id"], row["name"], row.get("is_closed", False), position)
            for position, row in enumerate(rows, 1)
        ]

    def priorities(self) -> list[PriorityInfo]:
        """The active priorities, least urgent first."""
        rows = self.priority_rows()
        return [
            PriorityInfo(row["id"], row["name"], position, row.get("is_default", False))
            for position, row in enumerate(rows, 1)
            if row.get("active", True)
        ]

    def trackers(self) -> list[Named]:
        """All trackers."""
        rows = self.tracker_rows()
        return [Named(row["id"], row["name"]) for row in rows]

    def issue_custom_fields(self) -> dict[int, CustomField]:
        """Every issue custom field's definition by id."""
        return {row["id"]: row for row in self.custom_field_rows()}

    def status(self, status_id: int) -> StatusInfo | None:
        """A status by id."""
        return next((s for s in self.statuses() if s.id == status_id), None)

    def priority_info(self, row: Ref) -> PriorityInfo:
        """The priority of an issue (an inactive one keeps its name, last in order)."""
        found = next((p for p in self.priorities() if p.id == row["id"]), None)
        return found or PriorityInfo(row["id"], row["name"], 0, False)

    def status_info(self, row: StatusRef) -> StatusInfo:
        """The status of an issue."""
        found = self.status(row["id"])
        return found or StatusInfo(row["id"], row["name"], row.get("is_closed", False), 0)

    def projects(self, actor: Actor) -> list[ProjectInfo]:
        """The projects Redmine shows the actor, by name."""
        rows: list[Project] = self.all_pages(
            "/projects.json", ProjectsPage, "projects", **self.as_actor(actor)
        )
        projects = [ProjectInfo(row["id"], row["identifier"], row["name"]) for row in rows]
        return sorted(projects, key=lambda p: p.name.lower())

    def visible_project(self, actor: Actor, project_id: int, **params: Any) -> Project:
        """A project as the actor sees it, or TaskNotFound (never telling hidden from missing)."""
        try:
            return self.client.get(
                f"/projects/{project_id}.json", params, shape=ProjectAnswer, **self.as_actor(actor)
            )["project"]
        except NotLinked:
            raise
        except (TaskNotFound, TaskForbidden):
            raise TaskNotFound(_("Project %(id)d was not found.", id=project_id)) from None

    def members(self, actor: Actor, project_id: int) -> list[MemberInfo]:
        """The users with a role in a project the actor can see (groups left out), by name."""
        self.visible_project(actor, project_id)
        rows = self.memberships(project_id)
        users = [(row["user"], row["roles"]) for row in rows if "user" in row]
        self.user_ids.people(person["id"] for person, _roles in users)
        members = []
        for person, roles in users:
            named = self.user_ids.named(person)
            assert named is not None
            assignable = any(self.role(role["id"]).get("assignable") for role in roles)
            members.append(
                MemberInfo(named.id, named.name, roles[0]["name"] if roles else "", assignable)
            )
        return sorted(members, key=lambda m: m.name.lower())

    def custom_fields(self, actor: Actor, project_id: int) -> list[CustomFieldInfo]:
        """The custom fields a new task in a visible project has, in id order."""
        project = self.visible_project(actor, project_id, include="issue_custom_fields")
        definitions = self.issue_custom_fields()
        fields = []
        for row in project.get("issue_custom_fields", ()):
            definition = definitions.get(row["id"])
            fields.append(
                CustomFieldInfo(
                    row["id"],
                    row["name"],
                    bool(definition and definition.get("is_required")),
                    (definition and definition.get("max_length")) or 0,
                )
            )
        return sorted(fields, key=lambda f: f.id)

    # -- reading tasks ---------------------------------------------------------------------

    def issue(self, actor: Actor, task_id: int) -> Issue:
        """A task as the actor sees it, with its history, watchers and allowed statuses: read
        once per request whatever asks (the task page asks three times), and kept in the
        application's cache until the task changes (forget) or TASK_SECONDS pass."""
        memo: dict[tuple[str, int], Issue] = g.setdefault(REQUEST_KEY, {})
        who = f"{actor.user_id}:{actor.login.lower()}"  # never the key: it is a secret
        if (who, task_id) not in memo:
            key = TASKS.tagged(task_tag(task_id), who)
            issue = TASKS.get(key)
            if issue is None:
                try:
                    issue = self.client.get(
                        f"/issues/{task_id}.json",
                        {"include": ISSUE_INCLUDES},
                        shape=IssueAnswer,
                        **self.as_actor(actor),
                    )["issue"]
                except NotLinked:
                    raise
                except (TaskNotFound, TaskForbidden):
                    raise TaskNotFound(_("Task #%(id)d was not found.", id=task_id)) from None
                TASKS.set(key, issue)
            memo[(who, task_id)] = issue
        return memo[(who, task_id)]

    def forget(self, task_id: int) -> None:
        """Drop every read of a task, this request's and the cache's in every process: it has
        just been changed."""
        TASKS.invalidate(task_tag(task_id))
        memo: dict[tuple[str, int], Issue] = g.setdefault(REQUEST_KEY, {})
        for key in [key for key in memo if key[1] == task_id]:
            del memo[key]

    def watcher_ids(self, issue: Issue) -> tuple[int, ...]:
        """The task's watchers as helpdesk ids (read by the administrator when the actor's role
        may not see them: who hears of a change never depends on who made it; kept with the
        task's reads, and dropped with them)."""
        watchers = issue.get("watchers")
        if watchers is None:
            key = TASKS.tagged(task_tag(issue["id"]), "watchers")
            watchers = TASKS.get(key)
            if watchers is None:
                watchers = self.client.get(
                    f"/issues/{issue['id']}.json", {"include": "watchers"}, shape=IssueAnswer
                )["issue"].get("watchers", [])
                TASKS.set(key, watchers)
        people = self.user_ids.people(row["id"] for row in watchers)
        return tuple(sorted(uid for row in watchers if (uid := people[row["id"]][0]) is not None))

    def task_info(self, issue: Issue) -> TaskInfo:
        """Plain data for a Redmine issue, its people as helpdesk users."""
        assignee = issue.get("assigned_to")
        self.user_ids.people([issue["author"]["id"], *([assignee["id"]] if assignee else [])])
        author = self.user_ids.named(issue["author"])
        assert author is not None
        return TaskInfo(
            id=issue["id"],
            subject=issue["subject"],
            description=issue.get("description") or "",
            project=Named(issue["project"]["id"], issue["project"]["name"]),
            tracker=Named(issue["tracker"]["id"], issue["tracker"]["name"]),
            status=self.status_info(issue["status"]),
            priority=self.priority_info(issue["priority"]),
            author=author,
            assigned_to=self.user_ids.named(assignee),
            start_date=issue.get("start_date"),
            due_date=issue.get("due_date"),
            estimated_hours=issue.get("estimated_hours"),
            done_ratio=issue.get("done_ratio") or 0,
            created_on=issue["created_on"],
            updated_on=issue["updated_on"],
            closed_on=issue.get("closed_on"),
            custom_fields=tuple(
                CustomValueInfo(row["id"], row["name"], custom_text(row.get("value")))
                for row in sorted(issue.get("custom_fields", ()), key=lambda r: r["id"])
                if row.get("value") not in (None, "", [])
            ),
            watcher_ids=self.watcher_ids(issue),
            lock_version=last_journal_id(issue),
        )

    def get_task(self, actor: Actor, task_id: int) -> TaskInfo:
        """One task Redmine lets the actor see, or TaskNotFound."""
        return self.task_info(self.issue(actor, task_id))

    def journal_info(self, task_id: int, row: Journal) -> JournalInfo:
        """One entry of a task's history (call people() first for a whole history)."""
        user = self.user_ids.named(row.get("user")) or Named(0, "")
        return JournalInfo(
            id=row["id"],
            task_id=task_id,
            user=user,
            notes=row.get("notes") or "",
            created_on=row["created_on"],
            details=tuple(self.detail_info(detail) for detail in row.get("details") or ()),
        )

    def detail_info(self, detail: Detail) -> JournalDetailInfo:
        """One field change of a journal; a user field's Redmine ids become helpdesk ids (None:
        a user without a helpdesk account)."""
        attribute = detail.get("property") == "attr"
        key = detail["name"] if attribute else f"{detail.get('property')}_{detail['name']}"
        old, new = detail.get("old_value"), detail.get("new_value")
        if attribute and key in USER_FIELDS:
            old, new = self.helpdesk_id_text(old), self.helpdesk_id_text(new)
        return JournalDetailInfo(key, old, new)

    def helpdesk_id_text(self, text: str | None) -> str | None:
        """A Redmine user id written as text, as the helpdesk id written as text."""
        if not text or not text.isdigit():
            return None
        user_id = self.user_ids.to_helpdesk(int(text))
        return None if user_id is None else str(user_id)

    def journals(self, actor: Actor, task_id: int) -> list[JournalInfo]:
        """A visible task's history as Redmine shows it to the actor, oldest first."""
        rows = self.issue(actor, task_id).get("journals", [])
        self.user_ids.people(row["user"]["id"] for row in rows if "user" in row)
        return [self.journal_info(task_id, row) for row in sorted(rows, key=lambda r: r["id"])]

    def allowed_statuses(self, actor: Actor, task_id: int) -> list[StatusInfo]:
        """The statuses Redmine's workflow lets the actor move the task to, in workflow order."""
        return self.allowed(actor, self.issue(actor, task_id))

    @weekend_performance_optimizer(name=LOOKUPS, timeout=LOOKUP_SECONDS)
    def role(self, role_id: int) -> Role:
        """A role as Redmine describes it: permissions, whether it takes tasks (the
        administrator reads it)."""
        return self.client.get(f"/roles/{role_id}.json", shape=RoleAnswer)["role"]

    def role_permissions(self, role_id: int) -> list[str]:
        """A role's permissions."""
        return self.role(role_id).get("permissions") or []

    def may_edit(self, actor: Actor, project_id: int) -> bool:
        """Whether the actor's roles in the project may edit tasks: Redmine lists the workflow's
        statuses to anyone who may add notes, and silently keeps the status of a change made by
        a role without edit_issues. An actor without a role of their own there (an
        administrator, a group's member) is left to Redmine, and the change is confirmed."""
        return self.may(actor, project_id, "edit_issues")

    def may(self, actor: Actor, project_id: int, permission: str) -> bool:
        """Whether one of the actor's roles in the project has a Redmine permission (see
        may_edit for an actor without a role there)."""
        redmine_id = self.user_ids.to_backend(actor.user_id)
        roles = [
            role["id"]
            for row in self.memberships(project_id)
            if "user" in row and row["user"]["id"] == redmine_id
            for role in row["roles"]
        ]
        return not roles or any(permission in self.role_permissions(r) for r in roles)

    def allowed(self, actor: Actor, issue: Issue) -> list[StatusInfo]:
        """The allowed statuses of an issue read with include=allowed_statuses, less its own."""
        if not self.may_edit(actor, issue["project"]["id"]):
            return []
        ids = {row["id"] for row in issue.get("allowed_statuses", ())}
        ids.discard(issue["status"]["id"])
        return [s for s in self.statuses() if s.id in ids]

    def list_params(self, query: TaskQuery) -> dict[str, Any] | None:
        """Redmine's filters for a query; None when nothing can match (a name Redmine lacks)."""
        params: dict[str, Any] = {
            "offset": (query.page - 1) * query.per_page,
            "limit": min(query.per_page, PAGE_LIMIT),
        }
        people = {
            "assigned_to_id": None if query.unassigned else query.assigned_to_id,
            "author_id": query.author_id,
            "watcher_id": query.watcher_id,
        }
        for name, user_id in people.items():
            if user_id is not None:
                redmine_id = self.user_ids.to_backend(user_id)
                if redmine_id is None:
                    return None
                params[name] = redmine_id
        if query.unassigned:
            params["assigned_to_id"] = "!*"
        if query.task_id is not None:
            params["issue_id"] = query.task_id
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
        _tokens, words = search_terms((query.search or "").split())
        if words:
            params["subject"] = "~" + " ".join(words)
        sort = [(key, descending) for key, descending in query.sort if key != RELEVANCE]
        params["sort"] = ",".join(
            f"{key}:desc" if descending else key for key, descending in sort
        ) + (",id:desc" if all(key != "id" for key, _d in sort) else "")
        return params

    def search_ids(self, actor: Actor, tokens: list[str]) -> list[int]:
        """The newest SEARCH_WINDOW issues Redmine's own search finds for every token (in
        subjects, descriptions and comments, as the actor), for the issue list to filter."""
        found: list[int] = []
        while len(found) < SEARCH_WINDOW:
            body = self.client.get(
                "/search.json",
                {
                    "q": " ".join(tokens),
                    "issues": 1,
                    "all_words": 1,
                    "offset": len(found),
                    "limit": PAGE_LIMIT,
                },
                shape=SearchAnswer,
                **self.as_actor(actor),
            )
            # a closed issue's hit is typed "issue-closed"
            page = [row["id"] for row in body["results"] if row["type"].startswith("issue")]
            found.extend(page)
            if not page or len(found) >= body["total_count"]:
                return found
        return found[:SEARCH_WINDOW]

    def project_by_name(self, value: str) -> int | None:
        """The id of a project named or identified by value (projects are few and cached)."""
        for row in self.project_rows():
            if row["identifier"] == value or row["name"].lower() == value.lower():
                return row["id"]
        return None

    def list_tasks(self, actor: Actor, query: TaskQuery) -> TaskPage:
        """One page of the tasks Redmine shows the actor, with Redmine's total."""
        params = self.list_params(query)
        tokens, _words = search_terms((query.search or "").split())
        if params is not None and tokens:
            found = self.search_ids(actor, tokens)
            if query.task_id is not None:
                found = [task_id for task_id in found if task_id == query.task_id]
            params["issue_id"] = ",".join(map(str, found)) if found else None
        if params is None or params.get("issue_id", 0) is None:
            return TaskPage([], 0, query.page, query.per_page)
        body = self.client.get("/issues.json", params, shape=IssuesPage, **self.as_actor(actor))
        rows = body["issues"]
        self.user_ids.people(row["assigned_to"]["id"] for row in rows if "assigned_to" in row)
        items = []
        for row in rows:
            items.append(
                TaskSummary(
                    id=row["id"],
                    subject=row["subject"],
                    project=Named(row["project"]["id"], row["project"]["name"]),
                    tracker=Named(row["tracker"]["id"], row["tracker"]["name"]),
                    status=self.status_info(row["status"]),
                    priority=self.priority_info(row["priority"]),
                    assigned_to=self.user_ids.named(row.get("assigned_to")),
                    due_date=row.get("due_date"),
                    updated_on=row["updated_on"],
                    done_ratio=row.get("done_ratio") or 0,
                )
            )
        return TaskPage(items, body["total_count"], query.page, query.per_page)

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
        problems = [
            problem
            for field_id, value in new.custom_fields.items()
            if (problem := custom_value_problem(fields.get(field_id), field_id, value))
        ]
        if problems:
            errors["custom_fields"] = problems
        return errors

    def create_task(self, actor: Actor, new: NewTask) -> TaskInfo:
        """Create an issue as the actor (Redmine checks their permission and the assignee), its
        files uploaded first and named in the create (removed again when Redmine refuses it),
        and make the actor a watcher, as the helpdesk always has."""
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
        uploads = self.upload_files(actor, new.files)
        if uploads:
            fields["uploads"] = [
                {key: upload[key] for key in ("token", "filename", "content_type")}
                for upload in uploads
            ]
        try:
            created = self.client.post(
                "/issues.json", {"issue": fields}, shape=IssueAnswer, **self.as_actor(actor)
            )
        except TaskError as error:
            self.discard_uploads(actor, uploads)  # nothing was created: no file stays either
            if isinstance(error, TaskValidationError):
                raise TaskValidationError(error.message, errors=self.field_errors(error)) from None
            if isinstance(error, TaskForbidden | TaskNotFound) and not isinstance(error, NotLinked):
                raise TaskValidationError(
                    _("Some fields are invalid."),
                    errors={"project_id": [_("You may not add tasks to this project.")]},
                ) from None
            raise
        task_id = created["issue"]["id"]
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
        any other, answering success), then read it back to confirm the move took. The workflow
        is read fresh, never from the cache: a role or workflow changed in Redmine counts at
        once."""
        self.forget(task_id)
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
        rows = self.issue(actor, task_id).get("journals", [])
        redmine_id = self.user_ids.to_backend(actor.user_id)
        mine = [row["id"] for row in rows if "user" in row and row["user"]["id"] == redmine_id]
        return max(mine) if mine else None

    def add_comment(self, actor: Actor, task_id: int, notes: str) -> JournalInfo:
        """Add notes to a visible task as the actor."""
        self.issue(actor, task_id)
        journal_id = self.write(actor, task_id, {"notes": notes})
        found = [j for j in self.journals(actor, task_id) if j.id == journal_id]
        if not found:
            raise TaskForbidden(_("You may not comment on this task."))
        return found[0]

    # -- editing ---------------------------------------------------------------------------

    def task_rights(self, actor: Actor, task_id: int) -> TaskRights:
        """Redmine's permissions: edit_issues to edit, add_issue_watchers to choose watchers."""
        project_id = self.issue(actor, task_id)["project"]["id"]
        return TaskRights(
            may_edit=self.may_edit(actor, project_id),
            may_manage_watchers=self.may(actor, project_id, "add_issue_watchers"),
        )

    def update_task(
        self, actor: Actor, task_id: int, changes: TaskChanges, lock_version: int | None
    ) -> TaskUpdate:
        """PUT the fields given as the actor, after checking what Redmine would silently
        ignore; Redmine's REST API has no lock_version, so the task's newest journal id stands
        for it (last_journal_id), compared just before the write."""
        self.forget(task_id)  # the version must be Redmine's latest, not this request's copy
        issue = self.issue(actor, task_id)
        before = self.task_info(issue)
        if not self.may_edit(actor, before.project.id):
            raise TaskForbidden(_("You may not edit this task."))
        if lock_version is not None and lock_version != before.lock_version:
            raise TaskConflict(_("Someone else changed this task. Reload and try again."))
        fields, errors = self.edit_fields(actor, before, changes)
        if errors:
            raise TaskValidationError(_("Some fields are invalid."), errors=errors)
        if not fields:
            return TaskUpdate(before, before, None, ())
        try:
            self.client.put(f"/issues/{task_id}.json", {"issue": fields}, **self.as_actor(actor))
        except TaskForbidden as error:
            if isinstance(error, NotLinked):
                raise
            raise TaskForbidden(_("You may not edit this task.")) from None
        except TaskValidationError as error:
            raise TaskValidationError(error.message, errors=self.field_errors(error)) from None
        self.forget(task_id)
        task = self.get_task(actor, task_id)
        redmine_id = self.user_ids.to_backend(actor.user_id)
        rows = [
            row
            for row in self.issue(actor, task_id).get("journals") or ()
            if row["id"] > before.lock_version and "user" in row and row["user"]["id"] == redmine_id
        ]
        if not rows:
            return TaskUpdate(before, task, None, ())
        journal = self.journal_info(task_id, max(rows, key=lambda row: row["id"]))
        return TaskUpdate(before, task, journal.id, journal.details)

    def edit_fields(
        self, actor: Actor, task: TaskInfo, changes: TaskChanges
    ) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The issue fields to PUT for an edit (those that differ, Redmine's ids, "" to clear),
        and errors by field for what Redmine would ignore or take silently."""
        errors: dict[str, list[str]] = {}
        wanted = changes.fields
        if "subject" in wanted and not (wanted["subject"] or "").strip():
            errors["subject"] = [_("This field is required.")]
        if "tracker_id" in wanted and wanted["tracker_id"] not in {t.id for t in self.trackers()}:
            errors["tracker_id"] = [_("Unknown tracker.")]
        if "priority_id" in wanted and wanted["priority_id"] not in {
            p.id for p in self.priorities()
        }:
            errors["priority_id"] = [_("Unknown priority.")]
        current = {
            "subject": task.subject,
            "description": task.description,
            "assigned_to_id": task.assigned_to.id if task.assigned_to else None,
            "priority_id": task.priority.id,
            "tracker_id": task.tracker.id,
            "start_date": task.start_date,
            "due_date": task.due_date,
            "estimated_hours": task.estimated_hours,
            "done_ratio": task.done_ratio,
        }
        fields: dict[str, Any] = {}
        for name, value in wanted.items():
            if value == current[name] or (
                name == "description" and not value and not task.description
            ):
                continue
            if name == "assigned_to_id" and value is not None:
                value = self.user_ids.to_backend(value)
                if value is None:
                    errors[name] = [_("The assignee must be a member of the project.")]
            fields[name] = (
                "" if value is None else value.isoformat() if isinstance(value, date) else value
            )
        values = {c.id: c.value for c in task.custom_fields}
        defined = {f.id: f for f in self.custom_fields(actor, task.project.id)}
        problems = []
        custom = []
        for field_id, value in changes.custom_fields.items():
            problem = custom_value_problem(defined.get(field_id), field_id, value)
            if problem:
                problems.append(problem)
            elif values.get(field_id, "") != value:
                custom.append({"id": field_id, "value": value})
        if problems:
            errors["custom_fields"] = problems
        if custom:
            fields["custom_fields"] = custom
        if changes.notes:
            fields["notes"] = changes.notes
        return fields, errors

    def set_watching(self, actor: Actor, task_id: int, user_id: int, watching: bool) -> WatchChange:
        """Watch or stop watching as oneself (done by the administrator: Redmine's REST API
        has no "watch" of one's own, and a reporter may not add watchers), or, with
        add_issue_watchers / delete_issue_watchers, another user who may see the task. Redmine
        keeps no history of watchers: nothing is journaled."""
        self.forget(task_id)  # whether the user watches it now, not as cached
        issue = self.issue(actor, task_id)
        oneself = user_id == actor.user_id
        if not oneself:
            permission = "add_issue_watchers" if watching else "delete_issue_watchers"
            if not self.may(actor, issue["project"]["id"], permission):
                raise TaskForbidden(_("You may not change who watches this task."))
        redmine_id = self.user_ids.to_backend(user_id)
        if watching and (redmine_id is None or not self.visible_to(task_id, [user_id])):
            raise TaskValidationError(
                _("Some fields are invalid."),
                errors={"user_id": [_("This user may not see the task.")]},
            )
        who = {} if oneself else self.as_actor(actor)
        was_watching = user_id in self.watcher_ids(issue)
        try:
            if watching:
                self.client.post(f"/issues/{task_id}/watchers.json", {"user_id": redmine_id}, **who)
            elif redmine_id is not None:
                self.client.delete(f"/issues/{task_id}/watchers/{redmine_id}.json", **who)
        except TaskNotFound:
            if watching:
                raise
        except TaskForbidden as error:
            if isinstance(error, NotLinked):
                raise
            raise TaskForbidden(_("You may not change who watches this task.")) from None
        self.forget(task_id)
        task = self.get_task(actor, task_id)
        return WatchChange(task, changed=(user_id in task.watcher_ids) != was_watching)

    # -- audiences -------------------------------------------------------------------------

    def visible_to(self, task_id: int, user_ids: list[int]) -> set[int]:
        """Exactly those of the users Redmine lets read the task now: each is asked as that
        user (Redmine's own answer: roles, issue visibility, private issues, admins); a user
        Redmine does not know sees nothing."""
        visible = set()
        for user_id, login in self.user_ids.logins(user_ids).items():
            try:
                self.client.get(f"/issues/{task_id}.json", shape=IssueAnswer, as_login=login)
            except (TaskNotFound, TaskForbidden):
                continue
            visible.add(user_id)
        return visible

    def member_ids(self, project_id: int) -> set[int]:
        """The helpdesk users with a role in the project (who see its board)."""
        try:
            rows = self.memberships(project_id)
        except TaskNotFound:
            return set()
        redmine_ids = [row["user"]["id"] for row in rows if "user" in row]
        people = self.user_ids.people(redmine_ids)
        return {uid for rid in redmine_ids if (uid := people[rid][0]) is not None}

    # -- change feed -----------------------------------------------------------------------

    def changes_since(self, cursor: str | None, limit: int = 100) -> ChangeBatch:
        """Journal entries after the cursor: Redmine's change feed. The tasks they changed are
        dropped from the cache at once, before anyone is told of the change."""
        batch = feed.changes_since(self, cursor, limit)
        for task_id in {change.task.id for change in batch.changes}:
            TASKS.invalidate(task_tag(task_id))
        return batch

    # -- attachments -----------------------------------------------------------------------

    def attachment_info(
        self, task_id: int, row: Attachment, journal_of: dict[int, int]
    ) -> AttachmentInfo:
        """A Redmine attachment (call people() first for many); its type is Redmine's, to be
        verified before an image is shown inline."""
        return AttachmentInfo(
            id=row["id"],
            task_id=task_id,
            filename=row.get("filename") or "file",
            size=row.get("filesize") or 0,
            content_type=row.get("content_type") or "application/octet-stream",
            author=self.user_ids.named(row.get("author")) or Named(0, ""),
            created_on=row["created_on"],
            journal_id=journal_of.get(row["id"]),
        )

    def attachments(self, actor: Actor, task_id: int) -> list[AttachmentInfo]:
        """A visible task's files (read with the task, include=attachments), oldest first, each
        with the history entry that added it."""
        issue = self.issue(actor, task_id)
        rows = issue.get("attachments") or []
        journal_of = {
            int(detail["name"]): int(journal["id"])
            for journal in issue.get("journals") or ()
            for detail in journal.get("details") or ()
            if detail.get("property") == "attachment" and detail.get("new_value") is not None
        }
        self.user_ids.people(int(row["author"]["id"]) for row in rows if row.get("author"))
        infos = [self.attachment_info(task_id, row, journal_of) for row in rows]
        return sorted(infos, key=lambda info: info.id)

    def add_attachments(
        self, actor: Actor, task_id: int, files: list[NewFile], notes: str = ""
    ) -> JournalInfo:
        """Upload each file as the actor (POST /uploads.json), then attach them all, with the
        notes, in one update of the issue: one history entry."""
        self.issue(actor, task_id)
        uploads = self.upload_files(actor, files)
        try:
            journal_id = self.write(actor, task_id, {"notes": notes, "uploads": uploads})
        except TaskError:
            self.discard_uploads(actor, uploads)
            raise
        found = [j for j in self.journals(actor, task_id) if j.id == journal_id]
        if not found or not any(d.prop_key.startswith(ATTACHMENT_PROP) for d in found[0].details):
            raise TaskForbidden(_("You may not add files to this task."))
        return found[0]

    def upload_files(self, actor: Actor, files: Sequence[NewFile]) -> list[dict[str, Any]]:
        """Send each file to Redmine as the actor (POST /uploads.json): the `uploads` of an
        issue write. A file Redmine refuses (its own size or extension rules) is a 422 under
        "files", and the files sent before it are removed again."""
        who = self.as_actor(actor)
        uploads: list[dict[str, Any]] = []
        for item in files:
            try:
                upload = self.client.upload(item.data, item.filename, **who)
            except TaskError as error:
                self.discard_uploads(actor, uploads)
                if not isinstance(error, TaskValidationError):
                    raise
                messages = [m for ms in (error.payload.get("errors") or {}).values() for m in ms]
                raise TaskValidationError(
                    _("Redmine refused %(name)s.", name=item.filename),
                    errors={"files": messages or [error.message]},
                ) from None
            uploads.append(
                {
                    "id": upload["id"],
                    "token": upload["token"],
                    "filename": item.filename,
                    "content_type": item.content_type,
                }
            )
        return uploads

    def discard_uploads(self, actor: Actor, uploads: list[dict[str, Any]]) -> None:
        """Remove uploads no issue took (their author may, while they belong to none); one
        Redmine cannot remove now is logged, and left to Redmine's pruning of unused files."""
        who = self.as_actor(actor)
        for upload in uploads:
            try:
                self.client.delete(f"/attachments/{upload['id']}.json", **who)
            except TaskError as error:
                log.warning("could not remove unused Redmine upload %s: %s", upload["id"], error)

    def attachment(self, actor: Actor, task_id: int, attachment_id: int) -> AttachmentInfo:
        """A file of a task Redmine shows the actor, or TaskNotFound."""
        for info in self.attachments(actor, task_id):
            if info.id == attachment_id:
                return info
        raise TaskNotFound(_("File #%(id)d was not found.", id=attachment_id))

    def attachment_content(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> AttachmentContent:
        """A visible file, its bytes streamed from Redmine as the actor (Redmine checks again)."""
        info = self.attachment(actor, task_id, attachment_id)
        try:
            response = self.client.download(
                f"/attachments/download/{attachment_id}", **self.as_actor(actor)
            )
        except NotLinked:
            raise
        except (TaskNotFound, TaskForbidden):
            raise TaskNotFound(_("File #%(id)d was not found.", id=attachment_id)) from None
        return AttachmentContent(
            info, StreamedBytes(response.iter_content(64 * 1024), response.close)
        )

    def delete_attachment(
        self, actor: Actor, task_id: int, attachment_id: int
    ) -> JournalInfo | None:
        """Delete a file as the actor (Redmine decides who may: roles that edit issues, and
        admins); Redmine journals it, and that entry is returned."""
        info = self.attachment(actor, task_id, attachment_id)
        try:
            self.client.delete(f"/attachments/{attachment_id}.json", **self.as_actor(actor))
        except NotLinked:
            raise
        except TaskForbidden:
            raise TaskForbidden(_("You may not delete this file.")) from None
        self.forget(info.task_id)
        prop_key = f"{ATTACHMENT_PROP}{attachment_id}"
        for journal in reversed(self.journals(actor, info.task_id)):
            if any(d.prop_key == prop_key and d.new_value is None for d in journal.details):
                return journal
        return None

    def text_format(self) -> str:
        """Markdown, or plain text for a Redmine that formats with Textile
        (REDMINE_TEXT_FORMATTING)."""
        return TEXT_FORMATTINGS[str(current_app.config["REDMINE_TEXT_FORMATTING"]).lower()]


def custom_text(value: str | list[str] | None) -> str:
    """A custom field's value as text: several values joined by commas, as Redmine shows them."""
    if isinstance(value, list):
        return ", ".join(value)
    return value or ""
