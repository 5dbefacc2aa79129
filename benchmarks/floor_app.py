"""The "Flask floor": the most a bare Flask process does for My Tasks' query, to compare against.

Bare Flask with the driver (sqlite3, or psycopg for PostgreSQL) on the same loaded helpdesk
database: no auth, no ORM, no sessions, one connection per worker. Serve it as the shared README
describes, gunicorn with 2 sync workers:

    DATABASE_URL=sqlite:////tmp/hd-bench.db .venv/bin/python benchmarks/floor_app.py --port 8001

Endpoints (the helpdesk's equivalents in brackets):
    GET /floor/my-tasks?user_id=U[&priority=High][&search=word]   [GET /tasks/my-tasks]
    GET /floor/task/<id>                                          [GET /tasks/api/task/<id>]
    PUT /floor/task/<id>/status  {"status_id": N, "user_id": U}    [PUT /tasks/api/task/<id>/status]
    GET /floor/const                                              constant JSON
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

app = Flask(__name__)

DATABASE_URL = os.environ.get("DATABASE_URL", "")
CONSTANT = {"success": True, "message": "floor", "data": {"answer": 42}}

# The My Tasks query as the helpdesk's local backend builds it, without the visibility check.
LIST_COLUMNS = """
    t.id, t.subject, t.project_id, p.name AS project_name, t.tracker_id, tr.name AS tracker_name,
    t.status_id, s.name AS status_name, s.is_closed, t.priority_id, pr.name AS priority_name,
    t.assigned_to_id, coalesce(nullif(u.full_name, ''), u.username) AS assignee_name,
    t.due_date, t.updated_on, t.done_ratio
"""
LIST_FROM = """
    FROM tasks t
    JOIN projects p ON p.id = t.project_id
    JOIN trackers tr ON tr.id = t.tracker_id
    JOIN task_statuses s ON s.id = t.status_id
    JOIN task_priorities pr ON pr.id = t.priority_id
    LEFT JOIN "user" u ON u.id = t.assigned_to_id
"""
TASK_SQL = """
    SELECT t.id, t.subject, t.description, t.status_id, s.name AS status_name, s.is_closed,
        t.priority_id, pr.name AS priority_name, t.project_id, p.name AS project_name,
        t.tracker_id, tr.name AS tracker_name, t.author_id,
        coalesce(nullif(a.full_name, ''), a.username) AS author_name, t.assigned_to_id,
        coalesce(nullif(u.full_name, ''), u.username) AS assignee_name, t.start_date,
        t.due_date, t.estimated_hours, t.done_ratio, t.created_on, t.updated_on, t.closed_on
    FROM tasks t
    JOIN projects p ON p.id = t.project_id
    JOIN trackers tr ON tr.id = t.tracker_id
    JOIN task_statuses s ON s.id = t.status_id
    JOIN task_priorities pr ON pr.id = t.priority_id
    JOIN "user" a ON a.id = t.author_id
    LEFT JOIN "user" u ON u.id = t.assigned_to_id
    WHERE t.id = ?
"""


class Database:
    """One connection per worker process, with the placeholder style of its driver."""

    def __init__(self, url: str):
        """Connect with the driver the URL names; no pool, as one sync worker needs one."""
        self.is_postgres = url.startswith("postgresql")
        if self.is_postgres:
            import psycopg
            from psycopg.rows import dict_row

            dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
            self.conn: Any = psycopg.connect(dsn, autocommit=True, row_factory=dict_row)
        elif url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA synchronous=NORMAL")  # the helpdesk's SQLITE_SYNCHRONOUS
        else:
            raise RuntimeError(f"DATABASE_URL must be SQLite or PostgreSQL, not {url!r}")

    def sql(self, text: str) -> str:
        """The statement in the driver's parameter style (qmark for sqlite3, format for psycopg)."""
        return text.replace("?", "%s") if self.is_postgres else text

    def all(self, text: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        """Every row as a dict."""
        return [dict(row) for row in self.conn.execute(self.sql(text), params).fetchall()]

    def one(self, text: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        """The first row as a dict, or None."""
        row = self.conn.execute(self.sql(text), params).fetchone()
        return None if row is None else dict(row)


_database: Database | None = None


def db() -> Database:
    """The worker's connection, opened on first use (after gunicorn forks)."""
    global _database
    if _database is None:
        _database = Database(DATABASE_URL)
    return _database


def iso(value: Any) -> str | None:
    """A timestamp as ISO text, whether the driver gives text (SQLite) or datetime (psycopg)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value[:19].replace(" ", "T") + "Z"
    return value.replace(microsecond=0).isoformat() + "Z"


@app.get("/floor/const")
def constant() -> Response:
    """Constant JSON: Flask and gunicorn alone."""
    return jsonify(CONSTANT)


@app.get("/floor/my-tasks")
def my_tasks() -> Response:
    """A user's open tasks, 25 by priority then recency, with the total: My Tasks' work."""
    database = db()
    user_id = int(request.args["user_id"])
    where = ["t.assigned_to_id = ?", "s.is_closed = ?"]
    params: list[Any] = [user_id, False]
    if priority := request.args.get("priority"):
        where.append("lower(pr.name) = ?")
        params.append(priority.strip().lower())
    for word in request.args.get("search", "").split():
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        if database.is_postgres:
            where.append("t.subject ILIKE ? ESCAPE '\\'")
        else:
            where.append("lower(t.subject) LIKE lower(?) ESCAPE '\\'")
        params.append(f"%{escaped}%")
    condition = " AND ".join(where)
    rows = database.all(
        f"SELECT {LIST_COLUMNS} {LIST_FROM} WHERE {condition} "
        "ORDER BY pr.position DESC, t.updated_on DESC, t.id DESC LIMIT 25",
        tuple(params),
    )
    total = database.one(
        f"SELECT count(*) AS n {LIST_FROM} WHERE {condition}",
        tuple(params),
    )
    tasks = [
        {
            "id": row["id"],
            "subject": row["subject"],
            "status": row["status_name"],
            "priority": row["priority_name"],
            "project": row["project_name"],
            "due_date": iso(row["due_date"]),
            "assigned_to": row["assignee_name"],
            "status_id": row["status_id"],
            "is_closed": bool(row["is_closed"]),
            "priority_id": row["priority_id"],
            "project_id": row["project_id"],
            "tracker": row["tracker_name"],
            "assigned_to_id": row["assigned_to_id"],
            "done_ratio": row["done_ratio"],
            "updated_on": iso(row["updated_on"]),
        }
        for row in rows
    ]
    count = total["n"] if total else 0
    return jsonify(
        {"tasks": tasks, "pagination": {"page": 1, "per_page": 25, "total": count}},
    )


@app.get("/floor/task/<int:task_id>")
def task(task_id: int) -> Response | tuple[Response, int]:
    """One task with its names: task-by-id's work."""
    row = db().one(TASK_SQL, (task_id,))
    if row is None:
        return jsonify({"success": False, "message": "not found"}), 404
    for key in ("created_on", "updated_on", "closed_on", "start_date", "due_date"):
        row[key] = iso(row[key])
    row["is_closed"] = bool(row["is_closed"])
    return jsonify({"success": True, "data": row})


@app.put("/floor/task/<int:task_id>/status")
def change_status(task_id: int) -> Response | tuple[Response, int]:
    """Set the status and write a journal with its detail in one transaction: a status change."""
    body = json.loads(request.get_data() or b"{}")
    status_id, user_id = int(body["status_id"]), int(body["user_id"])
    database = db()
    now = datetime.now(UTC).replace(tzinfo=None)
    if not database.is_postgres:
        now = now.isoformat(" ")
    conn = database.conn
    if database.is_postgres:
        with conn.transaction():
            old = _apply_status(database, task_id, status_id, user_id, now)
    else:
        conn.execute("BEGIN IMMEDIATE")
        try:
            old = _apply_status(database, task_id, status_id, user_id, now)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    if old is None:
        return jsonify({"success": False, "message": "not found"}), 404
    return jsonify({"success": True, "data": {"old_status_id": old, "new_status_id": status_id}})


def _apply_status(
    database: Database, task_id: int, status_id: int, user_id: int, now: Any
) -> int | None:
    """The writes of a status change; returns the old status id, or None for no such task."""
    row = database.one("SELECT status_id FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        return None
    sql = database.sql
    database.conn.execute(
        sql("UPDATE tasks SET status_id = ?, updated_on = ?, lock_version = lock_version + 1 "
            "WHERE id = ?"),
        (status_id, now, task_id),
    )  # fmt: skip
    journal = database.one(
        "INSERT INTO journals (task_id, user_id, notes, created_on) VALUES (?, ?, '', ?) "
        "RETURNING id",
        (task_id, user_id, now),
    )
    assert journal is not None
    database.conn.execute(
        sql("INSERT INTO journal_details (journal_id, prop_key, old_value, new_value) "
            "VALUES (?, 'status_id', ?, ?)"),
        (journal["id"], str(row["status_id"]), str(status_id)),
    )  # fmt: skip
    return row["status_id"]


def main() -> None:
    """Serve the floor with gunicorn, 2 sync workers, on loopback."""
    from gunicorn.app.base import BaseApplication

    parser = argparse.ArgumentParser(description="Serve the Flask floor.")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not DATABASE_URL:
        parser.error("set DATABASE_URL")

    class FloorServer(BaseApplication):  # type: ignore[misc]
        """Gunicorn running this module's app."""

        def load_config(self) -> None:
            """Sync workers, no access log: the cheapest gunicorn setup."""
            self.cfg.set("bind", f"127.0.0.1:{args.port}")
            self.cfg.set("workers", args.workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("accesslog", None)
            self.cfg.set("timeout", 60)

        def load(self) -> Flask:
            """The WSGI app."""
            return app

    FloorServer().run()


if __name__ == "__main__":
    main()
