"""The SQLite write gate: processes (here, two gates on one lock file) take turns."""

from __future__ import annotations

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
