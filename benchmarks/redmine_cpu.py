"""CPU time per request, the helpdesk's reads from Redmine's database against Redmine's own REST
answer to the same user, one request at a time: a figure that a busy machine slows down far less
than requests/s (each side's own process CPU, read from /proc; the database server's share is
left out, it is shared by both).

    .venv/bin/python benchmarks/redmine_cpu.py --redmine-url URL --api-key KEY \\
        --redmine-db-url DBURL --database-url postgresql://postgres@127.0.0.1:5432/rmbench_100k

The helpdesk runs in this process (REDMINE_READS=database, the test client; its CPU is this
process's), Redmine is the thin server listening at --redmine-url (its CPU is that process's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from redmine_side_by_side import TASK_INCLUDES, Scene, redmine_app

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """A process's user + system CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def listening_pid(port: int) -> int:
    """The process that listens on a loopback port (Redmine's thin)."""
    out = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split("pid=", 1)[1].split(",", 1)[0])


def main() -> None:
    """Per call: the helpdesk's CPU per request, Redmine's, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redmine-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--redmine-db-url", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--dataset")
    parser.add_argument("--board-project", type=int)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    scene = Scene(args)
    app = redmine_app(args, "database", timeout=60)
    http = app.test_client()
    answer = http.post("/users/login", json={"username": scene.login, "password": "bench"})
    if answer.status_code != 200:
        raise RuntimeError(f"login: {answer.status_code}")
    rest = requests.Session()
    rest.headers.update({"X-Redmine-API-Key": args.api_key, "X-Redmine-Switch-User": scene.login})
    redmine = listening_pid(int(args.redmine_url.rsplit(":", 1)[1]))
    mine = os.getpid()
    sort = "priority%3Adesc%2Cupdated_on%3Adesc%2Cid%3Adesc"
    calls: dict[str, tuple[str, str]] = {
        "my_tasks": (
            "/tasks/my-tasks",
            f"/issues.json?offset=0&limit=25&assigned_to_id={scene.redmine_id}&status_id=open"
            f"&sort={sort}",
        ),
        "task_by_id": (
            f"/tasks/api/task/{scene.task_id}",
            f"/issues/{scene.task_id}.json?include={TASK_INCLUDES}",
        ),
        "board column (New)": (
            scene.board[0],
            f"/issues.json?offset=0&limit=30&status_id=1&project_id={scene.board_project}"
            f"&sort={sort}",
        ),
    }
    rows: list[dict[str, Any]] = []
    for name, (ours, theirs) in calls.items():
        for _ in range(3):  # warm both
            http.get(ours, headers={"Accept": "application/json"})
            rest.get(args.redmine_url + theirs, timeout=60).raise_for_status()
        spent: dict[str, list[float]] = {"helpdesk": [], "redmine": []}
        for _ in range(args.requests):
            began = process_cpu(mine)
            assert http.get(ours, headers={"Accept": "application/json"}).status_code == 200
            spent["helpdesk"].append(process_cpu(mine) - began)
            began = process_cpu(redmine)
            rest.get(args.redmine_url + theirs, timeout=60).raise_for_status()
            time.sleep(0.05)  # thin's accounting catches up
            spent["redmine"].append(process_cpu(redmine) - began)
        row = {
            "call": name,
            "helpdesk_cpu_ms": round(1000 * statistics.mean(spent["helpdesk"]), 1),
            "redmine_cpu_ms": round(1000 * statistics.mean(spent["redmine"]), 1),
        }
        row["ratio"] = round(row["redmine_cpu_ms"] / row["helpdesk_cpu_ms"], 1)
        rows.append(row)
        print(row, flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
