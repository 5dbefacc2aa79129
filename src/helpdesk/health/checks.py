"""Whether each system the helpdesk relies on answers: one probe per service, each with a timeout.

The seed's `ConnectionMonitor` (`check_redmine_connection`, `check_oracle_connection`,
`get_system_health`) answers in the seed's shapes. A probe runs on a thread of its own under
a deadline, on top of its driver's own timeouts, so a service that accepts a connection and never
answers costs HEALTH_CHECK_TIMEOUT and no more; the probes of one report run side by side.
"""

from __future__ import annotations

import math
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import redis
import requests
from flask import current_app
from sqlalchemy import URL, Engine, create_engine, literal, make_url, select
from sqlalchemy.pool import NullPool

from helpdesk.core.concurrency import Background
from helpdesk.integrations.databases import timeout_arguments
from helpdesk.integrations.erp import erp_url
from helpdesk.integrations.redmine import database as redmine_database
from helpdesk.notifications.mail_sender import close_smtp

Status = Literal["healthy", "unhealthy", "not_configured"]
Overall = Literal["healthy", "degraded", "unhealthy"]

# The services in the order the admin page lists them; database and redis decide readiness.
SERVICES = ("database", "redis", "redmine", "redmine_database", "oracle", "ldap", "smtp")
GRACE_SECONDS = 1.0  # what the deadline adds to the driver's own timeout before giving up
SECRET_KEYS = ("PASSWORD", "API_KEY", "SECRET")  # settings whose values never reach a report


@dataclass(frozen=True)
class RedisUse:
    """A Redis the helpdesk talks to, and whether a process can serve without it."""

    url: str
    purposes: tuple[str, ...]
    required: bool


def redis_uses(config: Mapping[str, Any]) -> list[RedisUse]:
    """Each Redis URL the settings use, with what for; sessions and the Socket.IO queue are
    required (a process without them cannot serve its pages or reach other processes' sockets)."""
    uses: dict[str, tuple[list[str], bool]] = {}

    def add(url: str, purpose: str, required: bool) -> None:
        purposes, was_required = uses.setdefault(url, ([], False))
        purposes.append(purpose)
        uses[url] = (purposes, was_required or required)

    if config.get("SESSION_TYPE") == "redis":
        add(config["SESSION_REDIS_URL"], "sessions", True)
    queue = config.get("SOCKETIO_MESSAGE_QUEUE") or ""
    if queue.startswith(("redis://", "rediss://")):
        add(queue, "socket.io queue", True)
    if config.get("CACHE_TYPE") == "RedisCache":
        add(config["CACHE_REDIS_URL"], "cache", False)
    for key, purpose in (("RATELIMIT_STORAGE_URI", "rate limits"), ("JOBS_LOCK_URL", "job locks")):
        url = config.get(key) or ""
        if url.startswith(("redis://", "rediss://")):
            add(url, purpose, False)
    return [RedisUse(url, tuple(p), required) for url, (p, required) in uses.items()]


def short_lived_engine(url: URL, seconds: float) -> Engine:
    """An engine of one connection at a time, with the driver's timeouts; made before the clock
    starts, since loading a driver the first time is not the server's slowness."""
    return create_engine(url, poolclass=NullPool, connect_args=timeout_arguments(url, seconds))


def ping_once(engine: Engine) -> None:
    """One round trip on a short-lived engine, then close it."""
    try:
        ping_engine(engine)
    finally:
        engine.dispose()


def ping_engine(engine: Engine) -> None:
    """One round trip on the helpdesk's own pool: what its requests would meet."""
    with engine.connect() as connection:
        connection.execute(select(literal(1)))


def ping_redis(url: str, seconds: float) -> None:
    """PING one Redis."""
    client = redis.Redis.from_url(url, socket_timeout=seconds, socket_connect_timeout=seconds)
    try:
        client.ping()
    finally:
        client.close()


def ping_every_redis(urls: list[str], seconds: float) -> None:
    """PING each Redis in turn; the first that fails names the failure."""
    for url in urls:
        ping_redis(url, seconds)


def get_page(url: str, seconds: float) -> None:
    """A plain GET; any answer below 500 (a page, a redirect to sign in) is a live server."""
    response = requests.get(url, timeout=seconds, allow_redirects=False)
    response.close()
    if response.status_code >= 500:
        raise RuntimeError(f"HTTP {response.status_code}")


def bind_ldap(config: Mapping[str, Any], seconds: float) -> None:
    """Connect and bind as the service account (anonymously without one): a directory that
    accepts connections but does not answer fails here, not only one that refuses them."""
    import ldap3

    from helpdesk.auth.ldap import close_connection

    server = ldap3.Server(config["LDAP_URL"], connect_timeout=seconds, get_info=ldap3.NONE)
    connection = ldap3.Connection(
        server,
        user=config.get("LDAP_BIND_DN") or None,
        password=config.get("LDAP_BIND_PASSWORD") or None,
        receive_timeout=max(1, math.ceil(seconds)),  # ldap3 packs it as whole seconds
    )
    try:
        if not connection.bind():
            raise RuntimeError(f"bind refused: {connection.result.get('description')}")
    finally:
        close_connection(connection)


def greet_smtp(config: Mapping[str, Any], seconds: float) -> None:
    """Connect, read the greeting, EHLO and NOOP, then QUIT: the server answers commands."""
    host, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
    smtp: smtplib.SMTP
    if port == 465:
        context = ssl.create_default_context(cafile=config.get("MAIL_CA_FILE") or None)
        smtp = smtplib.SMTP_SSL(host, port, timeout=seconds, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=seconds)
    try:
        smtp.ehlo()
        code, _ = smtp.noop()
        if code != 250:
            raise RuntimeError(f"NOOP answered {code}")
    finally:
        close_smtp(smtp)


def url_passwords(config: Mapping[str, Any]) -> list[str]:
    """The passwords inside the URL settings (DATABASE_URL, REDMINE_DB_URL, a Redis URL …)."""
    found = []
    for key, value in config.items():
        if key.endswith(("_URL", "_URI", "_QUEUE")) and isinstance(value, str) and "@" in value:
            password = urlsplit(value).password
            if password and len(password) >= 4:
                found.append(password)
    return found


def now_iso() -> str:
    """The seed's timestamps: UTC, seconds, with a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConnectionMonitor:
    """The seed's monitor: checks each outside system and reports as the seed documents."""

    def __init__(self, config: Mapping[str, Any] | None = None, engine: Engine | None = None):
        """Read the settings (and the helpdesk's engine) of the current app unless given."""
        if config is None:
            config = current_app.config
        self.config = dict(config)
        self.engine = engine
        self.timeout = float(self.config.get("HEALTH_CHECK_TIMEOUT", 3))
        self.secrets = [
            str(value)
            for key, value in self.config.items()
            if any(word in key for word in SECRET_KEYS) and value and len(str(value)) >= 4
        ] + url_passwords(self.config)

    # -- the seed's methods ----------------------------------------------------------------

    def check_redmine_connection(self) -> dict[str, Any]:
        """Redmine's web server (REDMINE_URL) answers."""
        return self.check("redmine")

    def check_oracle_connection(self) -> dict[str, Any]:
        """The ERP's Oracle database answers `SELECT 1 FROM DUAL`."""
        return self.check("oracle")

    def get_system_health(self, names: Iterable[str] = SERVICES) -> dict[str, Any]:
        """Every service checked now, side by side, with the overall state."""
        services = self.check_all(names)
        return {
            "overall_status": overall_status(services, self.required()),
            "services": services,
            "last_updated": now_iso(),
        }

    # -- the other services ----------------------------------------------------------------

    def check_database(self) -> dict[str, Any]:
        """The helpdesk's own database."""
        return self.check("database")

    def check_redis(self) -> dict[str, Any]:
        """Every Redis the settings use."""
        return self.check("redis")

    def check_redmine_database(self) -> dict[str, Any]:
        """Redmine's database, read by the change feed."""
        return self.check("redmine_database")

    def check_ldap_connection(self) -> dict[str, Any]:
        """The company directory."""
        return self.check("ldap")

    def check_smtp_connection(self) -> dict[str, Any]:
        """The mail server."""
        return self.check("smtp")

    # -- the machinery ---------------------------------------------------------------------

    def required(self) -> set[str]:
        """The services without which a process cannot serve."""
        needed = {"database"}
        if any(use.required for use in redis_uses(self.config)):
            needed.add("redis")
        return needed

    def check(self, name: str) -> dict[str, Any]:
        """One service, now."""
        return self.check_all([name])[name]

    def check_all(self, names: Iterable[str] = SERVICES) -> dict[str, dict[str, Any]]:
        """The services named, checked side by side, each under its own deadline."""
        results: dict[str, dict[str, Any]] = {}
        running: dict[str, Callable[[], None]] = {}
        for name in names:
            try:
                probe = self.probe(name)
            except Exception as unusable:  # settings no driver can use (an unknown URL scheme)
                results[name] = self.result("unhealthy", None, self.describe(unusable))
                continue
            if probe is None:
                results[name] = self.result("not_configured", None, None)
            else:
                running[name] = probe
                results[name] = {}  # keeps the order asked for
        calls = {name: Background(probe) for name, probe in running.items()}
        deadline = time.perf_counter() + self.timeout + GRACE_SECONDS
        for name, call in calls.items():
            if not call.wait(deadline - time.perf_counter()):
                error: BaseException = TimeoutError(f"no answer within {self.timeout:g} s")
                elapsed = time.perf_counter() - call.started
                results[name] = self.result("unhealthy", elapsed, self.describe(error))
            elif call.error is None:
                results[name] = self.result("healthy", call.elapsed, None)
            else:
                results[name] = self.result("unhealthy", call.elapsed, self.describe(call.error))
        return results

    def probe(self, name: str) -> Callable[[], None] | None:
        """What checking the service means, or None when it is not configured."""
        config, seconds = self.config, self.timeout
        if name == "database":
            if self.engine is None:
                return self.database_probe(make_url(config["SQLALCHEMY_DATABASE_URI"]))
            engine = self.engine
            return lambda: ping_engine(engine)
        if name == "redis":
            urls = [use.url for use in redis_uses(config)]
            return (lambda: ping_every_redis(urls, seconds)) if urls else None
        if name == "redmine":
            url = config.get("REDMINE_URL")
            return (lambda: get_page(url, seconds)) if url else None
        if name == "redmine_database":
            return self.database_probe(redmine_database.database_url(config))
        if name == "oracle":
            return self.database_probe(erp_url(config))
        if name == "ldap":
            return (lambda: bind_ldap(config, seconds)) if config.get("LDAP_URL") else None
        if name == "smtp":
            return (lambda: greet_smtp(config, seconds)) if config.get("MAIL_SERVER") else None
        raise ValueError(f"unknown service {name!r}")

    def database_probe(self, url: URL | None) -> Callable[[], None] | None:
        """SELECT 1 on a connection of its own, when a database is named."""
        if url is None:
            return None
        engine = short_lived_engine(url, self.timeout)
        return lambda: ping_once(engine)

    def result(self, status: Status, elapsed: float | None, error: str | None) -> dict[str, Any]:
        """One check in the seed's shape."""
        return {
            "status": status,
            "response_time": None if elapsed is None else round(elapsed, 3),
            "last_check": now_iso(),
            "error": error,
        }

    def describe(self, error: BaseException) -> str:
        """The error's kind and first line, with every configured secret masked."""
        lines = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text[:300]


def overall_status(services: Mapping[str, Mapping[str, Any]], required: set[str]) -> Overall:
    """unhealthy when a service the helpdesk cannot serve without is down, degraded when any
    other configured one is, else healthy."""
    down = {name for name, check in services.items() if check["status"] == "unhealthy"}
    if down & required:
        return "unhealthy"
    return "degraded" if down else "healthy"
