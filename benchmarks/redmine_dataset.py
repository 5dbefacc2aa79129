"""Load the shared benchmark dataset straight into a Redmine 5's tables (MariaDB), and its people
into a helpdesk database linked to them, so the helpdesk on Redmine and Redmine itself are
measured on the same rows.

    tests/services/redmine.sh start rmbench_100k 3791    # prints URL KEY DBURL
    .venv/bin/python benchmarks/redmine_dataset.py --issues 100000 \
        --redmine-db-url mysql+pymysql://root@127.0.0.1:3306/redmine_helpdesk_rmbench_100k \
        --database-url postgresql://postgres@127.0.0.1:5432/rmbench_100k

The dataset (../shared/bench/gen_dataset.py) is made first if its file is missing: --issues
1000000 makes the large one (with 5,000 users, one per 200 issues as the README says). Redmine's
ids: projects and issues keep the dataset's, users get USER_OFFSET added (Redmine's own admin and
anonymous users come first); every project is public with the issue-tracking module and the three
trackers; developers get Redmine's Developer role, reporters its Reporter role. Redmine must hold
no project yet (a fresh instance); the helpdesk database is migrated and must hold no users.
Times are rebased on the load ("seconds before now"), in UTC as tests/services/redmine.sh runs
Redmine.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
from sqlalchemy import create_engine, text

from helpdesk.users.models import User
from load_dataset import PASSWORD, upgrade

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the checkout (or beside the folder of worktrees a checkout sits in)
GENERATOR = next(
    (
        path
        for base in (ROOT.parent, ROOT.parent.parent)
        if (path := base / "shared" / "bench" / "gen_dataset.py").exists()
    ),
    ROOT.parent / "shared" / "bench" / "gen_dataset.py",
)
USER_OFFSET = 1000  # Redmine id = dataset id + USER_OFFSET
STATUS_IDS = {"new": 1, "in_progress": 2, "resolved": 3, "feedback": 4, "closed": 5, "rejected": 6}
TRACKER_IDS = {"bug": 1, "feature": 2, "support": 3}
ROLE_IDS = {"developer": 4, "reporter": 5}  # Redmine's default Developer and Reporter
BATCH = 5000
# Fixed column values travel as parameters: PyMySQL sends a batch as one multi-row INSERT only
# when VALUES holds nothing but placeholders (else one statement per row, ~100 times slower).
FIXED = {
    "no": 0,
    "yes": 1,
    "two": 2,
    "empty": "",
    "en": "en",
    "kind": "User",
    "notify": "only_my_events",
    "issue": "Issue",
    "attr": "attr",
    "status_key": "status_id",
    "module": "issue_tracking",
}


def dataset_path(issues: int) -> Path:
    """Where the dataset of that size is kept between runs."""
    return Path(tempfile.gettempdir()) / f"rmbench_dataset_{issues}.sqlite3"


def ensure_dataset(path: Path, issues: int, generator: Path) -> None:
    """Make the dataset with the shared generator unless it exists (a minute for a million)."""
    if path.exists():
        return
    users = max(500, issues // 200)
    print(f"generating {issues:,} issues, {users:,} users into {path}", flush=True)
    command = [sys.executable, str(generator), "--issues", str(issues), "--users", str(users)]
    subprocess.run([*command, "--out", str(path)], check=True, timeout=3600)


def batches(
    source: sqlite3.Connection, sql: str, convert: Callable[[tuple[Any, ...]], dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    """A dataset table in converted batches, so a million rows never sit in memory."""
    cursor = source.execute(sql)
    while rows := cursor.fetchmany(BATCH):
        yield [{**FIXED, **convert(row)} for row in rows]


def redmine_plan(now: datetime) -> list[tuple[str, str, Callable[[tuple[Any, ...]], Any]]]:
    """For each Redmine table: its INSERT, the dataset query and the row conversion."""

    def at(age: float | None) -> datetime | None:
        return None if age is None else now - timedelta(seconds=int(age))

    def user(row: tuple[Any, ...]) -> dict[str, Any]:
        uid, login, first, last, email, age, _key = row
        return {
            "id": USER_OFFSET + uid,
            "login": login,
            "first": first,
            "last": last,
            "email": email,
            "at": at(age),
        }

    def project(row: tuple[Any, ...]) -> dict[str, Any]:
        pid, identifier, name, description, age = row
        return {
            "id": pid,
            "identifier": identifier,
            "name": name,
            "description": description,
            "at": at(age),
            "lft": 2 * pid - 1,
            "rgt": 2 * pid,
        }

    def member(row: tuple[Any, ...]) -> dict[str, Any]:
        mid, uid, pid, role = row
        return {
            "id": mid,
            "user": USER_OFFSET + uid,
            "project": pid,
            "role": ROLE_IDS[role],
            "at": now,
        }

    def issue(row: tuple[Any, ...]) -> dict[str, Any]:
        (
            iid,
            pid,
            tracker,
            status,
            priority,
            author,
            assignee,
            subject,
            description,
            created,
            updated,
            closed,
        ) = row
        return {
            "id": iid,
            "project": pid,
            "tracker": TRACKER_IDS[tracker],
            "status": STATUS_IDS[status],
            "priority": priority,
            "author": USER_OFFSET + author,
            "assignee": None if assignee is None else USER_OFFSET + assignee,
            "subject": subject[:255],
            "description": description,
            "created": at(created),
            "updated": at(updated),
            "closed": at(closed),
        }

    def journal(row: tuple[Any, ...]) -> dict[str, Any]:
        jid, iid, uid, notes, age, old, new = row
        return {
            "id": jid,
            "issue_id": iid,
            "user": USER_OFFSET + uid,
            "notes": notes or "",
            "at": at(age),
            "old": str(STATUS_IDS[old]),
            "new": str(STATUS_IDS[new]),
        }

    return [
        (
            "INSERT INTO users (id, login, hashed_password, firstname, lastname, admin, status, "
            "language, created_on, updated_on, type, mail_notification, must_change_passwd) "
            "VALUES (:id, :login, :empty, :first, :last, :no, :yes, :en, :at, :at, :kind, "
            ":notify, :no)",
            "SELECT * FROM users ORDER BY id",
            user,
        ),
        (
            "INSERT INTO email_addresses (user_id, address, is_default, notify, created_on, "
            "updated_on) VALUES (:id, :email, :yes, :yes, :at, :at)",
            "SELECT * FROM users ORDER BY id",
            user,
        ),
        (
            "INSERT INTO projects (id, name, description, homepage, is_public, created_on, "
            "updated_on, identifier, status, lft, rgt, inherit_members) VALUES (:id, :name, "
            ":description, :empty, :yes, :at, :at, :identifier, :yes, :lft, :rgt, :no)",
            "SELECT * FROM projects ORDER BY id",
            project,
        ),
        (
            "INSERT INTO enabled_modules (project_id, name) VALUES (:id, :module)",
            "SELECT * FROM projects ORDER BY id",
            project,
        ),
        (
            "INSERT INTO projects_trackers (project_id, tracker_id) VALUES (:project, :tracker)",
            "SELECT p.id, t.id FROM projects p CROSS JOIN (SELECT 1 AS id UNION ALL SELECT 2 "
            "UNION ALL SELECT 3) t ORDER BY p.id, t.id",
            lambda row: {"project": row[0], "tracker": row[1]},
        ),
        (
            "INSERT INTO members (id, user_id, project_id, created_on, mail_notification) "
            "VALUES (:id, :user, :project, :at, :no)",
            "SELECT rowid, user_id, project_id, role FROM memberships ORDER BY rowid",
            member,
        ),
        (
            "INSERT INTO member_roles (member_id, role_id) VALUES (:id, :role)",
            "SELECT rowid, user_id, project_id, role FROM memberships ORDER BY rowid",
            member,
        ),
        (
            "INSERT INTO issues (id, tracker_id, project_id, subject, description, status_id, "
            "priority_id, author_id, assigned_to_id, created_on, updated_on, closed_on, "
            "root_id, lft, rgt, lock_version, done_ratio, is_private) VALUES (:id, :tracker, "
            ":project, :subject, :description, :status, :priority, :author, :assignee, "
            ":created, :updated, :closed, :id, :yes, :two, :no, :no, :no)",
            "SELECT * FROM issues ORDER BY id",
            issue,
        ),
        (
            "INSERT INTO journals (id, journalized_id, journalized_type, user_id, notes, "
            "created_on, private_notes) VALUES (:id, :issue_id, :issue, :user, :notes, :at, :no)",
            "SELECT * FROM journals ORDER BY id",
            journal,
        ),
        (
            "INSERT INTO journal_details (journal_id, property, prop_key, old_value, value) "
            "VALUES (:id, :attr, :status_key, :old, :new)",
            "SELECT * FROM journals ORDER BY id",
            journal,
        ),
    ]


def load_redmine(dataset: Path, db_url: str) -> None:
    """Copy the dataset into Redmine's tables, unless they hold it already."""
    source = sqlite3.connect(f"file:{dataset}?mode=ro", uri=True)
    engine = create_engine(db_url)
    began = time.perf_counter()
    with engine.connect() as connection:
        if connection.scalar(text("SELECT COUNT(*) FROM projects")):
            (wanted,) = source.execute("SELECT COUNT(*) FROM journals").fetchone()
            held = connection.scalar(text("SELECT COUNT(*) FROM journals"))
            if held < wanted:  # more: changes made since the load
                raise SystemExit(f"Redmine holds {held:,} journals, the dataset {wanted:,}")
            print("Redmine holds the dataset already")
            return
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    for insert, query, convert in redmine_plan(now):
        started = time.perf_counter()
        rows = 0
        with engine.begin() as connection:
            connection.execute(text("SET unique_checks = 0, foreign_key_checks = 0"))
            for batch in batches(source, query, convert):
                connection.execute(text(insert), batch)
                rows += len(batch)
        table = insert.split()[2]
        print(f"  {table:<18} {rows:>10,} rows in {time.perf_counter() - started:6.1f} s")
    with engine.begin() as connection:
        for table in ("issues", "journals", "journal_details", "users", "members"):
            connection.execute(text(f"ANALYZE TABLE {table}"))
    engine.dispose()
    print(f"Redmine loaded in {time.perf_counter() - began:.1f} s", flush=True)


def load_helpdesk(dataset: Path, database_url: str) -> str:
    """Migrate the helpdesk database and give every dataset user an account linked to their
    Redmine user (password "bench"); returns the bench user's login."""

    source = sqlite3.connect(f"file:{dataset}?mode=ro", uri=True)
    meta = dict(source.execute("SELECT key, value FROM meta").fetchall())
    (bench,) = source.execute(
        "SELECT login FROM users WHERE id = ?", (int(meta["bench_user_id"]),)
    ).fetchone()
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        if connection.scalar(text('SELECT COUNT(*) FROM "user"')):
            print("the helpdesk holds users already")
            return str(bench)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=12)).decode("ascii")
        rows = [
            {
                "id": uid,
                "username": login,
                "email": email,
                "password": hashed,
                "full_name": f"{first} {last}",
                "is_redmine_user": True,
                "redmine_user_id": USER_OFFSET + uid,
            }
            for uid, login, first, last, email in source.execute(
                "SELECT id, login, firstname, lastname, email FROM users ORDER BY id"
            )
        ]
        connection.execute(User.__table__.insert(), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("""SELECT setval(pg_get_serial_sequence('"user"', 'id'), 100000)""")
            )
    engine.dispose()
    return str(bench)


def main() -> None:
    """Generate if needed, then load Redmine and the helpdesk."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--dataset", help="the dataset file (default: one per --issues in /tmp)")
    parser.add_argument("--generator", default=str(GENERATOR), help="gen_dataset.py")
    parser.add_argument("--redmine-db-url", required=True, help="Redmine's MariaDB database")
    parser.add_argument("--database-url", help="the helpdesk's database, to link its users")
    args = parser.parse_args()
    dataset = Path(args.dataset) if args.dataset else dataset_path(args.issues)
    ensure_dataset(dataset, args.issues, Path(args.generator))
    load_redmine(dataset, args.redmine_db_url)
    if args.database_url:
        print(f"bench user: {load_helpdesk(dataset, args.database_url)}")


if __name__ == "__main__":
    main()
