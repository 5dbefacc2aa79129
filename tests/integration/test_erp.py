"""The ERP connector (the seed's ERPOracleConnector) and the nightly profile sync.

There is no Oracle server here: the same code runs against SQLite and PostgreSQL loaded with an
ERP-like schema (the tables the default statements read), every statement is compiled for the
Oracle dialect, and python-oracledb itself meets a closed port and a server that never answers.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from flask import Flask
from sqlalchemy import (
    Column,
    Date,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.dialects import oracle
from sqlalchemy.pool import NullPool

from conftest import PASSWORD
from helpdesk.auth import build_providers
from helpdesk.extensions import db
from helpdesk.health.checks import ConnectionMonitor
from helpdesk.integrations import erp
from helpdesk.integrations.erp import ERPOracleConnector, ERPUnavailable, sync_profiles
from helpdesk.users.models import User
from helpdesk.worker import JOBS, run_job
from helpers import fetch_user, free_port, json_sign_in, scratch_postgres

JOHN_PASSWORD = "erp-password-1"

schema = MetaData()
departments = Table(
    "hr_departments",
    schema,
    Column("id", Integer, primary_key=True),
    Column("name", String(120)),
)
employees = Table(
    "hr_employees",
    schema,
    Column("id", Integer, primary_key=True),
    Column("login", String(60), unique=True),
    Column("full_name", String(200)),
    Column("email", String(200)),
    Column("department_id", ForeignKey("hr_departments.id")),
    Column("job_title", String(120)),
    Column("office", String(120)),
    Column("phone", String(30)),
    Column("manager_id", ForeignKey("hr_employees.id")),
    Column("hire_date", Date),
    Column("active", Integer),
    Column("password_hash", String(100)),
)


def load_erp(engine: Engine) -> None:
    """The ERP-like tables with a department, a manager, John and a former employee."""
    schema.create_all(engine)
    hashed = bcrypt.hashpw(JOHN_PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    with engine.begin() as connection:
        connection.execute(departments.insert(), [{"id": 1, "name": "IT Department"}])
        for row in [
            {
                "id": 1,
                "login": "jane.smith",
                "full_name": "Jane Smith",
                "email": "jane.smith@company.com",
                "department_id": 1,
                "job_title": "Head of IT",
                "hire_date": date(2015, 3, 1),
                "active": 1,
                "password_hash": hashed,
            },
            {
                "id": 2,
                "login": "john.doe",
                "full_name": "John Doe",
                "email": "john.doe@company.com",
                "department_id": 1,
                "job_title": "Senior Developer",
                "office": "Moscow Office",
                "phone": "+7-495-123-4567",
                "manager_id": 1,
                "hire_date": date(2020, 1, 15),
                "active": 1,
                "password_hash": hashed,
            },
            {
                "id": 3,
                "login": "gone.away",
                "full_name": "Gone Away",
                "email": "gone@company.com",
                "active": 0,
                "password_hash": hashed,
            },
        ]:
            connection.execute(employees.insert().values(row))


@contextmanager
def sqlite_erp(folder: Path) -> Iterator[str]:
    url = f"sqlite:///{folder / 'erp.db'}"
    engine = create_engine(url, poolclass=NullPool)
    load_erp(engine)
    engine.dispose()
    yield url


@contextmanager
def postgres_erp() -> Iterator[str]:
    with scratch_postgres("erp_test") as url:
        engine = create_engine(url, poolclass=NullPool)
        load_erp(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def erp_url(request: pytest.FixtureRequest, app: Flask, tmp_path: Path) -> Iterator[str]:
    """An ERP-like database, configured as the app's ERP."""
    maker = sqlite_erp(tmp_path) if request.param == "sqlite" else postgres_erp()
    with maker as url:
        app.config["ERP_DATABASE_URL"] = url
        yield url
        for key in [key for key in erp._ENGINES if key == url]:  # the pool the test made
            erp._ENGINES.pop(key).dispose()


# -- the seed's three methods ----------------------------------------------------------------


def test_authenticate_user(erp_url: str) -> None:
    connector = ERPOracleConnector()
    user = connector.authenticate_user("john.doe", JOHN_PASSWORD)
    assert user == {
        "username": "john.doe",
        "full_name": "John Doe",
        "email": "john.doe@company.com",
    }
    assert connector.authenticate_user("JOHN.DOE", JOHN_PASSWORD) is not None  # any case
    assert connector.authenticate_user("john.doe", "wrong") is None
    assert connector.authenticate_user("john.doe", "") is None
    assert connector.authenticate_user("nobody", JOHN_PASSWORD) is None
    assert connector.authenticate_user("gone.away", JOHN_PASSWORD) is None  # left the company
    assert connector.authenticate_user("' OR '1'='1", "' OR '1'='1") is None  # bound, not pasted


def test_get_user_profile_in_the_seeds_shape(erp_url: str) -> None:
    profile = ERPOracleConnector().get_user_profile("john.doe")
    assert profile == {
        "username": "john.doe",
        "full_name": "John Doe",
        "email": "john.doe@company.com",
        "department": "IT Department",
        "position": "Senior Developer",
        "office": "Moscow Office",
        "phone": "+7-495-123-4567",
        "manager": "Jane Smith",
        "hire_date": "2020-01-15",
    }
    jane = ERPOracleConnector().get_user_profile("jane.smith")
    assert jane is not None
    assert jane["manager"] is None
    assert jane["office"] is None
    assert ERPOracleConnector().get_user_profile("nobody") is None


def test_sync_user_data_updates_the_local_user(erp_url: str, make_user: Any) -> None:
    local = make_user("john.doe", department="Old department", full_name="J. Doe")
    assert ERPOracleConnector().sync_user_data("john.doe") is True
    user = fetch_user(local.id)
    assert (user.full_name, user.department, user.position) == (
        "John Doe",
        "IT Department",
        "Senior Developer",
    )
    assert (user.office, user.phone, user.manager) == (
        "Moscow Office",
        "+7-495-123-4567",
        "Jane Smith",
    )
    assert user.hire_date == date(2020, 1, 15)
    assert user.email == "john.doe@company.com"
    assert user.to_dict()["hire_date"] == "2020-01-15"
    assert user.to_dict()["manager"] == "Jane Smith"
    assert ERPOracleConnector().sync_user_data("nobody") is False  # not a local user
    make_user("stranger")
    assert ERPOracleConnector().sync_user_data("stranger") is False  # not in the ERP


def test_an_email_another_user_has_is_left_alone(erp_url: str, make_user: Any) -> None:
    make_user("someone", email="john.doe@company.com")
    john = make_user("john.doe", email="john@old.example")
    assert ERPOracleConnector().sync_user_data("john.doe") is True
    user = fetch_user(john.id)
    assert user.email == "john@old.example"
    assert user.department == "IT Department"


def test_the_nightly_job_reports_what_changed(
    app: Flask, erp_url: str, make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    make_user("john.doe", department="Sales")
    make_user(
        "jane.smith", full_name="Jane Smith", department="IT Department", position="Head of IT"
    )
    make_user("local.only")
    report = sync_profiles()
    assert report["failed"] is None
    assert report["unknown"] == ["local.only"]
    assert report["changed"]["john.doe"]["department"] == ["Sales", "IT Department"]
    assert report["changed"]["john.doe"]["hire_date"] == [None, "2020-01-15"]
    assert set(report["changed"]["jane.smith"]) == {"email", "hire_date"}
    again = sync_profiles()
    assert again["changed"] == {}
    assert again["unchanged"] == 2
    job = next(job for job in JOBS if job.name == "sync_erp_profiles")
    with caplog.at_level(logging.INFO, logger="helpdesk.integrations.erp"):
        assert run_job(app, job) == "ran"
    assert "ERP profile sync: 0 changed, 2 unchanged, 1 not in the ERP" in caplog.text


def test_the_job_does_nothing_without_an_erp(app: Flask, make_user: Any) -> None:
    make_user("john.doe")
    app.config.update(ERP_DATABASE_URL="", ERP_ORACLE_HOST="")
    assert sync_profiles() == {"changed": {}, "unknown": [], "unchanged": 0, "failed": None}


def test_statements_are_settings(app: Flask, erp_url: str) -> None:
    """An ERP with its own schema: its statements, including a password check done by the ERP
    (as Oracle E-Business Suite's FND_WEB_SEC.VALIDATE_LOGIN answers 'Y' or 'N')."""
    app.config.update(
        ERP_USER_SQL="SELECT login AS username, full_name FROM hr_employees WHERE login=:username",
        ERP_PASSWORD_SQL=(
            "SELECT CASE WHEN :password = 'letmein' THEN 'Y' ELSE 'N' END AS valid "
            "FROM hr_employees WHERE login = :username"
        ),
    )
    connector = ERPOracleConnector()
    assert connector.authenticate_user("john.doe", "letmein") == {
        "username": "john.doe",
        "full_name": "John Doe",
    }
    assert connector.authenticate_user("john.doe", JOHN_PASSWORD) is None


def test_a_broken_statement_is_the_erp_unavailable(app: Flask, erp_url: str) -> None:
    app.config["ERP_PROFILE_SQL"] = "SELECT * FROM no_such_table WHERE login = :username"
    with pytest.raises(ERPUnavailable):
        ERPOracleConnector().get_user_profile("john.doe")


def test_config_ini_names_the_erp(tmp_path: Path) -> None:
    """The seed's `ERPOracleConnector("config.ini")` reads the [oracle] section."""
    ini = tmp_path / "config.ini"
    ini.write_text(
        "[oracle]\nhost = erp.example\nport = 1522\nservice_name = ERP\nuser = hd\n"
        "password = s3cret-pw\nprofile_sql = SELECT 1 FROM dual WHERE :username IS NOT NULL\n",
        encoding="utf-8",
    )
    connector = ERPOracleConnector(str(ini))
    assert connector.url is not None
    assert connector.url.render_as_string(hide_password=False) == (
        "oracle+oracledb://hd:s3cret-pw@erp.example:1522?service_name=ERP"
    )
    assert connector.config["ERP_PROFILE_SQL"].startswith("SELECT 1 FROM dual")
    assert connector.config["ERP_USER_SQL"] == erp.DEFAULT_USER_SQL


# -- Oracle itself --------------------------------------------------------------------------


ORACLE_REJECTS = [
    (re.compile(r"\b(FROM|JOIN)\s+\w+\s+AS\s+\w+", re.IGNORECASE), "AS before a table alias"),
    (re.compile(r"\bLIMIT\b|\bOFFSET\b", re.IGNORECASE), "LIMIT/OFFSET"),
    (re.compile(r"\bTRUE\b|\bFALSE\b", re.IGNORECASE), "boolean literals"),
    (re.compile(r"`"), "backquotes"),
    (re.compile(r";\s*$"), "a trailing semicolon"),
]


@pytest.mark.parametrize(
    "statement", [erp.DEFAULT_USER_SQL, erp.DEFAULT_CREDENTIALS_SQL, erp.DEFAULT_PROFILE_SQL]
)
def test_every_default_statement_compiles_for_oracle(statement: str) -> None:
    compiled = str(text(statement).compile(dialect=oracle.dialect()))
    assert ":username" in compiled
    for pattern, what in ORACLE_REJECTS:
        assert not pattern.search(statement), f"Oracle refuses {what}: {statement}"


def test_the_health_probe_compiles_for_oracle() -> None:
    from sqlalchemy import literal, select

    compiled = str(select(literal(1)).compile(dialect=oracle.dialect()))
    assert compiled.startswith("SELECT :param_1")
    assert compiled.endswith("FROM DUAL")


ORACLE = {"ERP_ORACLE_HOST": "127.0.0.1", "ERP_ORACLE_SERVICE_NAME": "ERP", "ERP_TIMEOUT": 1}


def test_python_oracledb_meets_a_closed_port(app: Flask) -> None:
    app.config.update(ORACLE, ERP_ORACLE_PORT=free_port(), ERP_ORACLE_PASSWORD="erp-secret-88")
    with pytest.raises(ERPUnavailable) as raised:
        ERPOracleConnector().authenticate_user("john.doe", JOHN_PASSWORD)
    assert "erp-secret-88" not in str(raised.value)
    assert "DPY-6005" in str(raised.value.__cause__)  # thin mode: cannot connect


def test_python_oracledb_meets_a_server_that_never_answers(app: Flask) -> None:
    """Thin mode's handshake has no timeout of its own: the connector's limit ends the wait."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        app.config.update(ORACLE, ERP_ORACLE_PORT=listener.getsockname()[1])
        started = time.monotonic()
        with pytest.raises(ERPUnavailable):
            ERPOracleConnector().get_user_profile("john.doe")
        assert time.monotonic() - started < 4
        health = ConnectionMonitor(app.config).check_oracle_connection()
    assert health["status"] == "unhealthy"


def test_the_profile_page_shows_the_manager_and_hire_date(
    erp_url: str, client: Any, make_user: Any, login: Any
) -> None:
    make_user("john.doe")
    assert ERPOracleConnector().sync_user_data("john.doe") is True
    login(make_user("colleague"))
    page = client.get("/users/profile/john.doe", headers={"Accept-Language": "en"}).text
    assert "Reports to" in page
    assert "Jane Smith" in page
    assert "15.01.2020" in page


# -- signing in through the ERP ----------------------------------------------------------------


def sign_in_chain(app: Flask, **settings: Any) -> None:
    """Rebuild the app's sign-in chain with the ERP after local passwords, as AUTH_PROVIDERS
    would at start-up (the ERP's settings are the test's)."""
    app.extensions["auth_providers"] = build_providers(
        {**app.config, "AUTH_PROVIDERS": ("local", "erp"), **settings}
    )


def user_named(username: str) -> User | None:
    """The user of that name as the database has it now."""
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username == username))


def sign_in(app: Flask, username: str, password: str) -> Any:
    """A JSON sign-in from a fresh client."""
    return json_sign_in(app.test_client(), username, password)


def test_an_erp_employee_signs_in_with_the_erps_profile(app: Flask, erp_url: str) -> None:
    sign_in_chain(app)
    assert sign_in(app, "john.doe", "wrong").status_code == 401
    assert sign_in(app, "gone.away", JOHN_PASSWORD).status_code == 401  # left the company
    assert user_named("john.doe") is None

    assert sign_in(app, "john.doe", JOHN_PASSWORD).status_code == 200

    user = user_named("john.doe")
    assert user is not None
    assert (user.auth_source, user.email, user.full_name) == (
        "erp",
        "john.doe@company.com",
        "John Doe",
    )
    assert (user.department, user.position, user.manager) == (
        "IT Department",
        "Senior Developer",
        "Jane Smith",
    )
    assert user.hire_date == date(2020, 1, 15)
    assert user.is_redmine_user  # ERP_TASK_ACCESS
    assert not user.password  # the ERP keeps the password; the local chain cannot match it


def test_the_erps_profile_is_copied_again_at_each_sign_in(app: Flask, erp_url: str) -> None:
    sign_in_chain(app, ERP_TASK_ACCESS=False)
    assert sign_in(app, "john.doe", JOHN_PASSWORD).status_code == 200
    engine = create_engine(erp_url, poolclass=NullPool)
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE hr_employees SET office = 'Kazan' WHERE login = 'john.doe'")
        )
    engine.dispose()

    assert sign_in(app, "john.doe", JOHN_PASSWORD).status_code == 200

    user = user_named("john.doe")
    assert user is not None
    assert user.office == "Kazan"
    assert not user.is_redmine_user


def test_an_erp_that_cannot_be_reached_is_not_a_wrong_password(app: Flask, make_user: Any) -> None:
    make_user("admin", is_admin=True)
    closed = free_port()
    sign_in_chain(
        app, ERP_DATABASE_URL=f"postgresql+psycopg://erp@127.0.0.1:{closed}/erp", ERP_TIMEOUT=1
    )

    answer = sign_in(app, "john.doe", JOHN_PASSWORD)

    assert answer.status_code == 503
    assert answer.get_json()["message"] == "The directory is unavailable, try again later."
    assert sign_in(app, "admin", PASSWORD).status_code == 200  # local admins still can
