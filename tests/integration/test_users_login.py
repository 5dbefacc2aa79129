"""POST/GET /users/login: form and JSON bodies, redirects, bad input, remember-me, rate limits."""

from __future__ import annotations

import pytest

from conftest import PASSWORD
from helpers import HTML, JSON, is_logged_in, user_row

LOGIN = "/users/login"


def test_login_page_renders_a_form(client):
    response = client.get(LOGIN, headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="username"' in page
    assert 'name="password"' in page


def test_json_login_answers_success_message_and_redirect(client, make_user):
    make_user("alice")
    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD}, headers=JSON)
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    assert body["message"]
    assert body["redirect"] == "/tasks/my-tasks"
    assert is_logged_in(client)


def test_json_login_is_detected_from_the_json_body_alone(client, make_user):
    make_user("alice")
    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.get_json()["success"] is True


def test_xhr_form_login_answers_json(client, make_user):
    make_user("alice")
    response = client.post(
        LOGIN,
        data={"username": "alice", "password": PASSWORD},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert response.status_code == 200
    assert response.get_json()["redirect"] == "/tasks/my-tasks"


def test_form_login_redirects_to_my_tasks(client, make_user):
    make_user("alice")
    response = client.post(LOGIN, data={"username": "alice", "password": PASSWORD}, headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks/my-tasks"
    assert is_logged_in(client)


def test_login_by_email_ignores_case(client, make_user):
    make_user("alice", email="alice@example.com")
    response = client.post(LOGIN, json={"username": "ALICE@Example.COM", "password": PASSWORD})
    assert response.status_code == 200
    assert is_logged_in(client)


def test_login_by_username_ignores_case_and_surrounding_spaces(client, make_user):
    make_user("alice")
    response = client.post(LOGIN, json={"username": "  Alice ", "password": PASSWORD})
    assert response.status_code == 200


def test_login_records_no_change_to_the_password(client, make_user):
    user = make_user("alice")
    before = user_row(user.id)
    client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    after = user_row(user.id)
    assert after["password"] == before["password"]
    assert after["session_token"] == before["session_token"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/users/account", "/users/account"),
        ("/users/profile/alice?page=2", "/users/profile/alice?page=2"),
        ("http://evil.example/steal", "/tasks/my-tasks"),
        ("https://evil.example", "/tasks/my-tasks"),
        ("//evil.example/path", "/tasks/my-tasks"),
        ("/\\evil.example", "/tasks/my-tasks"),
        ("javascript:alert(1)", "/tasks/my-tasks"),
        ("relative/path", "/tasks/my-tasks"),
    ],
)
def test_next_parameter_accepts_only_local_paths(client, make_user, target, expected):
    make_user("alice")
    response = client.post(
        LOGIN,
        query_string={"next": target},
        data={"username": "alice", "password": PASSWORD},
        headers=HTML,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_next_parameter_is_reported_to_json_clients(client, make_user):
    make_user("alice")
    response = client.post(
        LOGIN,
        query_string={"next": "http://evil.example/"},
        json={"username": "alice", "password": PASSWORD},
    )
    assert response.get_json()["redirect"] == "/tasks/my-tasks"
    response = client.post(
        LOGIN,
        query_string={"next": "/users/account"},
        json={"username": "alice", "password": PASSWORD},
    )
    assert response.get_json()["redirect"] == "/users/account"


def test_login_page_redirects_a_signed_in_user(client, make_user, login):
    login(make_user("alice"))
    response = client.get(LOGIN, query_string={"next": "http://evil.example/"}, headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/tasks/my-tasks"


def test_wrong_password_and_unknown_user_get_the_same_401(client, make_user):
    make_user("alice")
    wrong = client.post(LOGIN, json={"username": "alice", "password": "wrong-password-1"})
    unknown = client.post(LOGIN, json={"username": "nobody", "password": "wrong-password-1"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["success"] is False
    assert wrong.get_json()["message"]
    assert not is_logged_in(client)


def test_form_login_failure_shows_the_same_message_for_both_cases(client, make_user):
    make_user("alice")
    wrong = client.post(LOGIN, data={"username": "alice", "password": "nope-nope-1"}, headers=HTML)
    unknown = client.post(
        LOGIN, data={"username": "ghost", "password": "nope-nope-1"}, headers=HTML
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Invalid username or password." in wrong.get_data(as_text=True)
    assert "Invalid username or password." in unknown.get_data(as_text=True)


def test_missing_fields_get_422_with_an_error_per_field(client):
    response = client.post(LOGIN, json={}, headers=JSON)
    assert response.status_code == 422
    body = response.get_json()
    assert body["success"] is False
    assert set(body["errors"]) == {"username", "password"}


def test_missing_password_names_only_the_password(client, make_user):
    make_user("alice")
    response = client.post(LOGIN, json={"username": "alice"}, headers=JSON)
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"password"}
    assert not is_logged_in(client)


def test_empty_form_post_is_422_page(client):
    response = client.post(LOGIN, data={}, headers=HTML)
    assert response.status_code == 422
    assert "text/html" in response.content_type


@pytest.mark.parametrize("body", ["[1, 2]", '"alice"', "null", "42", "{not json", ""])
def test_json_body_that_is_not_an_object_is_400(client, body):
    response = client.post(LOGIN, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["success"] is False


@pytest.mark.parametrize("value", [["alice"], {"name": "alice"}])
def test_nested_json_values_are_422_naming_the_field(client, make_user, value):
    make_user("alice")
    response = client.post(LOGIN, json={"username": value, "password": PASSWORD})
    assert response.status_code == 422
    assert "username" in response.get_json()["errors"]
    assert not is_logged_in(client)


def test_numbers_are_read_as_text(client, make_user):
    make_user("12345")
    response = client.post(LOGIN, json={"username": 12345, "password": PASSWORD})
    assert response.status_code == 200


def test_overlong_fields_are_422(client):
    response = client.post(LOGIN, json={"username": "a" * 121, "password": "b" * 129})
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"username", "password"}


def test_remember_me_sets_a_remember_cookie_that_logs_in(app, client, make_user):
    make_user("alice")
    response = client.post(
        LOGIN, json={"username": "alice", "password": PASSWORD, "remember": True}
    )
    assert response.status_code == 200
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    fresh = app.test_client()
    fresh.set_cookie("remember_token", cookie.value)
    assert is_logged_in(fresh)


def test_without_remember_me_there_is_no_remember_cookie(client, make_user):
    make_user("alice")
    client.post(LOGIN, json={"username": "alice", "password": PASSWORD, "remember": False})
    assert is_logged_in(client)
    assert client.get_cookie("remember_token") is None


def test_form_remember_checkbox_sets_the_cookie(client, make_user):
    make_user("alice")
    client.post(LOGIN, data={"username": "alice", "password": PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None


def test_session_id_changes_on_login(app, client, make_user):
    make_user("alice")
    client.post("/language/en", headers={"Sec-Fetch-Site": "same-origin"})  # opens a session
    before = client.get_cookie("session")
    assert before is not None
    client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    after = client.get_cookie("session")
    assert after is not None
    assert after.value != before.value
    planted = app.test_client()
    planted.set_cookie("session", before.value)
    assert not is_logged_in(planted)


def test_a_planted_session_id_is_not_logged_in_by_the_victims_login(app, client, make_user):
    make_user("alice")
    attacker = app.test_client()
    attacker.post("/language/en", headers={"Sec-Fetch-Site": "same-origin"})
    planted = attacker.get_cookie("session").value
    client.set_cookie("session", planted)
    client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert is_logged_in(client)
    assert client.get_cookie("session").value != planted
    assert not is_logged_in(attacker)


def test_repeated_failed_logins_get_429(client, make_user):
    make_user("alice")
    for _ in range(10):
        response = client.post(LOGIN, json={"username": "alice", "password": "wrong-pass-1"})
        assert response.status_code == 401
    response = client.post(LOGIN, json={"username": "alice", "password": "wrong-pass-1"})
    assert response.status_code == 429
    body = response.get_json()
    assert body["success"] is False
    assert body["status_code"] == 429


def test_limited_requests_carry_rate_limit_headers_and_others_none(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "5 per minute"
    make_user("alice")
    remaining = []
    for _ in range(2):
        response = client.post(LOGIN, json={"username": "alice", "password": "wrong-pass-1"})
        assert response.headers["X-RateLimit-Limit"] == "5"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining[1] < remaining[0]
    page = client.get(LOGIN)
    assert page.status_code == 200
    assert not [name for name, _value in page.headers if name.startswith("X-RateLimit")]


def test_rate_limit_also_stops_the_right_password_once_reached(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    make_user("alice")
    for _ in range(3):
        client.post(LOGIN, json={"username": "alice", "password": "wrong-pass-1"})
    response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert not is_logged_in(client)


def test_429_page_for_browsers(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "1 per minute"
    make_user("alice")
    client.post(LOGIN, data={"username": "alice", "password": "wrong-pass-1"}, headers=HTML)
    response = client.post(LOGIN, data={"username": "alice", "password": "x"}, headers=HTML)
    assert response.status_code == 429
    assert "text/html" in response.content_type


def test_successful_logins_do_not_count_toward_the_limit(client, make_user):
    make_user("alice")
    for _ in range(12):
        response = client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200


def test_invalid_bodies_do_not_count_toward_the_limit(app, client, make_user):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    make_user("alice")
    for _ in range(5):
        assert client.post(LOGIN, json={"username": "alice"}).status_code == 422
    assert client.post(LOGIN, json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_page_views_do_not_count_toward_the_limit(app, client):
    app.config["LOGIN_RATE_LIMIT"] = "2 per minute"
    for _ in range(5):
        assert client.get(LOGIN, headers=HTML).status_code == 200


def test_a_session_used_from_another_browser_is_no_longer_fresh(app, client, make_user):
    make_user("alice")
    agent = {"User-Agent": "Browser A"}
    client.post(LOGIN, json={"username": "alice", "password": PASSWORD}, headers=agent)
    client.get("/users/profile", headers=agent)
    with client.session_transaction() as session:
        assert session["_fresh"] is True
    client.get("/users/profile", headers={"User-Agent": "Browser B"})
    with client.session_transaction() as session:
        assert session["_fresh"] is False
