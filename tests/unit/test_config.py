"""Configuration: the seed's config.ini sections, environment overrides and the secret key."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from textwrap import dedent

import pytest

from helpdesk import create_app
from helpdesk.config import INI_KEYS, Config, read_ini

SEED_INI = """\
[database]
db_path = blog/db/blog.db

[mysql]
host = mysql.company.com
port = 3307
database = redmine_production
user = redmine_user
password = redmine_password

[oracle]
host = oracle.company.com
port = 1522
service_name = ERP
user = erp_user
password = erp_password
user_sql = SELECT login AS username FROM people WHERE login = :username
password_sql = SELECT fnd_web_sec.validate_login(:username, :password) FROM dual
profile_sql = SELECT login AS username, name AS full_name FROM people WHERE login = :username

[redmine]
url = https://redmine.company.com
api_key = your_admin_api_key_here
anonymous_user_id = 4

[email]
smtp_server = smtp.company.com
smtp_port = 2525
username = notifications@company.com
password = email%password
use_tls = false
sender = Helpdesk <helpdesk@company.com>

[push_notifications]
vapid_public_key = your_vapid_public_key
vapid_private_key = your_vapid_private_key
vapid_claim_email = admin@company.com
"""

# Our own sections, beside the seed's: the sign-in chain and the LDAP directory.
AUTH_INI = """\
[auth]
providers = local, ldap

[ldap]
url = ldaps://ldap.company.com
start_tls = false
ca_file = /etc/ssl/company-ca.pem
bind_dn = cn=helpdesk,ou=services,dc=company,dc=com
bind_password = service%password
base_dn = ou=people,dc=company,dc=com
user_filter = (&(uid={username})(!(employeeType=disabled)))
attribute_map = {"cn": "full_name", "mail": "email"}
group_flags = {"cn=agents,ou=groups,dc=company,dc=com": ["is_redmine_user"]}
timeout = 3
"""

LONG_SECRET = "4f1c7a9e2b6d8f0a3c5e7b9d1f2a4c6e"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the developer's or CI's environment; a private instance folder."""
    for name in list(os.environ):
        if name.isupper() and (hasattr(Config, name) or name.startswith("HELPDESK_")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # Request logging would add a handler to the shared "helpdesk" logger; keep tests quiet.
    monkeypatch.setenv("LOG_REQUESTS", "0")
    instance = tmp_path / "instance"
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(instance))
    return instance


def write_ini(folder: Path, text: str, name: str = "config.ini") -> Path:
    """Write a config.ini and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def seed_ini(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed's full config.ini, named by HELPDESK_CONFIG."""
    path = write_ini(tmp_path / "etc", SEED_INI)
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    return path


# --- config.ini ----------------------------------------------------------------------------


def test_every_seed_section_is_read(seed_ini: Path) -> None:
    """Each option of each seed section lands in its config key, with its type."""
    config = create_app("testing").config
    expected = {
        "REDMINE_DB_HOST": "mysql.company.com",
        "REDMINE_DB_PORT": 3307,
        "REDMINE_DB_NAME": "redmine_production",
        "REDMINE_DB_USER": "redmine_user",
        "REDMINE_DB_PASSWORD": "redmine_password",
        "ERP_ORACLE_HOST": "oracle.company.com",
        "ERP_ORACLE_PORT": 1522,
        "ERP_ORACLE_SERVICE_NAME": "ERP",
        "ERP_ORACLE_USER": "erp_user",
        "ERP_ORACLE_PASSWORD": "erp_password",
        "REDMINE_URL": "https://redmine.company.com",
        "REDMINE_API_KEY": "your_admin_api_key_here",
        "REDMINE_ANONYMOUS_USER_ID": 4,
        "MAIL_SERVER": "smtp.company.com",
        "MAIL_PORT": 2525,
        "MAIL_USERNAME": "notifications@company.com",
        "MAIL_PASSWORD": "email%password",  # no interpolation of %
        "MAIL_USE_TLS": False,
        "MAIL_DEFAULT_SENDER": "Helpdesk <helpdesk@company.com>",
        "VAPID_PUBLIC_KEY": "your_vapid_public_key",
        "VAPID_PRIVATE_KEY": "your_vapid_private_key",
        "VAPID_CLAIM_EMAIL": "admin@company.com",
    }
    assert {key: config[key] for key in expected} == expected
    for key in ("REDMINE_DB_PORT", "ERP_ORACLE_PORT", "MAIL_PORT", "REDMINE_ANONYMOUS_USER_ID"):
        assert type(config[key]) is int, key
    assert config["MAIL_USE_TLS"] is False


def test_every_mapped_option_is_covered_by_the_seed_file(tmp_path: Path) -> None:
    """The test files above exercise every (section, option) the loader knows."""
    ours = SEED_INI.replace("anonymous_user_id = 4\n", "anonymous_user_id = 4\ntimeout = 7\n")
    values = read_ini(write_ini(tmp_path, ours + "\n" + AUTH_INI), Config)
    mapped = set(INI_KEYS.values()) - {"SQLALCHEMY_DATABASE_URI"}
    assert mapped <= set(values)


def test_auth_and_ldap_sections_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """[auth] and [ldap] land in AUTH_PROVIDERS and LDAP_*, typed like their defaults."""
    monkeypatch.setenv("HELPDESK_CONFIG", str(write_ini(tmp_path / "etc", AUTH_INI)))
    monkeypatch.setenv("LDAP_URL", "ldap://ldap.company.com")  # the environment still wins
    monkeypatch.setenv("LDAP_CA_FILE", "")  # the file named in the ini does not exist here
    config = create_app("testing").config
    assert config["AUTH_PROVIDERS"] == ("local", "ldap")
    assert config["LDAP_URL"] == "ldap://ldap.company.com"
    assert config["LDAP_START_TLS"] is False
    assert config["LDAP_TIMEOUT"] == 3
    assert config["LDAP_BIND_PASSWORD"] == "service%password"
    assert config["LDAP_USER_FILTER"] == "(&(uid={username})(!(employeeType=disabled)))"
    assert config["LDAP_CA_FILE"] == ""
    assert list(create_app("testing").extensions["auth_providers"]) == ["local", "ldap"]


def test_db_path_is_relative_to_the_ini_file(
    seed_ini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[database] db_path is a SQLite file next to the config.ini, wherever we run from."""
    monkeypatch.chdir(tmp_path)
    config = create_app("testing").config
    expected = (seed_ini.parent / "blog" / "db" / "blog.db").resolve()
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


def test_db_path_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An absolute db_path is used as it is."""
    target = tmp_path / "data" / "helpdesk.sqlite"
    path = write_ini(tmp_path, f"[database]\ndb_path = {target}\n")
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    assert create_app("testing").config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{target}"


def test_database_url_option_wins_over_db_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[database] url (any SQLAlchemy URL) is preferred to db_path."""
    path = write_ini(
        tmp_path,
        """\
        [database]
        db_path = ignored.db
        url = postgresql+psycopg://helpdesk:pw@db.example/helpdesk
        """,
    )
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    config = create_app("testing").config
    assert (
        config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://helpdesk:pw@db.example/helpdesk"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("yes", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("no", False),
        ("0", False),
        ("off", False),
    ],
)
def test_use_tls_is_a_boolean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    """[email] use_tls reads as a real boolean."""
    path = write_ini(tmp_path, f"[email]\nuse_tls = {raw}\n")
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    assert create_app("testing").config["MAIL_USE_TLS"] is expected


def test_partial_ini_keeps_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Options not in the file keep their defaults; unknown sections and options are ignored."""
    path = write_ini(
        tmp_path,
        """\
        [redmine]
        url = https://redmine.example

        [unknown]
        whatever = 1

        [email]
        colour = blue
        """,
    )
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    config = create_app("testing").config
    assert config["REDMINE_URL"] == "https://redmine.example"
    assert config["REDMINE_API_KEY"] == ""
    assert config["MAIL_PORT"] == 587
    assert config["MAIL_USE_TLS"] is True
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"  # the testing default
    assert "COLOUR" not in config
    assert "WHATEVER" not in config


def test_missing_ini_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A HELPDESK_CONFIG that names no readable file stops the start with a clear message."""
    monkeypatch.setenv("HELPDESK_CONFIG", str(tmp_path / "nope.ini"))
    with pytest.raises(RuntimeError, match=r"nope\.ini"):
        create_app("testing")


def test_bad_number_names_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-numeric port fails at start-up and says which setting is wrong."""
    path = write_ini(tmp_path, "[email]\nsmtp_port = twenty-five\n")
    monkeypatch.setenv("HELPDESK_CONFIG", str(path))
    with pytest.raises(RuntimeError, match="MAIL_PORT"):
        create_app("testing")
    monkeypatch.delenv("HELPDESK_CONFIG")
    monkeypatch.setenv("REDMINE_DB_PORT", "3306x")
    with pytest.raises(RuntimeError, match="REDMINE_DB_PORT"):
        create_app("testing")


# --- environment ---------------------------------------------------------------------------


def test_environment_overrides_ini(seed_ini: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables win over config.ini, and are typed the same way."""
    monkeypatch.setenv("MAIL_PORT", "25")
    monkeypatch.setenv("MAIL_USE_TLS", "yes")
    monkeypatch.setenv("REDMINE_URL", "https://other-redmine.example")
    monkeypatch.setenv("REDMINE_DB_HOST", "127.0.0.1")
    config = create_app("testing").config
    assert config["MAIL_PORT"] == 25
    assert config["MAIL_USE_TLS"] is True
    assert config["REDMINE_URL"] == "https://other-redmine.example"
    assert config["REDMINE_DB_HOST"] == "127.0.0.1"
    # What the environment does not set still comes from the file.
    assert config["MAIL_SERVER"] == "smtp.company.com"
    assert config["REDMINE_DB_PORT"] == 3307


def test_database_url_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    """DATABASE_URL sets the database, as hosting platforms name it."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@pg.example/helpdesk")
    config = create_app("testing").config
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@pg.example/helpdesk"


def test_database_url_overrides_ini_db_path(
    seed_ini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment's DATABASE_URL beats config.ini's db_path."""
    monkeypatch.setenv("DATABASE_URL", "sqlite:////srv/helpdesk/helpdesk.db")
    config = create_app("testing").config
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////srv/helpdesk/helpdesk.db"


def test_environment_types_follow_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """Integers, booleans and lists from the environment get the type of their default."""
    monkeypatch.setenv("POSTS_PER_PAGE", "5")
    monkeypatch.setenv("SECURITY_HEADERS", "off")
    monkeypatch.setenv("LANGUAGES", "en, ru")
    monkeypatch.setenv("DISPLAY_TIMEZONE", "Asia/Yekaterinburg")
    config = create_app("testing").config
    assert config["POSTS_PER_PAGE"] == 5
    assert config["SECURITY_HEADERS"] is False
    assert config["LANGUAGES"] == ("en", "ru")
    assert config["DISPLAY_TIMEZONE"] == "Asia/Yekaterinburg"
    assert config["LOG_REQUESTS"] is False  # from clean_env's LOG_REQUESTS=0


def test_explicit_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app(**overrides) is the last word (tests rely on it)."""
    monkeypatch.setenv("POSTS_PER_PAGE", "5")
    assert create_app("testing", POSTS_PER_PAGE=7).config["POSTS_PER_PAGE"] == 7


def test_helpdesk_env_chooses_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    """HELPDESK_ENV picks the configuration class when create_app is not told."""
    monkeypatch.setenv("HELPDESK_ENV", "testing")
    config = create_app().config
    assert config["ENV_NAME"] == "testing"
    assert config["TESTING"] is True


def test_defaults_live_in_the_instance_folder(clean_env: Path) -> None:
    """Without a database setting, the database and uploads go in the instance folder."""
    config = create_app("development").config
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{clean_env / 'helpdesk.db'}"
    assert config["UPLOAD_FOLDER"] == str(clean_env / "uploads")
    assert config["DEBUG"] is True


# --- secret key ----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "dev-secret-key", "change-me", "secret", "short-key"])
def test_production_refuses_weak_secret(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path, secret: str | None
) -> None:
    """Production will not start without a real SECRET_KEY, and does not invent one."""
    if secret is not None:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")
    monkeypatch.setenv("HELPDESK_ENV", "production")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
    assert not (clean_env / "secret_key").exists()


def test_production_accepts_long_secret(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    """A long random SECRET_KEY is used as given, with secure cookies."""
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    app = create_app("production")
    assert app.config["SECRET_KEY"] == LONG_SECRET
    assert app.config["ENV_NAME"] == "production"
    assert app.config["DEBUG"] is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert not (clean_env / "secret_key").exists()


def test_development_generates_and_keeps_a_secret(clean_env: Path) -> None:
    """Development creates a random secret in the instance folder and reuses it next time."""
    first = create_app("development").config["SECRET_KEY"]
    key_file = clean_env / "secret_key"
    assert key_file.read_text(encoding="utf-8").strip() == first
    assert len(first) >= 32
    assert first not in {"dev-secret-key", "change-me", "secret"}
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app("development").config["SECRET_KEY"] == first


def test_development_secrets_differ_between_instances(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each instance folder gets its own random secret."""
    first = create_app("development").config["SECRET_KEY"]
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "other-instance"))
    assert create_app("development").config["SECRET_KEY"] != first


def test_development_replaces_a_weak_secret(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    """A placeholder SECRET_KEY in development is not used; the kept random one is."""
    monkeypatch.setenv("SECRET_KEY", "dev-secret-key")
    key = create_app("development").config["SECRET_KEY"]
    assert key != "dev-secret-key"
    assert key == (clean_env / "secret_key").read_text(encoding="utf-8").strip()


def test_development_uses_a_real_secret_from_environment(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    """A good SECRET_KEY from the environment is used, and no file is written."""
    monkeypatch.setenv("SECRET_KEY", LONG_SECRET)
    assert create_app("development").config["SECRET_KEY"] == LONG_SECRET
    assert not (clean_env / "secret_key").exists()


def test_a_checkout_keeps_one_instance_folder_beside_src_for_every_command() -> None:
    """`helpdesk vapid` run from a checkout writes where `make run` (HELPDESK_INSTANCE_PATH set
    to ./instance by the Makefile) reads, not under src/."""
    import helpdesk
    from helpdesk import default_instance_path

    checkout = Path(helpdesk.__file__).resolve().parents[2]
    assert (checkout / "Makefile").is_file()
    assert default_instance_path({}) == str(checkout / "instance")
    assert default_instance_path({"HELPDESK_INSTANCE_PATH": "/srv/helpdesk"}) == "/srv/helpdesk"


def test_registration_defaults_to_approval_in_production_and_refuses_a_typo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from helpdesk.config import DevelopmentConfig, ProductionConfig, TestingConfig

    assert ProductionConfig.REGISTRATION == "approval"
    assert DevelopmentConfig.REGISTRATION == TestingConfig.REGISTRATION == "open"
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("REGISTRATION", "opne")
    with pytest.raises(RuntimeError, match="REGISTRATION must be one of open, approval, closed"):
        create_app("testing")
