"""The helpdesk on Redmine (TASK_BACKEND=redmine, its reads from Redmine's database and over REST)
beside Redmine's own REST API, in one run, on a Redmine loaded with the shared dataset
(benchmarks/redmine_dataset.py).

    tests/services/redmine.sh start rmbench_100k 3791          # prints URL KEY DBURL
    .venv/bin/python benchmarks/redmine_dataset.py --issues 100000 --redmine-db-url DBURL \
        --database-url postgresql://postgres@127.0.0.1:5432/rmbench_100k
    .venv/bin/python benchmarks/redmine_side_by_side.py --redmine-url URL --api-key KEY \
        --redmine-db-url DBURL --database-url postgresql://postgres@127.0.0.1:5432/rmbench_100k

Starts the helpdesk once per REDMINE_READS mode named by --reads (production, `helpdesk serve`,
its cache in Redis under a prefix of its own), signs in as the dataset's bench user and, for each
call (My Tasks, a task, the board's columns of one project, a status change), runs wrk (pinned to
one CPU) against each helpdesk and then against Redmine's REST API for the same data, acting as
the same user (the admin key and X-Redmine-Switch-User, as the helpdesk does), alternating, and
reports requests/s, p50, p99 and each helpdesk's figures against Redmine's. First, an app in this
process counts the REST calls each helpdesk request makes in each mode (hooks on the backend's
HTTP sessions); the REST mode's calls are the Redmine requests measured beside it. Then a third
user changes the bench user's task through Redmine's REST API, --changes times, and the time
until the bench user's Socket.IO connection hears of it is measured (the feed reads Redmine's
database every REDMINE_POLL_SECONDS). The figures go to
benchmarks/results/redmine-side-by-side-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import redis
import requests
import socketio
from flask import Flask
from sqlalchemy import create_engine, text

from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.integrations.redmine.database import dispose_database
from helpdesk.tasks.backends import get_backend
from redmine_dataset import USER_OFFSET, dataset_path
from run_load import (
    RESULTS,
    STATUS_LUA,
    VENV_BIN,
    Server,
    login,
    request_json,
    run_wrk,
    start_server,
    wait_ready,
)

IN_PROGRESS, FEEDBACK = 2, 4  # both open, and Redmine's Developer may move between them
DEVELOPER = 4  # Redmine's default Developer role
TASK_INCLUDES = "journals,watchers,allowed_statuses"  # what the helpdesk reads with a task
CURSOR = "change_feed_cursor:redmine"  # the helpdesk's setting that keeps the feed's place
QUIET_POLL_SECONDS = 3600  # the feed's interval while wrk runs (off, in effect)
BOARD_COLUMN_SIZE = 30  # KANBAN_COLUMN_SIZE's default
BOARD_CLOSED_DAYS = 14  # KANBAN_CLOSED_DAYS's default
CYCLED_TASKS = 3000  # distinct tasks read by the "every read forwarded" run
WRK_TIMEOUT = "60s"  # Redmine answers one request at a time: 8 clients queue for seconds
# run_load's status script, with the body Redmine's PUT takes
REDMINE_STATUS_LUA = STATUS_LUA.replace(
    """'{"status_id": ' .. status .. '%(extra)s}'""",
    """'{"issue": {"status_id": ' .. status .. '%(extra)s}}'""",
)
PATHS_LUA = """
-- GET the paths in turn (the board's columns, as its page asks for them).
local paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[n %% #paths + 1])
end
"""
CYCLE_LUA = """
-- GET one task after another, so no read finds the one before it in a cache.
local ids = {%(ids)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "%(prefix)s" .. ids[n %% #ids + 1] .. "%(suffix)s")
end
"""


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redmine-url", required=True)
    parser.add_argument("--api-key", required=True, help="the Redmine administrator's API key")
    parser.add_argument("--redmine-db-url", required=True, help="Redmine's database (the feed)")
    parser.add_argument("--database-url", required=True, help="the helpdesk's database")
    parser.add_argument("--counts-only", action="store_true", help="count REST calls, no more")
    parser.add_argument("--issues", type=int, default=100_000, help="which dataset was loaded")
    parser.add_argument("--dataset", help="the dataset file (default: as the loader names it)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=2, help="medians are reported")
    parser.add_argument("--wrk-cpu", default="1", help="taskset CPU list for wrk")
    parser.add_argument("--changes", type=int, default=100, help="changes timed to the socket")
    parser.add_argument("--poll-seconds", type=int, default=2, help="REDMINE_POLL_SECONDS")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--only", default="", help="run only the endpoints named (comma list)")
    parser.add_argument(
        "--reads", default="database,rest", help="the helpdesk's REDMINE_READS modes to measure"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="WEB_CONCURRENCY of each helpdesk (more than 1 adds Socket.IO's queue on Redis)",
    )
    parser.add_argument(
        "--board-project", type=int, help="the board's project (default: the task's)"
    )
    return parser.parse_args()


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class Scene:
    """The bench user (made a Developer of their projects), their tasks and a colleague, read
    from Redmine's database."""

    def __init__(self, args: argparse.Namespace) -> None:
        import sqlite3

        path = Path(args.dataset) if args.dataset else dataset_path(args.issues)
        meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM meta").fetchall())
        self.redmine_id = USER_OFFSET + int(meta["bench_user_id"])
        self.open_assigned = int(meta["bench_user_open_assigned"])
        self.engine = create_engine(args.redmine_db_url)
        with self.engine.begin() as connection:
            # the dataset makes them a Reporter, who may not move tasks: a Developer may
            connection.execute(
                text(
                    "UPDATE member_roles SET role_id = :developer WHERE member_id IN "
                    "(SELECT id FROM members WHERE user_id = :me)"
                ),
                {"developer": DEVELOPER, "me": self.redmine_id},
            )
            self.login = connection.scalar(
                text("SELECT login FROM users WHERE id = :id"), {"id": self.redmine_id}
            )
            mine = """SELECT i.id FROM issues i JOIN members m ON m.project_id = i.project_id
                AND m.user_id = i.assigned_to_id JOIN member_roles r ON r.member_id = m.id
                WHERE i.assigned_to_id = :me AND r.role_id = :developer
                AND i.status_id IN (:a, :b) ORDER BY i.id"""
            self.moved = list(
                connection.scalars(
                    text(mine),
                    {
                        "me": self.redmine_id,
                        "developer": DEVELOPER,
                        "a": IN_PROGRESS,
                        "b": FEEDBACK,
                    },
                )
            )
            self.task_id = self.moved[0]
            self.cycled = list(
                connection.scalars(
                    text("SELECT id FROM issues ORDER BY id LIMIT :n OFFSET 5000"),
                    {"n": CYCLED_TASKS},
                )
            )
            # a Developer of the first task's project, not the bench user: the third user
            self.colleague = connection.scalar(
                text(
                    """SELECT u.login FROM members m JOIN member_roles r ON r.member_id = m.id
                    JOIN users u ON u.id = m.user_id JOIN issues i ON i.project_id = m.project_id
                    WHERE i.id = :task AND r.role_id = :developer AND u.id <> :me
                    ORDER BY u.id LIMIT 1"""
                ),
                {"task": self.task_id, "developer": DEVELOPER, "me": self.redmine_id},
            )
            project = self.board_project = args.board_project or connection.scalar(
                text("SELECT project_id FROM issues WHERE id = :id"), {"id": self.task_id}
            )
            statuses = connection.execute(
                text("SELECT id, name, is_closed FROM issue_statuses ORDER BY position, id")
            ).all()
        # the board's columns as its page asks for them (static/js/kanban.js)
        self.board = [
            "/tasks/api/tasks?"
            + urlencode(
                {
                    "project": project,
                    "assigned_to": "any",
                    "status": name,
                    **({"closed_days": BOARD_CLOSED_DAYS} if closed else {}),
                    "per_page": BOARD_COLUMN_SIZE,
                    "page": 1,
                    "sort": "-priority,-updated_on",
                }
            )
            for _id, name, closed in statuses
        ]

    def reset_statuses(self) -> None:
        """Put the moved tasks back In Progress (the status scripts flip them to Feedback and
        back), behind both systems' backs."""
        with self.engine.begin() as connection:
            connection.execute(
                text("UPDATE issues SET status_id = :a WHERE id IN :ids").bindparams(
                    ids=tuple(self.moved)
                ),
                {"a": IN_PROGRESS},
            )


def lua_file(workdir: Path, name: str, template: str, values: dict[str, Any]) -> Path:
    """A wrk script from a template."""
    path = workdir / f"{name}.lua"
    path.write_text(template % values)
    return path


def status_script(
    workdir: Path,
    name: str,
    template: str,
    ids: list[int],
    prefix: str,
    suffix: str,
    headers: dict[str, str],
) -> Path:
    """run_load's status-flipping script, between In Progress and Feedback."""
    lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    return lua_file(
        workdir,
        name,
        template,
        {
            "ids": ", ".join(map(str, ids)),
            "headers": lines,
            "a": IN_PROGRESS,
            "b": FEEDBACK,
            "prefix": prefix,
            "suffix": suffix,
            "extra": "",
        },
    )


def redmine_app(args: argparse.Namespace, reads: str, timeout: float) -> Flask:
    """An app of this process on the bench's Redmine, reading as `reads` says."""
    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=args.database_url,
        TASK_BACKEND="redmine",
        REDMINE_URL=args.redmine_url,
        REDMINE_API_KEY=args.api_key,
        REDMINE_DB_URL=args.redmine_db_url,
        REDMINE_READS=reads,
        REDMINE_TIMEOUT=timeout,
    )


def call_counts(
    args: argparse.Namespace, scene: Scene, mode: str
) -> dict[str, dict[str, list[str]]]:
    """The REST calls each helpdesk request makes with REDMINE_READS=mode, counted on the
    backend's own HTTP sessions in an app of this process (no worker, so no change feed mixes its
    calls in): a first request (nothing cached) and a second one (lookups and the task from the
    cache)."""
    app = redmine_app(args, mode, timeout=30)
    calls: list[str] = []

    def note(response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        calls.append(f"{response.request.method} {response.request.path_url}")
        return response

    with app.app_context():
        client = get_backend().client  # type: ignore[attr-defined]
    for session in (client.reads, client.writes):
        session.hooks["response"].append(note)
    http = app.test_client()
    answer = http.post("/users/login", json={"username": scene.login, "password": "bench"})
    if answer.status_code != 200:
        raise RuntimeError(f"login: {answer.status_code}")
    asked = {
        "my_tasks": ("GET", "/tasks/my-tasks"),
        "task_by_id": ("GET", f"/tasks/api/task/{scene.task_id}"),
        "status_change": ("PUT", f"/tasks/api/task/{scene.moved[1]}/status"),
        **{f"board_{n}": ("GET", path) for n, path in enumerate(scene.board)},
    }
    scene.reset_statuses()
    counts: dict[str, dict[str, list[str]]] = {}
    for name, (method, path) in asked.items():
        for attempt, status in (("first", FEEDBACK), ("again", IN_PROGRESS)):
            calls.clear()
            answer = http.open(
                path,
                method=method,
                json={"status_id": status} if method == "PUT" else None,
                headers={"Accept": "application/json"},
            )
            if answer.status_code != 200:
                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.json}")
            counts.setdefault(name, {})[attempt] = list(calls)
            if not name.startswith("board_") or name == "board_0":
                print(
                    f"  {mode} {name} ({attempt}): {len(calls)} REST call(s): {calls}", flush=True
                )
    with app.app_context():
        client.close()
        db.engine.dispose()
        dispose_database(app)
    scene.reset_statuses()
    return counts


Target = tuple[str, dict[str, str], Path | None]  # base URL, headers, wrk script


def side_by_side(
    args: argparse.Namespace,
    workdir: Path,
    helpdesks: dict[str, Server],
    cookies: dict[str, str],
    scene: Scene,
    rest_calls: dict[str, dict[str, list[str]]],
) -> list[dict[str, Any]]:
    """wrk on each call, each helpdesk and then Redmine, alternating."""
    base = args.redmine_url
    as_bench = {"X-Redmine-API-Key": args.api_key, "X-Redmine-Switch-User": scene.login}

    def sent(name: str) -> str:
        """The /issues.json request the REST mode sends Redmine for a helpdesk list."""
        listing = [c for c in rest_calls[name]["again"] if "/issues.json" in c]
        return listing[0].split(" ", 1)[1]

    def paths(name: str, items: list[str]) -> Path:
        """A script that asks for the paths in turn."""
        return lua_file(workdir, name, PATHS_LUA, {"paths": ", ".join(map(json.dumps, items))})

    def cycle(name: str, prefix: str, suffix: str) -> Path:
        """A script that reads the cycled tasks in turn."""
        ids = ", ".join(map(str, scene.cycled))
        return lua_file(workdir, name, CYCLE_LUA, {"ids": ids, "prefix": prefix, "suffix": suffix})

    # the REST mode sends no closed_on filter for the closed columns: Redmine is asked with one
    since = f"{datetime.now(UTC) - timedelta(days=BOARD_CLOSED_DAYS):%Y-%m-%d}"
    board_rest = [
        sent(f"board_{n}") + (f"&closed_on=%3E%3D{since}" if "closed_days" in path else "")
        for n, path in enumerate(scene.board)
    ]
    print(f"the board asks Redmine for {board_rest}", flush=True)
    # each case: what the helpdesk is asked (path, or a script), what Redmine is asked, and what
    # to do before each run
    cases: list[tuple[str, Target, Target, str | None]] = [
        (
            "my_tasks",
            ("/tasks/my-tasks", {}, None),
            (base + sent("my_tasks"), as_bench, None),
            None,
        ),
        (
            "task_by_id (one task again and again)",
            (f"/tasks/api/task/{scene.task_id}", {}, None),
            (base + f"/issues/{scene.task_id}.json?include={TASK_INCLUDES}", as_bench, None),
            None,
        ),
        (
            f"task_by_id ({CYCLED_TASKS} tasks in turn)",
            ("/", {}, cycle("hd_cycle", "/tasks/api/task/", "")),
            (base + "/", as_bench, cycle("rm_cycle", "/issues/", f".json?include={TASK_INCLUDES}")),
            "flush",
        ),
        (
            f"board ({len(scene.board)} columns of one project in turn)",
            ("/", {}, paths("hd_board", scene.board)),
            (base + "/", as_bench, paths("rm_board", board_rest)),
            None,
        ),
        (
            "status_change",
            (
                "/",
                {},
                status_script(
                    workdir, "hd_status", STATUS_LUA, scene.moved, "/tasks/api/task/", "/status", {}
                ),
            ),
            (
                base + "/",
                {"Accept": "application/json"},
                status_script(
                    workdir,
                    "rm_status",
                    REDMINE_STATUS_LUA,
                    scene.moved,
                    "/issues/",
                    ".json",
                    as_bench,
                ),
            ),
            "reset",
        ),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        cases = [case for case in cases if case[0].split()[0] in wanted]
    runs = []
    cache = redis.Redis.from_url(args.redis_url)
    for repetition in range(1, args.repetitions + 1):
        for name, ours, theirs, before in cases:
            targets: list[tuple[str, Target]] = []
            for mode, helpdesk in helpdesks.items():
                path, _headers, script = ours
                # wrk's -H headers go with a script's requests too
                headers = {"Accept": "application/json", "Cookie": cookies[mode]}
                targets.append((f"helpdesk-{mode}", (helpdesk.base + path, headers, script)))
            targets.append(("redmine", theirs))
            for system, (url, headers, script) in targets:
                if before == "reset":
                    scene.reset_statuses()
                    cache.flushdb()  # the statuses were set behind the helpdesk's back
                    if system != "redmine":  # the lookups a move reads once (memberships, role)
                        warm_moves(url, headers, scene)
                elif before == "flush":
                    cache.flushdb()
                time.sleep(1)
                result = run_wrk(args, url, args.connections, headers, script, WRK_TIMEOUT)
                result.pop("raw")
                result.update({"endpoint": name, "system": system, "repetition": repetition})
                result["load_average"] = round(os.getloadavg()[0], 1)
                runs.append(result)
                bad = result["non_2xx"] + result["socket_errors"]
                print(
                    f"  {name:<45} {system:<18} {result['rps']:7.1f} req/s  p50 "
                    f"{result['p50_ms']:7.1f} ms  p99 {result['p99_ms']:7.1f} ms  load "
                    f"{result['load_average']}"
                    + (f"  ERRORS {bad} {result.get('status_codes', '')}" if bad else ""),
                    flush=True,
                )
    return runs


def warm_moves(base: str, headers: dict[str, str], scene: Scene) -> None:
    """One move there and back, so the runs time moves rather than the first lookups (which
    eight clients would otherwise all make at once, queueing behind each other at Redmine)."""
    task = scene.moved[-1]
    for status in (FEEDBACK, IN_PROGRESS):
        code, body, _ = request_json(
            f"{base.rstrip('/')}/tasks/api/task/{task}/status",
            "PUT",
            {"status_id": status},
            {"Cookie": headers["Cookie"]},
        )
        if code != 200:
            raise RuntimeError(f"warming the moves: {code} {body}")


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per endpoint and system, and each helpdesk's requests/s and time against
    Redmine's."""
    rows = []
    systems = list(dict.fromkeys(run["system"] for run in runs))
    for name in dict.fromkeys(run["endpoint"] for run in runs):
        row: dict[str, Any] = {"endpoint": name}
        for system in systems:
            mine = [run for run in runs if run["endpoint"] == name and run["system"] == system]
            for key in ("rps", "p50_ms", "p99_ms", "load_average"):
                row[f"{system}_{key}"] = round(statistics.median(r[key] for r in mine), 1)
        for system in systems:
            if system == "redmine" or not row[f"{system}_rps"] or not row["redmine_rps"]:
                continue  # a run too short for one answer has none
            row[f"{system}_rps_ratio"] = round(row[f"{system}_rps"] / row["redmine_rps"], 2)
            row[f"{system}_time_overhead_pct"] = round(
                100 * (row["redmine_rps"] / row[f"{system}_rps"] - 1)
            )
        rows.append(row)
    return rows


async def socket_latency(
    args: argparse.Namespace, helpdesk: Server, scene: Scene
) -> dict[str, Any]:
    """A third user moves the bench user's task through Redmine's REST API; the time until the
    bench user's Socket.IO connection hears of it, for each change."""
    arrived: asyncio.Queue[float] = asyncio.Queue()
    rest = requests.Session()
    rest.headers.update(
        {"X-Redmine-API-Key": args.api_key, "X-Redmine-Switch-User": scene.colleague}
    )
    task = scene.moved[0]
    scene.reset_statuses()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{helpdesk.base}/users/login",
            json={"username": scene.login, "password": "bench"},
            headers={"Accept": "application/json"},
        ) as response:
            cookie = f"session={response.cookies['session'].value}"
        client = socketio.AsyncClient(
            reconnection=False,
            http_session=http,
            websocket_extra_options={"headers": {"Cookie": cookie}},
        )

        async def heard(_data: Any) -> None:
            await arrived.put(time.perf_counter())

        client.on("new_notification", heard, namespace="/notifications")
        await client.connect(helpdesk.base, namespaces=["/notifications"], transports=["websocket"])
        await asyncio.sleep(args.poll_seconds * 2)  # the new server's feed has begun
        delays, after_put, missed = [], [], 0
        status = FEEDBACK
        for index in range(args.changes):
            while not arrived.empty():
                arrived.get_nowait()
            started = time.perf_counter()
            answer = await asyncio.to_thread(
                rest.put,
                f"{args.redmine_url}/issues/{task}.json",
                json={"issue": {"status_id": status, "notes": f"change {index}"}},
                timeout=30,
            )
            answer.raise_for_status()
            done = time.perf_counter()
            status = IN_PROGRESS if status == FEEDBACK else FEEDBACK
            try:
                heard_at = await asyncio.wait_for(arrived.get(), args.poll_seconds + 10)
            except TimeoutError:
                missed += 1
                continue
            delays.append((heard_at - started) * 1000)
            after_put.append((heard_at - done) * 1000)
            await asyncio.sleep(0.1 + (index % 7) * 0.29)  # changes fall anywhere in a poll
        await client.disconnect()
    rest.close()
    return {
        "changes": args.changes,
        "heard": len(delays),
        "missed": missed,
        "p50_ms": round(percentile(delays, 50), 1),
        "p99_ms": round(percentile(delays, 99), 1),
        "max_ms": round(max(delays), 1),
        "from_put_answered_p50_ms": round(percentile(after_put, 50), 1),
        "from_put_answered_p99_ms": round(percentile(after_put, 99), 1),
        "target_ms": (args.poll_seconds + 0.5) * 1000,
    }


def skip_backlog(args: argparse.Namespace, scene: Scene) -> None:
    """Move the helpdesk's feed cursor to Redmine's newest journal, so a server started next does
    not first announce the hundreds of changes the status runs made."""
    with scene.engine.connect() as connection:
        newest = connection.scalar(text("SELECT MAX(id) FROM journals"))
    helpdesk_db = create_engine(args.database_url)
    with helpdesk_db.begin() as connection:
        connection.execute(text("DELETE FROM site_settings WHERE key = :key"), {"key": CURSOR})
        connection.execute(
            text("INSERT INTO site_settings (key, value) VALUES (:key, :value)"),
            {"key": CURSOR, "value": json.dumps({"journal": newest})},
        )
    helpdesk_db.dispose()


def serve(
    args: argparse.Namespace, env: dict[str, str], workdir: Path, poll: int, mode: str
) -> Server:
    """The helpdesk with REDMINE_READS=mode, its feed reading Redmine every `poll` seconds."""
    helpdesk = start_server(
        f"helpdesk-{mode}",
        [str(VENV_BIN / "helpdesk"), "serve", "--host", "127.0.0.1"],
        {
            **env,
            "REDMINE_POLL_SECONDS": str(poll),
            "REDMINE_READS": mode,
            "CACHE_KEY_PREFIX": f"rmbench-{mode}:",
        },
        workdir,
    )
    wait_ready(helpdesk, "/users/login", 120)
    return helpdesk


def main() -> None:
    """Start the helpdesk, count, measure, time the feed, report."""
    args = parse_args()
    scene = Scene(args)
    print(
        f"bench user {scene.login} (Redmine id {scene.redmine_id}), task {scene.task_id}, "
        f"{len(scene.moved)} tasks to move, colleague {scene.colleague}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="rmbench_"))
    env = {
        "DATABASE_URL": args.database_url,
        "HELPDESK_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "false",
        "REMEMBER_COOKIE_SECURE": "false",
        "HELPDESK_INSTANCE_PATH": str(workdir / "instance"),
        "TASK_BACKEND": "redmine",
        "REDMINE_URL": args.redmine_url,
        "REDMINE_API_KEY": args.api_key,
        "REDMINE_DB_URL": args.redmine_db_url,
        "REDMINE_TIMEOUT": "30",
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": args.redis_url,
        "LOG_REQUESTS": "false",
        "PUSH_NOTIFICATIONS_ENABLED": "false",
    }
    if args.processes > 1:  # several processes need the queue (docs/CONFIGURATION.md)
        env["WEB_CONCURRENCY"] = str(args.processes)
        env["SOCKETIO_MESSAGE_QUEUE"] = args.redis_url.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(args.redis_url).flushdb()
    document: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "issues": args.issues,
        "connections": args.connections,
        "duration_s": args.duration,
        "reads": args.reads,
        "processes": args.processes,
        "python": sys.version.split()[0],
    }
    modes = [mode.strip() for mode in args.reads.split(",") if mode.strip()]
    print("REST calls per helpdesk request:", flush=True)
    document["rest_calls"] = {mode: call_counts(args, scene, mode) for mode in {*modes, "rest"}}
    if args.counts_only:
        return
    # the wrk runs measure requests alone: the feed would announce every status change they make
    skip_backlog(args, scene)
    helpdesks: dict[str, Server] = {}
    try:
        for mode in modes:
            helpdesks[mode] = serve(args, env, workdir, QUIET_POLL_SECONDS, mode)
        cookies = {}
        for mode, helpdesk in helpdesks.items():
            cookies[mode] = login(helpdesk, scene.login)
            status, body, _ = request_json(
                helpdesk.base + "/tasks/my-tasks", headers={"Cookie": cookies[mode]}
            )
            if status != 200 or body["pagination"]["total"] != scene.open_assigned:
                raise RuntimeError(f"My Tasks ({mode}): {status} {body.get('pagination')}")
        print(f"wrk, {args.connections} clients, {args.duration} s per run:", flush=True)
        runs = side_by_side(
            args, workdir, helpdesks, cookies, scene, document["rest_calls"]["rest"]
        )
        document["runs"] = runs
        document["summary"] = summary(runs)
        for row in document["summary"]:
            print(json.dumps(row), flush=True)
    finally:
        for helpdesk in helpdesks.values():
            helpdesk.stop()
    if args.changes:
        print(f"change -> socket, {args.changes} changes:", flush=True)
        skip_backlog(args, scene)
        helpdesk = serve(args, env, workdir, args.poll_seconds, modes[0])
        try:
            document["socket"] = asyncio.run(socket_latency(args, helpdesk, scene))
            print(json.dumps(document["socket"]), flush=True)
        finally:
            helpdesk.stop()
    scene.reset_statuses()
    scene.engine.dispose()
    shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"redmine-side-by-side-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(document, indent=1))
    print(f"written {out}")


if __name__ == "__main__":
    main()
