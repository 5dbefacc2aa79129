"""What the task page needs to edit a task in place, manage its watchers and read its history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Actor, JournalInfo, TaskInfo, TaskNotFound
from helpdesk.tasks.backends.edits import USER_FIELDS
from helpdesk.tasks.labels import field_label, label
from helpdesk.users.models import User


def user_names(user_ids: Any) -> dict[int, str]:
    """Helpdesk users' display names by id (one statement)."""
    ids = sorted({int(user_id) for user_id in user_ids})
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.full_name, User.username).where(User.id.in_(ids))
    )
    return {user_id: full_name or username for user_id, full_name, username in rows}


def edit_context(actor: Actor, task: TaskInfo, journals: list[JournalInfo]) -> dict[str, Any]:
    """The choices of the edit form (the task's project only), the watchers by name, what the
    user may do, and a reader for each history entry's changes."""
    backend = get_backend()
    rights = backend.task_rights(actor, task.id)
    try:
        members = backend.members(actor, task.project.id)
        custom_fields = backend.custom_fields(actor, task.project.id)
    except TaskNotFound:  # an admin or a public project's reader sees the task, not the roster
        members, custom_fields = [], []
    history_users = {
        int(value)
        for journal in journals
        for detail in journal.details
        if detail.prop_key in USER_FIELDS
        for value in (detail.old_value, detail.new_value)
        if value and value.isdigit()
    }
    names = user_names({*task.watcher_ids, *history_users})
    custom_names = {field.id: field.name for field in custom_fields}
    custom_names.update({value.id: value.name for value in task.custom_fields})
    values = {
        "status_id": {s.id: label(s.name) for s in backend.statuses()},
        "priority_id": {p.id: label(p.name) for p in backend.priorities()},
        "tracker_id": {t.id: label(t.name) for t in backend.trackers()},
        "assigned_to_id": names,
        "author_id": names,
        "watcher": names,
    }

    def change(prop_key: str, old: str | None, new: str | None) -> tuple[str, str, str]:
        """A history line's field and its old and new value, as the reader reads them."""

        def shown(value: str | None) -> str:
            if value is None or value == "":
                return "—"
            known = values.get(prop_key, {})
            if value.isdigit() and int(value) in known:
                return known[int(value)]
            if prop_key == "done_ratio":
                return f"{value}%"
            return value

        return field_label(prop_key, custom_names), shown(old), shown(new)

    custom_values = {value.id: value.value for value in task.custom_fields}
    return {
        "rights": rights,
        "members": members,
        "custom_fields": custom_fields,
        "custom_values": custom_values,
        "watchers": [(user_id, names.get(user_id, str(user_id))) for user_id in task.watcher_ids],
        "change": change,
        "priorities": backend.priorities(),
        "trackers": backend.trackers(),
    }
