"""The world the contract tests act in, and the backend under test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from helpdesk.extensions import db
from helpdesk.tasks.backends.base import Actor, NewTask, TaskBackend, TaskInfo


@dataclass
class World:
    """Two projects: alice develops in both, bob in P2 only, carol reports in P1, dave in none."""

    backend: TaskBackend
    actors: dict[str, Actor]
    projects: dict[str, int]
    statuses: dict[str, int]
    restrict: Callable[[str, str, list[str]], None]
    tasks: dict[str, TaskInfo] = field(default_factory=dict)

    def create(self, who: str, project: str, subject: str, **fields: Any) -> TaskInfo:
        """Create a task through the backend under test."""
        task = self.backend.create_task(
            self.actors[who], NewTask(project_id=self.projects[project], subject=subject, **fields)
        )
        db.session.commit()
        return task
