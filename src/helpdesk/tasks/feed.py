"""The change feed: every change in the backend's history (made here, in the backend's own UI or
by another tool) is announced with the events a change made here publishes, once."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from helpdesk.core.events import claim, commit, publish, rollback
from helpdesk.core.models import SiteSetting, utcnow
from helpdesk.extensions import db
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Change, StatusInfo, TaskBackend, TaskError
from helpdesk.tasks.events import (
    TaskCommented,
    TaskEdited,
    TaskReassigned,
    TaskStatusChanged,
    journal_key,
)
from helpdesk.tasks.mentions import newly_mentioned

log = logging.getLogger(__name__)

BATCH_SIZE = 100  # changes per transaction
MAX_BACKOFF_SECONDS = 300  # the longest wait between two tries while the backend is down


def cursor_key(backend_name: str) -> str:
    """The site setting that keeps how far the feed of one backend has been read."""
    return f"change_feed_cursor:{backend_name}"


def outage_key(backend_name: str) -> str:
    """The site setting that says since when the backend's feed cannot be read (admins see it)."""
    return f"change_feed_outage:{backend_name}"


def follow_changes() -> int:
    """Announce the backend's changes after the stored cursor; while the backend cannot be read,
    try again less and less often, say so once in the log and to admins, and deliver what
    changed meanwhile when it answers again. Returns how many changes were announced."""
    backend = get_backend()
    outage = feed_outage(backend.name)
    if outage is not None and utcnow() < datetime.fromisoformat(outage["retry_at"]):
        return 0
    try:
        announced = announce_changes(backend)
    except TaskError as error:
        rollback()
        note_outage(backend.name, outage, error)
        return 0
    if outage is not None:
        end_outage(backend.name, outage)
    return announced


def feed_outage(backend_name: str) -> dict[str, Any] | None:
    """The backend's feed outage as recorded (since, failures, retry_at, message), if any."""
    value = SiteSetting.get(outage_key(backend_name))
    return json.loads(value) if value else None


def note_outage(backend_name: str, outage: dict[str, Any] | None, error: TaskError) -> None:
    """Record a failed read and when to try next (2, 4, 8 … seconds, up to MAX_BACKOFF_SECONDS);
    the first failure of an outage is logged, the others are not."""
    now = utcnow()
    failures = (outage or {}).get("failures", 0) + 1
    wait = min(2**failures, MAX_BACKOFF_SECONDS)
    if outage is None:
        log.warning(
            "change feed of %s: %s; trying again with backoff, changes are kept for later",
            backend_name,
            error.message,
        )
    record = {
        "since": (outage or {}).get("since", now.isoformat()),
        "failures": failures,
        "retry_at": (now + timedelta(seconds=wait)).isoformat(),
        "message": error.message,
    }
    SiteSetting.put(outage_key(backend_name), json.dumps(record))
    commit()


def end_outage(backend_name: str, outage: dict[str, Any]) -> None:
    """Forget an outage the backend recovered from, and say so in the log."""
    setting = db.session.get(SiteSetting, outage_key(backend_name))
    if setting is not None:
        db.session.delete(setting)
    commit()
    log.warning(
        "change feed of %s: reading again after %d failed tries since %s",
        backend_name,
        outage["failures"],
        outage["since"],
    )


def announce_changes(backend: TaskBackend) -> int:
    """Announce the backend's changes after the stored cursor, a batch per commit; the cursor
    moves in the commit of the batch's notifications, so a restart neither loses nor repeats a
    change, and a failed run leaves it for the next. Returns how many changes were announced."""
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
) -> TaskStatusChanged | TaskCommented | TaskReassigned | TaskEdited | None:
    """The event a change made here publishes for such a journal: a status move (with its
    notes as the comment), else a comment, else a new assignee (who is told), else an edit of
    other fields (a journal without details, such as a private note's, announces nothing)."""
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
    for detail in journal.details:
        if detail.prop_key == "assigned_to_id" and detail.new_value and detail.new_value.isdigit():
            return TaskReassigned(change.task, journal.id, int(detail.new_value), journal.user.id)
    if not journal.details:
        return None
    description = next((d for d in journal.details if d.prop_key == "description"), None)
    mentions = newly_mentioned(description.old_value, description.new_value) if description else ()
    return TaskEdited(
        task=change.task,
        journal=journal,
        old_assignee_id=change.task.assigned_to_id,
        actor_id=journal.user.id,
        mentions=tuple(sorted(mentions)),
    )


def status_named(statuses: dict[int, StatusInfo], value: str | None) -> StatusInfo:
    """The status a journal names by id; one deleted since keeps its id as its name."""
    status_id = int(value) if value and value.isdigit() else 0
    return statuses.get(status_id) or StatusInfo(status_id, value or "", is_closed=False)
