"""Attachment operations: the task page, the API and the download route all go through these."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from werkzeug.datastructures import FileStorage

from helpdesk.tasks import files
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import (
    ATTACHMENT_PROP,
    AttachmentContent,
    AttachmentInfo,
    JournalInfo,
    TaskFacts,
)
from helpdesk.tasks.events import TaskCommented
from helpdesk.tasks.service import actor_for, announce


def attached_ids(journal: JournalInfo) -> set[int]:
    """The ids of the files a history entry added."""
    return {
        int(detail.prop_key.removeprefix(ATTACHMENT_PROP))
        for detail in journal.details
        if detail.prop_key.startswith(ATTACHMENT_PROP) and detail.new_value is not None
    }


def add_files(
    user: Any, task_id: int, uploads: list[FileStorage], notes: str = ""
) -> tuple[JournalInfo, list[AttachmentInfo]]:
    """Check every upload, then attach them all with the notes as one history entry; the task's
    people are told after commit, as of a comment (the files' names stand for notes left
    empty)."""
    checked = files.inspect_all(uploads)
    actor = actor_for(user)
    backend = get_backend()
    journal = backend.add_attachments(actor, task_id, checked, notes)
    task = TaskFacts.of(backend.get_task(actor, task_id))
    told = (
        journal
        if journal.notes
        else replace(journal, notes=", ".join(item.filename for item in checked))
    )
    announce(journal.id, TaskCommented(task=task, journal=told, actor_id=actor.user_id))
    added = attached_ids(journal)
    return journal, [info for info in backend.attachments(actor, task_id) if info.id in added]


def task_files(user: Any, task_id: int) -> list[AttachmentInfo]:
    """The files of a task the user can see."""
    return get_backend().attachments(actor_for(user), task_id)


def open_file(user: Any, task_id: int, attachment_id: int) -> AttachmentContent:
    """A file of a task the user can see, with its bytes."""
    return get_backend().attachment_content(actor_for(user), task_id, attachment_id)


def delete_file(user: Any, task_id: int, attachment_id: int) -> None:
    """Remove a file; its history entry is claimed, so the change feed does not announce it
    (a removal tells nobody)."""
    journal = get_backend().delete_attachment(actor_for(user), task_id, attachment_id)
    if journal is not None:
        announce(journal.id, None)
