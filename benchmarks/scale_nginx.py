"""Measure the production layout of deploy/ behind nginx on PostgreSQL and Redis (issue 23).

The web processes run as the systemd unit's command line (`helpdesk serve --host 127.0.0.1
--port P`) with deploy/helpdesk.env.example's settings and WEB_CONCURRENCY=N (gunicorn's gevent
workers, each with its own listening socket), Debian's nginx in front with deploy/nginx's site
(TLS, the request log, upstream connections kept open between requests, as the site says),
only ports, paths, its upstream (that one port) and its connection limits changed. The database
is the shared 100,000-task dataset that load_dataset.py loaded. Modes:

  prepare  once, outside the benchmark lock: every user gets a cheap bcrypt hash (cost 4) of the
           same password, so thousands can sign in within seconds; adds the socket users
           (sock00000...) and an administrator who changes statuses (bench-admin).
  http     My Tasks and task by id, through nginx and straight to the processes, with 1, 2 and
           4 processes (wrk, 8 connections): requests/s, p50/p99, CPU per request of the web
           processes, nginx and the database's backends; then, at one process count, a sweep of
           connections (latency against load) through both.
  idle     N idle Socket.IO clients through nginx: RSS of the web processes and nginx per client,
           how the sockets spread over the processes, their CPU while idle.
  notify   1,000 clients through nginx (the dataset's 500 users listening, the rest idle) while
           an administrator changes statuses at fixed rates (open loop): time from each PUT's
           start to every notified socket's new_notification.
  plot     docs/scale.png from the latest results of http and notify (needs the "bench" extra).
  report   the latest results as the Markdown tables of docs/PERFORMANCE.md.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/hd_bench
    .venv/bin/python benchmarks/scale_nginx.py prepare
    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/scale_nginx.py http
    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/scale_nginx.py idle --clients 5000
    flock /tmp/helpdesk-bench.lock .venv/bin/python benchmarks/scale_nginx.py notify
    .venv/bin/python benchmarks/scale_nginx.py plot

Each mode writes benchmarks/results/scale-<mode>-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
from sqlalchemy import Engine, create_engine, func, insert, select, text, update

from helpdesk.notifications.models import Notifications
from helpdesk.tasks.models import Task
from helpdesk.users.models import User
from load_dataset import upgrade
from run_load import (
    CHANGED_BY_STATUS_CHANGES,
    RESULTS,
    ROOT,
    Server,
    bench_fixture,
    children_seconds,
    free_port,
    login,
    machine,
    machine_busy_seconds,
    original_statuses,
    process_seconds,
    restore_statuses,
    run_wrk,
    source_digest,
    start_server,
    status_kb,
    vacuum,
    wait_for_quiet,
    wait_ready,
)
from socket_load import BENCH_PASSWORD, connect_many, disconnect_all, percentile, raise_fd_limit
from socket_load import login as sign_in

DEPLOY = ROOT / "deploy"
STATIC = ROOT / "src" / "helpdesk" / "static"
DOCS = ROOT / "docs"
HELPDESK = str(Path(sys.executable).with_name("helpdesk"))
INSTALLED = "/opt/helpdesk/venv/bin/helpdesk"  # the units' path of the command
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# a Redis database of the benchmark's own: 5,000 sign-ins from one address must not fill the
# address's rate-limit counters that tests running beside it use on database 0
REDIS_URL = "redis://127.0.0.1:6379/9"
SOCKET_USER = "sock{:05d}"
ADMIN = "bench-admin"
CHEAP_ROUNDS = 4  # bcrypt cost: ~1 ms a sign-in instead of ~250 ms at the default 12
CONNECT_CONCURRENCY = 50  # sign-ins and connects at once: PostgreSQL takes them side by side
NGINX_CONNECTIONS = 16384  # per nginx worker: every client socket is two connections there
TARGETS = {"nginx_added_p99": 0.10, "notification_p99_ms": 150.0}
ENDPOINTS = {"my_tasks": "/tasks/my-tasks", "task_by_id": "/tasks/api/task/{id}"}
STATUS_A, STATUS_B = 1, 2  # New <-> In Progress


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["prepare", "http", "idle", "notify", "plot", "report"])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--processes", default="", help="web processes (http: 1,2,4; else 2)")
    parser.add_argument("--clients", type=int, default=0, help="idle: 5000, notify: 1000")
    parser.add_argument("--duration", type=int, default=8, help="http: seconds per wrk run")
    parser.add_argument("--repetitions", type=int, default=2, help="http: medians are reported")
    parser.add_argument("--connections", type=int, default=8, help="http: wrk connections")
    parser.add_argument("--warmup", type=int, default=2, help="http: seconds per endpoint and way")
    parser.add_argument("--sweep", default="1,2,4,8,16,32", help="http: connections swept")
    parser.add_argument("--sweep-processes", type=int, default=2, help="http: swept at this N")
    parser.add_argument("--sweep-duration", type=int, default=5, help="http: seconds per point")
    parser.add_argument("--wrk-cpu", default="1", help="taskset CPU list for wrk")
    parser.add_argument("--rates", default="10,25,50", help="notify: status changes per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="notify: seconds per rate")
    parser.add_argument("--settle", type=float, default=30.0, help="idle: seconds held open")
    parser.add_argument("--max-noise", type=float, default=0.5, help="cores others may use")
    parser.add_argument("--quiet-timeout", type=float, default=10.0, help="seconds to wait")
    parser.add_argument("--http", nargs="*", default=[], help="plot, report: http results")
    parser.add_argument("--notify", nargs="*", default=[], help="plot, report: notify results")
    parser.add_argument("--idle", nargs="*", default=[], help="report: idle results")
    parser.add_argument("--out", default=str(DOCS / "scale.png"), help="plot: the PNG")
    args = parser.parse_args(argv)
    if args.mode not in ("plot", "report") and not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    default_processes = "1,2,4" if args.mode == "http" else "2"
    args.processes = [int(n) for n in (args.processes or default_processes).split(",")]
    args.clients = args.clients or {"idle": 5000, "notify": 1000}.get(args.mode, 5000)
    args.sweep = [int(c) for c in args.sweep.split(",") if c.strip()]
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    return args


# --- the layout -----------------------------------------------------------------------------


def unit_command() -> list[str]:
    """The web unit's ExecStart as this install's command line, its `--port %i` left for
    start_server to add."""
    unit = (DEPLOY / "systemd" / "helpdesk-web@.service").read_text(encoding="utf-8")
    (line,) = re.findall(r"^ExecStart=(.+)$", unit, re.MULTILINE)
    command = shlex.split(line.replace(INSTALLED, HELPDESK))
    if command[-2:] != ["--port", "%i"]:
        raise SystemExit(f"the web unit's command line changed: {line}")
    return command[:-2]


def env_file() -> dict[str, str]:
    """deploy/helpdesk.env.example's settings."""
    values = {}
    for line in (DEPLOY / "helpdesk.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def web_env(args: argparse.Namespace, processes: int, folder: Path) -> dict[str, str]:
    """The example environment file with this run's database, folders and Redis names."""
    tag = secrets.token_hex(4)
    redis_keys = ("SESSION_REDIS_URL", "RATELIMIT_STORAGE_URI", "CACHE_REDIS_URL")
    return {
        **env_file(),
        **dict.fromkeys((*redis_keys, "SOCKETIO_MESSAGE_QUEUE"), REDIS_URL),
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": args.database_url,
        "HELPDESK_INSTANCE_PATH": str(folder / "instance"),
        "UPLOAD_FOLDER": str(folder / "uploads"),
        "WEB_CONCURRENCY": str(processes),
        "SOCKETIO_CHANNEL": f"scale-bench-{tag}",
        "CACHE_KEY_PREFIX": f"scale-bench-{tag}:",
        # wrk's and the clients' straight requests are plain HTTP
        "SESSION_COOKIE_SECURE": "false",
        "REMEMBER_COOKIE_SECURE": "false",
        # every client signs in from 127.0.0.1
        "LOGIN_ADDRESS_RATE_LIMIT": "1000000 per minute",
        "MAIL_SERVER": "",
    }


def replaced(text_: str, old: str, new: str) -> str:
    """text_ with old replaced, which must be there (the site file changed otherwise)."""
    if old not in text_:
        raise SystemExit(f"the nginx site no longer says {old!r}")
    return text_.replace(old, new)


def nginx_config(folder: Path, web_port: int, ports: dict[str, int]) -> Path:
    """The deploy site with one upstream (the web port), in a main configuration of the run's
    own with connection limits for thousands of sockets (two connections each)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    site = (DEPLOY / "nginx" / "helpdesk.conf").read_text(encoding="utf-8")
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        ("server 127.0.0.1:8001", f"server 127.0.0.1:{web_port}"),
        ("    server 127.0.0.1:8002 max_fails=1 fail_timeout=10s;\n", ""),
        ("/opt/helpdesk/static/", f"{STATIC}/"),
        ("/etc/ssl/helpdesk/fullchain.pem", str(cert)),
        ("/etc/ssl/helpdesk/privkey.pem", str(key)),
        ("/var/log/nginx/helpdesk.access.log", str(folder / "helpdesk.access.log")),
    ):
        site = replaced(site, old, new)
    (folder / "helpdesk.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes auto;
worker_rlimit_nofile {raise_fd_limit()};
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections {NGINX_CONNECTIONS}; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
{temp}
    include {folder / "helpdesk.conf"};
}}
"""
    path = folder / "nginx.conf"
    path.write_text(main, encoding="utf-8")
    return path


def unverified() -> ssl.SSLContext:
    """A TLS context that accepts the run's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Layout:
    """The web processes and nginx in front of them."""

    processes: int
    web: Server
    nginx: Server

    @property
    def direct(self) -> str:
        """The web processes' own address."""
        return self.web.base

    @property
    def proxied(self) -> str:
        """nginx's HTTPS address."""
        return f"https://127.0.0.1:{self.nginx.port}"

    def base(self, way: str) -> str:
        """The address of one way in: "direct" or "nginx"."""
        return self.direct if way == "direct" else self.proxied

    def workers(self) -> list[int]:
        """The web processes that serve (gunicorn's workers)."""
        return self.web.worker_pids()

    def pids(self) -> dict[str, list[int]]:
        """Every process of the layout, by role."""
        return {
            "web": list(self.web.pids().values()),
            "nginx": list(self.nginx.pids().values()),
        }

    def stop(self) -> None:
        """nginx first, then the web processes."""
        self.nginx.stop()
        self.web.stop()


def wait_for_nginx(layout: Layout, timeout: float = 30.0) -> None:
    """Until nginx answers through to the app."""
    deadline = time.monotonic() + timeout
    context = unverified()
    while time.monotonic() < deadline:
        if layout.nginx.process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(  # noqa: S310
                layout.proxied + "/healthz", timeout=2, context=context
            ):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    log = (layout.nginx.log_path.parent / "error.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"nginx did not answer:\n{log}")


def start_layout(args: argparse.Namespace, processes: int, folder: Path) -> Layout:
    """Start the web processes, then nginx in front of them; stop both on any failure."""
    folder.mkdir(parents=True, exist_ok=True)
    web = start_server("web", unit_command(), web_env(args, processes, folder), folder)
    nginx: Server | None = None
    try:
        wait_ready(web, "/healthz")
        deadline = time.monotonic() + 30
        while web.serving_processes() < processes and time.monotonic() < deadline:
            time.sleep(0.2)
        if len(web.worker_pids()) != processes:
            raise RuntimeError(f"{len(web.worker_pids())} web processes, not {processes}")
        ports = {"http": free_port(), "https": free_port()}
        conf = nginx_config(folder, web.port, ports)
        log_path = folder / "nginx.out"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [NGINX, "-p", str(folder), "-c", str(conf)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        nginx = Server("nginx", ports["https"], process, log_path)
        layout = Layout(processes, web, nginx)
        wait_for_nginx(layout)
        return layout
    except BaseException:
        if nginx is not None:
            nginx.stop()
        web.stop()
        raise


# --- measuring --------------------------------------------------------------------------------


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds used so far by each process."""
    return {pid: process_seconds([pid]) for pid in pids}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (a process born meanwhile counts whole)."""
    return sum(max(seconds - before.get(pid, 0.0), 0.0) for pid, seconds in after.items())


class Backends:
    """The PostgreSQL server processes that serve the benchmark's database."""

    def __init__(self, database_url: str) -> None:
        self.engine: Engine = create_engine(database_url, pool_size=1)

    def pids(self) -> list[int]:
        """Every backend connected to the database but this reader's own."""
        with self.engine.connect() as conn:
            return list(
                conn.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                )
            )


@dataclass
class CpuWindow:
    """CPU time of the layout's processes, the database's backends and the machine over one
    stretch of load."""

    layout: Layout
    backends: Backends

    def __post_init__(self) -> None:
        self.pids = self.layout.pids()
        self.pg = self.backends.pids()
        self.before = {role: cpu_by_pid(pids) for role, pids in self.pids.items()}
        self.before["postgres"] = cpu_by_pid(self.pg)
        self.busy, self.kids = machine_busy_seconds(), children_seconds()
        self.started = time.monotonic()

    def close(self, done: int) -> dict[str, Any]:
        """CPU ms per unit of work done for each role; the other processes' cores (noise)."""
        elapsed = time.monotonic() - self.started
        machine_used = machine_busy_seconds() - self.busy
        kids = children_seconds() - self.kids
        after = {role: cpu_by_pid(pids) for role, pids in self.pids.items()}
        after["postgres"] = cpu_by_pid(sorted({*self.pg, *self.backends.pids()}))
        used = {role: cpu_used(self.before[role], after[role]) for role in after}
        workers = self.layout.workers()
        per_worker = [cpu_used(self.before["web"], cpu_by_pid([pid])) for pid in workers]
        ours = sum(used.values()) + kids
        done = max(done, 1)
        return {
            "elapsed_s": round(elapsed, 2),
            "cpu_ms": {role: round(seconds * 1000 / done, 3) for role, seconds in used.items()},
            "wrk_cpu_ms": round(kids * 1000 / done, 3),
            "web_cores": round(used["web"] / elapsed, 3),
            "busiest_worker_share": round(max(per_worker) / max(sum(per_worker), 1e-9), 3)
            if per_worker
            else None,
            "noise_cores": round(max(machine_used - ours, 0.0) / elapsed, 3),
            "load_1m": round(os.getloadavg()[0], 2),
        }


def wrk_once(
    args: argparse.Namespace,
    layout: Layout,
    backends: Backends,
    way: str,
    path: str,
    connections: int,
    headers: dict[str, str],
    duration: int,
) -> dict[str, Any]:
    """One wrk run through nginx or straight to the processes, with its CPU per request."""
    pids = [pid for group in layout.pids().values() for pid in group]
    wait_for_quiet(pids, args.max_noise, args.quiet_timeout)
    window = CpuWindow(layout, backends)
    options = argparse.Namespace(wrk_cpu=args.wrk_cpu, duration=duration)
    result = run_wrk(options, layout.base(way) + path, connections, headers, None)
    result.pop("raw", None)
    result.update(window.close(result["requests"]))
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


def check_both_ways(layout: Layout, headers: dict[str, str], paths: dict[str, str]) -> None:
    """One request per endpoint each way: the same 200 answer, or stop."""
    context = unverified()
    for name, path in paths.items():
        answers = []
        for way in ("direct", "nginx"):
            request = urllib.request.Request(layout.base(way) + path, headers=headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310
                body = json.loads(response.read())
                body.pop("execution_time", None)  # the one field that differs between requests
                answers.append((response.status, body))
        if answers[0][0] != 200 or answers[0] != answers[1]:
            raise RuntimeError(f"{name}: the two ways answer differently: {answers}")


def print_line(label: str, result: dict[str, Any]) -> None:
    """One run's figures on one line."""
    cpu = result["cpu_ms"]
    print(
        f"  {label:<34} {result['rps']:8.1f} req/s  p50 {result['p50_ms'] or 0:7.2f}  "
        f"p99 {result['p99_ms'] or 0:7.2f} ms  CPU ms/req web {cpu['web']:.2f} nginx "
        f"{cpu['nginx']:.2f} pg {cpu['postgres']:.2f}  noise {result['noise_cores']:.2f}  "
        f"load {result['load_1m']:.1f}"
        + (f"  ERRORS {result['errors']}" if result["errors"] else ""),
        flush=True,
    )


def median(values: list[float]) -> float | None:
    """The median, or None of nothing."""
    return round(statistics.median(values), 3) if values else None


def summarise_http(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Medians per process count, endpoint and way, with nginx's added p99."""
    rows = []
    keys = sorted({(r["processes"], r["endpoint"]) for r in runs})
    for processes, endpoint in keys:
        row: dict[str, Any] = {"processes": processes, "endpoint": endpoint}
        for way in ("direct", "nginx"):
            mine = [
                r
                for r in runs
                if (r["processes"], r["endpoint"], r["way"]) == (processes, endpoint, way)
            ]
            row[way] = {
                key: median([r[key] for r in mine if r.get(key) is not None])
                for key in ("rps", "p50_ms", "p99_ms", "noise_cores", "load_1m", "web_cores")
            }
            row[way]["busiest_worker_share"] = median(
                [r["busiest_worker_share"] for r in mine if r["busiest_worker_share"] is not None]
            )
            row[way]["cpu_ms"] = {
                role: median([r["cpu_ms"][role] for r in mine])
                for role in ("web", "nginx", "postgres")
            }
            row[way]["errors"] = sum(r["errors"] for r in mine)
            # nginx's added p99 within each repetition (same minute), then the median
        pairs = []
        for rep in sorted({r["repetition"] for r in runs}):
            by_way = {
                r["way"]: r
                for r in runs
                if (r["processes"], r["endpoint"], r["repetition"]) == (processes, endpoint, rep)
            }
            if {"direct", "nginx"} <= by_way.keys() and by_way["direct"]["p99_ms"]:
                direct, proxied = by_way["direct"]["p99_ms"], by_way["nginx"]["p99_ms"]
                pairs.append((proxied - direct) / direct)
        row["nginx_added_p99"] = median(pairs)
        row["nginx_added_p99_each"] = [round(p, 3) for p in pairs]
        rows.append(row)
    return rows


def run_http(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Both endpoints both ways at each process count, then the sweep."""
    fixture = bench_fixture(args.database_url)
    paths = {name: path.format(id=fixture["read_task_id"]) for name, path in ENDPOINTS.items()}
    vacuum(args.database_url, CHANGED_BY_STATUS_CHANGES)  # a notify run's changes, as autovacuum
    backends = Backends(args.database_url)
    runs: list[dict[str, Any]] = []
    sweep: list[dict[str, Any]] = []
    for processes in args.processes:
        layout = start_layout(args, processes, folder / f"n{processes}")
        try:
            cookie = login(layout.web, fixture["login"])
            headers = {"Accept": "application/json", "Cookie": cookie}
            check_both_ways(layout, headers, paths)
            print(f"{processes} web process(es): workers {layout.workers()}", flush=True)
            for path in paths.values():
                for way in ("direct", "nginx"):
                    options = argparse.Namespace(wrk_cpu=args.wrk_cpu, duration=args.warmup)
                    run_wrk(options, layout.base(way) + path, args.connections, headers, None)
            for rep in range(1, args.repetitions + 1):
                for name, path in paths.items():
                    ways = ("direct", "nginx") if rep % 2 else ("nginx", "direct")
                    for way in ways:
                        result = wrk_once(
                            args,
                            layout,
                            backends,
                            way,
                            path,
                            args.connections,
                            headers,
                            args.duration,
                        )
                        result.update(
                            processes=processes,
                            endpoint=name,
                            way=way,
                            repetition=rep,
                            connections=args.connections,
                        )
                        runs.append(result)
                        print_line(f"n={processes} {name} {way} rep {rep}", result)
            if processes == args.sweep_processes:
                for connections in args.sweep:
                    for way in ("direct", "nginx"):
                        result = wrk_once(
                            args,
                            layout,
                            backends,
                            way,
                            paths["my_tasks"],
                            connections,
                            headers,
                            args.sweep_duration,
                        )
                        result.update(
                            processes=processes,
                            endpoint="my_tasks",
                            way=way,
                            connections=connections,
                        )
                        sweep.append(result)
                        print_line(f"sweep n={processes} c={connections} {way}", result)
        finally:
            layout.stop()
    backends.engine.dispose()
    rows = summarise_http(runs)
    print()
    print(
        f"{'N':>2} {'endpoint':<11} | {'direct r/s':>10} {'p50':>6} {'p99':>7} {'ms/req':>6} | "
        f"{'nginx r/s':>9} {'p50':>6} {'p99':>7} {'ms/req':>6} {'+nginx':>6} | {'+p99':>6}"
    )
    for row in rows:
        d, n = row["direct"], row["nginx"]
        added = row["nginx_added_p99"]
        print(
            f"{row['processes']:>2} {row['endpoint']:<11} | {d['rps']:>10.1f} {d['p50_ms']:>6.1f} "
            f"{d['p99_ms']:>7.1f} {d['cpu_ms']['web']:>6.2f} | {n['rps']:>9.1f} "
            f"{n['p50_ms']:>6.1f} {n['p99_ms']:>7.1f} {n['cpu_ms']['web']:>6.2f} "
            f"{n['cpu_ms']['nginx']:>6.2f} | " + ("-" if added is None else f"{added:+.0%}")
        )
    return {
        "fixture": {k: fixture[k] for k in ("login", "read_task_id", "counts")},
        "runs": runs,
        "summary": rows,
        "sweep": sweep,
    }


# --- sockets ----------------------------------------------------------------------------------


def established_inodes(port: int) -> set[int]:
    """Socket inodes of the established TCP connections to a local port."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":
                    inodes.add(int(fields[9]))
    return inodes


def sockets_of(pid: int, inodes: set[int]) -> int:
    """How many of these sockets a process holds open."""
    held = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in inodes:
                held += 1
    except OSError:
        return 0
    return held


def rss_mb(pids: list[int]) -> dict[int, float]:
    """Current RSS of each process, in MB."""
    return {pid: round((status_kb(pid, "VmRSS") or 0) / 1024, 1) for pid in pids}


def client_session() -> aiohttp.ClientSession:
    """One HTTP connection pool for every client and their websockets, trusting the self-signed
    certificate (the connector's ssl=False: engine.io's own ssl_verify=False would load the
    system's CA store once per client, a megabyte and milliseconds each)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=False),  # every websocket holds one
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=60),
    )


async def run_idle_once(
    args: argparse.Namespace, layout: Layout, backends: Backends, users: list[str]
) -> dict[str, Any]:
    """Connect the clients through nginx, hold them open, read memory, spread and CPU."""
    workers = layout.workers()
    nginx_pids = layout.pids()["nginx"]
    web_before, nginx_before = rss_mb(workers), rss_mb(nginx_pids)
    async with client_session() as http:
        clients, elapsed, failed = await connect_many(
            http,
            layout.proxied,
            users,
            lambda _i: {},
            concurrency=CONNECT_CONCURRENCY,
        )
        await asyncio.sleep(2)
        window = CpuWindow(layout, backends)
        await asyncio.sleep(args.settle)
        idle_cpu = window.close(1)
        alive = sum(1 for c in clients if c.connected)
        web_after, nginx_after = rss_mb(workers), rss_mb(nginx_pids)
        inodes = established_inodes(layout.web.port)
        spread = {pid: sockets_of(pid, inodes) for pid in workers}
        own_rss = (status_kb(os.getpid(), "VmRSS") or 0) / 1024
        await disconnect_all(clients)
    web_growth = sum(web_after.values()) - sum(web_before.values())
    nginx_growth = sum(nginx_after.values()) - sum(nginx_before.values())
    return {
        "processes": layout.processes,
        "clients": len(users),
        "connected": alive,
        "failed": failed,
        "connect_s": round(elapsed, 1),
        "connects_per_s": round(len(clients) / elapsed, 1),
        "sockets_per_worker": list(spread.values()),
        "web_rss_before_mb": list(web_before.values()),
        "web_rss_after_mb": list(web_after.values()),
        "web_kb_per_client": round(web_growth * 1024 / max(alive, 1), 1),
        "nginx_rss_before_mb": list(nginx_before.values()),
        "nginx_rss_after_mb": list(nginx_after.values()),
        "nginx_kb_per_client": round(nginx_growth * 1024 / max(alive, 1), 1),
        "client_process_rss_mb": round(own_rss, 1),
        "idle_web_cores": idle_cpu["web_cores"],
        "idle_nginx_cores": round(
            idle_cpu["cpu_ms"]["nginx"] / 1000 / max(idle_cpu["elapsed_s"], 1e-9), 4
        ),
        "settle_s": args.settle,
        "noise_cores": idle_cpu["noise_cores"],
        "load_1m": idle_cpu["load_1m"],
    }


def socket_users(database_url: str, count: int) -> list[str]:
    """The first count socket users; prepare must have made them."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        names = list(
            conn.scalars(
                select(User.username).where(User.username.like("sock%")).order_by(User.username)
            )
        )
    engine.dispose()
    if len(names) < count:
        raise SystemExit(
            f"{len(names)} socket users, {count} wanted: run prepare --clients {count}"
        )
    return names[:count]


def run_idle(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Idle sockets through nginx at each process count."""
    fds = raise_fd_limit()
    users = socket_users(args.database_url, args.clients)
    backends = Backends(args.database_url)
    results = []
    for processes in args.processes:
        layout = start_layout(args, processes, folder / f"n{processes}")
        try:
            print(f"{processes} web process(es), {len(users)} clients, fd limit {fds}", flush=True)
            result = asyncio.run(run_idle_once(args, layout, backends, users))
        finally:
            layout.stop()
        print(f"  {json.dumps(result)}", flush=True)
        results.append(result)
    backends.engine.dispose()
    return {"fd_limit": fds, "nginx_worker_connections": NGINX_CONNECTIONS, "runs": results}


def change_plan(database_url: str, count: int) -> list[tuple[int, int]]:
    """count open tasks whose author and assignee are two of the dataset's users, each with the
    status it moves to (New <-> In Progress): every change tells both of them."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Task.id, Task.status_id)
            .where(
                Task.status_id.in_([STATUS_A, STATUS_B]),
                Task.assigned_to_id.is_not(None),
                Task.author_id != Task.assigned_to_id,
            )
            .order_by(Task.id)
            .limit(count)
        ).all()
    engine.dispose()
    if len(rows) < count:
        raise SystemExit(f"only {len(rows)} open tasks to change, {count} wanted")
    return [(tid, STATUS_B if status == STATUS_A else STATUS_A) for tid, status in rows]


def notified(database_url: str, task_ids: list[int], after_id: int) -> list[tuple[int, int, int]]:
    """The notifications the changes made: (id, user, task)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(Notifications.id, Notifications.user_id, Notifications.issue_id).where(
                Notifications.id > after_id, Notifications.issue_id.in_(task_ids)
            )
        ).all()
    engine.dispose()
    return [(nid, uid, tid) for nid, uid, tid in rows]


def last_notification_id(database_url: str) -> int:
    """The newest notification's id (0 if none)."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        newest = conn.scalar(select(func.max(Notifications.id))) or 0
    engine.dispose()
    return int(newest)


class Burst:
    """Status changes sent at a fixed rate whatever the answers take (an open loop), each
    change's start kept to time its notifications by."""

    def __init__(self, http: aiohttp.ClientSession, base: str, cookie: str, rate: float) -> None:
        self.http, self.base, self.cookie, self.rate = http, base, cookie, rate
        self.origin = time.perf_counter() + 0.2
        self.started: dict[int, float] = {}
        self.put_ms: list[float] = []
        self.codes: Counter[int] = Counter()

    async def change(self, index: int, task_id: int, status_id: int) -> None:
        """The index-th change, at its time: one PUT of the task's status."""
        await asyncio.sleep(max(self.origin + index / self.rate - time.perf_counter(), 0))
        began = time.perf_counter()
        self.started[task_id] = began
        async with self.http.put(
            f"{self.base}/tasks/api/task/{task_id}/status",
            json={"status_id": status_id},
            headers={"Cookie": self.cookie, "Accept": "application/json"},
        ) as response:
            await response.read()
            self.codes[response.status] += 1
        self.put_ms.append((time.perf_counter() - began) * 1000)


async def run_notify_once(
    args: argparse.Namespace,
    layout: Layout,
    backends: Backends,
    listeners: dict[str, int],
    idle: list[str],
    plan: list[tuple[int, int]],
) -> list[dict[str, Any]]:
    """Connect listeners and idle clients through nginx, then change statuses at each rate."""
    arrivals: dict[int, float] = {}  # notification id -> when its socket heard it

    async def heard(data: Any) -> None:
        arrivals.setdefault(int(data["id"]), time.perf_counter())

    names = [*listeners, *idle]
    results = []
    async with client_session() as http:
        clients, elapsed, failed = await connect_many(
            http,
            layout.proxied,
            names,
            lambda i: {"new_notification": heard} if i < len(listeners) else {},
            concurrency=CONNECT_CONCURRENCY,
        )
        if failed:
            raise RuntimeError(f"{failed} of {len(names)} clients did not connect")
        connected_users = set(listeners.values())
        print(f"  {len(clients)} clients connected in {elapsed:.1f} s", flush=True)
        admin = await sign_in(http, layout.proxied, ADMIN, BENCH_PASSWORD)
        todo = list(plan)
        for rate in args.rates:
            count = round(rate * args.seconds)
            batch, todo = todo[:count], todo[count:]
            after_id = last_notification_id(args.database_url)
            window = CpuWindow(layout, backends)
            burst = Burst(http, layout.proxied, admin, rate)
            await asyncio.gather(*(burst.change(i, t, s) for i, (t, s) in enumerate(batch)))
            started, put_ms, codes = burst.started, burst.put_ms, burst.codes
            spread_s = max(started.values()) - min(started.values())
            await asyncio.sleep(3.0)  # the last changes' notifications on their way
            cpu = window.close(len(batch))
            expected = [
                (nid, uid, tid)
                for nid, uid, tid in notified(args.database_url, [t for t, _ in batch], after_id)
                if uid in connected_users
            ]
            latencies = [
                (arrivals[nid] - started[tid]) * 1000
                for nid, _uid, tid in expected
                if nid in arrivals
            ]
            result = {
                "rate": rate,
                "achieved_rate": round((len(batch) - 1) / spread_s, 1) if spread_s else None,
                "changes": len(batch),
                "put_status": dict(codes),
                "notifications": len(expected),
                "received": len(latencies),
                "missing": len(expected) - len(latencies),
                "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
                "p90_ms": round(percentile(latencies, 90), 1) if latencies else None,
                "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
                "max_ms": round(max(latencies), 1) if latencies else None,
                "put_p50_ms": round(percentile(put_ms, 50), 1) if put_ms else None,
                "put_p99_ms": round(percentile(put_ms, 99), 1) if put_ms else None,
                "cpu_ms_per_change": cpu["cpu_ms"],
                "web_cores": cpu["web_cores"],
                "noise_cores": cpu["noise_cores"],
                "load_1m": cpu["load_1m"],
            }
            print(f"  {json.dumps(result)}", flush=True)
            results.append(result)
        await disconnect_all(clients)
    return results


def run_notify(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Notification latency at each rate of status changes, with the clients connected."""
    fds = raise_fd_limit()
    engine = create_engine(args.database_url)
    with engine.connect() as conn:
        listeners = dict(
            conn.execute(
                select(User.username, User.id)
                .where(User.username.not_like("sock%"), User.username != ADMIN)
                .order_by(User.id)
            ).all()
        )
    engine.dispose()
    if len(listeners) > args.clients:
        listeners = dict(list(listeners.items())[: args.clients])
    idle = socket_users(args.database_url, args.clients - len(listeners))
    plan = change_plan(args.database_url, sum(round(r * args.seconds) for r in args.rates))
    original = original_statuses(args.database_url, [tid for tid, _ in plan])
    backends = Backends(args.database_url)
    runs = []
    try:
        for processes in args.processes:
            layout = start_layout(args, processes, folder / f"n{processes}")
            try:
                print(
                    f"{processes} web process(es): {len(listeners)} listening and {len(idle)} "
                    f"idle clients, rates {args.rates}/s for {args.seconds} s each",
                    flush=True,
                )
                for result in asyncio.run(
                    run_notify_once(args, layout, backends, listeners, idle, plan)
                ):
                    runs.append({"processes": processes, **result})
            finally:
                layout.stop()
            restore_statuses(args.database_url, original)
    finally:
        backends.engine.dispose()
        restore_statuses(args.database_url, original)
        engine = create_engine(args.database_url)
        with engine.begin() as conn:  # the bell's counts back to nothing unread, as before
            conn.execute(
                update(Notifications).where(Notifications.is_read.is_(False)).values(is_read=True)
            )
        engine.dispose()
        vacuum(args.database_url, CHANGED_BY_STATUS_CHANGES)
    return {"fd_limit": fds, "listeners": len(listeners), "idle": len(idle), "runs": runs}


# --- set-up and plot --------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Cheap password hashes, the socket users and the administrator (idempotent)."""
    upgrade(args.database_url)
    hashed = bcrypt.hashpw(BENCH_PASSWORD.encode(), bcrypt.gensalt(CHEAP_ROUNDS)).decode()
    engine = create_engine(args.database_url)
    with engine.begin() as conn:
        conn.execute(update(User).values(password=hashed))
        existing = set(conn.scalars(select(User.username).where(User.username.like("sock%"))))
        wanted = [SOCKET_USER.format(i) for i in range(args.clients)]
        missing = [name for name in wanted if name not in existing]
        if missing:
            conn.execute(
                insert(User),
                [{"username": u, "email": f"{u}@example.com", "password": hashed} for u in missing],
            )
        if not conn.scalar(select(User.id).where(User.username == ADMIN)):
            conn.execute(
                insert(User).values(
                    username=ADMIN, email=f"{ADMIN}@example.com", password=hashed, is_admin=True
                )
            )
        users = conn.scalar(select(func.count(User.id)))
    engine.dispose()
    print(f"{users} users, {len(missing)} socket users added, password {BENCH_PASSWORD!r}")
    return {"users": users}


def latest(mode: str) -> list[str]:
    """The newest results file of a mode."""
    found = sorted(RESULTS.glob(f"scale-{mode}-*.json"))
    return [str(found[-1])] if found else []


def plot(args: argparse.Namespace) -> None:
    """Latency against load: My Tasks through nginx and straight (the sweep), and notification
    latency against status changes per second."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    plain = FuncFormatter(lambda value, _pos: f"{value:g}")

    http_files = args.http or latest("http")
    notify_files = args.notify or latest("notify")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3), dpi=100)
    for path in http_files:
        doc = json.loads(Path(path).read_text())
        sweep = doc["sweep"]
        processes = sweep[0]["processes"] if sweep else "?"
        for way, colour in (("direct", "tab:blue"), ("nginx", "tab:orange")):
            points = sorted((r for r in sweep if r["way"] == way), key=lambda r: r["connections"])
            load = [r["connections"] for r in points]
            label = "through nginx (TLS)" if way == "nginx" else "straight to the processes"
            left.plot(
                load, [r["p99_ms"] for r in points], "o-", color=colour, label=f"p99, {label}"
            )
            left.plot(
                load,
                [r["p50_ms"] for r in points],
                "s--",
                color=colour,
                alpha=0.6,
                label=f"p50, {label}",
            )
            for r in points:  # what that load achieved
                left.annotate(
                    f"{r['rps']:.0f}/s",
                    (r["connections"], r["p99_ms"]),
                    textcoords="offset points",
                    xytext=(4, 4 if way == "nginx" else -10),
                    fontsize=7,
                    color=colour,
                )
        left.set_title(f"My Tasks (JSON), {processes} web processes, 100,000 tasks")
    left.set_xlabel("wrk connections (labels: requests/s achieved)")
    left.set_xscale("log", base=2)
    left.xaxis.set_major_formatter(plain)
    left.set_ylabel("latency, ms")
    left.set_yscale("log")
    left.yaxis.set_major_formatter(plain)
    left.yaxis.set_minor_formatter(NullFormatter())
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    for path in notify_files:
        doc = json.loads(Path(path).read_text())
        for processes in sorted({r["processes"] for r in doc["runs"]}):
            points = [r for r in doc["runs"] if r["processes"] == processes and r["p99_ms"]]
            rates = [r["achieved_rate"] or r["rate"] for r in points]
            right.plot(rates, [r["p99_ms"] for r in points], "o-", label=f"p99, {processes} proc.")
            for rate, r in zip(rates, points, strict=True):  # the machine's state: it moves p99
                right.annotate(
                    f"others: {r['noise_cores']:.1f} cores",
                    (rate, r["p99_ms"]),
                    textcoords="offset points",
                    xytext=(-30, 8),
                    fontsize=7,
                )
            right.plot(
                rates,
                [r["p50_ms"] for r in points],
                "s--",
                alpha=0.6,
                label=f"p50, {processes} proc.",
            )
        right.set_title(f"Notification: PUT → socket, {doc['listeners'] + doc['idle']:,} clients")
    right.axhline(TARGETS["notification_p99_ms"], color="red", lw=1, ls=":", label="p99 target")
    right.set_xlabel("status changes per second")
    right.set_ylabel("latency, ms")
    right.set_yscale("log")
    right.yaxis.set_major_formatter(plain)
    right.yaxis.set_minor_formatter(plain)
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=7)
    figure.suptitle(
        "2 shared cores: wrk, nginx, the web processes, PostgreSQL and Redis", fontsize=9
    )
    figure.tight_layout()
    figure.savefig(args.out)
    print(f"plot: {args.out} from {http_files + notify_files}")


def report(args: argparse.Namespace) -> None:
    """The latest results as Markdown tables, so docs/PERFORMANCE.md quotes them unchanged."""
    for path in args.http or latest("http"):
        doc = json.loads(Path(path).read_text())
        print(f"<!-- {Path(path).name}: load {doc['load_before']} -> {doc['load_after']} -->")
        print(
            "| processes | endpoint | straight req/s | p50 / p99 ms | through nginx req/s "
            "| p50 / p99 ms | nginx's added p99 (each rep.) | CPU ms/req web / nginx / PostgreSQL "
            "(through nginx) | busiest worker | others' cores |"
        )
        print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for row in doc["summary"]:
            d, n = row["direct"], row["nginx"]
            each = ", ".join(f"{p:+.0%}" for p in row["nginx_added_p99_each"])
            cpu = n["cpu_ms"]
            print(
                f"| {row['processes']} | {row['endpoint']} | {d['rps']:.1f} | "
                f"{d['p50_ms']:.0f} / {d['p99_ms']:.0f} | {n['rps']:.1f} | "
                f"{n['p50_ms']:.0f} / {n['p99_ms']:.0f} | **{row['nginx_added_p99']:+.0%}** "
                f"({each}) | {cpu['web']:.1f} / {cpu['nginx']:.1f} / {cpu['postgres']:.1f} | "
                f"{n['busiest_worker_share']:.0%} | {n['noise_cores']:.1f} |"
            )
        print()
        print(
            "| connections | straight req/s | p50 / p99 ms | through nginx req/s | p50 / p99 ms |"
        )
        print("|---:|---:|---:|---:|---:|")
        for c in sorted({r["connections"] for r in doc["sweep"]}):
            by = {r["way"]: r for r in doc["sweep"] if r["connections"] == c}
            d, n = by["direct"], by["nginx"]
            print(
                f"| {c} | {d['rps']:.1f} | {d['p50_ms']:.0f} / {d['p99_ms']:.0f} | "
                f"{n['rps']:.1f} | {n['p50_ms']:.0f} / {n['p99_ms']:.0f} |"
            )
        print()
    for path in args.idle or latest("idle"):
        doc = json.loads(Path(path).read_text())
        print(f"<!-- {Path(path).name}: load {doc['load_before']} -> {doc['load_after']} -->")
        for r in doc["runs"]:
            print(
                f"| {r['processes']} | {r['connected']:,} of {r['clients']:,} | "
                f"{r['connects_per_s']:.0f}/s | {' + '.join(map(str, r['sockets_per_worker']))} | "
                f"{' + '.join(f'{v:.0f}' for v in r['web_rss_after_mb'])} MB | "
                f"**{r['web_kb_per_client']:.0f} kB** | {r['nginx_kb_per_client']:.0f} kB | "
                f"{r['idle_web_cores']:.3f} |"
            )
        print()
    for path in args.notify or latest("notify"):
        doc = json.loads(Path(path).read_text())
        print(f"<!-- {Path(path).name}: load {doc['load_before']} -> {doc['load_after']} -->")
        for r in doc["runs"]:
            cpu = r["cpu_ms_per_change"]
            print(
                f"| {r['rate']:g} ({r['achieved_rate']}) | {r['changes']} | "
                f"{r['received']} of {r['notifications']} | {r['p50_ms']} | **{r['p99_ms']}** | "
                f"{r['max_ms']} | {r['put_p50_ms']} / {r['put_p99_ms']} | "
                f"{cpu['web']:.0f} / {cpu['nginx']:.1f} / {cpu['postgres']:.0f} | "
                f"{r['noise_cores']:.1f} | {r['load_1m']:.1f} |"
            )
        print()


def main(argv: list[str] | None = None) -> int:
    """Run one mode; keep its figures in benchmarks/results/."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are still stopped
    if args.mode == "plot":
        plot(args)
        return 0
    if args.mode == "report":
        report(args)
        return 0
    if args.mode == "prepare":
        prepare(args)
        return 0
    started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-scale-"))
    load_before = os.getloadavg()
    try:
        modes = {"http": run_http, "idle": run_idle, "notify": run_notify}
        figures = modes[args.mode](args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    document = {
        "mode": args.mode,
        "started_at": started_at,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": machine(),
        "src_digest": source_digest(),
        "args": {k: v for k, v in vars(args).items() if k != "database_url"},
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scale-{args.mode}-{started_at}.json"
    out.write_text(json.dumps(document, indent=2))
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
