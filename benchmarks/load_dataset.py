"""Load the shared benchmark dataset into a helpdesk database, so all systems measure the same rows.

Usage:
    DATABASE_URL=sqlite:////tmp/hd-bench.db .venv/bin/python benchmarks/load_dataset.py \
        --dataset /tmp/bench-dataset.sqlite3

The target database is migrated first (`helpdesk db upgrade`, skip with --no-upgrade) and must
hold no users or tasks yet, unless --replace is given, which empties the task and user tables.
Rows keep the dataset's ids; every user gets the password "bench". The dataset's bench user is
recorded in site_settings (bench_user_login), where benchmarks/run_load.py finds it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
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
from sqlalchemy import Engine, Table, create_engine, delete, event, func, select, text

from helpdesk.core.models import SiteSetting
from helpdesk.posts.models import Post
from helpdesk.tasks.models import (
    CustomValue,
    Journal,
    JournalDetail,
    Member,
    Project,
    Task,
    Watcher,
)
from helpdesk.tasks.search import pause_search_index, rebuild_search_index
from helpdesk.users.models import User
from helpdesk.users.tokens import ApiToken

PASSWORD = "bench"
DEFAULT_DATASET = Path(tempfile.gettempdir()) / "bench-dataset.sqlite3"
STATUS_IDS = {
    "new": 1,
    "in_progress": 2,
    "resolved": 3,
    "feedback": 4,
    "closed": 5,
    "rejected": 6,
}
TRACKER_IDS = {"bug": 1, "feature": 2, "support": 3}
ROLE_IDS = {"developer": 2, "reporter": 3}
PRIORITY_IDS = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}

# Children first, so --replace can delete without breaking foreign keys.
REPLACED_TABLES: list[Table] = [
    JournalDetail.__table__,
    Journal.__table__,
    Watcher.__table__,
    CustomValue.__table__,
    Task.__table__,
    Member.__table__,
    Project.__table__,
    ApiToken.__table__,
    Post.__table__,
    User.__table__,
]
LOADED_TABLES: list[Table] = [
    User.__table__,
    Project.__table__,
    Member.__table__,
    Task.__table__,
    Journal.__table__,
    JournalDetail.__table__,
]
SETTINGS = SiteSetting.__table__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the database comes from DATABASE_URL like the app's."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(DEFAULT_DATASET), help="from gen_dataset.py")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="target database (default: DATABASE_URL)",
    )
    parser.add_argument("--batch", type=int, default=10_000, help="rows per insert batch")
    parser.add_argument("--replace", action="store_true", help="empty user and task tables first")
    parser.add_argument("--no-upgrade", action="store_true", help="skip `helpdesk db upgrade`")
    parser.add_argument("--no-analyze", action="store_true", help="skip ANALYZE after loading")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    if not Path(args.dataset).is_file():
        parser.error(f"{args.dataset} does not exist; run gen_dataset.py first")
    return args


def upgrade(database_url: str) -> None:
    """Create the helpdesk's tables with its own migrations, as an operator would."""
    helpdesk = Path(sys.executable).with_name("helpdesk")
    command = [str(helpdesk)] if helpdesk.exists() else ["helpdesk"]
    with tempfile.TemporaryDirectory(prefix="helpdesk-upgrade-") as instance:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "HELPDESK_ENV": "development",
            "HELPDESK_INSTANCE_PATH": os.environ.get("HELPDESK_INSTANCE_PATH") or instance,
        }
        subprocess.run([*command, "db", "upgrade"], env=env, check=True, timeout=600)


def make_engine(database_url: str) -> Engine:
    """An engine tuned for one bulk load: no fsync per batch on SQLite."""
    engine = create_engine(database_url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            """Bulk-load settings for this connection only; the file's journal mode is kept."""
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-200000")
            cursor.close()

    return engine


def batches(
    source: sqlite3.Connection, sql: str, size: int, convert: Callable[[tuple[Any, ...]], dict]
) -> Iterator[list[dict[str, Any]]]:
    """Stream a dataset table in converted batches, so a million rows never sit in memory."""
    cursor = source.execute(sql)
    while rows := cursor.fetchmany(size):
        yield [convert(row) for row in rows]


def load(args: argparse.Namespace) -> dict[str, Any]:
    """Copy every dataset table into the helpdesk tables; returns counts and timings."""
    source = sqlite3.connect(f"file:{args.dataset}?mode=ro", uri=True)
    meta = dict(source.execute("SELECT key, value FROM meta").fetchall())
    bench_user_id = int(meta["bench_user_id"])
    (bench_login,) = source.execute(
        "SELECT login FROM users WHERE id = ?", (bench_user_id,)
    ).fetchone()

    now = datetime.now(UTC).replace(tzinfo=None)

    def at(age_s: float | None) -> datetime | None:
        """The dataset's age in seconds as a timestamp relative to this load."""
        return None if age_s is None else now - timedelta(seconds=age_s)

    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=12)).decode("ascii")

    def user(row: tuple[Any, ...]) -> dict[str, Any]:
        """A helpdesk user row: dataset login, shared password hash, own session token."""
        uid, login, first, last, email, age_s, _api_key = row
        return {
            "id": uid,
            "username": login,
            "email": email,
            "password": password_hash,
            "full_name": f"{first} {last}",
            "is_admin": False,
            "is_redmine_user": True,
            "can_access_quality_control": False,
            "can_access_contact_center_moscow": False,
            "browser_notifications_enabled": False,
            "notifications_widget_enabled": True,
            "online": False,
            "session_token": secrets.token_urlsafe(16),
            "created_at": at(age_s),
        }

    def project(row: tuple[Any, ...]) -> dict[str, Any]:
        """A project row with its creation time rebased."""
        pid, identifier, name, description, age_s = row
        return {
            "id": pid,
            "identifier": identifier,
            "name": name,
            "description": description,
            "created_on": at(age_s),
        }

    def member(row: tuple[Any, ...]) -> dict[str, Any]:
        """A membership with the dataset role as the migration's role id."""
        mid, user_id, project_id, role = row
        return {"id": mid, "project_id": project_id, "user_id": user_id, "role_id": ROLE_IDS[role]}

    def task(row: tuple[Any, ...]) -> dict[str, Any]:
        """A task row: names mapped to the migration's fixed lookup ids, ages to times."""
        (tid, project_id, tracker, status, priority, author_id, assigned_to_id, subject,
         description, created_age_s, updated_age_s, closed_age_s) = row  # fmt: skip
        return {
            "id": tid,
            "project_id": project_id,
            "tracker_id": TRACKER_IDS[tracker],
            "status_id": STATUS_IDS[status],
            "priority_id": PRIORITY_IDS[priority],
            "author_id": author_id,
            "assigned_to_id": assigned_to_id,
            "subject": subject,
            "description": description,
            "start_date": None,
            "due_date": None,
            "estimated_hours": None,
            "done_ratio": 0,
            "created_on": at(created_age_s),
            "updated_on": at(updated_age_s),
            "closed_on": at(closed_age_s),
            "lock_version": 0,
        }

    def journal(row: tuple[Any, ...]) -> dict[str, Any]:
        """A journal row (its status change goes to journal_details)."""
        jid, issue_id, user_id, notes, age_s, _old, _new = row
        return {
            "id": jid,
            "task_id": issue_id,
            "user_id": user_id,
            "notes": notes or "",
            "created_on": at(age_s),
        }

    def detail(row: tuple[Any, ...]) -> dict[str, Any]:
        """The journal's status change, as the app records one."""
        jid, _issue_id, _user_id, _notes, _age_s, old, new = row
        return {
            "id": jid,
            "journal_id": jid,
            "prop_key": "status_id",
            "old_value": str(STATUS_IDS[old]),
            "new_value": str(STATUS_IDS[new]),
        }

    plan: list[tuple[Table, str, Callable[[tuple[Any, ...]], dict]]] = [
        (User.__table__, "SELECT * FROM users ORDER BY id", user),
        (Project.__table__, "SELECT * FROM projects ORDER BY id", project),
        (
            Member.__table__,
            "SELECT rowid, user_id, project_id, role FROM memberships ORDER BY rowid",
            member,
        ),
        (Task.__table__, "SELECT * FROM issues ORDER BY id", task),
        (Journal.__table__, "SELECT * FROM journals ORDER BY id", journal),
        (JournalDetail.__table__, "SELECT * FROM journals ORDER BY id", detail),
    ]

    engine = make_engine(args.database_url)
    counts: dict[str, int] = {}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with engine.begin() as conn:
        existing = conn.scalar(select(func.count()).select_from(User.__table__)) or 0
        existing += conn.scalar(select(func.count()).select_from(Task.__table__)) or 0
        if existing and not args.replace:
            raise SystemExit("The database already has users or tasks; use --replace to empty it.")
        for table in REPLACED_TABLES:
            conn.execute(delete(table))
        conn.execute(delete(SETTINGS).where(SETTINGS.c.key.like("bench_%")))
        pause_search_index(conn)  # indexed once after the load, not per row
    for table, sql, convert in plan:
        table_started = time.perf_counter()
        counts[table.name] = 0
        with engine.begin() as conn:
            for rows in batches(source, sql, args.batch, convert):
                conn.execute(table.insert(), rows)
                counts[table.name] += len(rows)
        seconds[table.name] = round(time.perf_counter() - table_started, 1)
        print(f"  {table.name:<16} {counts[table.name]:>10,} rows in {seconds[table.name]:6.1f} s")

    search_started = time.perf_counter()
    with engine.begin() as conn:
        rebuild_search_index(conn)
    seconds["task_search"] = round(time.perf_counter() - search_started, 1)
    print(f"  {'task_search':<16} {counts['tasks']:>10,} rows in {seconds['task_search']:6.1f} s")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in LOADED_TABLES:
                quoted = engine.dialect.identifier_preparer.quote(table.name)
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{quoted}', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM {quoted}))"
                    )
                )
        conn.execute(
            SETTINGS.insert(),
            [
                {"key": "bench_user_login", "value": bench_login},
                {"key": "bench_dataset", "value": json.dumps(meta, sort_keys=True)},
                {"key": "bench_loaded_at", "value": now.isoformat() + "Z"},
            ],
        )
    analyze_seconds = 0.0
    if not args.no_analyze:
        analyze_started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        analyze_seconds = round(time.perf_counter() - analyze_started, 1)
    engine.dispose()
    return {
        "dataset": meta,
        "bench_user_login": bench_login,
        "counts": counts,
        "seconds": seconds,
        "analyze_seconds": analyze_seconds,
        "total_seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    """Migrate, load, and report what was loaded and how long it took."""
    args = parse_args(argv)
    started = time.perf_counter()
    if not args.no_upgrade:
        upgrade(args.database_url)
    print(f"Loading {args.dataset} into {create_engine(args.database_url).url!r}", flush=True)
    report = load(args)
    print(
        f"Loaded {report['counts']['tasks']:,} tasks, {report['counts']['journals']:,} journals, "
        f"{report['counts']['user']:,} users in {report['total_seconds']} s "
        f"(ANALYZE {report['analyze_seconds']} s; {time.perf_counter() - started:.1f} s with "
        f"the migration). Bench user: {report['bench_user_login']} "
        f"({report['dataset'].get('bench_user_open_assigned')} open assigned tasks)."
    )


if __name__ == "__main__":
    main()
