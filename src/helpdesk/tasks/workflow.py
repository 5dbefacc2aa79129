"""Who may make a status move: the one rule behind a change, the statuses offered and a refusal."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from flask_babel import gettext as _

from helpdesk.tasks.backends.base import InvalidTransition, StatusInfo
from helpdesk.tasks.labels import label


def allowed_moves(
    is_admin: bool,
    role_id: int | None,
    rules: Iterable[Sequence[int]],
    from_status_id: int,
    status_ids: Iterable[int],
) -> list[int]:
    """The statuses (of status_ids, in their order) a task in from_status_id may move to.

    Admins, actors without a role in the project (only admins see such tasks) and roles without
    workflow rules may make any move; other roles only the moves their rules list, each rule an
    (old status id, new status id) pair of the role.
    """
    others = [status_id for status_id in status_ids if status_id != from_status_id]
    rules = list(rules)
    if is_admin or role_id is None or not rules:
        return others
    listed = {new for old, new in rules if old == from_status_id}
    return [status_id for status_id in others if status_id in listed]


def refusal(old: StatusInfo, new: StatusInfo, choices: Sequence[StatusInfo]) -> InvalidTransition:
    """The error for a status the workflow does not allow, naming the ones it does (every backend
    refuses in these words)."""
    return InvalidTransition(
        _(
            "You may not move this task from %(old)s to %(new)s. Allowed: %(allowed)s.",
            old=label(old.name),
            new=label(new.name),
            allowed=", ".join(label(s.name) for s in choices) or "—",
        ),
        allowed_statuses=[{"id": s.id, "name": s.name} for s in choices],
    )
