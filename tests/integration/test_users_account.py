"""GET/POST /users/account: JSON and form profile edits; a rejection leaves the row as it was."""

from __future__ import annotations

import pytest

from helpers import HTML, JSON, fetch_user, user_row

ACCOUNT = "/users/account"


@pytest.fixture
def alice(make_user, login):
    """Alice, signed in on the client, with a filled-in profile."""
    user = make_user(
        "alice",
        full_name="Alice Smith",
        department="Sales",
        position="Manager",
        office="101",
        phone="+7 (495) 123-45-67",
    )
    login(user)
    return user


def test_anonymous_json_client_gets_401(client):
    assert client.get(ACCOUNT, headers=JSON).status_code == 401
    assert client.post(ACCOUNT, json={"full_name": "X"}).status_code == 401


def test_anonymous_browser_is_sent_to_login(client):
    response = client.get(ACCOUNT, headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=/users/account"


def test_json_get_returns_the_profile_without_secrets(client, alice):
    response = client.get(ACCOUNT, headers=JSON)
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["username"] == "alice"
    assert data["department"] == "Sales"
    assert "password" not in data
    assert "session_token" not in data
    assert "redmine_api_key" not in data


def test_page_shows_the_form_filled_in(client, alice):
    response = client.get(ACCOUNT, headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="Alice Smith"' in page
    assert 'enctype="multipart/form-data"' in page
    assert '<option value="en">English</option>' in page


def test_partial_json_update_keeps_the_other_fields(client, alice):
    before = user_row(alice.id)
    response = client.post(ACCOUNT, json={"full_name": "Alice Jones"}, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["data"]["full_name"] == "Alice Jones"
    after = user_row(alice.id)
    assert after["full_name"] == "Alice Jones"
    for name in ("username", "email", "department", "position", "office", "phone", "password"):
        assert after[name] == before[name], name


def test_json_update_of_every_field(client, alice):
    body = {
        "username": "alice2",
        "email": "Alice2@Example.com",
        "full_name": "  Alice Two  ",
        "department": "IT",
        "position": "Lead",
        "office": "202",
        "phone": "8 800 555",
        "language": "en",
    }
    response = client.post(ACCOUNT, json=body, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    row = user_row(alice.id)
    assert row["username"] == "alice2"
    assert row["email"] == "alice2@example.com"
    assert row["full_name"] == "Alice Two"
    assert (row["department"], row["position"], row["office"]) == ("IT", "Lead", "202")
    assert row["phone"] == "8 800 555"
    assert row["language"] == "en"


def test_empty_string_clears_an_optional_field(client, alice):
    response = client.post(ACCOUNT, json={"office": ""}, headers=JSON)
    assert response.status_code == 200
    assert user_row(alice.id)["office"] is None


def test_user_may_change_the_case_of_their_own_username(client, alice):
    response = client.post(ACCOUNT, json={"username": "Alice"}, headers=JSON)
    assert response.status_code == 200
    assert user_row(alice.id)["username"] == "Alice"


def test_form_post_updates_and_redirects_back(client, alice):
    response = client.post(
        ACCOUNT, data={"username": "alice", "email": "alice@example.com", "office": "303"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/account"
    assert user_row(alice.id)["office"] == "303"


def test_flags_cannot_be_raised_through_the_account_form(client, alice):
    body = {"is_admin": True, "is_redmine_user": True, "can_access_quality_control": True}
    response = client.post(ACCOUNT, json=body, headers=JSON)
    assert response.status_code == 200
    row = user_row(alice.id)
    assert not row["is_admin"]
    assert not row["is_redmine_user"]
    assert not row["can_access_quality_control"]


def test_password_cannot_be_changed_through_the_account_form(client, alice):
    before = user_row(alice.id)["password"]
    client.post(ACCOUNT, json={"password": "brand-new-pass-9"}, headers=JSON)
    assert user_row(alice.id)["password"] == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "bob"}, "username"),
        ({"username": "BOB"}, "username"),
        ({"email": "bob@example.com"}, "email"),
        ({"email": "BOB@example.com"}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"username": ""}, "username"),
        ({"email": ""}, "email"),
        ({"username": "u" * 61}, "username"),
        ({"username": "no spaces"}, "username"),
        ({"full_name": "f" * 256}, "full_name"),
        ({"department": "d" * 121}, "department"),
        ({"position": "p" * 121}, "position"),
        ({"office": "o" * 121}, "office"),
        ({"phone": "call me"}, "phone"),
        ({"phone": "1" * 31}, "phone"),
        ({"language": "de"}, "language"),
        ({"full_name": ["a", "b"]}, "full_name"),
        ({"office": {"n": 1}}, "office"),
    ],
)
def test_invalid_update_is_422_and_changes_nothing(client, make_user, alice, body, field):
    make_user("bob")
    before = user_row(alice.id)
    response = client.post(ACCOUNT, json={"full_name": "Changed", **body}, headers=JSON)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]
    assert user_row(alice.id) == before


def test_taking_another_users_username_is_refused_in_a_form_post(client, make_user, alice):
    bob = make_user("bob")
    before = user_row(alice.id)
    body = {"username": "bob", "email": "alice@example.com"}
    response = client.post(ACCOUNT, data=body, headers=HTML)
    assert response.status_code == 422
    assert "This username is already taken." in response.get_data(as_text=True)
    assert user_row(alice.id) == before
    assert user_row(bob.id)["username"] == "bob"


@pytest.mark.parametrize("body", ["[1]", '"x"', "{bad json"])
def test_non_object_json_body_is_400_and_changes_nothing(client, alice, body):
    before = user_row(alice.id)
    response = client.post(ACCOUNT, data=body, content_type="application/json")
    assert response.status_code == 400
    assert user_row(alice.id) == before


def test_json_body_over_the_size_limit_is_413(app, client, alice):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    before = user_row(alice.id)
    response = client.post(ACCOUNT, json={"full_name": "x" * 2000}, headers=JSON)
    assert response.status_code == 413
    assert response.get_json()["status_code"] == 413
    assert user_row(alice.id) == before


def test_language_choice_applies_to_the_next_pages(client, alice):
    client.post(ACCOUNT, json={"language": "ru"}, headers=JSON)
    page = client.get(ACCOUNT, headers={"Accept": "text/html", "Accept-Language": "en"})
    assert '<html lang="ru"' in page.get_data(as_text=True)
    assert fetch_user(alice.id).language == "ru"


def test_a_chosen_time_zone_applies_to_the_pages_and_an_unknown_one_is_refused(client, alice):
    assert 'data-timezone="Europe/Moscow"' in client.get(ACCOUNT, headers=HTML).get_data(
        as_text=True
    )  # none chosen: the company's DISPLAY_TIMEZONE
    assert client.post(ACCOUNT, json={"timezone": "Mars/Olympus"}, headers=JSON).status_code == 422
    assert fetch_user(alice.id).timezone is None
    response = client.post(ACCOUNT, json={"timezone": "Asia/Vladivostok"}, headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["data"]["timezone"] == "Asia/Vladivostok"
    page = client.get(ACCOUNT, headers=HTML).get_data(as_text=True)
    assert 'data-timezone="Asia/Vladivostok"' in page  # what the bell and toasts format with
    assert '<option selected value="Asia/Vladivostok">' in page
    client.post(ACCOUNT, json={"timezone": ""}, headers=JSON)
    assert fetch_user(alice.id).timezone is None
