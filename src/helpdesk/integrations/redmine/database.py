"""Reading Redmine's own database (the seed's `[mysql]` reader): faster than REST for what the
change feed and the seed's helpers need, never written to.

One pooled, read-only SQLAlchemy engine per database, with connect and read timeouts, for any URL
SQLAlchemy knows (PyMySQL for MySQL/MariaDB, psycopg for PostgreSQL, SQLite). Redmine writes its
DATETIME columns without a zone, in its own process's time zone; REDMINE_TIMEZONE names it and
`to_utc` converts, so nothing here guesses.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, has_request_context
from flask_babel import get_locale
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

EXTENSION = "redmine_database"

# Redmine stores a status under the name its default data was loaded with (English or Russian):
# each default status's names, so a Russian user sees "В работе" whichever Redmine stores.
DEFAULT_STATUS_NAMES: tuple[dict[str, str], ...] = (
    {"en": "New", "ru": "Новая"},
    {"en": "In Progress", "ru": "В работе"},
    {"en": "Resolved", "ru": "Решена"},
    {"en": "Feedback", "ru": "Нужен отклик"},
    {"en": "Closed", "ru": "Закрыта"},
    {"en": "Rejected", "ru": "Отклонена"},
)
STATUS_TRANSLATIONS = {name: names for names in DEFAULT_STATUS_NAMES for name in names.values()}

_ENGINES: dict[str, Engine] = {}  # get_connection's engines by URL, created on first use
_ENGINES_LOCK = threading.Lock()


def database_url(config: Mapping[str, Any]) -> URL | None:
    """The Redmine database the settings name: REDMINE_DB_URL, else REDMINE_DB_HOST/_NAME with
    _PORT, _USER and _PASSWORD (MySQL/MariaDB); None when neither is set."""
    if config.get("REDMINE_DB_URL"):
        return make_url(config["REDMINE_DB_URL"])
    if not (config.get("REDMINE_DB_HOST") and config.get("REDMINE_DB_NAME")):
        return None
    return URL.create(
        "mysql+pymysql",
        username=config.get("REDMINE_DB_USER") or None,
        password=config.get("REDMINE_DB_PASSWORD") or None,
        host=config["REDMINE_DB_HOST"],
        port=int(config.get("REDMINE_DB_PORT") or 3306),
        database=config["REDMINE_DB_NAME"],
    )


def redmine_timezone(config: dict[str, Any]) -> ZoneInfo:
    """The zone Redmine writes its times in (REDMINE_TIMEZONE); a name that is no zone stops
    start-up, since every time read would be wrong."""
    name = config.get("REDMINE_TIMEZONE") or "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(
            f"REDMINE_TIMEZONE must name a time zone such as UTC or Europe/Moscow, not {name!r}"
        ) from None


def to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """A naive Redmine time in `zone` as naive UTC, the helpdesk's way of storing times."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC).replace(tzinfo=None)


def init_app(app: Flask) -> None:
    """Check the reader's settings at start-up: the time zone, and which URL wins when both
    ways of naming the database are set."""
    redmine_timezone(app.config)
    if app.config.get("REDMINE_DB_URL") and app.config.get("REDMINE_DB_HOST"):
        log.warning(
            "Both REDMINE_DB_URL and REDMINE_DB_HOST are set: reading Redmine's database at "
            "REDMINE_DB_URL and ignoring REDMINE_DB_HOST, _PORT, _NAME, _USER and _PASSWORD"
        )


def redmine_database(app: Flask | None = None) -> Engine | None:
    """The application's engine on Redmine's database, created on first use; None when no
    database is configured (the change feed then reads Redmine's REST API)."""
    target: Flask = app or current_app
    if EXTENSION not in target.extensions:
        url = database_url(target.config)
        timeout = float(target.config.get("REDMINE_TIMEOUT") or 10)
        target.extensions[EXTENSION] = reader_engine(url, timeout) if url is not None else None
    engine: Engine | None = target.extensions[EXTENSION]
    return engine


def dispose_database(app: Flask) -> None:
    """Close the pooled connections of the application's engine (tests, shutdown)."""
    engine = app.extensions.pop(EXTENSION, None)
    if engine is not None:
        engine.dispose()


def reader_engine(url: URL | str, timeout: float) -> Engine:
    """A small pooled engine that cannot write, whose connects and reads give up after
    `timeout` seconds, for whichever database Redmine runs on."""
    url = make_url(url)
    backend = url.get_backend_name()
    options: dict[str, Any] = {"pool_pre_ping": True}
    if backend in {"mysql", "mariadb"}:
        if "+" not in url.drivername:
            url = url.set(drivername=f"{backend}+pymysql")
        options["connect_args"] = {
            "connect_timeout": timeout,
            "read_timeout": timeout,
            "write_timeout": timeout,
            "charset": "utf8mb4",
        }
        statement = "SET SESSION TRANSACTION READ ONLY"
    elif backend == "postgresql":
        milliseconds = int(timeout * 1000)
        options["connect_args"] = {
            "connect_timeout": max(1, int(timeout)),
            "options": f"-c default_transaction_read_only=on -c statement_timeout={milliseconds}",
        }
        statement = ""
    elif backend == "sqlite":
        options["connect_args"] = {"timeout": timeout}
        statement = "PRAGMA query_only = ON"
    else:
        statement = ""
    if backend != "sqlite":
        options.update(pool_size=2, max_overflow=3, pool_recycle=3600, pool_timeout=timeout)
    engine = create_engine(url, **options)
    if statement:

        @event.listens_for(engine, "connect")
        def read_only(dbapi_connection: Any, _record: Any) -> None:
            """Every connection of the pool refuses writes, whatever a caller sends."""
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()

    return engine


def get_connection(
    host: str,
    user_name: str,
    password: str,
    name: str,
    max_attempts: int = 3,
    *,
    port: int = 3306,
    timeout: float = 10,
) -> Connection | None:
    """The seed's helper: a read-only connection to a Redmine MySQL/MariaDB database from a pool
    kept per database, tried up to max_attempts times; None when it cannot be had (logged
    without the password). Close it (or use it in a `with` block) to give it back."""
    url = URL.create(
        "mysql+pymysql",
        username=user_name or None,
        password=password or None,
        host=host,
        port=port,
        database=name,
    )
    key = url.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key) or _ENGINES.setdefault(key, reader_engine(url, timeout))
    for attempt in range(1, max(1, max_attempts) + 1):
        try:
            return engine.connect()
        except SQLAlchemyError as error:
            log.warning(
                "Redmine database %s unreachable (attempt %d of %d): %s",
                url.render_as_string(hide_password=True),
                attempt,
                max_attempts,
                type(getattr(error, "orig", None) or error).__name__,
            )
            if attempt < max_attempts:
                time.sleep(0.5 * attempt)
    return None


def localized_status_name(name: str, locale: str) -> str:
    """A status name Redmine stores, in `locale` if it is a default status; others as stored."""
    return STATUS_TRANSLATIONS.get(name, {}).get(locale, name)


def get_localized_status_name(
    status_id: int, connection: Connection, locale: str | None = None
) -> str:
    """The seed's helper: the name of a Redmine status in the reader's language (`locale`, else
    the current user's, else the helpdesk's default); LookupError if there is no such status."""
    name = connection.scalar(
        text("SELECT name FROM issue_statuses WHERE id = :id"), {"id": int(status_id)}
    )
    if name is None:
        raise LookupError(f"Redmine has no status {status_id}")
    return localized_status_name(name, locale or current_language())


def current_language() -> str:
    """The language of the person reading: theirs in a request, else the default (Russian)."""
    if has_request_context():
        locale = get_locale()
        if locale is not None:
            return locale.language
    return "ru"


MEMBERS = text(
    """
    SELECT u.id, u.firstname, u.lastname, u.login, r.name
    FROM members m
    JOIN users u ON u.id = m.user_id
    JOIN member_roles mr ON mr.member_id = m.id
    JOIN roles r ON r.id = mr.role_id
    WHERE m.project_id = :project_id AND u.type = 'User' AND u.status = 1
    ORDER BY u.firstname, u.lastname, u.id, r.position
    """
)


def get_project_members(project_id: int, connection: Connection) -> list[dict[str, Any]]:
    """The seed's helper: a project's active members as {"user_id", "name", "role"} (Redmine's
    user ids; several roles joined by commas, in Redmine's role order); groups are not people."""
    members: dict[int, dict[str, Any]] = {}
    for user_id, first, last, login, role in connection.execute(
        MEMBERS, {"project_id": int(project_id)}
    ):
        member = members.get(user_id)
        if member is None:
            full_name = f"{first or ''} {last or ''}".strip() or login
            members[user_id] = {"user_id": user_id, "name": full_name, "role": role}
        elif role not in member["role"].split(", "):
            member["role"] += f", {role}"
    return list(members.values())
