"""A Redis server of a test's own, which the test stops, freezes and starts again (never the
shared one on 6379)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from conftest import require_service

PORTS = range(6390, 6400)  # this suite's own Redis servers, never the shared one on 6379


class OwnRedis:
    """A redis-server this test starts, stops and starts again on the same port."""

    def __init__(self, folder: Path) -> None:
        """Pick a free port of PORTS."""
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server", "the redis-server program is not installed")
        self.binary = str(binary)
        self.folder = folder
        self.port = next(port for port in PORTS if self._free(port))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _free(port: int) -> bool:
        """Whether nothing listens on port."""
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) != 0

    def start(self) -> None:
        """Start it and wait until it answers."""
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (its data goes with it)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        """Keep it running but answering nothing, as a hung server does."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server answer again."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
