"""A real Redmine 5 for tests: Debian's package on the local MariaDB, started by
tests/services/redmine.sh (the same script .ci/run uses to install it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

SCRIPT = Path(__file__).parent / "services" / "redmine.sh"
REDMINE_HOME = "/usr/share/redmine"


class RedmineUnavailable(Exception):
    """Redmine could not be installed or started here (the message says why)."""


@dataclass
class RedmineServer:
    """One running Redmine instance with its own database; the admin's API key acts for anyone
    (X-Redmine-Switch-User)."""

    name: str
    port: int
    url: str
    api_key: str
    db_url: str

    @classmethod
    def start(cls, name: str) -> RedmineServer:
        """Install if missing, give the instance a fresh database, serve it on a free port."""
        if shutil.which("mysql") is None:
            raise RedmineUnavailable("the MariaDB client (mysql) is not installed")
        from helpers import free_port  # helpers imports conftest, which imports this module

        port = free_port()
        done = subprocess.run(
            [str(SCRIPT), "start", name, str(port)], capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise RedmineUnavailable(done.stderr.strip().splitlines()[-1:] or "no message")
        url, api_key, db_url = done.stdout.split()
        return cls(name, port, url, api_key, db_url)

    def rails(self, ruby: str) -> str:
        """Run Ruby inside Redmine (`bin/rails runner`) for what its REST API cannot do (roles,
        workflows, archiving, bulk edits); returns what the code printed."""
        done = subprocess.run(
            [f"{REDMINE_HOME}/bin/rails", "runner", "-e", "production", ruby],
            cwd=REDMINE_HOME,
            env={**os.environ, "REDMINE_INSTANCE": f"helpdesk_{self.name}", "TZ": "UTC"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise AssertionError(f"rails runner failed: {done.stderr[-2000:]}")
        return done.stdout

    def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run one SQL statement on Redmine's database and return its rows (none for a write)."""
        engine = create_engine(self.db_url)
        try:
            with engine.begin() as connection:
                result = connection.execute(text(statement), params)
                return list(result) if result.returns_rows else []
        finally:
            engine.dispose()

    def stop(self) -> None:
        """Stop the server (its database stays): Redmine is down until serve()."""
        subprocess.run([str(SCRIPT), "stop", self.name], check=True, timeout=60)

    def serve(self) -> None:
        """Start the stopped server again on the same port."""
        subprocess.run([str(SCRIPT), "serve", self.name, str(self.port)], check=True, timeout=120)

    def drop(self) -> None:
        """Stop the server and remove its database and files."""
        subprocess.run([str(SCRIPT), "drop", self.name], check=True, timeout=60)
