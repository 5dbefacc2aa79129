"""The Redmine change feed's cost per poll, read from Redmine's own database (MariaDB) loaded
with the shared benchmark dataset (../shared/bench/gen_dataset.py).

    python3 ../shared/bench/gen_dataset.py --out /tmp/bench-dataset.sqlite3
    tests/services/redmine.sh start bench 3121     # prints URL KEY DBURL; then stop its server
    .venv/bin/python benchmarks/redmine_feed.py --dataset /tmp/bench-dataset.sqlite3 \
        --db-url mysql+pymysql://root@127.0.0.1:3306/redmine_helpdesk_bench

Loads the dataset's users, issues and journals (each a status change, with its detail row)
straight into Redmine's tables, unless they hold them already, then times the feed's one
query per poll: an idle poll (nothing new) and polls that read a full batch of 100 journals.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text

from helpdesk import create_app
from helpdesk.integrations.redmine.client import RedmineClient
from helpdesk.integrations.redmine.database import dispose_database, redmine_database
from helpdesk.integrations.redmine.feed import CHANGES, Cursor, changes_since
from helpdesk.tasks.backends.base import SameIds

STATUS_IDS = {"new": 1, "in_progress": 2, "resolved": 3, "feedback": 4, "closed": 5, "rejected": 6}
TRACKER_IDS = {"bug": 1, "feature": 2, "support": 3}
CHUNK = 5000


class Source:
    """The backend as the feed sees it, with Redmine's ids kept; the database way never calls
    the REST client (nothing listens at its address)."""

    client = RedmineClient("http://127.0.0.1:9", "", 1)
    user_ids = SameIds()


def load(dataset: str, db_url: str) -> None:
    """Copy the dataset into Redmine's tables, its ages rebased on now (UTC)."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)

    def at(age: float | None) -> datetime | None:
        return None if age is None else now - timedelta(seconds=int(age))

    source = sqlite3.connect(dataset)
    engine = create_engine(db_url)
    began = time.perf_counter()
    with engine.begin() as target:
        if target.scalar(text("SELECT COUNT(*) FROM journals")) >= 100_000:
            print("dataset already loaded")
            return
        target.execute(text("SET unique_checks = 0"))
        rows = [
            {"id": 1000 + i, "login": login, "first": first, "last": last, "now": now}
            for i, login, first, last in source.execute(
                "SELECT id, login, firstname, lastname FROM users"
            )
        ]
        target.execute(
            text(
                "INSERT INTO users (id, login, firstname, lastname, admin, status, type, "
                "created_on, updated_on) VALUES (:id, :login, :first, :last, 0, 1, 'User', "
                ":now, :now)"
            ),
            rows,
        )
        insert_issue = text(
            "INSERT INTO issues (id, tracker_id, project_id, subject, status_id, priority_id, "
            "author_id, assigned_to_id, created_on, updated_on, closed_on, root_id, lft, rgt, "
            "lock_version, done_ratio, is_private) VALUES (:id, :tracker, :project, :subject, "
            ":status, :priority, :author, :assignee, :created, :updated, :closed, :id, 1, 2, 0, "
            "0, 0)"
        )
        query = (
            "SELECT id, project_id, tracker, status, priority, author_id, assigned_to_id, "
            "subject, created_age_s, updated_age_s, closed_age_s FROM issues"
        )
        batch: list[dict[str, Any]] = []
        for row in source.execute(query):
            batch.append(
                {
                    "id": row[0],
                    "project": row[1],
                    "tracker": TRACKER_IDS[row[2]],
                    "status": STATUS_IDS[row[3]],
                    "priority": row[4],
                    "author": 1000 + row[5],
                    "assignee": None if row[6] is None else 1000 + row[6],
                    "subject": row[7][:255],
                    "created": at(row[8]),
                    "updated": at(row[9]),
                    "closed": at(row[10]),
                }
            )
            if len(batch) == CHUNK:
                target.execute(insert_issue, batch)
                batch.clear()
        if batch:
            target.execute(insert_issue, batch)
        insert_journal = text(
            "INSERT INTO journals (id, journalized_id, journalized_type, user_id, notes, "
            "created_on, private_notes) VALUES (:id, :issue, 'Issue', :user, :notes, :at, 0)"
        )
        insert_detail = text(
            "INSERT INTO journal_details (journal_id, property, prop_key, old_value, value) "
            "VALUES (:id, 'attr', 'status_id', :old, :new)"
        )
        journals: list[dict[str, Any]] = []
        query = "SELECT id, issue_id, user_id, notes, age_s, old_status, new_status FROM journals"
        for row in source.execute(query + " ORDER BY id"):
            journals.append(
                {
                    "id": row[0],
                    "issue": row[1],
                    "user": 1000 + row[2],
                    "notes": row[3] or "",
                    "at": at(row[4]),
                    "old": str(STATUS_IDS[row[5]]),
                    "new": str(STATUS_IDS[row[6]]),
                }
            )
            if len(journals) == CHUNK:
                target.execute(insert_journal, journals)
                target.execute(insert_detail, journals)
                journals.clear()
        if journals:
            target.execute(insert_journal, journals)
            target.execute(insert_detail, journals)
    engine.dispose()
    print(f"loaded in {time.perf_counter() - began:.1f} s")


def measure(db_url: str, polls: int) -> None:
    """Time an idle poll and a poll of a full batch, `polls` times each."""
    app = create_app("testing", REDMINE_DB_URL=db_url)
    with app.app_context():
        source = Source()
        start = Cursor.parse(changes_since(source, None).cursor)
        counts = {
            "issues": "SELECT COUNT(*) FROM issues",
            "journals": "SELECT COUNT(*) FROM journals",
        }
        engine = create_engine(db_url)
        with engine.connect() as connection:
            sizes = {name: connection.scalar(text(sql)) for name, sql in counts.items()}
        engine.dispose()
        print(f"Redmine database: {sizes['issues']:,} issues, {sizes['journals']:,} journals")
        cases = {
            "idle poll (nothing new)": Cursor(start.journal, {}, start.since).dump(),
            "poll reading 100 new journals": Cursor(start.journal - 100, {}, start.since).dump(),
        }
        for name, cursor in cases.items():
            changes_since(source, cursor, 100)  # warm the pool and the server's caches
            times = []
            for _ in range(polls):
                began = time.perf_counter()
                batch = changes_since(source, cursor, 100)
                times.append((time.perf_counter() - began) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{name}: {len(batch.changes)} changes, median {statistics.median(times):.2f} ms,"
                f" p99 {p99:.2f} ms over {polls} polls"
            )
        engine = redmine_database()
        assert engine is not None
        params = {"after": start.journal - 100, "gaps": [], "limit": 100}
        times = []
        with engine.connect() as connection:
            for _ in range(polls):
                began = time.perf_counter()
                connection.execute(CHANGES, params).all()
                times.append((time.perf_counter() - began) * 1000)
        times.sort()
        print(f"its query alone: median {statistics.median(times):.2f} ms over {polls} runs")
    dispose_database(app)


def main() -> None:
    """Load if needed, then measure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--polls", type=int, default=200)
    args = parser.parse_args()
    load(args.dataset, args.db_url)
    measure(args.db_url, args.polls)


if __name__ == "__main__":
    main()
