"""Count the CPU instructions a request costs, under valgrind's callgrind: the same count however
busy the machine is, so two versions of the code compare where timings drift by a third.

    .venv/bin/python benchmarks/count_instructions.py --database-url sqlite:////tmp/hd-bench.db \
        statuses task_by_id my_tasks status_change

Each request name (see profile_requests.py) runs in a process of its own under callgrind, which
counts only around the measured calls (not the start-up, sign-in or warm-up). Needs valgrind
(Debian's package). The app runs in process through Flask's test client, as in
profile_requests.py; on PostgreSQL only this process's instructions are counted, not the server's.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import profile_requests

COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
WARM_UP = 30
# Work done once a minute of wall-clock time (presence writes, the lookups' expiry) would land in
# the counted window more often the slower the machine runs under valgrind: put it off.
STILL = {"PRESENCE_INTERVAL": 3600, "CACHE_DEFAULT_TIMEOUT": 3600}


def measure(database_url: str, name: str, calls: int) -> None:
    """Inside valgrind: warm up, then switch counting on for `calls` requests only."""
    app = profile_requests.build_app(database_url, {"LOG_REQUESTS": False, **STILL})
    fx = profile_requests.fixture(app)
    client = app.test_client()
    profile_requests.sign_in(client, fx["login"])
    method, path, options = profile_requests.requests_to_measure(fx)[name]
    try:
        for i in range(WARM_UP):
            profile_requests.call(client, method, path, options, i)
        gc.collect()
        gc.freeze()  # as the server does after start-up: no full collection of the app's heap
        switch("on")
        for i in range(calls):
            profile_requests.call(client, method, path, options, i)
        switch("off")
    finally:
        profile_requests.restore(app, fx)


def switch(state: str) -> None:
    """Turn callgrind's counting on or off for this process."""
    subprocess.run(
        ["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True
    )


def count(database_url: str, name: str, calls: int) -> int:
    """Run one request name under callgrind; the instructions counted."""
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={Path(folder) / 'callgrind.out'}",
                sys.executable,
                __file__,
                "--database-url",
                database_url,
                "--calls",
                str(calls),
                "--inside",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    found = COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"{name}: valgrind failed\n{result.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> None:
    """Instructions per request for each request name given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+", help="request names, e.g. statuses task_by_id")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--calls", type=int, default=100, help="requests counted per name")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("set DATABASE_URL or --database-url")
    if args.inside:
        measure(args.database_url, args.names[0], args.calls)
        return
    profile_requests.upgrade(args.database_url)
    print(f"{'request':<24} {'instructions per request':>26}")
    for name in args.names:
        per_request = count(args.database_url, name, args.calls) / args.calls
        print(f"{name:<24} {per_request:>26,.0f}")


if __name__ == "__main__":
    main()
