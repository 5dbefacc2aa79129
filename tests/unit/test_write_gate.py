"""The SQLite write gate: processes (here, two gates on one lock file) take turns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine

from helpdesk.core import database
from helpdesk.core.database import WriteGate, write_lock_path


def checkout() -> SimpleNamespace:
    """A pooled connection as the gate sees it: a connection and its pool record share `info`."""
    return SimpleNamespace(info={})


def test_second_process_waits_for_the_first_and_enters_when_it_leaves(tmp_path: Path) -> None:
    lock = tmp_path / "helpdesk.db-writelock"
    first, second = WriteGate(lock), WriteGate(lock)  # one open file each, as in two processes
    held = checkout()
    first.enter(held)
    entered = threading.Event()
    waiting = checkout()
    thread = threading.Thread(target=lambda: (second.enter(waiting), entered.set()))
    thread.start()
    assert not entered.wait(0.2), "the second writer went in while the first held the gate"
    released_at = time.monotonic()
    first.leave(None, held)
    assert entered.wait(2)
    assert time.monotonic() - released_at < 0.1  # woke promptly, not after a long sleep
    thread.join()
    assert waiting.info[database.HOLDS_GATE]
    second.leave(None, waiting)
    again = checkout()
    first.enter(again)  # the file lock really was released
    assert again.info[database.HOLDS_GATE]
    first.leave(None, again)


def test_writer_goes_on_without_the_gate_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_SECONDS", 0.2)
    lock = tmp_path / "helpdesk.db-writelock"
    first, second = WriteGate(lock), WriteGate(lock)
    held, late = checkout(), checkout()
    first.enter(held)
    started = time.monotonic()
    second.enter(late)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert database.HOLDS_GATE not in late.info  # SQLite's own lock decides from here
    second.leave(None, late)  # leaving without the gate releases nothing of the first's
    first.leave(None, held)


def test_lock_file_sits_beside_the_database_file(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'helpdesk.db'}")
    assert write_lock_path(engine) == tmp_path / "helpdesk.db-writelock"
    assert write_lock_path(create_engine("sqlite://")) is None
    assert write_lock_path(create_engine("sqlite:///:memory:")) is None


# Under gevent the wait is a real thread blocked in flock; run apart, as gevent's patching must
# not reach the test process. The lock is held by another process (this test's), as in serving.
GEVENT_WAITER = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()
    import sys
    import time
    from pathlib import Path
    from types import SimpleNamespace

    import gevent

    from helpdesk.core import database
    from helpdesk.core.database import WriteGate

    database.BUSY_TIMEOUT_SECONDS = float(sys.argv[2])
    gate = WriteGate(Path(sys.argv[1]))
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(1000)])
    waiting = SimpleNamespace(info={})
    print("waiting", flush=True)
    gate.enter(waiting)
    outcome = "entered" if waiting.info.get(database.HOLDS_GATE) else "gave up"
    print(outcome, time.time(), flush=True)
    print("ticks", len(ticks), flush=True)  # the other greenlets ran meanwhile
    ticker.kill()
    gate.leave(None, waiting)
    sys.stdin.readline()  # stay alive (the abandoned wait's thread with it) until told
    """
)


def gevent_waiter(lock: Path, timeout: float) -> subprocess.Popen[str]:
    """A gevent process that waits at the gate, and says when it is waiting."""
    process = subprocess.Popen(
        [sys.executable, "-c", GEVENT_WAITER, str(lock), str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "waiting"
    return process


def test_under_gevent_a_waiter_enters_the_moment_the_other_process_leaves(tmp_path: Path) -> None:
    lock = tmp_path / "helpdesk.db-writelock"
    holder, held = WriteGate(lock), checkout()
    holder.enter(held)
    waiter = gevent_waiter(lock, 30)
    time.sleep(0.5)
    released_at = time.time()
    holder.leave(None, held)
    out, _ = waiter.communicate("\n", timeout=30)
    entered, ticks = out.splitlines()
    word, at = entered.split()
    assert word == "entered"
    assert float(at) - released_at < 0.05  # woken by the kernel, not by a poll
    assert int(ticks.split()[1]) >= 20  # the worker's other greenlets ran while it waited


def test_under_gevent_an_abandoned_wait_lets_go_of_a_lock_that_comes_later(tmp_path: Path) -> None:
    lock = tmp_path / "helpdesk.db-writelock"
    holder, held = WriteGate(lock), checkout()
    holder.enter(held)
    waiter = gevent_waiter(lock, 0.2)
    assert waiter.stdout is not None
    assert waiter.stdout.readline().startswith("gave up")
    holder.leave(None, held)  # the waiter's thread now gets the lock, and must let go of it
    time.sleep(0.2)
    again = checkout()
    holder.enter(again)
    assert again.info[database.HOLDS_GATE]
    holder.leave(None, again)
    waiter.communicate("\n", timeout=30)
