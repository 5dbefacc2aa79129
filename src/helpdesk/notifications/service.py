"""Who is told about a task change, and what they read: one row per recipient, never twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from functools import cache
from operator import itemgetter
from typing import Any, cast

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import CursorResult, Select, bindparam, func, select, update
from sqlalchemy import delete as delete_rows
from sqlalchemy.orm import Session

from helpdesk.core.database import INSERT_IGNORING, insert_ignoring
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications.models import Notifications, PushSubscription, UnreadCount
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import Change, TaskFacts, TaskInfo
from helpdesk.tasks.events import (
    TaskCommented,
    TaskCreated,
    TaskEdited,
    TaskEvent,
    TaskReassigned,
    TaskStatusChanged,
    TaskWatchersChanged,
    journal_key,
)
from helpdesk.tasks.labels import field_label, label
from helpdesk.tasks.mentions import mentioned_usernames
from helpdesk.users.models import User


def interested_users(task: TaskFacts, actor_id: int) -> list[int]:
    """Who hears of a change to a task (see people_to_tell)."""
    return people_to_tell(task.id, actor_id, task.author_id, task.assigned_to_id, task.watcher_ids)


def change_recipients(change: Change) -> list[int]:
    """Who hears of a change the backend's feed reports: the same people as for one made here."""
    return interested_users(change.task, change.journal.user.id)


def people_to_tell(
    task_id: int,
    actor_id: int,
    author_id: int,
    assignee_id: int | None,
    watcher_ids: Iterable[int],
) -> list[int]:
    """The one rule of who hears of a change: the task's author, assignee and watchers, never the
    one who acted, and only those the backend says may see the task (a notification carries its
    subject, so a private task must not leak through one)."""
    people = {author_id, *watcher_ids}
    if assignee_id is not None:
        people.add(assignee_id)
    people.discard(actor_id)
    return sorted(get_backend().visible_to(task_id, sorted(people)))


def mentioned_users(task_id: int, usernames: Iterable[str], actor_id: int) -> list[int]:
    """The users an @username names, never the one who wrote it, and only those who may see the
    task: a mention tells nobody of a task they could not open (nor that it exists)."""
    names = sorted(set(usernames))
    if not names:
        return []
    found = set(db.session.scalars(select(User.id).where(func.lower(User.username).in_(names))))
    found.discard(actor_id)
    return sorted(get_backend().visible_to(task_id, sorted(found))) if found else []


def mention_rows(
    task: TaskInfo | TaskFacts, event_key: str, people: list[int], author: str, text: str
) -> list[dict[str, Any]]:
    """The notification rows of those a change mentions (mentioned_users): the words around
    their name, in place of the change's usual notification."""

    def texts() -> tuple[str, str, dict[str, Any]]:
        return (
            _("%(name)s mentioned you on task #%(id)d", name=author, id=task.id),
            text[:COMMENT_EXCERPT],
            {"task_subject": task.subject},
        )

    return _rows(people, event_key, task, "mention", texts)


def recipient_languages(user_ids: Iterable[int]) -> dict[int, str]:
    """Each recipient's language for texts they read later: their choice, else the language of
    their last login, else the default."""
    ids = list(user_ids)
    if not ids:  # nobody to tell (a change with no mention): no statement
        return {}
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    rows = db.session.execute(_languages_statement(), {"ids": ids})
    return {user_id: chosen or last or default for user_id, chosen, last in rows}


@cache
def _languages_statement() -> Select[int, str | None, str | None]:
    """recipient_languages' statement, built once (building costs more than running it)."""
    return select(User.id, User.language, User.last_locale).where(
        User.id.in_(bindparam("ids", expanding=True))
    )


COMMENT_EXCERPT = 300  # characters of a comment a notification quotes
RECORDED = "helpdesk_recorded"  # session.info: event key -> the notifications inserted for it


def _insert_once(rows: list[dict[str, Any]]) -> None:
    """Insert notification rows, skipping any (user, event) already recorded (a replay). What it
    inserted, and only that, is kept for delivery (recorded_for) and the change's answer."""
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    if dialect not in INSERT_IGNORING:
        known = set(
            db.session.scalars(
                select(Notifications.user_id).where(
                    Notifications.event_key == rows[0]["event_key"],
                    Notifications.user_id.in_([row["user_id"] for row in rows]),
                )
            )
        )
        inserted = [Notifications(**row) for row in rows if row["user_id"] not in known]
        db.session.add_all(inserted)
        db.session.flush()
        _keep(rows[0]["event_key"], inserted)
        return
    rows.sort(key=itemgetter("user_id"))  # writers take the counters' row locks in one order
    ids = dict(db.session.execute(_insert_ignoring(dialect), rows).all())
    inserted = [Notifications(id=ids[r["user_id"]], **r) for r in rows if r["user_id"] in ids]
    inserted.sort(key=lambda item: item.id)
    _keep(rows[0]["event_key"], inserted)


def _keep(event_key: str, inserted: list[Notifications]) -> None:
    """Keep what this recording of one change inserted, replacing an earlier one's: a replay
    keeps nothing."""
    db.session.info.setdefault(RECORDED, {})[event_key] = inserted


@cache
def _insert_ignoring(dialect: str) -> Any:
    """An insert of notifications that skips rows already recorded, built once per dialect."""
    table = Notifications.__table__
    return insert_ignoring(table, dialect, "user_id", "event_key").returning(
        table.c.user_id, table.c.id
    )


def _rows(
    recipients: list[int],
    event_key: str,
    task: TaskInfo | TaskFacts,
    kind: str,
    texts: Any,
    **fields: Any,
) -> list[dict[str, Any]]:
    """One row per recipient with the title and message in that recipient's language."""
    now = utcnow()
    rows = []
    for user_id, language in recipient_languages(recipients).items():
        with force_locale(language):
            title, message, data = texts()
        rows.append(
            {
                "user_id": user_id,
                "issue_id": task.id,
                "old_subj": task.subject[:255],
                "date_created": now,
                "is_read": False,
                "type": kind,
                "title": title[:255],
                "message": message,
                "data": data,
                "event_key": event_key,
                **fields,
            }
        )
    return rows


def status_change_texts(
    task_id: int,
    old_status: str | None,
    new_status: str | None,
    subject: str | None = None,
    comment: str | None = None,
) -> tuple[str, str]:
    """Title and message of a status change, in the current language: the message names the
    task's subject and quotes the comment made with the change, when they are known."""
    old, new = label(old_status), label(new_status)
    if subject:
        message = _(
            "Task #%(id)d \"%(subject)s\" changed from '%(old)s' to '%(new)s'",
            id=task_id,
            subject=subject,
            old=old,
            new=new,
        )
    else:
        message = _(
            "Task #%(id)d changed from '%(old)s' to '%(new)s'", id=task_id, old=old, new=new
        )
    if comment:
        message += "\n" + _("Comment: %(comment)s", comment=comment[:COMMENT_EXCERPT])
    return _("Task #%(id)d status changed", id=task_id), message


def comment_title(task_id: int) -> str:
    """Title of a comment notification, in the current language."""
    return _("New comment on task #%(id)d", id=task_id)


def assigned_title(task_id: int) -> str:
    """Title of an assignment notification, in the current language."""
    return _("Task #%(id)d assigned to you", id=task_id)


def record_status_change(event: TaskStatusChanged) -> None:
    """Notify the task's people of a status change, unless the actor asked not to."""
    if not event.notify_users:
        return
    task = event.task

    def texts() -> tuple[str, str, dict[str, Any]]:
        return (
            *status_change_texts(
                task.id, event.old_status.name, event.new_status.name, task.subject, event.comment
            ),
            {
                "old_status": event.old_status.name,
                "new_status": event.new_status.name,
                "task_subject": task.subject,
                "comment": event.comment,
            },
        )

    key = event_key(event)
    mentioned = mentioned_users(task.id, mentioned_usernames(event.comment), event.actor_id)
    author = actor_name(event.actor_id) if mentioned else ""
    _insert_once(
        _rows(
            [user for user in interested_users(task, event.actor_id) if user not in mentioned],
            key,
            task,
            "status_change",
            texts,
            old_status=event.old_status.name,
            new_status=event.new_status.name,
        )
        + mention_rows(task, key, mentioned, author, event.comment)
    )


def record_comment(event: TaskCommented) -> None:
    """Notify the task's people of a new comment."""
    task = event.task

    def texts() -> tuple[str, str, dict[str, Any]]:
        return (
            comment_title(task.id),
            _(
                "%(name)s: %(notes)s",
                name=event.journal.user.name,
                notes=event.journal.notes[:COMMENT_EXCERPT],
            ),
            {"task_subject": task.subject, "journal_id": event.journal.id},
        )

    key = event_key(event)
    notes = event.journal.notes
    mentioned = mentioned_users(task.id, mentioned_usernames(notes), event.actor_id)
    told = [user for user in interested_users(task, event.actor_id) if user not in mentioned]
    _insert_once(
        _rows(told, key, task, "comment", texts)
        + mention_rows(task, key, mentioned, event.journal.user.name, notes)
    )


def record_assignment(event: TaskCreated) -> None:
    """Tell the assignee of a new task, unless they created it themselves."""
    task = event.task
    key = event_key(event)
    assignee = task.assigned_to.id if task.assigned_to else None
    mentioned = [
        user
        for user in mentioned_users(task.id, mentioned_usernames(task.description), event.actor_id)
        if user != assignee
    ]
    rows = mention_rows(task, key, mentioned, task.author.name, task.description)
    if assignee is not None and assignee != event.actor_id:

        def texts() -> tuple[str, str, dict[str, Any]]:
            return (
                assigned_title(task.id),
                task.subject,
                {"task_subject": task.subject, "project": task.project.name},
            )

        rows += _rows([assignee], key, task, "assigned", texts)
    _insert_once(rows)


def record_reassignment(event: TaskReassigned) -> None:
    """Tell the new assignee of a task, unless they assigned it to themselves or may not see it."""
    if event.assignee_id == event.actor_id:
        return
    task = event.task
    if not get_backend().visible_to(task.id, [event.assignee_id]):
        return

    def texts() -> tuple[str, str, dict[str, Any]]:
        return assigned_title(task.id), task.subject, {"task_subject": task.subject}

    _insert_once(_rows([event.assignee_id], event_key(event), task, "assigned", texts))


def record_edit(event: TaskEdited) -> None:
    """Tell of an edit: those newly mentioned (who may see the task) by name, a new assignee
    that the task is theirs, the others of the task's people (and the assignee it was taken
    from) what changed."""
    task = event.task
    key = event_key(event)
    mentioned = mentioned_users(task.id, event.mentions, event.actor_id)
    previous = [event.old_assignee_id] if event.old_assignee_id is not None else []
    people = people_to_tell(
        task.id, event.actor_id, task.author_id, task.assigned_to_id, [*task.watcher_ids, *previous]
    )
    reassigned = any(d.prop_key == "assigned_to_id" for d in event.journal.details)
    new_assignee = task.assigned_to_id if reassigned else None
    told = [user for user in people if user not in mentioned and user != new_assignee]
    names = dict(event.custom_field_names)

    def texts() -> tuple[str, str, dict[str, Any]]:
        fields = ", ".join(field_label(d.prop_key, names) for d in event.journal.details)
        message = _("%(name)s changed: %(fields)s", name=event.journal.user.name, fields=fields)
        if event.journal.notes:
            message += "\n" + _(
                "Comment: %(comment)s", comment=event.journal.notes[:COMMENT_EXCERPT]
            )
        return (
            _("Task #%(id)d updated", id=task.id),
            message,
            {"task_subject": task.subject, "journal_id": event.journal.id},
        )

    def assigned_texts() -> tuple[str, str, dict[str, Any]]:
        return assigned_title(task.id), task.subject, {"task_subject": task.subject}

    rows = _rows(told, key, task, "task_updated", texts)
    if new_assignee in people and new_assignee not in mentioned:
        rows += _rows([new_assignee], key, task, "assigned", assigned_texts)
    text = event.journal.notes or next(
        (d.new_value or "" for d in event.journal.details if d.prop_key == "description"), ""
    )
    _insert_once(rows + mention_rows(task, key, mentioned, event.journal.user.name, text))


def record_watching(event: TaskWatchersChanged) -> None:
    """Tell a user someone else made a watcher of a task, if they may see it; one who started
    or stopped watching by themselves, or was removed, is told nothing (the removal is in the
    task's history)."""
    if not event.watching or event.user_id == event.actor_id:
        return
    task = event.task
    if not get_backend().visible_to(task.id, [event.user_id]):
        return
    name = actor_name(event.actor_id)

    def texts() -> tuple[str, str, dict[str, Any]]:
        return (
            _("%(name)s added you as a watcher of task #%(id)d", name=name, id=task.id),
            task.subject,
            {"task_subject": task.subject},
        )

    _insert_once(_rows([event.user_id], event_key(event), task, "watcher", texts))


def actor_name(user_id: int) -> str:
    """The name a mention notification gives its author: full name, else username."""
    user = db.session.get(User, user_id)
    return user.display_name if user is not None else ""


def event_key(
    event: TaskEvent,
) -> str:
    """What makes a change unique: its journal (replays of a feed repeat it), or the new task,
    or (a store without a history of watchers) the watcher and the moment."""
    if isinstance(event, TaskCreated):
        return f"task:{event.task.id}:assigned"
    if isinstance(event, TaskWatchersChanged):
        if event.journal_id is not None:
            return journal_key(event.journal_id)
        return f"task:{event.task.id}:watcher:{event.user_id}:{event.occurred_at.isoformat()}"
    if isinstance(event, TaskCommented | TaskEdited):
        return journal_key(event.journal.id)
    if isinstance(event, TaskReassigned):
        return journal_key(event.journal_id)
    if event.journal_id is not None:
        return journal_key(event.journal_id)
    return f"task:{event.task.id}:status:{event.occurred_at.isoformat()}"


def recorded_for(event_key: str) -> list[Notifications]:
    """The notifications the last recording of one change inserted, and only those: delivery
    sends these, so a replay, which inserts none, sends nothing again."""
    return _kept(event_key) or []


def _kept(event_key: str) -> list[Notifications] | None:
    """What this unit of work inserted for one change, if _insert_once kept it."""
    return db.session.info.get(RECORDED, {}).get(event_key)


def forget_recorded(session: Session, _transaction: Any) -> None:
    """A rollback (of a savepoint too) may have undone kept rows: none of them is delivered."""
    session.info.pop(RECORDED, None)


def notified_by_journal(journal_id: int) -> int:
    """How many people the change recorded in this journal notified."""
    key = journal_key(journal_id)
    kept = _kept(key)
    if kept is not None:
        return len(kept)
    return db.session.scalar(_notified_statement(), {"event_key": key}) or 0


@cache
def _notified_statement() -> Select[Any]:
    """notified_by_journal's statement, built once."""
    return select(func.count()).where(Notifications.event_key == bindparam("event_key"))


def unread_count(user_id: int) -> int:
    """How many unread notifications a user has (kept by the database, see UnreadCount)."""
    return db.session.scalar(_unread_statement(), {"user_id": user_id}) or 0


@cache
def _unread_statement() -> Select[Any]:
    """unread_count's statement, built once."""
    return select(UnreadCount.unread).where(UnreadCount.user_id == bindparam("user_id"))


def mark_read(user_id: int, notification_id: int) -> bool:
    """Mark one of the user's own notifications read; False if it is not theirs."""
    notification = db.session.get(Notifications, notification_id)
    if notification is None or notification.user_id != user_id:
        return False
    if not notification.is_read:
        notification.is_read = True
        notification.read_at = utcnow()
    db.session.flush()
    return True


CHECK_RESOLUTION = timedelta(minutes=1)  # write last_notification_check at most this often


def note_check(user: User) -> None:
    """Record when the user last looked through their notifications (the seed's
    last_notification_check) when they mark them all read, from the bell, the page or the API;
    a page view writes nothing, so a reading request stays a read."""
    now = utcnow()
    if (
        user.last_notification_check is None
        or now - user.last_notification_check > CHECK_RESOLUTION
    ):
        user.last_notification_check = now


def mark_all_read(user_id: int) -> int:
    """Mark every unread notification of the user read; returns how many changed."""
    result = db.session.execute(
        update(Notifications)
        .where(Notifications.user_id == user_id, Notifications.is_read.is_(False))
        .values(is_read=True, read_at=utcnow())
    )
    return cast("CursorResult[Any]", result).rowcount or 0


def delete(user_id: int, notification_id: int) -> bool:
    """Delete one of the user's own notifications; False if it is not theirs."""
    notification = db.session.get(Notifications, notification_id)
    if notification is None or notification.user_id != user_id:
        return False
    db.session.delete(notification)
    db.session.flush()
    return True


class SubscriptionTaken(Exception):
    """The endpoint is another account's browser and the request does not prove it is this one."""


def save_push_subscription(
    user_id: int, endpoint: str, p256dh: str, auth: str
) -> tuple[PushSubscription, bool]:
    """Store a browser's subscription (created: True) or refresh it; beyond
    PUSH_MAX_SUBSCRIPTIONS_PER_USER the user's least recently used browsers are forgotten.

    A known endpoint changes hands only with its own keys (the same browser, signed in as
    someone else): knowing an endpoint is not enough to take another user's pushes away.
    """
    subscription = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )
    created = subscription is None
    if subscription is None:
        subscription = PushSubscription(endpoint=endpoint, user_id=user_id)
        db.session.add(subscription)
    elif subscription.user_id != user_id and (subscription.p256dh, subscription.auth) != (
        p256dh,
        auth,
    ):
        raise SubscriptionTaken
    subscription.user_id = user_id
    subscription.p256dh = p256dh
    subscription.auth = auth
    subscription.is_active = True
    db.session.flush()
    keep = max(1, int(current_app.config["PUSH_MAX_SUBSCRIPTIONS_PER_USER"]))
    newest_first = (
        select(PushSubscription.id)
        .where(PushSubscription.user_id == user_id, PushSubscription.id != subscription.id)
        .order_by(
            func.coalesce(PushSubscription.last_used, PushSubscription.created_at).desc(),
            PushSubscription.id.desc(),
        )
        .offset(keep - 1)
    )
    db.session.execute(
        delete_rows(PushSubscription).where(PushSubscription.id.in_(newest_first.scalar_subquery()))
    )
    return subscription, created
