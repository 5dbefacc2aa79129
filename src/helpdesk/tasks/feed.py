"""The change feed: every change in the backend's history (made here, in the backend's own UI or
by another tool) is announced with the events a change made here publishes, once."""

from __future__ import annotations

from helpdesk.core.events import claim, commit, publish
from helpdesk.core.models import SiteSetting
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Change, StatusInfo
from helpdesk.tasks.events import TaskCommented, TaskStatusChanged, journal_key

BATCH_SIZE = 100  # changes per transaction


def cursor_key(backend_name: str) -> str:
    """The site setting that keeps how far the feed of one backend has been read."""
    return f"change_feed_cursor:{backend_name}"


def follow_changes() -> int:
    """Announce the backend's changes after the stored cursor, a batch per commit; the cursor
    moves in the commit of the batch's notifications, so a restart neither loses nor repeats a
    change, and a failed run leaves it for the next. Returns how many changes were announced."""
    backend = get_backend()
    key = cursor_key(backend.name)
    announced = 0
    while True:
        cursor = SiteSetting.get(key)
        batch = backend.changes_since(cursor, BATCH_SIZE)
        if batch.cursor == cursor:
            return announced
        statuses = {status.id: status for status in backend.statuses()}
        events = {
            journal_key(change.journal.id): event
            for change in batch.changes
            if (event := event_for(change, statuses)) is not None
        }
        fresh = claim(list(events))  # the others were announced already
        for event_key, event in events.items():  # in the backend's order
            if event_key in fresh:
                publish(event)
                announced += 1
        SiteSetting.put(key, batch.cursor)
        commit()
        if len(batch.changes) < BATCH_SIZE:
            return announced


def event_for(
    change: Change, statuses: dict[int, StatusInfo]
) -> TaskStatusChanged | TaskCommented | None:
    """The event a change made here publishes for such a journal: a status move (with its
    notes as the comment), else a comment; other edits are not announced."""
    journal = change.journal
    for detail in journal.details:
        if detail.prop_key == "status_id":
            return TaskStatusChanged(
                task=change.task,
                old_status=status_named(statuses, detail.old_value),
                new_status=status_named(statuses, detail.new_value),
                actor_id=journal.user.id,
                comment=journal.notes,
                notify_users=True,
                journal_id=journal.id,
                occurred_at=journal.created_on,
            )
    if journal.notes:
        return TaskCommented(task=change.task, journal=journal, actor_id=journal.user.id)
    return None


def status_named(statuses: dict[int, StatusInfo], value: str | None) -> StatusInfo:
    """The status a journal names by id; one deleted since keeps its id as its name."""
    status_id = int(value) if value and value.isdigit() else 0
    return statuses.get(status_id) or StatusInfo(status_id, value or "", is_closed=False)
