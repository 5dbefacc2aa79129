"""The company's ERP, an Oracle database read with python-oracledb in thin mode (no Oracle client
libraries): the seed's `ERPOracleConnector` and the nightly profile sync.

Every ERP's schema differs, so the three statements that find a user, check a password and read a
profile are settings (ERP_USER_SQL, ERP_PASSWORD_SQL, ERP_PROFILE_SQL), each given the bind
parameter `:username` (and `:password`). The defaults read the documented `hr_employees` and
`hr_departments` tables (docs/CONFIGURATION.md, "The ERP"). The statements run through SQLAlchemy,
so the same code reads PostgreSQL or SQLite where the tests load an ERP-like schema.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import bcrypt
from flask import current_app
from sqlalchemy import URL, Engine, create_engine, event, func, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.config import Config, read_ini
from helpdesk.core.concurrency import off_the_hub, within
from helpdesk.core.events import commit
from helpdesk.extensions import db
from helpdesk.integrations.databases import timeout_arguments
from helpdesk.users.models import User

log = logging.getLogger(__name__)

DEFAULT_USER_SQL = (
    "SELECT e.login AS username, e.full_name, e.email FROM hr_employees e "
    "WHERE UPPER(e.login) = UPPER(:username) AND e.active = 1"
)
DEFAULT_CREDENTIALS_SQL = (  # :password is bound too, for statements that check it in the ERP
    "SELECT e.password_hash FROM hr_employees e "
    "WHERE UPPER(e.login) = UPPER(:username) AND e.active = 1"
)
DEFAULT_PROFILE_SQL = (
    "SELECT e.login AS username, e.full_name, e.email, d.name AS department, "
    "e.job_title AS position, e.office, e.phone, m.full_name AS manager, e.hire_date "
    "FROM hr_employees e "
    "LEFT JOIN hr_departments d ON d.id = e.department_id "
    "LEFT JOIN hr_employees m ON m.id = e.manager_id "
    "WHERE UPPER(e.login) = UPPER(:username)"
)
PROFILE_FIELDS = (
    "username",
    "full_name",
    "email",
    "department",
    "position",
    "office",
    "phone",
    "manager",
    "hire_date",
)
SYNCED_FIELDS = ("full_name", "email", "department", "position", "office", "phone", "manager")
YES = {"y", "yes", "true", "t", "1"}

_ENGINES: dict[str, Engine] = {}  # one pool per ERP database, made on first use
_ENGINES_LOCK = threading.Lock()


class ERPUnavailable(Exception):
    """The ERP cannot be reached or refused a statement: not a wrong password."""


def erp_url(config: Mapping[str, Any]) -> URL | None:
    """ERP_DATABASE_URL, else ERP_ORACLE_HOST/_SERVICE_NAME with _PORT, _USER and _PASSWORD;
    None when neither is set."""
    if config.get("ERP_DATABASE_URL"):
        return make_url(config["ERP_DATABASE_URL"])
    if not (config.get("ERP_ORACLE_HOST") and config.get("ERP_ORACLE_SERVICE_NAME")):
        return None
    return URL.create(
        "oracle+oracledb",
        username=config.get("ERP_ORACLE_USER") or None,
        password=config.get("ERP_ORACLE_PASSWORD") or None,
        host=config["ERP_ORACLE_HOST"],
        port=int(config.get("ERP_ORACLE_PORT") or 1521),
        query={"service_name": config["ERP_ORACLE_SERVICE_NAME"]},
    )


def erp_engine(url: URL, seconds: float) -> Engine:
    """The pooled engine of one ERP database: connect and statement timeouts, connections
    checked before use (the ERP may restart at night)."""
    key = url.render_as_string(hide_password=False)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_recycle=3600,
                pool_size=2,
                max_overflow=3,
                pool_timeout=seconds,
                connect_args=timeout_arguments(url, seconds),
            )
            if url.get_backend_name() == "oracle":
                event.listen(engine, "connect", oracle_call_timeout(seconds))
            _ENGINES[key] = engine
        return engine


def oracle_call_timeout(seconds: float) -> Any:
    """python-oracledb's limit on each round trip (a statement that hangs, a silent server)."""

    def on_connect(connection: Any, _record: Any) -> None:
        connection.call_timeout = int(seconds * 1000)

    return on_connect


def as_text(value: Any) -> str | None:
    """A column as text: None and blanks become None (Oracle returns '' as NULL anyway)."""
    if value is None:
        return None
    text_value = str(value).strip()
    return text_value or None


def as_date(value: Any) -> date | None:
    """A DATE column (Oracle's DATE is a datetime) or an ISO string as a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


class ERPOracleConnector:
    """The seed's ERP connector: sign-in checks and profiles from the ERP's database."""

    def __init__(
        self,
        config_file: str | None = None,
        *,
        config: Mapping[str, Any] | None = None,
    ):
        """Settings from a seed-style config.ini when one is named, else the current app's."""
        if config is None:
            config = read_ini(config_file, Config) if config_file else current_app.config
        self.config = {
            "ERP_USER_SQL": DEFAULT_USER_SQL,
            "ERP_PASSWORD_SQL": DEFAULT_CREDENTIALS_SQL,
            "ERP_PROFILE_SQL": DEFAULT_PROFILE_SQL,
            "ERP_TIMEOUT": 5,
            **{key: value for key, value in config.items() if value not in ("", None)},
        }
        self.url = erp_url(self.config)

    @property
    def configured(self) -> bool:
        """Whether the settings name an ERP database."""
        return self.url is not None

    def _rows(self, setting: str, **params: Any) -> list[dict[str, Any]]:
        """The rows of one configured statement, keys in lower case; raises ERPUnavailable."""
        if self.url is None:
            raise ERPUnavailable("no ERP database is configured")
        seconds = float(self.config["ERP_TIMEOUT"])
        engine = erp_engine(self.url, seconds)
        statement = text(self.config[setting])

        def run() -> list[dict[str, Any]]:
            with engine.connect() as connection:
                rows = connection.execute(statement, params).mappings()
                return [{key.lower(): value for key, value in row.items()} for row in rows]

        try:
            # the thin driver's handshake has no timeout of its own: a limit on the whole call
            return within(seconds * 2, run)
        except (SQLAlchemyError, TimeoutError) as error:
            log.warning("ERP statement %s failed: %s", setting, type(error).__name__)
            raise ERPUnavailable(f"the ERP did not answer ({type(error).__name__})") from error

    def find_user(self, username: str) -> dict[str, Any] | None:
        """The ERP's active user of that login (ERP_USER_SQL), or None."""
        if not username:
            return None
        rows = self._rows("ERP_USER_SQL", username=username)
        if not rows:
            return None
        return {key: as_text(value) for key, value in rows[0].items()}

    def password_matches(self, username: str, password: str) -> bool:
        """ERP_PASSWORD_SQL's answer: a `password_hash` column is checked here as a bcrypt
        hash; any other first column must say yes ('Y', 1, true), as an ERP's own check
        function does (FND_WEB_SEC.VALIDATE_LOGIN on Oracle E-Business Suite)."""
        rows = self._rows("ERP_PASSWORD_SQL", username=username, password=password)
        if len(rows) != 1:
            return False
        row = rows[0]
        if "password_hash" in row:
            stored = as_text(row["password_hash"])
            if not stored:
                return False
            secret = password.encode()[:72]  # what bcrypt reads of a password; 5.x refuses more
            try:
                return off_the_hub(bcrypt.checkpw, secret, stored.encode())
            except ValueError:  # not a bcrypt hash: the statement does not fit this ERP
                log.warning("ERP_PASSWORD_SQL returned a password_hash that is not bcrypt")
                return False
        first = next(iter(row.values()), None)
        return str(first).strip().lower() in YES if first is not None else False

    # -- the seed's methods ----------------------------------------------------------------

    def authenticate_user(self, username: str, password: str) -> dict[str, Any] | None:
        """The user's information when the ERP knows the user and the password is right, else
        None; raises ERPUnavailable when the ERP cannot tell (so a caller can say "the directory
        is unavailable", not "wrong password")."""
        if not username or not password:
            return None
        user = self.find_user(username)
        if user is None or not self.password_matches(username, password):
            return None
        return user

    def get_user_profile(self, username: str) -> dict[str, Any] | None:
        """The seed's profile (hire_date as YYYY-MM-DD), or None when the ERP has no such user;
        raises ERPUnavailable."""
        if not username:
            return None
        rows = self._rows("ERP_PROFILE_SQL", username=username)
        if not rows:
            return None
        row = rows[0]
        profile: dict[str, Any] = {field: as_text(row.get(field)) for field in PROFILE_FIELDS}
        hired = as_date(row.get("hire_date"))
        profile["hire_date"] = hired.isoformat() if hired else None
        return profile

    def sync_user_data(self, username: str) -> bool:
        """Copy the ERP's profile onto the local user of that username and commit; False when
        either is missing or the ERP cannot be read."""
        user = db.session.scalar(select(User).where(func.lower(User.username) == username.lower()))
        if user is None:
            return False
        try:
            profile = self.get_user_profile(user.username)
        except ERPUnavailable:
            return False
        if profile is None:
            return False
        apply_profile(user, profile)
        commit()
        return True


def apply_profile(user: User, profile: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Set the user's profile fields from the ERP's (in the session, not committed): the fields
    that changed, with their old and new values. An e-mail another user has is left alone."""
    changes: dict[str, tuple[Any, Any]] = {}
    for field in SYNCED_FIELDS:
        new = profile.get(field)
        if field == "email" and (not new or email_taken(new, user.id)):
            continue
        column = getattr(User, field).property.columns[0]
        length = getattr(column.type, "length", None)
        if isinstance(new, str) and length:
            new = new[:length]
        old = getattr(user, field)
        if old != new:
            setattr(user, field, new)
            changes[field] = (old, new)
    hired = as_date(profile.get("hire_date"))
    if user.hire_date != hired:
        changes["hire_date"] = (user.hire_date, hired)
        user.hire_date = hired
    return changes


def email_taken(email: str, user_id: int) -> bool:
    """Whether another user has this e-mail already (it identifies them at sign-in)."""
    return bool(
        db.session.scalar(
            select(func.count(User.id)).where(
                func.lower(User.email) == email.lower(), User.id != user_id
            )
        )
    )


def sync_profiles() -> dict[str, Any]:
    """The nightly job: every local user the ERP knows gets the ERP's profile; logs and returns
    what changed, who the ERP does not know, and whether it could be read at all."""
    connector = ERPOracleConnector()
    report: dict[str, Any] = {"changed": {}, "unknown": [], "unchanged": 0, "failed": None}
    if not connector.configured:
        return report
    usernames = db.session.scalars(select(User.username).order_by(User.id)).all()
    db.session.rollback()  # no transaction held while the ERP answers
    for username in usernames:
        try:
            profile = connector.get_user_profile(username)
        except ERPUnavailable as error:
            report["failed"] = str(error)
            log.warning("ERP profile sync stopped: %s", error)
            break
        if profile is None:
            report["unknown"].append(username)
            continue
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:  # removed meanwhile
            continue
        changes = apply_profile(user, profile)
        commit()
        if changes:
            report["changed"][username] = {
                field: [
                    str(old) if old is not None else None,
                    str(new) if new is not None else None,
                ]
                for field, (old, new) in changes.items()
            }
        else:
            report["unchanged"] += 1
    for username, changes in report["changed"].items():
        log.info("ERP profile of %s changed: %s", username, ", ".join(sorted(changes)))
    log.info(
        "ERP profile sync: %d changed, %d unchanged, %d not in the ERP",
        len(report["changed"]),
        report["unchanged"],
        len(report["unknown"]),
    )
    return report
