"""POST /users/register: a new account, or a per-field error and no account at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from conftest import PASSWORD
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import HTML, JSON, count_rows

REGISTER = "/users/register"


def signup(**changes: Any) -> dict[str, Any]:
    """A valid registration body with some fields changed (None removes a field)."""
    body = {
        "username": "newbie",
        "email": "newbie@example.com",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
        "full_name": "New Person",
        "department": "IT",
        "position": "Engineer",
    }
    body.update(changes)
    return {name: value for name, value in body.items() if value is not None}


def find(username: str) -> User | None:
    """The committed user with this exact username."""
    db.session.rollback()
    return db.session.scalar(select(User).where(User.username == username))


def test_register_page_renders_a_form(client):
    response = client.get(REGISTER, headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("username", "email", "password", "confirm_password"):
        assert f'name="{name}"' in page


def test_json_registration_creates_the_user_and_answers_201(client):
    response = client.post(REGISTER, json=signup(), headers=JSON)
    assert response.status_code == 201
    body = response.get_json()
    assert body["success"] is True
    assert body["data"]["username"] == "newbie"
    assert body["data"]["email"] == "newbie@example.com"
    assert body["data"]["full_name"] == "New Person"
    assert "password" not in body["data"]
    user = find("newbie")
    assert user is not None
    assert user.department == "IT"
    assert user.position == "Engineer"
    assert user.password != PASSWORD
    assert user.check_password(PASSWORD)
    assert not user.is_admin
    assert user.is_redmine_user  # REGISTRATION=open (development and tests): task access at once


def test_registration_signs_the_new_user_in(client):
    client.post(REGISTER, json=signup())
    response = client.get("/users/account", headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["data"]["username"] == "newbie"


def test_form_registration_redirects_home(client):
    response = client.post(REGISTER, data=signup(), headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert find("newbie") is not None


def test_email_is_stored_in_lower_case(client):
    client.post(REGISTER, json=signup(email="NewBie@Example.COM"))
    assert find("newbie").email == "newbie@example.com"


def test_permission_flags_in_the_body_are_ignored(app, client):
    app.config["REGISTRATION"] = "approval"
    response = client.post(REGISTER, json=signup(is_admin=True, is_redmine_user=True))
    assert response.status_code == 201
    user = find("newbie")
    assert not user.is_admin
    assert not user.is_redmine_user


def assert_rejected(response, field: str, users_before: int) -> None:
    """422, the error names field, and no account was created."""
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False
    assert field in body["errors"], body
    assert body["errors"][field]
    assert count_rows(User) == users_before


@pytest.mark.parametrize("username", ["Alice", "ALICE", "alice"])
def test_duplicate_username_is_rejected_regardless_of_case(client, make_user, username):
    make_user("alice")
    response = client.post(REGISTER, json=signup(username=username), headers=JSON)
    assert_rejected(response, "username", 1)


@pytest.mark.parametrize("email", ["taken@example.com", "TAKEN@Example.com"])
def test_duplicate_email_is_rejected_regardless_of_case(client, make_user, email):
    make_user("alice", email="taken@example.com")
    response = client.post(REGISTER, json=signup(email=email), headers=JSON)
    assert_rejected(response, "email", 1)


@pytest.mark.parametrize(
    "password",
    [
        "short1",  # under 8 characters
        "12345678901",  # digits only
        "password1",  # common
        "Password1",  # common, ignoring case
        "helpdesk",  # common
        "x" * 73,  # beyond bcrypt's 72 bytes
        "я" * 37,  # 74 bytes in UTF-8
    ],
)
def test_weak_password_is_rejected(client, password):
    body = signup(password=password, confirm_password=password)
    response = client.post(REGISTER, json=body, headers=JSON)
    assert_rejected(response, "password", 0)


def test_password_equal_to_username_is_rejected(client):
    body = signup(username="longusername", password="LongUserName", confirm_password="LongUserName")
    response = client.post(REGISTER, json=body, headers=JSON)
    assert_rejected(response, "password", 0)


def test_mismatched_confirmation_is_rejected(client):
    response = client.post(REGISTER, json=signup(confirm_password=PASSWORD + "x"), headers=JSON)
    assert_rejected(response, "confirm_password", 0)
    assert "password" not in response.get_json()["errors"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@", "@example.com", "a b@example.com", "a@example..com"]
)
def test_bad_email_is_rejected(client, email):
    response = client.post(REGISTER, json=signup(email=email), headers=JSON)
    assert_rejected(response, "email", 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("username", "u" * 61),
        ("username", "ab"),
        ("username", "bad name"),
        ("username", "evil<script>"),
        ("email", "e" * 110 + "@example.com"),
        ("full_name", "f" * 256),
        ("department", "d" * 121),
        ("position", "p" * 121),
    ],
)
def test_invalid_or_too_long_field_is_rejected(client, field, value):
    response = client.post(REGISTER, json=signup(**{field: value}), headers=JSON)
    assert_rejected(response, field, 0)


def test_longest_allowed_username_is_accepted(client):
    response = client.post(REGISTER, json=signup(username="u" * 60), headers=JSON)  # as Redmine
    assert response.status_code == 201
    assert find("u" * 60) is not None


@pytest.mark.parametrize("field", ["username", "email", "password", "confirm_password"])
def test_missing_required_field_is_rejected(client, field):
    response = client.post(REGISTER, json=signup(**{field: None}), headers=JSON)
    assert_rejected(response, field, 0)


def test_every_problem_is_reported_at_once(client):
    body = {"username": "x", "email": "nope", "password": "123", "confirm_password": "456"}
    response = client.post(REGISTER, json=body, headers=JSON)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {
        "username",
        "email",
        "password",
        "confirm_password",
    }
    assert count_rows(User) == 0


def test_nested_value_is_rejected(client):
    response = client.post(REGISTER, json=signup(username={"$ne": ""}), headers=JSON)
    assert_rejected(response, "username", 0)


@pytest.mark.parametrize("body", ["[]", '"newbie"', "{oops"])
def test_non_object_json_body_is_400(client, body):
    response = client.post(REGISTER, data=body, content_type="application/json")
    assert response.status_code == 400
    assert count_rows(User) == 0


def test_form_errors_are_shown_on_the_page_with_422(client, make_user):
    make_user("alice")
    response = client.post(REGISTER, data=signup(username="alice"), headers=HTML)
    assert response.status_code == 422
    assert "This username or e-mail cannot be used." in response.get_data(as_text=True)
    assert count_rows(User) == 1


def test_a_rejected_registration_does_not_sign_in(client):
    client.post(REGISTER, json=signup(password="short1", confirm_password="short1"))
    assert client.get("/users/account", headers=JSON).status_code == 401


# Registration policy (REGISTRATION) and what a refusal reveals
# =============================================================================================


def test_a_taken_username_and_a_taken_email_get_the_same_answer(client, make_user):
    """A stranger cannot tell which e-mail addresses (or usernames) have accounts."""
    make_user("alice", email="alice@example.com")
    by_name = client.post(REGISTER, json=signup(username="ALICE"), headers=JSON).get_json()
    by_email = client.post(REGISTER, json=signup(email="alice@example.com"), headers=JSON)
    assert by_email.status_code == 422
    assert by_name["errors"] == by_email.get_json()["errors"]
    assert set(by_name["errors"]) == {"username", "email"}
    assert count_rows(User) == 1


def test_registration_attempts_are_rate_limited(app, client):
    app.config["REGISTRATION_RATE_LIMIT"] = "2 per minute"
    for name in ("one", "two"):
        other = app.test_client()  # new sessions from one address
        assert (
            other.post(REGISTER, json=signup(username=name, email=f"{name}@x.io")).status_code
            == 201
        )
    response = app.test_client().post(REGISTER, json=signup(username="three", email="t@x.io"))
    assert response.status_code == 429
    assert find("three") is None
    assert client.get(REGISTER, headers=HTML).status_code == 200  # the page itself is not counted


def test_with_approval_a_new_account_is_told_what_it_can_do_until_approved(app, client, make_user):
    app.config["REGISTRATION"] = "approval"
    response = client.post(REGISTER, data=signup(), headers=HTML, follow_redirects=True)
    assert "administrator will give you access to tasks" in response.get_data(as_text=True)
    user = find("newbie")
    assert not user.is_redmine_user
    page = client.get("/tasks/my-tasks", headers=HTML)
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert 'id="no-task-access"' in text
    assert 'href="/users/account"' in text
    assert client.get("/tasks/my-tasks", headers=JSON).status_code == 403  # scripts: plain 403
    user.is_redmine_user = True  # an administrator approves
    db.session.commit()
    assert client.get("/tasks/my-tasks", headers=HTML).status_code == 200


def test_closed_registration_creates_nobody_and_offers_no_link(app, client):
    app.config["REGISTRATION"] = "closed"
    assert client.get(REGISTER, headers=HTML).status_code == 403
    response = client.post(REGISTER, json=signup(), headers=JSON)
    assert response.status_code == 403
    assert "administrator" in response.get_json()["message"]
    assert count_rows(User) == 0
    assert 'href="/users/register"' not in client.get("/users/login", headers=HTML).get_data(
        as_text=True
    )
