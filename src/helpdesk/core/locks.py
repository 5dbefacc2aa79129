"""Named locks shared by every process of one helpdesk, so a periodic job never runs twice at once.

The lock lives where all the processes meet: Redis when JOBS_LOCK_URL names it, else the
PostgreSQL database (an advisory lock), else — SQLite, hence one machine — a file in the
instance folder. Each lock is tried, never waited for: a job someone else is running is skipped.
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import Engine, text

from helpdesk.extensions import db

REDIS_TIMEOUT_SECONDS = 5


@contextmanager
def try_lock(app: Flask, name: str, lease_seconds: int) -> Iterator[bool]:
    """Hold the named lock for the block if nobody else does; yields whether it was taken.
    `lease_seconds` bounds how long a Redis lock outlives a crashed holder."""
    url = app.config["JOBS_LOCK_URL"]
    if url:
        with redis_lock(url, app.config["JOBS_LOCK_PREFIX"] + name, lease_seconds) as taken:
            yield taken
    elif db.engine.dialect.name == "postgresql":
        with advisory_lock(db.engine, name) as taken:
            yield taken
    else:
        with file_lock(Path(app.instance_path) / "locks", name) as taken:
            yield taken


def lock_key(name: str) -> int:
    """A stable 32-bit key for PostgreSQL's advisory locks, from the lock's name."""
    return zlib.crc32(f"helpdesk:{name}".encode())


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    """A session-level advisory lock on a connection of its own; the server frees it if this
    process dies, so a crash never leaves a job locked."""
    key = lock_key(name)
    with engine.connect() as connection:
        taken = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        connection.commit()
        try:
            yield taken
        finally:
            if taken:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()


@contextmanager
def redis_lock(url: str, key: str, lease_seconds: int) -> Iterator[bool]:
    """redis-py's lock: a key with a token and an expiry, released only by its holder."""
    client = redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    lock = client.lock(key, timeout=lease_seconds, blocking=False)
    try:
        taken = bool(lock.acquire())
        try:
            yield taken
        finally:
            if taken and lock.owned():
                lock.release()
    finally:
        client.close()


@contextmanager
def file_lock(folder: Path, name: str) -> Iterator[bool]:
    """flock on a file: the kernel frees it when the process dies."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
