"""Notification preferences: the three switches through the JSON API and the settings page.

Every refusal is checked twice: the answer, and the user's row re-read from the database.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from task_api_support import assert_error

from conftest import csrf_token_from
from helpers import FORM, HTML, JSON, user_row

API = "/tasks/api/notification-preferences"
PAGE = "/notifications/preferences"
SWITCHES = (
    "notifications_widget_enabled",
    "browser_notifications_enabled",
    "email_notifications_enabled",
)
DEFAULTS = {
    "notifications_widget_enabled": True,
    "browser_notifications_enabled": False,
    "email_notifications_enabled": True,
}


@pytest.fixture
def alice(make_user, login) -> Any:
    """Alice, signed in on the client, with the default switches."""
    user = make_user("alice")
    login(user)
    return user


def switches(user_id: int) -> dict[str, bool]:
    """The user's switches as committed."""
    row = user_row(user_id)
    return {name: bool(row[name]) for name in SWITCHES}


def test_the_api_reads_the_defaults(client, alice):
    response = client.get(API, headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["success"] is True
    assert response.get_json()["data"] == DEFAULTS


def test_the_api_changes_only_the_switches_sent(client, alice):
    response = client.put(
        API,
        json={"notifications_widget_enabled": False, "browser_notifications_enabled": True},
        headers=JSON,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    expected = {
        **DEFAULTS,
        "notifications_widget_enabled": False,
        "browser_notifications_enabled": True,
    }
    assert response.get_json()["data"] == expected
    assert switches(alice.id) == expected

    client.put(API, json={"email_notifications_enabled": False}, headers=JSON)
    assert switches(alice.id) == {**expected, "email_notifications_enabled": False}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"email_notifications_enabled": "no", "notifications_widget_enabled": False},
            "email_notifications_enabled",
        ),
        ({"browser_notifications_enabled": 1}, "browser_notifications_enabled"),
        ({"notifications_widget_enabled": [True]}, "notifications_widget_enabled"),
        ({"email_notifications": False}, "email_notifications"),
    ],
)
def test_a_wrong_field_is_named_and_nothing_changes(client, alice, body, field):
    answer = assert_error(client.put(API, json=body, headers=JSON), 422)
    assert set(answer["errors"]) == {field}
    assert switches(alice.id) == DEFAULTS


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{not json", "application/json", 400),
        ("[]", "application/json", 422),
        ("x=1", "text/plain", 415),
    ],
)
def test_a_body_that_is_not_an_object_is_refused(client, alice, data, content_type, status):
    assert_error(client.put(API, data=data, content_type=content_type, headers=JSON), status)
    assert switches(alice.id) == DEFAULTS


def test_anonymous_users_are_refused(client, make_user):
    make_user("alice")
    assert_error(client.get(API, headers=JSON), 401)
    assert_error(client.put(API, json={"email_notifications_enabled": False}, headers=JSON), 401)
    assert client.get(PAGE, headers=HTML).status_code == 302


def test_another_site_cannot_change_them(client, alice):
    evil = {**JSON, "Origin": "http://evil.example"}
    assert_error(client.put(API, json={"email_notifications_enabled": False}, headers=evil), 403)
    assert switches(alice.id) == DEFAULTS


def test_the_page_shows_the_switches_linked_from_account_and_notifications(client, alice):
    page = client.get(PAGE, headers=HTML).get_data(as_text=True)
    for name in SWITCHES:
        assert f'id="{name}"' in page
    assert 'id="push-status"' in page
    for origin in ("/users/account", "/notifications"):
        assert f'href="{PAGE}"' in client.get(origin, headers=HTML).get_data(as_text=True)


def test_the_form_saves_the_switches(client, alice):
    token = csrf_token_from(client, PAGE)
    response = client.post(
        PAGE,
        data={"csrf_token": token, "browser_notifications_enabled": "y"},
        headers=FORM,
    )
    assert response.status_code == 302
    assert switches(alice.id) == {
        "notifications_widget_enabled": False,
        "browser_notifications_enabled": True,
        "email_notifications_enabled": False,
    }


@pytest.mark.parametrize("token", [None, "forged.token"])
def test_a_browser_form_post_needs_the_csrf_token(client, alice, token):
    data = {"email_notifications_enabled": ""} | ({"csrf_token": token} if token else {})
    response = client.post(PAGE, data=data, headers=FORM)
    assert response.status_code == 400
    assert switches(alice.id) == DEFAULTS


def test_with_the_widget_off_no_bell_is_rendered(client, alice):
    assert 'id="notification-bell"' in client.get(PAGE, headers=HTML).get_data(as_text=True)
    client.put(API, json={"notifications_widget_enabled": False}, headers=JSON)
    page = client.get(PAGE, headers=HTML).get_data(as_text=True)
    assert 'id="notification-bell"' not in page
    assert "js/notifications.js" in page  # live status changes go on without the bell


def test_without_a_push_key_the_push_switch_is_unavailable(app, client, alice):
    app.config["PUSH_NOTIFICATIONS_ENABLED"] = False
    page = client.get(PAGE, headers=HTML).get_data(as_text=True)
    switch = re.search(r'<input[^>]*id="browser_notifications_enabled"[^>]*>', page)
    assert switch
    assert " disabled" in switch.group(0)
    assert "not set up on this server" in page


def test_pages_of_a_user_with_push_on_know_where_to_refresh_the_subscription(client, alice):
    assert 'data-enabled="false"' in client.get(PAGE, headers=HTML).get_data(as_text=True)
    client.put(API, json={"browser_notifications_enabled": True}, headers=JSON)
    page = client.get("/notifications", headers=HTML).get_data(as_text=True)
    assert 'data-enabled="true"' in page
    assert "js/push.js" in page


def test_the_email_switch_says_when_no_mail_server_is_configured(app, client, alice):
    page = client.get(PAGE, headers=HTML).get_data(as_text=True)
    assert 'id="email-status"' in page
    assert "MAIL_SERVER" in page
    app.config["MAIL_SERVER"] = "smtp.example.com"
    assert 'id="email-status"' not in client.get(PAGE, headers=HTML).get_data(as_text=True)
