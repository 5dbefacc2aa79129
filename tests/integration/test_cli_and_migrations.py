"""The `helpdesk` command (demo, create-admin) and the Alembic migrations."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Select, String, inspect, select, text

from helpdesk import create_app
from helpdesk.cli import main
from helpdesk.core.models import SiteSetting
from helpdesk.extensions import db
from helpdesk.notifications.service import unread_count
from helpdesk.posts.models import Post
from helpdesk.tasks.models import Journal, Project, Task
from helpdesk.tasks.search import is_search_table
from helpdesk.users import service
from helpdesk.users.models import User
from helpers import count_rows

DEMO_USERNAMES = ["admin", "alice", "bob"]


@pytest.fixture
def run(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run a `helpdesk` subcommand against the test app."""
    # FlaskGroup sets this for the life of the process; let monkeypatch undo it.
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    monkeypatch.delenv("HELPDESK_DEMO_PASSWORD", raising=False)
    monkeypatch.delenv("HELPDESK_DEMO_LANGUAGE", raising=False)
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs: Any) -> Result:
        result = runner.invoke(main, list(args), **kwargs)
        db.session.expire_all()
        return result

    return invoke


def usernames() -> list[str]:
    """Every username in the database, sorted."""
    return sorted(db.session.scalars(select(User.username)))


def demo_hint(client: FlaskClient) -> str | None:
    """The demo hint on the login page, or None when there is none."""
    page = client.get("/users/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    start = page.find('id="demo-hint"')
    if start == -1:
        return None
    return page[start : page.index("</div>", start)]


# --- the command group ---------------------------------------------------------------------


def test_help_lists_the_commands(run: Callable[..., Result]) -> None:
    """`helpdesk --help` offers serve, demo, create-admin and Flask's db commands."""
    result = run("--help")
    assert result.exit_code == 0, result.output
    for command in ("serve", "demo", "create-admin", "db"):
        assert command in result.output


# --- demo ----------------------------------------------------------------------------------


def test_demo_creates_users_and_posts(run: Callable[..., Result]) -> None:
    """`helpdesk demo` creates admin, alice and bob with the password `demo`, and some posts."""
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert "'demo'" in result.output
    assert usernames() == DEMO_USERNAMES
    for name in DEMO_USERNAMES:
        assert service.authenticate(name, "demo") is not None, name
    admin = service.find_by_login("admin")
    assert admin.is_admin is True
    assert service.find_by_login("alice").is_admin is False
    assert service.find_by_login("bob").is_admin is False
    assert count_rows(Post) >= 3
    assert SiteSetting.get("demo_password") == "demo"


def demo_texts() -> list[str]:
    """Every text of the demo content a person reads: profiles, posts, projects, tasks, notes."""
    statements: tuple[Select[Any], ...] = (
        select(User.full_name, User.department, User.position, User.office),
        select(Post.title, Post.content),
        select(Project.name, Project.description),
        select(Task.subject, Task.description),
        select(Journal.notes),
    )
    return [
        value
        for statement in statements
        for row in db.session.execute(statement)
        for value in row
        if value
    ]


def in_russian(text: str) -> bool:
    """Whether a text has Cyrillic letters."""
    return re.search("[а-яё]", text, re.IGNORECASE) is not None


@pytest.mark.parametrize("language", ["en", "ru"])
def test_demo_is_written_in_the_installs_language(
    app: Flask, run: Callable[..., Result], language: str
) -> None:
    """An English install gets English demo content (no Russian admin name), a Russian install
    Russian content."""
    app.config["BABEL_DEFAULT_LOCALE"] = language
    result = run("demo")
    assert result.exit_code == 0, result.output
    assert f"({language})" in result.output
    texts = demo_texts()
    assert len(texts) > 600  # every user, post, project, task and most history notes
    russian = [text for text in texts if in_russian(text)]
    if language == "en":
        assert russian == []
        assert service.find_by_login("admin").full_name == "Administrator"
        assert sorted(db.session.scalars(select(Project.name))) == [
            "Infrastructure",
            "Service Desk",
            "Web Portal",
        ]
    else:
        assert [text for text in texts if text not in russian] == []
        assert service.find_by_login("alice").full_name == "Алиса Иванова"
    assert count_rows(Task) == 300


def test_demo_language_can_be_chosen(
    app: Flask, run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--language` (or HELPDESK_DEMO_LANGUAGE, which `make run` passes on) overrides the
    install's language; a language with no demo content is refused by name."""
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    refused = run("demo", "--language", "de")
    assert refused.exit_code == 2
    assert "'de' is not one of 'en', 'ru'" in refused.output
    assert usernames() == []
    monkeypatch.setenv("HELPDESK_DEMO_LANGUAGE", "ru")
    assert run("demo").exit_code == 0
    assert service.find_by_login("admin").full_name == "Администратор"
    assert "Служба поддержки" in db.session.scalars(select(Project.name)).all()


def test_demo_password_from_environment(
    run: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HELPDESK_DEMO_PASSWORD replaces the default demo password."""
    monkeypatch.setenv("HELPDESK_DEMO_PASSWORD", "purple-otter-17")
    assert run("demo").exit_code == 0
    assert service.authenticate("alice", "purple-otter-17") is not None
    assert service.authenticate("alice", "demo") is None


def test_demo_makes_no_users_in_front_of_redmine(app: Flask, run: Callable[..., Result]) -> None:
    """On Redmine a demo admin with a known password would act there as Redmine's admin: people
    sign in with their Redmine accounts instead (`make run` goes on)."""
    app.config["TASK_BACKEND"] = "redmine"
    result = run("demo", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "sign in with their Redmine accounts" in result.output
    assert usernames() == []


def test_demo_is_idempotent(run: Callable[..., Result]) -> None:
    """Running demo again adds nothing and leaves passwords as they were."""
    assert run("demo").exit_code == 0
    users_before, posts_before = count_rows(User), count_rows(Post)
    alice = service.find_by_login("alice")
    service.change_password(alice, "alice-own-password-1")
    db.session.commit()

    result = run("demo")
    assert result.exit_code == 0, result.output
    assert count_rows(User) == users_before == 3
    assert count_rows(Post) == posts_before
    assert service.authenticate("alice", "alice-own-password-1") is not None


def test_demo_rerun_with_other_password_keeps_the_hint_true(
    run: Callable[..., Result], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second run with another password must not advertise a password that does not work."""
    assert run("demo").exit_code == 0
    monkeypatch.setenv("HELPDESK_DEMO_PASSWORD", "another-password-9")
    assert run("demo").exit_code == 0
    hint = demo_hint(client)
    assert hint is not None
    assert "another-password-9" not in hint
    assert "demo" in hint
    assert service.authenticate("bob", "demo") is not None


def test_demo_over_existing_accounts_gives_no_hint(
    run: Callable[..., Result], client: FlaskClient, make_user: Callable[..., User]
) -> None:
    """If admin, alice and bob exist already, their passwords are not the demo's: no hint."""
    for name in DEMO_USERNAMES:
        make_user(name)
    assert run("demo").exit_code == 0
    assert service.authenticate("alice", "demo") is None
    assert demo_hint(client) is None


def test_demo_if_empty_does_nothing_when_users_exist(
    run: Callable[..., Result], make_user: Callable[..., User]
) -> None:
    """`--if-empty` keeps an existing database as it is (a second `make run`)."""
    make_user("existing")
    result = run("demo", "--if-empty")
    assert result.exit_code == 0, result.output
    assert "not loaded" in result.output
    assert usernames() == ["existing"]
    assert count_rows(Post) == 0
    assert SiteSetting.get("demo_password") is None


def test_demo_if_empty_loads_an_empty_database(run: Callable[..., Result]) -> None:
    """`--if-empty` on a fresh database loads the demo (the first `make run`), once."""
    assert run("demo", "--if-empty").exit_code == 0
    assert usernames() == DEMO_USERNAMES
    posts = count_rows(Post)
    result = run("demo", "--if-empty")
    assert result.exit_code == 0
    assert "not loaded" in result.output
    assert count_rows(Post) == posts


def test_login_page_mentions_demo_password_only_with_demo_data(
    run: Callable[..., Result], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The login page hints at the demo password only once demo data is loaded."""
    monkeypatch.setenv("HELPDESK_DEMO_PASSWORD", "hint-me-please")
    page = client.get("/users/login").get_data(as_text=True)
    assert "demo-hint" not in page
    assert "hint-me-please" not in page

    assert run("demo").exit_code == 0
    hint = demo_hint(client)
    assert hint is not None
    assert "hint-me-please" in hint
    response = client.post("/users/login", json={"username": "admin", "password": "hint-me-please"})
    assert response.status_code == 200


def test_demo_password_is_escaped_on_login_page(
    run: Callable[..., Result], client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even an odd demo password cannot inject markup into the login page."""
    monkeypatch.setenv("HELPDESK_DEMO_PASSWORD", "<b>bold</b>")
    assert run("demo").exit_code == 0
    hint = demo_hint(client)
    assert hint is not None
    assert "<b>bold</b>" not in hint
    assert "&lt;b&gt;bold&lt;/b&gt;" in hint


# --- create-admin --------------------------------------------------------------------------


@pytest.mark.parametrize("weak", ["short", "12345678", "password", "HelpDesk", "x" * 80])
def test_create_admin_refuses_weak_password(run: Callable[..., Result], weak: str) -> None:
    """A weak password is refused with a usage error, and no account is created."""
    result = run("create-admin", "rootadmin", "root@example.com", "--password", weak)
    assert result.exit_code == 2, result.output
    assert "password" in result.output.lower()
    assert count_rows(User) == 0


def test_create_admin_refuses_password_equal_to_username(run: Callable[..., Result]) -> None:
    """The username itself is too easy to guess."""
    result = run("create-admin", "superuser1", "su@example.com", "--password", "superuser1")
    assert result.exit_code == 2, result.output
    assert count_rows(User) == 0


def test_create_admin_creates_an_admin(run: Callable[..., Result], client: FlaskClient) -> None:
    """A strong password creates an administrator who can log in and open the admin pages."""
    result = run("create-admin", "rootadmin", "Root@Example.com", "--password", "Tr0ub4dor&3x")
    assert result.exit_code == 0, result.output
    assert "rootadmin is an administrator" in result.output
    user = service.find_by_login("rootadmin")
    assert user is not None
    assert user.is_admin is True
    assert user.email == "root@example.com"
    assert user.check_password("Tr0ub4dor&3x")
    response = client.post(
        "/users/login", json={"username": "rootadmin", "password": "Tr0ub4dor&3x"}
    )
    assert response.status_code == 200
    assert client.get("/admin/users").status_code == 200


def test_create_admin_prompts_for_password_twice(run: Callable[..., Result]) -> None:
    """Without --password the command asks twice, hiding the input."""
    result = run("create-admin", "prompted", "p@example.com", input="Tr0ub4dor&3x\nTr0ub4dor&3x\n")
    assert result.exit_code == 0, result.output
    assert "Tr0ub4dor&3x" not in result.output
    assert service.authenticate("prompted", "Tr0ub4dor&3x").is_admin is True


def test_create_admin_promotes_an_existing_user(
    run: Callable[..., Result], make_user: Callable[..., User]
) -> None:
    """An existing username is made an administrator; the account is otherwise unchanged."""
    user = make_user("carol")
    result = run("create-admin", "carol", "ignored@example.com", "--password", "Tr0ub4dor&3x")
    assert result.exit_code == 0, result.output
    assert count_rows(User) == 1
    carol = db.session.get(User, user.id)
    assert carol.is_admin is True
    assert carol.email == "carol@example.com"


# --- migrations ----------------------------------------------------------------------------


@pytest.fixture
def migrated_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An app on a fresh SQLite file, upgraded to the newest migration."""
    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path / "instance"))
    database = tmp_path / "migrated.db"
    application = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}")
    with application.app_context():
        flask_migrate.upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def schema_differences() -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": compare_type,
                "compare_server_default": True,
                "include_name": include_name,
            },
        )
        return compare_metadata(context, db.metadata)


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """The task search index is made by its migration's SQL, not declared by the models."""
    return not (type_ == "table" and name is not None and is_search_table(name))


def compare_type(context: Any, _inspected: Any, _metadata: Any, old: Any, new: Any) -> bool | None:
    """Alembic's type comparison, less a VARCHAR's length on SQLite: SQLite keeps any length,
    and changing it there means copying the table, whose DROP cascades to the rows that refer
    to it (5d2a7c9e1f30 widens usernames on the other databases only)."""
    if context.dialect.name == "sqlite" and isinstance(old, String) and isinstance(new, String):
        return False
    return None


def test_migrations_match_the_models(migrated_app: Flask) -> None:
    """The migrated schema is exactly the models' schema: no diff for autogenerate."""
    tables = set(inspect(db.engine).get_table_names())
    assert {"user", "post", "site_settings", "alembic_version"} <= tables
    assert set(db.metadata.tables) <= tables
    assert schema_differences() == []


def test_migrations_have_one_head(migrated_app: Flask) -> None:
    """The history is linear and the database is at its head."""
    config = migrated_app.extensions["migrate"].migrate.get_config()
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1
    with db.engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == heads[0]


def test_migrations_downgrade_and_upgrade_again(migrated_app: Flask) -> None:
    """Every migration can be undone, and the schema comes back identical."""
    flask_migrate.downgrade(revision="base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    flask_migrate.upgrade()
    assert schema_differences() == []


def test_migrated_database_works_with_the_app(migrated_app: Flask) -> None:
    """The app can write and read through the migrated schema, demo data included."""
    from helpdesk.demo import load_demo_data

    load_demo_data("demo")
    db.session.commit()
    assert sorted(db.session.scalars(select(User.username))) == DEMO_USERNAMES
    response = migrated_app.test_client().post(
        "/users/login", json={"username": "alice", "password": "demo"}
    )
    assert response.status_code == 200


def test_unread_counts_migration_counts_what_is_already_there(migrated_app: Flask) -> None:
    """Notifications written before the counts existed are counted when the migration runs."""
    user = service.create_user("alice", "alice@example.com", "secret-pass-123")
    db.session.flush()
    user_id = user.id  # read before the downgrade: the model would load columns it removes
    db.session.commit()
    flask_migrate.downgrade(revision="7d41c0a9e2b6")
    for n, is_read in enumerate((False, False, True)):
        db.session.execute(
            text(
                "INSERT INTO notifications (user_id, date_created, is_read, type, title, message,"
                " data, event_key) VALUES (:user_id, '2026-11-27', :is_read, 'comment', 't', 'm',"
                " '{}', :key)"
            ),
            {"user_id": user_id, "is_read": is_read, "key": f"old:{n}"},
        )
    db.session.commit()
    flask_migrate.upgrade()
    assert unread_count(user_id) == 2
    db.session.execute(text("UPDATE notifications SET is_read = 1 WHERE event_key = 'old:0'"))
    db.session.commit()
    assert unread_count(user_id) == 1


def test_accounts_from_before_the_sign_in_chain_are_local(migrated_app: Flask) -> None:
    """Users that existed before auth_source keep signing in with their local password."""
    user_id = service.create_user("veteran", "veteran@example.com", "veteran-pass-123").id
    db.session.commit()
    flask_migrate.downgrade(revision="1934b4fe16c4")
    flask_migrate.upgrade()
    source = db.session.scalar(
        text('SELECT auth_source FROM "user" WHERE id = :id'), {"id": user_id}
    )
    assert source == "local"
    response = migrated_app.test_client().post(
        "/users/login", json={"username": "veteran", "password": "veteran-pass-123"}
    )
    assert response.status_code == 200
