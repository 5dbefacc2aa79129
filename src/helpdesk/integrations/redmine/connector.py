"""The seed's Python API for Redmine (blog/tasks/utils.py), kept so scripts written against the
seed still run: RedmineConnector and create_redmine_connector, thin wrappers over RedmineBackend.

Ids are the seed's: user_id is a Redmine user id, status and project ids are Redmine's; tasks
come back as the JSON API documents them (docs/API.md). A change made through the connector is
Redmine's own, so the change feed announces it like any other change made in Redmine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import func, select

from helpdesk.extensions import db
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.identity import login_column
from helpdesk.tasks.backends.base import (
    Actor,
    NewTask,
    TaskForbidden,
    TaskNotFound,
    TaskQuery,
    TaskValidationError,
)
from helpdesk.tasks.backends.redmine import RedmineBackend
from helpdesk.tasks.schemas import task_detail, task_row
from helpdesk.users.models import User

T = TypeVar("T")
NEW_TASK_FIELDS = frozenset(f.name for f in dataclass_fields(NewTask)) - {"project_id", "subject"}


def the_app() -> Flask:
    """The current app, or one made from the environment for a script that has none."""
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        return app
    from helpdesk import create_app  # a script's own app; the package imports this module late

    return create_app()


class RedmineAuthError(TaskForbidden):
    """Redmine refused the login and password, or the user may not do this (the seed's name)."""


class RedmineNotFoundError(TaskNotFound):
    """The task does not exist or the user may not see it (the seed's name)."""


class RedmineConnector:
    """One Redmine user's view of Redmine: their tasks, status changes and new tasks.

    A password given is checked with Redmine. With api_key (an administrator's) the connector
    acts as user_login; without it, with the user's own API key.
    """

    def __init__(
        self,
        user_login: str,
        password: str,
        redmine_url: str,
        api_key: str | None = None,
        *,
        app: Flask | None = None,
    ) -> None:
        self.user_login = user_login
        self.app = app or the_app()
        timeout = float(self.app.config["REDMINE_TIMEOUT"])
        self.own_key: str | None = None
        if password or not api_key:  # a password given is always checked
            user = RedmineClient(redmine_url, "", timeout).current_user(user_login, password)
            if user is None:
                raise RedmineAuthError("Redmine refused this login and password.")
            self.own_key = None if api_key else str(user.get("api_key") or "") or None
            if not (api_key or self.own_key):
                raise RedmineAuthError("This Redmine user has no API key (enable the REST API).")
        self.client = RedmineClient(redmine_url, api_key or self.own_key or "", timeout)
        self.backend = RedmineBackend(self.client)

    def run(self, work: Callable[[Actor], T]) -> T:
        """Do work as the connector's user, with the seed's errors: in the caller's app context
        and session when called inside the app, else in a context of its own."""
        if has_app_context() and current_app._get_current_object() is self.app:  # type: ignore[attr-defined]
            return self.act(work)
        with self.app.app_context():
            result = self.act(work)
            db.session.commit()  # the user's Redmine id, if this was its first use
            return result

    def act(self, work: Callable[[Actor], T]) -> T:
        """Do work as the connector's user, turning refusals into the seed's errors."""
        user_id = db.session.scalar(
            select(User.id).where(func.lower(login_column()) == self.user_login.lower())
        )
        actor = Actor(user_id=user_id or 0, login=self.user_login, redmine_api_key=self.own_key)
        try:
            return work(actor)
        except TaskNotFound as error:
            raise RedmineNotFoundError(error.message, **error.payload) from None
        except TaskForbidden as error:
            raise RedmineAuthError(error.message, **error.payload) from None

    def get_user_tasks(
        self, user_id: int | None = None, status_filter: list[int] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Open tasks assigned to a Redmine user (default: the connector's), or those in the
        listed status ids, most urgent first, at most limit."""

        def work(actor: Actor) -> list[dict[str, Any]]:
            assignee = actor.user_id
            if user_id is not None:
                assignee = self.backend.user_ids.to_helpdesk(user_id) or 0
            if not assignee:
                return []
            names = {s.id: s.name for s in self.backend.statuses()}
            wanted = (
                ["open"]
                if status_filter is None
                else [names[s] for s in status_filter if s in names]
            )
            rows = []
            for status in wanted:
                query = TaskQuery(assigned_to_id=assignee, status=status, per_page=min(limit, 100))
                rows.extend(self.backend.list_tasks(actor, query).items)
            rows.sort(key=lambda t: (t.priority.position, t.updated_on), reverse=True)
            return [task_row(task) for task in rows[:limit]]

        return self.run(work)

    def update_task_status(
        self, task_id: int, status_id: int, comment: str | None = None
    ) -> dict[str, Any]:
        """Move a task to a status the user's workflow allows; the task as it is now."""
        return self.run(
            lambda actor: task_detail(
                self.backend.change_status(actor, task_id, status_id, comment).task
            )
        )

    def create_task(
        self, project_id: int, subject: str, description: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Create a task as the user; kwargs are NewTask's fields (tracker_id, priority_id,
        assigned_to_id as a helpdesk user id, due_date, ...)."""
        unknown = set(kwargs) - NEW_TASK_FIELDS
        if unknown:
            raise TaskValidationError(
                "Unknown task fields.", errors={name: ["Unknown field."] for name in unknown}
            )
        new = NewTask(
            project_id=project_id, subject=subject, description=description or "", **kwargs
        )
        return self.run(lambda actor: task_detail(self.backend.create_task(actor, new)))


def create_redmine_connector(
    is_redmine_user: bool,
    user_login: str,
    password: str,
    redmine_url: str | None = None,
    api_key: str | None = None,
) -> RedmineConnector | None:
    """The seed's factory: a connector for a Redmine user (None for anyone else), on the
    configured REDMINE_URL, acting with REDMINE_API_KEY unless told otherwise."""
    if not is_redmine_user:
        return None
    app = the_app()
    return RedmineConnector(
        user_login,
        password,
        redmine_url or app.config["REDMINE_URL"],
        api_key if api_key is not None else app.config["REDMINE_API_KEY"] or None,
        app=app,
    )
