"""Configuration classes, filled from defaults, then the seed's config.ini, then the environment."""

from __future__ import annotations

import configparser
import os
import secrets
from pathlib import Path
from typing import Any

# config.ini (section, option) -> Flask config key; the seed documents these sections.
INI_KEYS: dict[tuple[str, str], str] = {
    ("database", "url"): "SQLALCHEMY_DATABASE_URI",
    ("mysql", "host"): "REDMINE_DB_HOST",
    ("mysql", "port"): "REDMINE_DB_PORT",
    ("mysql", "database"): "REDMINE_DB_NAME",
    ("mysql", "user"): "REDMINE_DB_USER",
    ("mysql", "password"): "REDMINE_DB_PASSWORD",
    ("oracle", "host"): "ERP_ORACLE_HOST",
    ("oracle", "port"): "ERP_ORACLE_PORT",
    ("oracle", "service_name"): "ERP_ORACLE_SERVICE_NAME",
    ("oracle", "user"): "ERP_ORACLE_USER",
    ("oracle", "password"): "ERP_ORACLE_PASSWORD",
    ("oracle", "user_sql"): "ERP_USER_SQL",
    ("oracle", "password_sql"): "ERP_PASSWORD_SQL",
    ("oracle", "profile_sql"): "ERP_PROFILE_SQL",
    ("auth", "providers"): "AUTH_PROVIDERS",
    ("ldap", "url"): "LDAP_URL",
    ("ldap", "start_tls"): "LDAP_START_TLS",
    ("ldap", "ca_file"): "LDAP_CA_FILE",
    ("ldap", "bind_dn"): "LDAP_BIND_DN",
    ("ldap", "bind_password"): "LDAP_BIND_PASSWORD",
    ("ldap", "base_dn"): "LDAP_BASE_DN",
    ("ldap", "user_filter"): "LDAP_USER_FILTER",
    ("ldap", "attribute_map"): "LDAP_ATTRIBUTE_MAP",
    ("ldap", "group_flags"): "LDAP_GROUP_FLAGS",
    ("ldap", "timeout"): "LDAP_TIMEOUT",
    ("redmine", "url"): "REDMINE_URL",
    ("redmine", "api_key"): "REDMINE_API_KEY",
    ("redmine", "anonymous_user_id"): "REDMINE_ANONYMOUS_USER_ID",
    ("email", "smtp_server"): "MAIL_SERVER",
    ("email", "smtp_port"): "MAIL_PORT",
    ("email", "username"): "MAIL_USERNAME",
    ("email", "password"): "MAIL_PASSWORD",
    ("email", "use_tls"): "MAIL_USE_TLS",
    ("email", "sender"): "MAIL_DEFAULT_SENDER",
    ("push_notifications", "vapid_public_key"): "VAPID_PUBLIC_KEY",
    ("push_notifications", "vapid_private_key"): "VAPID_PRIVATE_KEY",
    ("push_notifications", "vapid_claim_email"): "VAPID_CLAIM_EMAIL",
}

# Environment variables whose names differ from the config key they set.
ENV_ALIASES = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}

# Chosen by HELPDESK_ENV, never by a stray variable (ENV_NAME=development would skip the
# production secret check).
ENV_LOCKED = frozenset({"ENV_NAME", "TESTING"})

INSECURE_SECRET_KEYS = {"", "dev-secret-key", "change-me", "secret"}


class ConfigurationError(RuntimeError):
    """A definite misconfiguration: start-up stops with the message, one sentence that says
    what to fix (the `helpdesk` command prints it without a traceback)."""


class Config:
    """Settings shared by every environment; each can be overridden by an environment variable."""

    ENV_NAME = "base"
    SECRET_KEY = ""
    ENCRYPTION_KEY = ""  # empty: derived from SECRET_KEY
    SQLALCHEMY_DATABASE_URI = ""  # empty: SQLite file in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    DATABASE_PING_AFTER_IDLE = 0  # seconds a server connection may idle unpinged (0: every use)
    SQLITE_SYNCHRONOUS = "NORMAL"  # NORMAL | FULL (sync every commit; survives power cuts)

    SESSION_TYPE = "filesystem"  # filesystem | redis
    SESSION_PERMANENT = False
    SESSION_REFRESH_EACH_REQUEST = False  # write the session only when it changes, not per request
    SESSION_REDIS_URL = "redis://127.0.0.1:6379/0"
    SESSION_CLEANUP_INTERVAL = 3600  # seconds between removals of expired session files
    REDIS_TIMEOUT = 1.0  # seconds for any Redis call (connect, answer) before giving up
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    REMEMBER_COOKIE_DURATION = 14 * 24 * 3600

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 3600
    WTF_CSRF_CHECK_DEFAULT = False  # the origin guard decides when a token is needed

    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    MAX_ATTACHMENT_SIZE = 10 * 1024 * 1024  # bytes per attached file; at most MAX_CONTENT_LENGTH
    UPLOAD_FOLDER = ""  # empty: "uploads" in the instance folder
    AVATAR_SIZE = 256
    POST_IMAGE_SIZE = 1280
    MAX_IMAGE_PIXELS = 16_000_000  # a 16-megapixel photo; decoded, about 64 MB
    IMAGE_DECODE_CONCURRENCY = 2  # images decoded at once per process

    # Starts every key, channel and lock the helpdesk keeps in Redis; one per helpdesk sharing one
    REDIS_NAMESPACE = "helpdesk"
    CACHE_TYPE = "SimpleCache"  # SimpleCache (in the process) | RedisCache (shared by processes)
    CACHE_REDIS_URL = "redis://127.0.0.1:6379/0"
    CACHE_KEY_PREFIX = ""  # empty: "<REDIS_NAMESPACE>:"
    CACHE_DEFAULT_TIMEOUT = 60  # seconds; also how late a change made behind the helpdesk shows
    # Outside working hours (read in DISPLAY_TIMEZONE) cache lifetimes grow by this factor
    WORKING_HOURS = "09:00-18:00"
    WORKING_DAYS = ("mon", "tue", "wed", "thu", "fri")
    CACHE_OFF_HOURS_FACTOR = 4

    CACHE_THRESHOLD = 20_000  # SimpleCache's most entries: 3 per signed-in user, and the lookups
    USER_SNAPSHOT_SECONDS = 300  # the longest the cache keeps a signed-in user's snapshot

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Sign-in attempts, counted before the password is checked (users/throttle.py): one address
    # on one account; one account from anywhere (a short slow-down); one address on all accounts.
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"
    REGISTRATION = "approval"  # open | approval (an admin gives task access) | closed
    REGISTRATION_RATE_LIMIT = "5 per minute;20 per hour"  # registration attempts per address
    PASSWORD_RESET_RATE_LIMIT = "5 per minute;20 per hour"  # noqa: S105 (link requests per address)
    PASSWORD_RESET_HOURS = 2.0  # how long a password reset link works (once)
    LOGIN_ACCOUNT_RATE_LIMIT = "20 per 5 minutes"
    LOGIN_ADDRESS_RATE_LIMIT = "100 per minute;1000 per hour"

    BABEL_DEFAULT_LOCALE = "ru"
    LANGUAGES = ("ru", "en")
    DISPLAY_TIMEZONE = "Europe/Moscow"
    POSTS_PER_PAGE = 10
    TASK_BACKEND = "local"  # local | redmine
    KANBAN_COLUMN_SIZE = 30
    KANBAN_CLOSED_DAYS = 14  # the board's closed columns show tasks closed in these last days

    SOCKETIO_MESSAGE_QUEUE = ""  # redis://… so every process reaches every socket
    SOCKETIO_CHANNEL = ""  # the queue's channel; empty: "<REDIS_NAMESPACE>-socketio"
    PUSH_NOTIFICATIONS_ENABLED = True
    PUSH_ALLOW_HTTP = False  # accept http:// push endpoints (tests with a local push service)
    # The browsers' push services; `*.` allows any name below. Endpoints elsewhere are refused.
    PUSH_ALLOWED_HOSTS = (
        "fcm.googleapis.com",
        "jmt17.google.com",  # Chrome's and Chromium's endpoints are on either
        "updates.push.services.mozilla.com",
        "*.notify.windows.com",
        "*.push.apple.com",
    )
    PUSH_ALLOW_PRIVATE_ENDPOINTS = False  # any host, port and address (a local push service)
    PUSH_MAX_SUBSCRIPTIONS_PER_USER = 10  # a new browser beyond this replaces the least used
    PUSH_SEND_CONCURRENCY = 8  # browsers sent to at once by one process's push task
    PUSH_DEAD_AFTER_HOURS = 72  # unreachable, and nothing delivered for this long: retired
    VAPID_PUBLIC_KEY = ""
    VAPID_PRIVATE_KEY = ""
    VAPID_CLAIM_EMAIL = ""

    AUTH_PROVIDERS = ("local",)  # the order a newcomer is tried: local, ldap, erp, redmine
    LDAP_URL = ""  # ldap://host or ldaps://host:636
    LDAP_START_TLS = False  # StartTLS on an ldap:// connection
    LDAP_CA_FILE = ""  # CA bundle for ldaps/StartTLS with a private CA; empty: the system's
    LDAP_BIND_DN = ""  # the service account that searches; empty: anonymous
    LDAP_BIND_PASSWORD = ""
    LDAP_BASE_DN = ""
    LDAP_USER_FILTER = "(uid={username})"  # {username} is escaped before it is put in
    LDAP_ATTRIBUTE_MAP = ""  # JSON {"ldapAttribute": "user field"}; empty: auth/ldap.py's
    LDAP_GROUP_FLAGS = ""  # JSON {"group DN": ["is_redmine_user", …]}, re-applied at sign-in
    LDAP_TIMEOUT = 5  # seconds, for connecting and for each answer

    REDMINE_URL = ""
    REDMINE_API_KEY = ""
    REDMINE_ANONYMOUS_USER_ID = 0
    REDMINE_TIMEOUT = 5  # seconds, for connecting and for each read of a REST call
    REDMINE_DB_HOST = ""
    REDMINE_DB_PORT = 3306
    REDMINE_DB_NAME = ""
    REDMINE_DB_USER = ""
    REDMINE_DB_PASSWORD = ""
    REDMINE_DB_URL = ""  # any SQLAlchemy URL of Redmine's database; wins over REDMINE_DB_*
    REDMINE_READS = ""  # rest | database; unset: database when Redmine's database is configured
    REDMINE_TIMEZONE = "UTC"  # the zone Redmine's process writes created_on/updated_on in
    REDMINE_POLL_SECONDS = 2  # seconds between reads of Redmine's changes (TASK_BACKEND=redmine)
    REDMINE_TEXT_FORMATTING = "markdown"  # Redmine's text formatting: markdown | textile (plain)

    ERP_ORACLE_HOST = ""
    ERP_ORACLE_PORT = 1521
    ERP_ORACLE_SERVICE_NAME = ""
    ERP_ORACLE_USER = ""
    ERP_ORACLE_PASSWORD = ""
    ERP_DATABASE_URL = ""  # any SQLAlchemy URL of the ERP's database; wins over ERP_ORACLE_*
    ERP_USER_SQL = ""  # finds an active user by :username; empty: integrations/erp.py's default
    ERP_PASSWORD_SQL = ""  # checks :username's :password; empty: the default (bcrypt hashes)
    ERP_PROFILE_SQL = ""  # reads :username's profile; empty: the default
    ERP_TIMEOUT = 5  # seconds, for connecting and for each statement
    ERP_SYNC_HOUR = 3  # the hour (SCHEDULER_TIMEZONE) of the nightly profile sync
    ERP_TASK_ACCESS = True  # accounts that sign in through the ERP may use tasks

    MAIL_SERVER = ""
    MAIL_PORT = 587
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    MAIL_USE_TLS = True
    MAIL_DEFAULT_SENDER = ""
    MAIL_TIMEOUT = 10  # seconds, for connecting and each SMTP command
    MAIL_CA_FILE = ""  # CA bundle for STARTTLS with a private CA; empty: the system's
    MAIL_BASE_URL = ""  # the site's public address for links in emails, e.g. https://help.example
    MAIL_QUEUE_INTERVAL = 15  # seconds between passes over the email outbox

    MIGRATIONS_CLI = True  # the `db` commands; serving workers leave them (and Alembic) out
    JOBS_EMBEDDED = True  # `helpdesk serve` runs the periodic jobs; false with `helpdesk worker`
    JOBS_LOCK_URL = ""  # redis://… to lock jobs in Redis; else PostgreSQL or an instance file
    PRESENCE_INTERVAL = 60  # seconds between presence writes (per process)
    CHANGE_FEED_INTERVAL = 2  # seconds between reads of the task backend's change feed
    SCHEDULER_TIMEZONE = "Europe/Moscow"  # the periodic jobs' clock (helpdesk worker, serve)
    HEALTH_CHECK_TIMEOUT = 3  # seconds one check of an outside system may take
    HEALTH_CHECK_INTERVAL = 60  # seconds between the checks the worker records
    HEALTH_HISTORY = 20  # recorded checks kept per service
    METRICS_ALLOW_FROM = ("127.0.0.1", "::1")  # addresses or networks that may read /metrics
    SECURITY_HEADERS = True
    PROXY_COUNT = 0  # reverse proxies in front (nginx: 1); trusts their X-Forwarded-* headers
    LOG_REQUESTS = True


class DevelopmentConfig(Config):
    """Local development: debug on, a generated secret kept in the instance folder."""

    ENV_NAME = "development"
    DEBUG = True
    REGISTRATION = "open"


class ProductionConfig(Config):
    """Production: refuses to start without a real SECRET_KEY and sends cookies over HTTPS only."""

    ENV_NAME = "production"
    DEBUG = False
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True


class TestingConfig(Config):
    """Tests: in-memory SQLite, a fixed secret, no request log noise."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    LOG_REQUESTS = False
    BCRYPT_LOG_ROUNDS = 4
    REGISTRATION = "open"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def _coerce(value: str, default: Any, key: str = "") -> Any:
    """Read a string setting as the type of its default, so `MAIL_PORT=25` is an int."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise RuntimeError(f"{key} must be a whole number, not {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except ValueError:
            raise RuntimeError(f"{key} must be a number, not {value!r}") from None
    if isinstance(default, tuple):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def read_ini(path: str | os.PathLike[str], defaults: type[Config]) -> dict[str, Any]:
    """Settings from a seed-style config.ini; unknown sections and options are ignored."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(path, encoding="utf-8"):
        raise RuntimeError(f"HELPDESK_CONFIG names {path}, which cannot be read")
    values: dict[str, Any] = {}
    for (section, option), key in INI_KEYS.items():
        if parser.has_option(section, option):
            values[key] = _coerce(parser.get(section, option), getattr(defaults, key), key)
    if parser.has_option("database", "db_path") and "SQLALCHEMY_DATABASE_URI" not in values:
        db_path = Path(parser.get("database", "db_path"))
        if not db_path.is_absolute():
            db_path = Path(path).resolve().parent / db_path
        values["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    return values


def read_env(defaults: type[Config], environ: os._Environ[str] | dict[str, str]) -> dict[str, Any]:
    """Settings from environment variables named like the config keys (plus DATABASE_URL)."""
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        key = ENV_ALIASES.get(name, name)
        if key.isupper() and hasattr(defaults, key) and key not in ENV_LOCKED:
            values[key] = _coerce(raw, getattr(defaults, key), key)
    return values


def load_settings(
    config_class: type[Config], environ: os._Environ[str] | dict[str, str]
) -> dict[str, Any]:
    """Merge config.ini (if HELPDESK_CONFIG is set) under the environment: env wins."""
    values: dict[str, Any] = {}
    ini_path = environ.get("HELPDESK_CONFIG")
    if ini_path:
        values.update(read_ini(ini_path, config_class))
    values.update(read_env(config_class, environ))
    return values


REGISTRATION_POLICIES = ("open", "approval", "closed")


def check_registration(config: dict[str, Any]) -> None:
    """Refuse to start with a registration policy that does not exist (a typo would otherwise
    decide who gets in)."""
    if config.get("REGISTRATION") not in REGISTRATION_POLICIES:
        raise RuntimeError(
            f"REGISTRATION must be one of {', '.join(REGISTRATION_POLICIES)}, "
            f"not {config.get('REGISTRATION')!r}"
        )


def name_shared_keys(config: dict[str, Any]) -> None:
    """Derive every name the helpdesk uses in a shared Redis from REDIS_NAMESPACE, so two
    helpdesks on one Redis never read each other's sessions, limits, locks, cache or events."""
    namespace = config.get("REDIS_NAMESPACE") or ""
    if not namespace or not namespace.isprintable() or " " in namespace:
        raise ConfigurationError(
            f"REDIS_NAMESPACE must be a name without spaces, not {namespace!r}"
        )
    config["CACHE_KEY_PREFIX"] = config.get("CACHE_KEY_PREFIX") or f"{namespace}:"
    config["SOCKETIO_CHANNEL"] = config.get("SOCKETIO_CHANNEL") or f"{namespace}-socketio"
    config["RATELIMIT_KEY_PREFIX"] = namespace
    config["SESSION_KEY_PREFIX"] = f"{namespace}:session:"
    config["JOBS_LOCK_PREFIX"] = f"{namespace}:lock:"


def ensure_secret_key(config: dict[str, Any], instance_path: str) -> None:
    """Refuse a weak key in production; elsewhere create one and keep it in the instance folder."""
    key = config.get("SECRET_KEY") or ""
    if key not in INSECURE_SECRET_KEYS and len(key) >= 16:
        return
    if config.get("ENV_NAME") == "production":
        raise ConfigurationError(
            "SECRET_KEY must be set to a random value of at least 16 characters in production "
            '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
        )
    key_file = Path(instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    config["SECRET_KEY"] = key_file.read_text(encoding="utf-8").strip()
