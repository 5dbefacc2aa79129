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
    ("redmine", "url"): "REDMINE_URL",
    ("redmine", "api_key"): "REDMINE_API_KEY",
    ("redmine", "anonymous_user_id"): "REDMINE_ANONYMOUS_USER_ID",
    ("redmine", "timeout"): "REDMINE_TIMEOUT",
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


class Config:
    """Settings shared by every environment; each can be overridden by an environment variable."""

    ENV_NAME = "base"
    SECRET_KEY = ""
    ENCRYPTION_KEY = ""  # empty: derived from SECRET_KEY
    SQLALCHEMY_DATABASE_URI = ""  # empty: SQLite file in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {}
    DATABASE_PING_AFTER_IDLE = 10  # seconds a server connection may idle before a ping
    SQLITE_SYNCHRONOUS = "NORMAL"  # NORMAL | FULL (sync every commit; survives power cuts)

    SESSION_TYPE = "filesystem"  # filesystem | redis
    SESSION_PERMANENT = False
    SESSION_REFRESH_EACH_REQUEST = False  # write the session only when it changes, not per request
    SESSION_REDIS_URL = "redis://127.0.0.1:6379/0"
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
    UPLOAD_FOLDER = ""  # empty: "uploads" in the instance folder
    AVATAR_SIZE = 256
    POST_IMAGE_SIZE = 1280
    MAX_IMAGE_PIXELS = 40_000_000

    CACHE_TYPE = "SimpleCache"  # SimpleCache (in the process) | RedisCache (shared by processes)
    CACHE_REDIS_URL = "redis://127.0.0.1:6379/0"
    CACHE_KEY_PREFIX = "helpdesk:"  # one per helpdesk sharing a Redis
    CACHE_DEFAULT_TIMEOUT = 60  # seconds; also how late a change made behind the helpdesk shows

    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"

    BABEL_DEFAULT_LOCALE = "ru"
    LANGUAGES = ("ru", "en")
    DISPLAY_TIMEZONE = "Europe/Moscow"
    POSTS_PER_PAGE = 10
    TASK_BACKEND = "local"  # local | redmine
    KANBAN_COLUMN_SIZE = 30

    SOCKETIO_MESSAGE_QUEUE = ""  # redis://… so every process reaches every socket
    SOCKETIO_CHANNEL = "helpdesk-socketio"  # the queue's channel; one per helpdesk sharing a Redis
    PUSH_NOTIFICATIONS_ENABLED = True
    PUSH_ALLOW_HTTP = False  # accept http:// push endpoints (tests with a local push service)
    VAPID_PUBLIC_KEY = ""
    VAPID_PRIVATE_KEY = ""
    VAPID_CLAIM_EMAIL = ""

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
    REDMINE_TIMEZONE = "UTC"  # the zone Redmine's process writes created_on/updated_on in
    REDMINE_POLL_SECONDS = 2  # seconds between reads of Redmine's changes (TASK_BACKEND=redmine)

    ERP_ORACLE_HOST = ""
    ERP_ORACLE_PORT = 1521
    ERP_ORACLE_SERVICE_NAME = ""
    ERP_ORACLE_USER = ""
    ERP_ORACLE_PASSWORD = ""

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
    SECURITY_HEADERS = True
    PROXY_COUNT = 0  # reverse proxies in front (nginx: 1); trusts their X-Forwarded-* headers
    LOG_REQUESTS = True


class DevelopmentConfig(Config):
    """Local development: debug on, a generated secret kept in the instance folder."""

    ENV_NAME = "development"
    DEBUG = True


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


def ensure_secret_key(config: dict[str, Any], instance_path: str) -> None:
    """Refuse a weak key in production; elsewhere create one and keep it in the instance folder."""
    key = config.get("SECRET_KEY") or ""
    if key not in INSECURE_SECRET_KEYS and len(key) >= 16:
        return
    if config.get("ENV_NAME") == "production":
        raise RuntimeError(
            "SECRET_KEY must be set to a random value of at least 16 characters in production "
            '(for example: python -c "import secrets; print(secrets.token_hex(32))").'
        )
    key_file = Path(instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    config["SECRET_KEY"] = key_file.read_text(encoding="utf-8").strip()
