"""What every outside database connection needs, whichever driver reaches it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL


def timeout_arguments(url: URL, seconds: float) -> dict[str, Any]:
    """The driver's own connect (and, where it has one, read) timeouts for the databases an
    outside system may use: MySQL/MariaDB, PostgreSQL, Oracle, SQLite."""
    whole = max(int(seconds), 1)
    backend = url.get_backend_name()
    if backend == "mysql":
        return {"connect_timeout": whole, "read_timeout": whole, "write_timeout": whole}
    if backend == "postgresql":
        return {"connect_timeout": whole, "options": f"-c statement_timeout={whole * 1000}"}
    if backend == "oracle":
        return {"tcp_connect_timeout": seconds}
    if backend == "sqlite":
        return {"timeout": seconds}
    return {}
