"""Count the SQL per request and profile an endpoint, to find where a request's time goes.

Runs the production configuration in-process through Flask's test client against the database in
DATABASE_URL (loaded by benchmarks/load_dataset.py), signed in as the bench user:

    DATABASE_URL=sqlite:////tmp/hd-bench.db .venv/bin/python benchmarks/profile_requests.py
    DATABASE_URL=... .venv/bin/python benchmarks/profile_requests.py --profile my_tasks -n 500
    DATABASE_URL=... .venv/bin/python benchmarks/profile_requests.py --time 500 \
        --override SESSION_REFRESH_EACH_REQUEST=false --override LOG_REQUESTS=false

--profile needs pyinstrument (`.venv/bin/pip install pyinstrument`; not a project dependency).
The profile's text goes to stdout, its HTML to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from load_dataset import upgrade

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def parse_override(item: str) -> tuple[str, Any]:
    """KEY=VALUE from the command line, with true/false and whole numbers converted."""
    key, sep, raw = item.partition("=")
    if not sep or not key.isupper():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {item!r}")
    lowered = raw.strip().lower()
    value: Any = raw
    if lowered in {"true", "false"}:
        value = lowered == "true"
    elif raw.strip().isdigit():
        value = int(raw)
    return key, value


def build_app(database_url: str, overrides: dict[str, Any]) -> Flask:
    """The production app as served, plus config overrides, so what-ifs need no code change."""
    os.environ.setdefault("HELPDESK_INSTANCE_PATH", tempfile.mkdtemp(prefix="helpdesk-profile-"))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", secrets.token_hex(32))
    from helpdesk import create_app

    settings = {"SESSION_COOKIE_SECURE": False, "REMEMBER_COOKIE_SECURE": False, **overrides}
    return create_app("production", **settings)


def fixture(app: Flask) -> dict[str, Any]:
    """The bench user and two of their open tasks (one to read, one to move)."""
    from helpdesk.core.models import SiteSetting
    from helpdesk.extensions import db
    from helpdesk.tasks.models import Task
    from helpdesk.users.models import User

    with app.app_context():
        login = db.session.scalar(
            select(SiteSetting.value).where(SiteSetting.key == "bench_user_login")
        )
        if not login:
            raise SystemExit("No bench_user_login in site_settings: run load_dataset.py first.")
        user_id = db.session.scalar(select(User.id).where(User.username == login))
        open_ids = list(
            db.session.scalars(
                select(Task.id)
                .where(Task.assigned_to_id == user_id, Task.status_id.in_([1, 2]))
                .order_by(Task.id)
            )
        )
        moved = db.session.get(Task, open_ids[-1])
        assert moved is not None
        original = {"status_id": moved.status_id, "updated_on": moved.updated_on}
    return {
        "login": login,
        "user_id": user_id,
        "read_id": open_ids[0],
        "move_id": open_ids[-1],
        "move_original": original,
    }


def restore(app: Flask, fx: dict[str, Any]) -> None:
    """Give the moved task its dataset status and time back (its new journals stay)."""
    from sqlalchemy import update

    from helpdesk.extensions import db
    from helpdesk.tasks.models import Task

    with app.app_context():
        db.session.execute(
            update(Task).where(Task.id == fx["move_id"]).values(**fx["move_original"])
        )
        db.session.commit()


def sign_in(client: FlaskClient, login: str) -> None:
    """POST /users/login with JSON, as the load script does."""
    response = client.post("/users/login", json={"username": login, "password": "bench"})
    if response.status_code != 200:
        raise SystemExit(f"login failed: {response.status_code} {response.get_data(as_text=True)}")


@contextmanager
def statements(app: Flask) -> Iterator[tuple[list[str], list[int]]]:
    """Collect the block's SQL, and count pool checkouts (on PostgreSQL each pings first, which
    cursor events do not see; SQLite does not ping)."""
    from helpdesk.extensions import db

    seen: list[str] = []
    checkouts: list[int] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        """Keep the statement, on one line."""
        seen.append(" ".join(statement.split()))

    def checkout(*_args: Any) -> None:
        """Count a checkout (a pre-ping round trip on PostgreSQL)."""
        checkouts.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine.pool, "checkout", checkout)
    try:
        yield seen, checkouts
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine.pool, "checkout", checkout)


def requests_to_measure(fx: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Name -> (method, path, options) of each measured request."""
    json_headers = {"headers": {"Accept": "application/json"}}
    return {
        "my_tasks": ("GET", "/tasks/my-tasks", json_headers),
        "my_tasks_per_page_100": ("GET", "/tasks/my-tasks?per_page=100", json_headers),
        "my_tasks_priority": ("GET", "/tasks/my-tasks?priority=High", json_headers),
        "my_tasks_search": ("GET", "/tasks/my-tasks?search=login", json_headers),
        # the full-text searches run_load.py measures, and the same list without a search
        "api_tasks_all": ("GET", "/tasks/api/tasks?status=all", {}),
        "search_subject": ("GET", "/tasks/api/tasks?search=webhook&status=all", {}),
        "search_comments": ("GET", "/tasks/api/tasks?search=escalated&status=all", {}),
        "search_common_word": ("GET", "/tasks/api/tasks?search=customer&status=all", {}),
        "task_by_id": ("GET", f"/tasks/api/task/{fx['read_id']}", {}),
        "statuses": ("GET", "/tasks/api/statuses", {}),
        "status_change": (
            "PUT",
            f"/tasks/api/task/{fx['move_id']}/status",
            {"json": {"status_id": 1}},
        ),
    }


def call(client: FlaskClient, method: str, path: str, options: dict[str, Any], n: int = 0) -> int:
    """One request; PUTs alternate the status so every call really changes it."""
    if method == "PUT":
        options = {**options, "json": {"status_id": 1 + n % 2}}
    response = client.open(path, method=method, **options)
    return response.status_code


def count_sql(app: Flask, client: FlaskClient, fx: dict[str, Any], verbose: bool) -> None:
    """Print the number of SQL statements each request runs (after one warm-up call)."""
    print(f"{'request':<24} {'status':>6} {'SQL':>4} {'checkouts':>9}")
    for name, (method, path, options) in requests_to_measure(fx).items():
        call(client, method, path, options, 0)
        with statements(app) as (seen, checkouts):
            status = call(client, method, path, options, 1)
        print(f"{name:<24} {status:>6} {len(seen):>4} {len(checkouts):>9}")
        if verbose:
            for statement in seen:
                print(f"    {statement[:220]}")


def time_requests(client: FlaskClient, fx: dict[str, Any], n: int) -> None:
    """Wall and CPU ms per request (best of 5 rounds): CPU time holds steady on a busy machine."""
    print(f"{'request':<24} {'wall ms':>8} {'CPU ms':>8}")
    for name, (method, path, options) in requests_to_measure(fx).items():
        for i in range(10):
            call(client, method, path, options, i)
        wall = cpu = float("inf")
        for _round in range(5):
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(n):
                call(client, method, path, options, i)
            wall = min(wall, (time.perf_counter() - started) / n)
            cpu = min(cpu, (time.process_time() - cpu_started) / n)
        print(f"{name:<24} {wall * 1000:>8.2f} {cpu * 1000:>8.2f}")


def profile(
    app: Flask, client: FlaskClient, fx: dict[str, Any], name: str, n: int, show_all: bool
) -> None:
    """Profile n calls of one request with pyinstrument; text to stdout, HTML to results/."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit("pip install pyinstrument to profile") from None
    method, path, options = requests_to_measure(fx)[name]
    for i in range(20):
        call(client, method, path, options, i)
    profiler = Profiler(interval=0.0005)
    started = time.perf_counter()
    profiler.start()
    for i in range(n):
        call(client, method, path, options, i)
    profiler.stop()
    elapsed = time.perf_counter() - started
    print(f"{name}: {n} calls in {elapsed:.2f} s = {elapsed / n * 1000:.2f} ms per request")
    print(profiler.output_text(unicode=True, color=False, show_all=show_all))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{name}.html"
    out.write_text(profiler.output_html())
    print(f"HTML profile: {out.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> None:
    """SQL counts per request, and optionally a profile of one request."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--profile", default="", help="request name to profile, e.g. my_tasks")
    parser.add_argument("-n", type=int, default=300, help="calls to profile")
    parser.add_argument(
        "--override",
        action="append",
        type=parse_override,
        default=[],
        metavar="KEY=VALUE",
        help="config key for a what-if run, e.g. LOG_REQUESTS=false (repeatable)",
    )
    parser.add_argument("--time", type=int, default=0, help="time N calls of each request")
    parser.add_argument("--show-all", action="store_true", help="library frames in the profile")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the statements")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    upgrade(args.database_url)  # the working tree may have new migrations since the load
    app = build_app(args.database_url, dict(args.override))
    fx = fixture(app)
    client = app.test_client()
    sign_in(client, fx["login"])
    try:
        count_sql(app, client, fx, args.verbose)
        if args.time:
            time_requests(client, fx, args.time)
        if args.profile:
            profile(app, client, fx, args.profile, args.n, args.show_all)
    finally:
        restore(app, fx)


if __name__ == "__main__":
    main()
