"""Administrators add, lock, unlock and delete accounts and reset passwords, through the pages
and their JSON twins; bad input changes nothing, and nobody else may do it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from task_api_support import build_world

from conftest import BROWSER, PASSWORD, csrf_token_from
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpdesk.users.tokens import create_token
from helpers import JSON, count_rows, json_sign_in, user_named, user_row

NEW = {"username": "newbie", "email": "Newbie@Example.com", "full_name": "New Bie"}


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    """An administrator."""
    return make_user("root", is_admin=True)


def as_admin(app: Flask, admin: User) -> FlaskClient:
    """A script signed in as the administrator."""
    client = app.test_client()
    assert json_sign_in(client, admin.username, PASSWORD).status_code == 200
    return client


def test_an_admin_adds_a_local_account_whose_temporary_password_signs_in(
    app: Flask, admin: User
) -> None:
    answer = as_admin(app, admin).post(
        "/admin/users", json={**NEW, "is_redmine_user": True}, headers=JSON
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    password = body["temporary_password"]
    assert len(password) >= 16
    assert body["data"]["auth_source"] == "local"
    row = user_row(body["data"]["id"])
    assert row["email"] == "newbie@example.com"
    assert row["is_redmine_user"] is True
    assert row["is_admin"] is False
    assert json_sign_in(app.test_client(), "newbie", password).status_code == 200


def test_an_account_of_a_directory_gets_no_local_password(app: Flask, admin: User) -> None:
    chain = app.extensions["auth_providers"]
    # the form offers the configured sources by name; which object checks them is not asked here
    app.extensions["auth_providers"] = {**chain, "ldap": chain["local"]}
    answer = as_admin(app, admin).post(
        "/admin/users", json={**NEW, "auth_source": "ldap"}, headers=JSON
    )
    assert answer.status_code == 200, answer.get_json()
    assert "temporary_password" not in answer.get_json()
    row = user_row(answer.get_json()["data"]["id"])
    assert row["auth_source"] == "ldap"
    assert row["password"] == ""


def test_a_source_that_is_not_configured_is_refused(app: Flask, admin: User) -> None:
    refused = as_admin(app, admin).post(
        "/admin/users", json={**NEW, "auth_source": "ldap"}, headers=JSON
    )
    assert refused.status_code == 422
    assert "auth_source" in refused.get_json()["errors"]
    assert user_named("newbie") is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "no spaces"}, "username"),
        ({"username": ""}, "username"),
        ({"email": "not-an-address"}, "email"),
        ({"email": None}, "email"),
        ({"auth_source": "nowhere"}, "auth_source"),
        ({"is_admin": "yes"}, "is_admin"),
        ({"is_admin": 1}, "is_admin"),
        ({"full_name": ["a list"]}, "full_name"),
    ],
)
def test_bad_input_adds_nobody(app: Flask, admin: User, change: dict[str, Any], field: str) -> None:
    before = count_rows(User)
    answer = as_admin(app, admin).post("/admin/users", json={**NEW, **change}, headers=JSON)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["message"]
    assert field in answer.get_json()["errors"]
    assert count_rows(User) == before


def test_a_taken_username_or_address_is_refused(
    app: Flask, admin: User, make_user: Callable[..., User]
) -> None:
    make_user("newbie", email="other@example.com")
    client = as_admin(app, admin)
    before = count_rows(User)
    assert client.post("/admin/users", json=NEW, headers=JSON).status_code == 409
    taken_address = {**NEW, "username": "other", "email": "other@example.com"}
    assert client.post("/admin/users", json=taken_address, headers=JSON).status_code == 409
    assert count_rows(User) == before


def test_only_admins_manage_accounts(
    app: Flask, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user("plain", is_redmine_user=True)
    target = make_user("target")
    assert json_sign_in(client, "plain", PASSWORD).status_code == 200
    for path in ("/admin/users", *(f"/admin/users/{target.id}/{a}" for a in ACTIONS)):
        assert client.post(path, json=NEW, headers=JSON).status_code == 403, path
    assert not user_row(target.id)["locked"]
    assert user_named("newbie") is None


ACTIONS = ("lock", "unlock", "delete", "password")


def test_unknown_accounts_are_not_found(app: Flask, admin: User) -> None:
    client = as_admin(app, admin)
    for action in ACTIONS:
        assert client.post(f"/admin/users/999999/{action}", headers=JSON).status_code == 404


def test_a_locked_account_is_signed_out_and_cannot_sign_in_or_use_its_tokens(
    app: Flask, admin: User, make_user: Callable[..., User]
) -> None:
    make_user("worker", is_redmine_user=True)
    worker = app.test_client()
    assert json_sign_in(worker, "worker", PASSWORD).status_code == 200
    _token, plain = create_token(user_named("worker"), "script")
    db.session.commit()
    bearer = {**JSON, "Authorization": f"Bearer {plain}"}
    assert app.test_client().get("/tasks/api/notifications", headers=bearer).status_code == 200
    worker_id = user_named("worker").id  # type: ignore[union-attr]

    client = as_admin(app, admin)
    locked = client.post(f"/admin/users/{worker_id}/lock", headers=JSON)
    assert locked.status_code == 200
    assert locked.get_json()["data"]["locked"] is True

    assert worker.get("/tasks/api/notifications", headers=JSON).status_code == 401
    refused = json_sign_in(app.test_client(), "worker", PASSWORD)
    assert refused.status_code == 403
    assert "locked" in refused.get_json()["message"]
    wrong = json_sign_in(app.test_client(), "worker", "not the password")
    assert wrong.status_code == 401  # the lock is told only to who knows the password
    assert app.test_client().get("/tasks/api/notifications", headers=bearer).status_code == 401

    assert client.post(f"/admin/users/{worker_id}/unlock", headers=JSON).status_code == 200
    assert json_sign_in(app.test_client(), "worker", PASSWORD).status_code == 200
    assert app.test_client().get("/tasks/api/notifications", headers=bearer).status_code == 200


def test_an_admin_cannot_lock_or_delete_their_own_account(app: Flask, admin: User) -> None:
    client = as_admin(app, admin)
    assert client.post(f"/admin/users/{admin.id}/lock", headers=JSON).status_code == 409
    assert client.post(f"/admin/users/{admin.id}/delete", headers=JSON).status_code == 409
    row = user_row(admin.id)
    assert row["locked"] is False


def test_an_account_with_task_history_is_kept_and_one_without_is_deleted(
    app: Flask, make_user: Callable[..., User]
) -> None:
    world = build_world(make_user)
    db.session.commit()
    spare = make_user("spare")
    client = as_admin(app, world.users["admin"])

    in_use = client.post(f"/admin/users/{world.uid('bob')}/delete", headers=JSON)
    assert in_use.status_code == 409
    assert "lock" in in_use.get_json()["message"]
    assert user_named("bob") is not None

    assert client.post(f"/admin/users/{spare.id}/delete", headers=JSON).status_code == 200
    assert user_named("spare") is None


def test_a_reset_password_replaces_the_old_one_and_ends_sessions(
    app: Flask, admin: User, make_user: Callable[..., User]
) -> None:
    target = make_user("forgetful")
    session = app.test_client()
    assert json_sign_in(session, "forgetful", PASSWORD).status_code == 200
    answer = as_admin(app, admin).post(f"/admin/users/{target.id}/password", headers=JSON)
    assert answer.status_code == 200
    password = answer.get_json()["temporary_password"]
    assert session.get("/users/account", headers=JSON).status_code == 401
    assert json_sign_in(app.test_client(), "forgetful", PASSWORD).status_code == 401
    assert json_sign_in(app.test_client(), "forgetful", password).status_code == 200


def test_a_directory_account_has_no_password_to_reset(
    app: Flask, admin: User, make_user: Callable[..., User]
) -> None:
    target = make_user("fromldap")
    target.auth_source = "ldap"
    db.session.commit()
    before = user_row(target.id)["password"]
    answer = as_admin(app, admin).post(f"/admin/users/{target.id}/password", headers=JSON)
    assert answer.status_code == 409
    assert user_row(target.id)["password"] == before


def test_the_page_adds_an_account_and_shows_its_password_once(app: Flask, admin: User) -> None:
    browser = as_admin(app, admin)
    form = {
        "csrf_token": csrf_token_from(browser, "/admin/users/new"),
        "username": "paged",
        "email": "paged@example.com",
        "auth_source": "local",
        "is_redmine_user": "y",
    }
    added = browser.post("/admin/users", data=form, headers=BROWSER)
    assert added.status_code == 303
    page = browser.get(added.headers["Location"], headers=BROWSER).get_data(as_text=True)
    assert 'id="temporary-password"' in page
    shown = page.split('id="temporary-password"')[1].split("<code")[1].split(">")[1].split("<")[0]
    assert json_sign_in(app.test_client(), "paged", shown.strip()).status_code == 200
    again = browser.get(added.headers["Location"], headers=BROWSER).get_data(as_text=True)
    assert 'id="temporary-password"' not in again
    assert user_row(user_named("paged").id)["is_redmine_user"] is True  # type: ignore[union-attr]


def test_the_page_keeps_its_form_and_rights_when_a_field_is_wrong(app: Flask, admin: User) -> None:
    browser = as_admin(app, admin)
    form = {
        "csrf_token": csrf_token_from(browser, "/admin/users/new"),
        "username": "paged",
        "email": "not an address",
        "auth_source": "local",
        "is_admin": "y",
    }
    refused = browser.post("/admin/users", data=form, headers=BROWSER)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="flag-is_admin"' in page
    assert 'value="paged"' in page
    assert user_named("paged") is None
