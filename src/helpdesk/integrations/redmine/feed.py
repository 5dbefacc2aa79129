"""Redmine's changes for the change feed (tasks/feed.py): every journal after a cursor, with the
facts of its issue, in helpdesk user ids.

With Redmine's database (integrations/redmine/database.py) one query per poll reads the journals
after the last journal id seen, with their details and their issue's subject, project, author,
assignee and watchers. Journal ids are handed out when a row is inserted, not when it commits, so
an id skipped over may still arrive: such gaps are asked for again until GAP_SECONDS pass.
Without the database the REST API is read: the issues updated within a window (open and closed
ones), then the journals of each one that changed since it was last read. Which journals are
new is decided by id, never by time: those above the floor (the id at and below which all were
delivered, just below the oldest id skipped over and still awaited) not delivered yet. The
window is bounded by journal ids too: it starts OVERLAP_SECONDS (clock skew between Redmine's
processes) before the anchor, the time of the newest journal at or below the floor, and never
more than GAP_SECONDS before the newest change listed. A journal that commits late keeps the
time it was written, in itself and in its issue's updated_on, and every journal at or below the
floor was written before it: so its issue is in the window when it commits, and the journal is
delivered once, if it commits within GAP_SECONDS (less a poll) of being written, as the
database way promises. One case is left out: an issue whose updated_on has not changed since it
was read is not read again once Redmine has listed a change SETTLE_SECONDS newer, so a second
change of one issue within the same second that commits that much later is missed.

The cursor, a small JSON document, keeps what either way needs, so a deployment may switch
between them without losing its place.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from flask import current_app
from sqlalchemy import Engine, String, bindparam, cast, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.integrations.redmine.answers import Issue, IssueAnswer, IssuesPage, Journal
from helpdesk.integrations.redmine.database import redmine_database, redmine_timezone, to_utc
from helpdesk.integrations.redmine.tables import issues, journal_details, journals, users, watchers
from helpdesk.tasks.backends.base import (
    BackendUnavailable,
    Change,
    ChangeBatch,
    JournalDetailInfo,
    JournalInfo,
    Named,
    TaskFacts,
    TaskNotFound,
    UserIds,
)
from helpdesk.tasks.backends.edits import USER_FIELDS

if TYPE_CHECKING:  # the client imports the backends, which import this module
    from helpdesk.integrations.redmine.client import RedmineClient

GAP_SECONDS = 600  # how long a skipped journal id may still commit and be delivered (both ways)
MAX_GAPS = 1000  # skipped ids kept at most (the newest)
OVERLAP_SECONDS = 60  # REST: the window starts this long before the anchor (clock skew)
SETTLE_SECONDS = 2  # REST: an issue updated this close to the newest change is read again
ISSUES_PER_PAGE = 100  # REST: issues per list request
BEGINNING = datetime(2000, 1, 1)  # REST: "since" for a Redmine without issues yet
NOBODY = 0  # the helpdesk id of a Redmine user without a helpdesk account: never told


class RedmineFeedSource(Protocol):
    """What the feed needs of the backend: its REST client and its id translation."""

    @property
    def client(self) -> RedmineClient:
        """Redmine's API, as the administrator."""
        ...

    @property
    def user_ids(self) -> UserIds:
        """Redmine's user ids to the helpdesk's."""
        ...


@dataclass
class Cursor:
    """How far the feed has read: the newest journal id (and the ids skipped below it, with
    when to stop waiting for them); for REST also Redmine's newest updated_on listed (its
    clock), the journals delivered above the floor (with their time), when each issue in the
    window was last read (its updated_on then), and the anchor: the time of the newest journal
    at or below the floor, which the window starts OVERLAP_SECONDS before."""

    journal: int = 0
    gaps: dict[int, float] = field(default_factory=dict)
    since: datetime | None = None
    seen: dict[int, float] = field(default_factory=dict)
    read: dict[int, float] = field(default_factory=dict)
    anchor: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """Read a stored cursor; a bare journal id is accepted too."""
        if text.strip().isdigit():
            return cls(journal=int(text))
        data = json.loads(text)
        since, anchor = data.get("since"), data.get("anchor")
        return cls(
            journal=int(data.get("journal", 0)),
            gaps={int(k): float(v) for k, v in data.get("gaps", {}).items()},
            since=datetime.fromisoformat(since) if since else None,
            seen={int(k): float(v) for k, v in data.get("seen", {}).items()},
            read={int(k): float(v) for k, v in data.get("read", {}).items()},
            anchor=datetime.fromisoformat(anchor) if anchor else None,
        )

    def dump(self) -> str:
        """The cursor as stored, in a stable form (the job compares it with the last one)."""
        data: dict[str, Any] = {"journal": self.journal}
        if self.gaps:
            data["gaps"] = {str(k): self.gaps[k] for k in sorted(self.gaps)}
        if self.since is not None:
            data["since"] = self.since.isoformat()
        if self.seen:
            data["seen"] = {str(k): self.seen[k] for k in sorted(self.seen)}
        if self.read:
            data["read"] = {str(k): self.read[k] for k in sorted(self.read)}
        if self.anchor is not None:
            data["anchor"] = self.anchor.isoformat()
        return json.dumps(data, separators=(",", ":"))


def changes_since(backend: RedmineFeedSource, cursor: str | None, limit: int = 100) -> ChangeBatch:
    """Redmine's journals after the cursor, oldest first (None: start from now); from its
    database when one is configured, else from its REST API. An unreachable Redmine raises
    BackendUnavailable and moves nothing."""
    engine = redmine_database()
    state = Cursor.parse(cursor) if cursor else None
    if engine is not None:
        try:
            return database_changes(engine, backend.user_ids, state, limit)
        except SQLAlchemyError as error:
            raise BackendUnavailable(
                "Redmine is unavailable", reason=f"database: {type(error).__name__}"
            ) from error
    return rest_changes(backend.client, backend.user_ids, state, limit)


# --- the database way -------------------------------------------------------------------------


def changes_query() -> Any:
    """One statement for a poll: the next journals by id (and the gaps asked for again), each
    with its details, author's name and issue's facts; a row per detail."""
    batch = (
        select(journals.c.id)
        .where(
            or_(
                journals.c.id > bindparam("after"),
                journals.c.id.in_(bindparam("gaps", expanding=True)),
            )
        )
        .order_by(journals.c.id)
        .limit(bindparam("limit"))
        .subquery("batch")
    )
    watcher_ids = (
        select(func.aggregate_strings(cast(watchers.c.user_id, String), ","))
        .where(watchers.c.watchable_type == "Issue", watchers.c.watchable_id == issues.c.id)
        .scalar_subquery()
    )
    return (
        select(
            batch.c.id,
            journals.c.journalized_type,
            journals.c.journalized_id,
            journals.c.user_id,
            journals.c.notes,
            journals.c.private_notes,
            journals.c.created_on,
            users.c.login,
            users.c.firstname,
            users.c.lastname,
            issues.c.id.label("issue_id"),
            issues.c.subject,
            issues.c.project_id,
            issues.c.author_id,
            issues.c.assigned_to_id,
            watcher_ids.label("watcher_ids"),
            journal_details.c.property,
            journal_details.c.prop_key,
            journal_details.c.old_value,
            journal_details.c.value,
        )
        .select_from(batch)
        .join(journals, journals.c.id == batch.c.id)
        .outerjoin(users, users.c.id == journals.c.user_id)
        .outerjoin(
            issues,
            (issues.c.id == journals.c.journalized_id) & (journals.c.journalized_type == "Issue"),
        )
        .outerjoin(journal_details, journal_details.c.journal_id == journals.c.id)
        .order_by(batch.c.id, journal_details.c.id)
    )


CHANGES = changes_query()
NEWEST = select(journals.c.id, journals.c.created_on).order_by(journals.c.id.desc()).limit(1)


def database_changes(
    engine: Engine, user_ids: UserIds, state: Cursor | None, limit: int
) -> ChangeBatch:
    """The database way: one query (two at the very start, to learn where "now" is)."""
    zone = redmine_timezone(current_app.config)
    now = time.time()
    with engine.connect() as connection:
        if state is None or (not state.journal and state.since):  # or a REST one that saw none
            newest = connection.execute(NEWEST).first()
            start = Cursor()
            if newest is not None:
                start.journal = newest.id
                start.since = to_utc(newest.created_on, zone)
            return ChangeBatch([], start.dump())
        gaps = {gap: until for gap, until in state.gaps.items() if until > now}
        rows = connection.execute(
            CHANGES, {"after": state.journal, "gaps": sorted(gaps), "limit": limit}
        ).all()
    by_journal: dict[int, list[Any]] = {}
    for row in rows:
        by_journal.setdefault(row.id, []).append(row)
    found = sorted(by_journal)
    newest_id = max([state.journal, *found])
    for gap in found:
        gaps.pop(gap, None)
    missing = set(range(max(state.journal + 1, newest_id - MAX_GAPS), newest_id)) - set(found)
    gaps.update(dict.fromkeys(missing, now + GAP_SECONDS))
    kept_gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
    translate = Translator(user_ids)
    changes = []
    since = state.since
    for journal_id in found:
        journal_rows = by_journal[journal_id]
        change = database_change(journal_rows, translate, zone)
        if change is not None:
            changes.append(change)
            since = max(since, change.journal.created_on) if since else change.journal.created_on
    next_cursor = Cursor(newest_id, kept_gaps, since)
    return ChangeBatch(changes, next_cursor.dump())


def database_change(rows: list[Any], translate: Translator, zone: Any) -> Change | None:
    """A journal's rows (one per detail) as a Change; None for what is not an issue's."""
    first = rows[0]
    if first.journalized_type != "Issue" or first.issue_id is None:
        return None
    details_info = tuple(
        translate.detail(row.prop_key, row.old_value, row.value, row.property)
        for row in rows
        if row.prop_key is not None
    )
    watcher_ids = [int(w) for w in (first.watcher_ids or "").split(",") if w]
    journal = JournalInfo(
        id=first.id,
        task_id=first.issue_id,
        user=Named(translate.id(first.user_id), person_name(first)),
        notes="" if first.private_notes else (first.notes or ""),
        created_on=to_utc(first.created_on, zone),
        details=details_info,
    )
    task = TaskFacts(
        first.issue_id,
        first.subject or "",
        first.project_id,
        translate.id(first.author_id),
        translate.known(first.assigned_to_id),
        translate.ids(watcher_ids),
    )
    return Change(journal, task)


def person_name(row: Any) -> str:
    """A Redmine user's name as Redmine shows it by default (first and last name)."""
    full = f"{row.firstname or ''} {row.lastname or ''}".strip()
    return full or row.login or ""


class Translator:
    """Redmine user ids to helpdesk ids, each asked of UserIds once per batch."""

    def __init__(self, user_ids: UserIds) -> None:
        self.user_ids = user_ids
        self.cache: dict[int, int | None] = {}

    def known(self, redmine_id: int | None) -> int | None:
        """The helpdesk id of a Redmine user (None: no account, or no user)."""
        if redmine_id is None:
            return None
        if redmine_id not in self.cache:
            self.cache[redmine_id] = self.user_ids.to_helpdesk(int(redmine_id))
        return self.cache[redmine_id]

    def id(self, redmine_id: int | None) -> int:
        """The helpdesk id, or NOBODY for a Redmine user without a helpdesk account."""
        known = self.known(redmine_id)
        return NOBODY if known is None else known

    def ids(self, redmine_ids: Iterable[int]) -> tuple[int, ...]:
        """The helpdesk ids of those who have an account, in order."""
        return tuple(sorted({k for r in redmine_ids if (k := self.known(r)) is not None}))

    def detail(
        self, key: str, old: str | None, new: str | None, prop: str = "attr"
    ) -> JournalDetailInfo:
        """A field change; a user field's ids become helpdesk ids (None: no account)."""
        if prop == "attr" and key in USER_FIELDS:
            return JournalDetailInfo(key, self.value(old), self.value(new))
        return JournalDetailInfo(key, old, new)

    def value(self, text: str | None) -> str | None:
        """A user id stored as text, translated."""
        if not text or not text.isdigit():
            return None
        known = self.known(int(text))
        return None if known is None else str(known)


# --- the REST way -----------------------------------------------------------------------------


def rest_changes(
    client: RedmineClient, user_ids: UserIds, state: Cursor | None, limit: int
) -> ChangeBatch:
    """The REST way: the issues updated since the window's start (OVERLAP_SECONDS before the
    anchor), oldest change first, then the journals above the floor not delivered yet of each
    one that changed since it was last read."""
    if state is None or state.since is None:  # None: a database cursor that saw no journal
        return ChangeBatch([], rest_start(client, state.journal if state else 0).dump())
    now = time.time()
    gaps = {gap: until for gap, until in state.gaps.items() if until > now}
    floor = floor_of(state.journal, gaps)
    anchor = state.anchor or state.since  # a database cursor's since is its newest journal's
    window_start = anchor - timedelta(seconds=OVERLAP_SECONDS)
    settled = epoch(state.since - timedelta(seconds=SETTLE_SECONDS))
    translate = Translator(user_ids)
    seen = {journal_id: at for journal_id, at in state.seen.items() if journal_id > floor}
    read = dict(state.read)
    since = state.since
    found: dict[int, float] = {}
    changes: list[Change] = []
    for summary in updated_issues(client, window_start):
        updated = epoch(summary["updated_on"])
        since = max(since, summary["updated_on"])
        if read.get(summary["id"]) == updated and updated < settled:
            continue  # read since its last change, and no later commit can carry that second
        read[summary["id"]] = updated
        issue = issue_with_journals(client, summary["id"])
        if issue is None:  # deleted meanwhile
            continue
        for journal in issue.get("journals", []):
            created = journal["created_on"]
            if journal["id"] <= floor or journal["id"] in seen or journal["id"] in found:
                continue  # delivered already
            if not state.journal and created < window_start:
                continue  # no journal id known yet: what is older than the window came before
            found[journal["id"]] = epoch(created)
            changes.append(rest_change(issue, journal, translate))
        if len(changes) >= limit:
            break
    changes.sort(key=lambda change: change.journal.id)
    newest = max([state.journal, *found])
    for journal_id in found:
        gaps.pop(journal_id, None)
    # ids skipped over may still commit (with no journal known before, from the first one read)
    lowest = state.journal + 1 if state.journal else min(found, default=newest)
    missing = set(range(max(lowest, newest - MAX_GAPS), newest)) - set(found)
    gaps.update(dict.fromkeys(missing, now + GAP_SECONDS))
    gaps = dict(sorted(gaps.items())[-MAX_GAPS:])
    seen.update(found)
    floor = floor_of(newest, gaps)
    below = [from_epoch(at) for journal_id, at in seen.items() if journal_id <= floor]
    anchor = max([anchor, *below, since - timedelta(seconds=GAP_SECONDS)])
    horizon = epoch(anchor - timedelta(seconds=OVERLAP_SECONDS))
    return ChangeBatch(
        changes,
        Cursor(
            newest,
            gaps,
            since,
            {journal_id: at for journal_id, at in seen.items() if journal_id > floor},
            {issue_id: at for issue_id, at in read.items() if at >= horizon},
            anchor,
        ).dump(),
    )


def floor_of(newest: int, gaps: Mapping[int, float]) -> int:
    """The journal id at and below which every journal is delivered (or given up on): just
    below the oldest skipped id still awaited, else the newest."""
    return min(gaps) - 1 if gaps else newest


def updated_issues(client: RedmineClient, window_start: datetime) -> Iterator[Issue]:
    """The issues updated since a time, open and closed, oldest change first, page by page."""
    offset = 0
    while True:
        page = client.get(
            "/issues.json",
            {
                "status_id": "*",
                "updated_on": f">={redmine_time(window_start)}",
                "sort": "updated_on,id",
                "limit": ISSUES_PER_PAGE,
                "offset": offset,
            },
            shape=IssuesPage,
        )
        listed = page["issues"]
        yield from listed
        offset += len(listed)
        if not listed or offset >= page["total_count"]:
            return


def rest_start(client: RedmineClient, journal: int = 0) -> Cursor:
    """Where "now" is for the REST way: Redmine's newest updated_on (the anchor), and the
    newest journal id of the issues updated within the overlap before it (the floor)."""
    newest = client.get(
        "/issues.json",
        {"status_id": "*", "sort": "updated_on:desc", "limit": 1},
        shape=IssuesPage,
    )
    if not newest["issues"]:  # every issue to come is new
        return Cursor(journal, {}, BEGINNING, {}, {}, BEGINNING)
    since = newest["issues"][0]["updated_on"]
    read: dict[int, float] = {}
    for summary in updated_issues(client, since - timedelta(seconds=OVERLAP_SECONDS)):
        read[summary["id"]] = epoch(summary["updated_on"])
        issue = issue_with_journals(client, summary["id"])
        for entry in issue.get("journals", []) if issue else ():
            journal = max(journal, entry["id"])
    return Cursor(journal, {}, since, {}, read, since)


def issue_with_journals(client: RedmineClient, issue_id: int) -> Issue | None:
    """One issue with its journals and watchers; None if it was deleted meanwhile."""
    try:
        answer = client.get(
            f"/issues/{issue_id}.json", {"include": "journals,watchers"}, shape=IssueAnswer
        )
    except TaskNotFound:
        return None
    return answer["issue"]


def rest_change(issue: Issue, journal: Journal, translate: Translator) -> Change:
    """A journal of an issue as Redmine's API shows them, as a Change."""
    user = journal.get("user")
    assignee = issue.get("assigned_to")
    journal_info = JournalInfo(
        id=journal["id"],
        task_id=issue["id"],
        user=Named(translate.id(user["id"] if user else None), user["name"] if user else ""),
        notes="" if journal.get("private_notes") else (journal.get("notes") or ""),
        created_on=journal["created_on"],
        details=tuple(
            translate.detail(d["name"], d.get("old_value"), d.get("new_value"), d["property"])
            for d in journal.get("details", [])
        ),
    )
    task = TaskFacts(
        issue["id"],
        issue["subject"],
        issue["project"]["id"],
        translate.id(issue["author"]["id"]),
        translate.known(assignee["id"] if assignee else None),
        translate.ids(w["id"] for w in issue.get("watchers", [])),
    )
    return Change(journal_info, task)


def epoch(value: datetime) -> float:
    """A naive UTC time as seconds since the epoch (how the cursor keeps times)."""
    return value.replace(tzinfo=UTC).timestamp()


def from_epoch(value: float) -> datetime:
    """Seconds since the epoch as a naive UTC time."""
    return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)


def redmine_time(value: datetime) -> str:
    """A naive UTC time as Redmine's API filters take it."""
    return value.replace(microsecond=0).isoformat() + "Z"
