"""Load-test live notifications: many logged-in Socket.IO clients against one `helpdesk serve`.

Builds a fresh SQLite helpdesk in a temporary instance folder (migrations, demo data, extra users
with a cheap password hash so thousands can log in), starts the production server exactly as
`helpdesk serve` does (pinned to CPU 0; this script runs on CPU 1), logs every client in over
HTTP and connects it with the asyncio python-socketio client over the websocket transport.

Modes:
  idle     N sockets connected; the server's RSS once they settle.
  fanout   N clients, each a different member of one project, each joined to the project's room
           as a board page does (join_project; code without rooms never answers joined_project,
           and the run goes on after JOIN_TIMEOUT); one status change by the admin; time from
           the PUT until every client has its task_status_changed (repeated --events).
  latency  bob listens, N other (non-member) clients are connected; the admin changes the status
           of a task assigned to bob --changes times, one after another; PUT start to bob's
           new_notification.

    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/socket_load.py idle --clients 5000
    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/socket_load.py fanout --clients 2000
    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/socket_load.py latency --clients 1000

Extra server environment with --server-env KEY=VALUE (e.g. WEB_WORKER=gthread for the old layout).
Each repetition starts a new server; the medians of the repetitions are printed last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import socketio
from sqlalchemy import create_engine, insert, select

from helpdesk.tasks.models import Member, Task
from helpdesk.users.models import User
from run_load import Server, start_server, status_kb, wait_ready

HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
NAMESPACE = "/notifications"
DEMO_PASSWORD = "demo-password-1"
BENCH_PASSWORD = "bench"
CONNECT_CONCURRENCY = 10  # logins write: more at once only queue at SQLite
EVENT_TIMEOUT = 10.0
JOIN_TIMEOUT = 5.0
STATUS_A, STATUS_B = 1, 2  # New, In Progress


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["idle", "fanout", "latency"])
    parser.add_argument("--clients", type=int, default=1000, help="sockets (other than bob's)")
    parser.add_argument("--changes", type=int, default=1000, help="latency: status changes")
    parser.add_argument("--events", type=int, default=5, help="fanout: events per repetition")
    parser.add_argument("--repetitions", type=int, default=3, help="medians are reported")
    parser.add_argument("--settle", type=float, default=5.0, help="idle: seconds before RSS")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--client-cpu", default="1", help="CPU list for this script")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server (repeatable)",
    )
    parser.add_argument("--results", default="", help="write the figures to this JSON file")
    return parser.parse_args(argv)


def raise_fd_limit() -> int:
    """Every socket is a file descriptor; take the hard limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


@dataclass
class Site:
    """The helpdesk under test: its instance folder, environment and the people in it."""

    instance: Path
    env: dict[str, str]
    admin_id: int = 0
    bob_id: int = 0
    task_id: int = 0
    project_id: int = 0
    status_id: int = 0  # the task's status now: every PUT moves it New <-> In Progress
    users: list[str] = field(default_factory=list)


def build_site(args: argparse.Namespace, workdir: Path) -> Site:
    """A migrated SQLite helpdesk with the demo data and the benchmark's users."""
    instance = workdir / "instance"
    env = {
        "HELPDESK_ENV": "production",
        "HELPDESK_INSTANCE_PATH": str(instance),
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "false",
        "HELPDESK_DEMO_PASSWORD": DEMO_PASSWORD,
        "LOG_REQUESTS": "false",
        "PUSH_NOTIFICATIONS_ENABLED": "false",
        "LOGIN_ADDRESS_RATE_LIMIT": "1000000 per minute",  # every client signs in from here
    }
    for item in args.server_env:
        key, _, value = item.partition("=")
        env[key] = value
    site = Site(instance, env)
    for command in (["db", "upgrade"], ["demo"]):
        subprocess.run(
            [HELPDESK, *command], env={**os.environ, **env}, check=True, capture_output=True
        )
    engine = create_engine(f"sqlite:///{instance / 'helpdesk.db'}")
    with engine.begin() as conn:
        ids = dict(conn.execute(select(User.username, User.id)).all())
        site.admin_id, site.bob_id = ids["admin"], ids["bob"]
        task = conn.execute(
            select(Task.id, Task.project_id, Task.status_id)
            .where(Task.assigned_to_id == site.bob_id)
            .order_by(Task.id)
            .limit(1)
        ).one()
        site.task_id, site.status_id, site.project_id = task.id, task.status_id, task.project_id
        role_id = conn.scalar(select(Member.role_id).where(Member.project_id == task.project_id))
        # cost 4: the server checks it in ~1 ms, so thousands can log in within seconds
        hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        site.users = [f"sock{i:05d}" for i in range(args.clients)]
        conn.execute(
            insert(User),
            [{"username": u, "email": f"{u}@example.com", "password": hashed} for u in site.users],
        )
        if args.mode == "fanout":
            new_ids = conn.scalars(select(User.id).where(User.username.like("sock%"))).all()
            members = [
                {"project_id": task.project_id, "role_id": role_id, "user_id": i} for i in new_ids
            ]
            conn.execute(insert(Member), members)
    engine.dispose()
    return site


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    """Log in with JSON; the Cookie header value of the new session."""
    async with http.post(
        f"{base}/users/login",
        json={"username": username, "password": password},
        headers={"Accept": "application/json"},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"login {username}: {response.status} {await response.text()}")
        return f"session={response.cookies['session'].value}"


Handler = Callable[[Any], Awaitable[None]]


async def connect(
    http: aiohttp.ClientSession,
    base: str,
    cookie: str,
    handlers: dict[str, Handler],
) -> socketio.AsyncClient:
    """One websocket Socket.IO client in /notifications with the given session."""
    client = socketio.AsyncClient(
        reconnection=False,
        http_session=http,
        # not connect(headers=…): engine.io would move the cookie into the shared session's jar
        websocket_extra_options={"headers": {"Cookie": cookie}},
    )
    for event, handler in handlers.items():
        client.on(event, handler, namespace=NAMESPACE)
    await client.connect(base, namespaces=[NAMESPACE], transports=["websocket"], wait_timeout=30)
    return client


async def connect_many(
    http: aiohttp.ClientSession,
    base: str,
    users: list[str],
    handlers_for: Callable[[int], dict[str, Handler]],
    concurrency: int = CONNECT_CONCURRENCY,
) -> tuple[list[socketio.AsyncClient], float, int]:
    """Log in and connect every user, concurrency at a time; clients, seconds, failures."""
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, username: str) -> socketio.AsyncClient | None:
        async with gate:
            try:
                cookie = await login(http, base, username, BENCH_PASSWORD)
                return await connect(http, base, cookie, handlers_for(index))
            except Exception as error:
                print(f"  {username}: {type(error).__name__}: {error}", flush=True)
                return None

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
    elapsed = time.perf_counter() - started
    clients = [c for c in results if c is not None]
    return clients, elapsed, len(users) - len(clients)


def rss_mb(server: Server) -> dict[str, float]:
    """Current RSS of each server process, in MB."""
    found = {}
    for role, pid in server.pids().items():
        rss = status_kb(pid, "VmRSS")
        if rss is not None:
            found[role] = rss / 1024
    return found


def socket_process_rss(rss: dict[str, float]) -> float:
    """The RSS of the process holding the sockets (the worker; the only process otherwise)."""
    workers = [v for k, v in rss.items() if k.startswith("worker")]
    return max(workers) if workers else rss.get("master", 0.0)


async def move_task(http: aiohttp.ClientSession, base: str, cookie: str, site: Site) -> None:
    """Move the task to the other status (a real change, so it is announced) as the admin."""
    status_id = STATUS_B if site.status_id == STATUS_A else STATUS_A
    async with http.put(
        f"{base}/tasks/api/task/{site.task_id}/status",
        json={"status_id": status_id},
        headers={"Cookie": cookie, "Accept": "application/json"},
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"PUT status: {response.status} {await response.text()}")
    site.status_id = status_id


async def disconnect_all(clients: list[socketio.AsyncClient]) -> None:
    """Close every client, a batch at a time."""
    for start in range(0, len(clients), 500):
        await asyncio.gather(*(c.disconnect() for c in clients[start : start + 500]))


async def run_idle(
    args: argparse.Namespace, site: Site, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """Connect N sockets, wait, read the server's RSS."""
    before = rss_mb(server)
    clients, elapsed, failed = await connect_many(http, server.base, site.users, lambda _i: {})
    await asyncio.sleep(args.settle)
    alive = sum(1 for c in clients if c.connected)
    after = rss_mb(server)
    await disconnect_all(clients)
    return {
        "connected": alive,
        "failed": failed,
        "connect_s": round(elapsed, 2),
        "connects_per_s": round(len(clients) / elapsed, 1),
        "rss_before_mb": round(socket_process_rss(before), 1),
        "rss_mb": round(socket_process_rss(after), 1),
        "rss_all_mb": {k: round(v, 1) for k, v in after.items()},
        "kb_per_socket": round(
            (socket_process_rss(after) - socket_process_rss(before)) * 1024 / max(alive, 1), 1
        ),
    }


async def run_fanout(
    args: argparse.Namespace, site: Site, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """One status change heard by every member: time until the last client has it."""
    arrivals: list[float] = []
    everyone = asyncio.Event()
    joined: list[Any] = []
    all_joined = asyncio.Event()

    def handlers(_index: int) -> dict[str, Handler]:
        async def moved(data: Any) -> None:
            arrivals.append(time.perf_counter())
            if len(arrivals) >= target:
                everyone.set()

        async def in_room(data: Any) -> None:
            joined.append(data)
            if len(joined) >= target:
                all_joined.set()

        return {"task_status_changed": moved, "joined_project": in_room}

    target = len(site.users)
    clients, elapsed, failed = await connect_many(http, server.base, site.users, handlers)
    target = len(clients)
    for client in clients:
        await client.emit("join_project", {"project_id": site.project_id}, namespace=NAMESPACE)
    try:
        await asyncio.wait_for(all_joined.wait(), JOIN_TIMEOUT)
    except TimeoutError:
        print(f"  {len(joined)} of {target} clients heard joined_project", flush=True)
    admin = await login(http, server.base, "admin", DEMO_PASSWORD)
    all_ms, per_client_p50, per_client_p99, missing = [], [], [], 0
    for _ in range(args.events):
        arrivals.clear()
        everyone.clear()
        started = time.perf_counter()
        await move_task(http, server.base, admin, site)
        try:
            await asyncio.wait_for(everyone.wait(), EVENT_TIMEOUT)
        except TimeoutError:
            missing += target - len(arrivals)
        delays = [(t - started) * 1000 for t in arrivals]
        if delays:
            all_ms.append(max(delays))
            per_client_p50.append(percentile(delays, 50))
            per_client_p99.append(percentile(delays, 99))
        await asyncio.sleep(0.5)
    await disconnect_all(clients)
    return {
        "connected": len(clients),
        "failed": failed,
        "connect_s": round(elapsed, 2),
        "joined": len(joined),
        "events": args.events,
        "missing": missing,
        "all_received_ms": round(statistics.median(all_ms), 1) if all_ms else None,
        "all_received_max_ms": round(max(all_ms), 1) if all_ms else None,
        "client_p50_ms": round(statistics.median(per_client_p50), 1) if all_ms else None,
        "client_p99_ms": round(statistics.median(per_client_p99), 1) if all_ms else None,
        "rss_mb": round(socket_process_rss(rss_mb(server)), 1),
    }


async def run_latency(
    args: argparse.Namespace, site: Site, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """Sequential status changes by the admin; PUT start to bob's new_notification."""
    clients, elapsed, failed = await connect_many(http, server.base, site.users, lambda _i: {})
    heard: asyncio.Queue[tuple[float, Any]] = asyncio.Queue()

    async def notified(data: Any) -> None:
        heard.put_nowait((time.perf_counter(), data))

    bob_cookie = await login(http, server.base, "bob", DEMO_PASSWORD)
    bob = await connect(http, server.base, bob_cookie, {"new_notification": notified})
    admin = await login(http, server.base, "admin", DEMO_PASSWORD)
    latencies, put_ms, lost = [], [], 0
    run_started = time.perf_counter()
    for _ in range(args.changes):
        started = time.perf_counter()
        await move_task(http, server.base, admin, site)
        put_ms.append((time.perf_counter() - started) * 1000)
        try:
            arrived, data = await asyncio.wait_for(heard.get(), EVENT_TIMEOUT)
        except TimeoutError:
            lost += 1
            continue
        if data.get("issue_id") != site.task_id:
            raise RuntimeError(f"unexpected notification {data}")
        latencies.append((arrived - started) * 1000)
    run_s = time.perf_counter() - run_started
    await bob.disconnect()
    await disconnect_all(clients)
    return {
        "connected": len(clients) + 1,
        "failed": failed,
        "connect_s": round(elapsed, 2),
        "changes": args.changes,
        "lost": lost,
        "changes_per_s": round(args.changes / run_s, 1),
        "p50_ms": round(percentile(latencies, 50), 2) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 2) if latencies else None,
        "max_ms": round(max(latencies), 2) if latencies else None,
        "put_p50_ms": round(percentile(put_ms, 50), 2),
        "put_p99_ms": round(percentile(put_ms, 99), 2),
        "rss_mb": round(socket_process_rss(rss_mb(server)), 1),
    }


MODES = {"idle": run_idle, "fanout": run_fanout, "latency": run_latency}


async def one_repetition(args: argparse.Namespace, site: Site, server: Server) -> dict[str, Any]:
    """Run the mode once against a started server with one shared HTTP connection pool."""
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60),
    )
    try:
        return await MODES[args.mode](args, site, server, http)
    finally:
        await http.close()


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every numeric figure over the repetitions."""
    summary: dict[str, Any] = {}
    for key, value in runs[0].items():
        values = [run[key] for run in runs if isinstance(run.get(key), int | float)]
        if isinstance(value, int | float) and len(values) == len(runs):
            summary[key] = round(statistics.median(values), 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Build the site once, then start a server, measure and stop it per repetition."""
    args = parse_args(argv)
    fds = raise_fd_limit()
    if args.client_cpu:
        os.sched_setaffinity(0, {int(c) for c in args.client_cpu.split(",")})
    workdir = Path(tempfile.mkdtemp(prefix="helpdesk-socket-bench-"))
    runs: list[dict[str, Any]] = []
    try:
        site = build_site(args, workdir)
        print(
            f"{args.mode}: {args.clients} clients, fd limit {fds}, server env "
            f"{args.server_env or 'defaults'}",
            flush=True,
        )
        for repetition in range(1, args.repetitions + 1):
            command = [HELPDESK, "serve"]
            if args.server_cpu:
                command = ["taskset", "-c", args.server_cpu, *command]
            server = start_server("helpdesk", command, site.env, workdir)
            try:
                wait_ready(server, "/users/login")
                load_before = os.getloadavg()[0]
                result = asyncio.run(one_repetition(args, site, server))
                result["load_1m"] = round((load_before + os.getloadavg()[0]) / 2, 2)
            finally:
                server.stop()
            runs.append(result)
            print(f"  run {repetition}: {json.dumps(result)}", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = summarise(runs)
    print(f"median of {len(runs)}: {json.dumps(summary)}", flush=True)
    if args.results:
        Path(args.results).write_text(
            json.dumps({"args": vars(args), "runs": runs, "median": summary}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
