"""Admin pages: the user list and search, permission flags, and the request metrics."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conftest import BROWSER, csrf_token_from
from helpdesk.extensions import db
from helpdesk.users.models import PERMISSION_FLAGS, User
from helpers import JSON

LISTED_PATTERN = re.compile(r'<div class="small text-muted">@([^ ]+) ·')


def flags_of(user_id: int) -> dict[str, bool]:
    """The user's permission flags as the database has them now."""
    db.session.expire_all()
    user = db.session.get(User, user_id)
    assert user is not None
    return {flag: getattr(user, flag) for flag in PERMISSION_FLAGS}


def listed(page: str) -> list[str]:
    """Usernames shown in the admin user table."""
    return LISTED_PATTERN.findall(page)


@pytest.fixture
def admin(make_user: Callable[..., User]) -> User:
    """An administrator."""
    return make_user("root", is_admin=True, full_name="Root Admin")


@pytest.fixture
def staff(make_user: Callable[..., User]) -> User:
    """A plain user with a couple of flags set."""
    return make_user(
        "staff",
        full_name="Maria Sidorova",
        email="maria@corp.example",
        is_redmine_user=True,
        can_access_quality_control=True,
    )


# --- the user list -------------------------------------------------------------------------


def test_users_list_for_admin(
    client: FlaskClient, admin: User, staff: User, make_user: Callable[..., User], login: Any
) -> None:
    """Admins see every user, sorted by username, with a flag form per user."""
    make_user("alpha")
    login(admin)
    response = client.get("/admin/users", headers=BROWSER)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed(page) == ["alpha", "root", "staff"]
    assert f'action="/admin/users/{staff.id}"' in page
    assert 'name="csrf_token"' in page
    assert "Maria Sidorova" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("maria", ["staff"]),  # full name, any case
        ("SIDOROVA", ["staff"]),
        ("corp.example", ["staff"]),  # e-mail
        ("roo", ["root"]),  # username
        ("  staff  ", ["staff"]),  # trimmed
        ("nobody-like-this", []),
        ("", ["root", "staff"]),
    ],
)
def test_users_search(
    client: FlaskClient,
    admin: User,
    staff: User,
    login: Any,
    query: str,
    expected: list[str],
) -> None:
    """The search matches username, e-mail or full name, ignoring case."""
    login(admin)
    response = client.get("/admin/users", query_string={"q": query})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert listed(page) == expected
    if query.strip():
        assert f'value="{query.strip()}"' in page


def test_users_list_is_paginated(
    client: FlaskClient, admin: User, make_user: Callable[..., User], login: Any
) -> None:
    """Fifty users a page; the rest are on the next page."""
    for n in range(51):
        make_user(f"u{n:03d}")
    login(admin)
    first = listed(client.get("/admin/users").get_data(as_text=True))
    second = listed(client.get("/admin/users?page=2").get_data(as_text=True))
    assert len(first) == 50
    assert len(second) == 2
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == {f"u{n:03d}" for n in range(51)} | {"root"}


def test_users_list_forbidden_for_non_admins(client: FlaskClient, staff: User, login: Any) -> None:
    """A logged-in user without the admin flag gets 403, in HTML and JSON."""
    login(staff)
    response = client.get("/admin/users", headers=BROWSER)
    assert response.status_code == 403
    assert "text/html" in response.content_type
    assert "Maria" not in response.get_data(as_text=True).split("<main", 1)[1]
    response = client.get("/admin/users", headers=JSON)
    assert response.status_code == 403
    assert response.json["status_code"] == 403
    assert response.json["success"] is False


def test_users_list_anonymous(client: FlaskClient, admin: User) -> None:
    """Anonymous browsers are sent to the login page; JSON clients get 401."""
    response = client.get("/admin/users", headers=BROWSER)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login")
    assert "admin" in response.headers["Location"]
    response = client.get("/admin/users", headers=JSON)
    assert response.status_code == 401
    assert response.json["status_code"] == 401


# --- setting flags -------------------------------------------------------------------------


def test_admin_sets_flags_with_form(
    client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """A form post sets exactly the ticked flags (unticked boxes clear theirs)."""
    login(admin)
    response = client.post(
        f"/admin/users/{staff.id}?q=maria",
        data={
            "is_admin": "y",
            "can_access_contact_center_moscow": "y",
            "can_post_announcements": "y",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users?q=maria"
    assert flags_of(staff.id) == {
        "is_admin": True,
        "is_redmine_user": False,
        "can_access_quality_control": False,
        "can_access_contact_center_moscow": True,
        "can_post_announcements": True,
    }


def test_admin_sets_flags_from_browser_with_csrf(
    client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """The admin page's own form works from a browser with its CSRF token."""
    login(admin)
    token = csrf_token_from(client, "/admin/users")
    response = client.post(
        f"/admin/users/{staff.id}",
        data={"csrf_token": token, "is_redmine_user": "y"},
        headers=BROWSER,
    )
    assert response.status_code == 302
    assert flags_of(staff.id)["is_redmine_user"] is True
    assert flags_of(staff.id)["can_access_quality_control"] is False


def test_admin_flags_browser_post_without_csrf_is_refused(
    client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """A browser form post without the token changes nothing."""
    login(admin)
    before = flags_of(staff.id)
    response = client.post(f"/admin/users/{staff.id}", data={"is_admin": "y"}, headers=BROWSER)
    assert response.status_code == 400
    assert flags_of(staff.id) == before


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
)
def test_admin_flags_cross_origin_is_refused(
    client: FlaskClient, admin: User, staff: User, login: Any, headers: dict[str, str]
) -> None:
    """A foreign page cannot make someone an admin through a logged-in admin's browser."""
    login(admin)
    before = flags_of(staff.id)
    response = client.post(f"/admin/users/{staff.id}", json={"is_admin": True}, headers=headers)
    assert response.status_code == 403
    assert flags_of(staff.id) == before


def test_admin_sets_all_flags_with_json(
    client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """A JSON body with every flag sets them all and answers with the user."""
    login(admin)
    body = {
        "is_admin": True,
        "is_redmine_user": False,
        "can_access_quality_control": False,
        "can_access_contact_center_moscow": True,
        "can_post_announcements": False,
    }
    response = client.post(f"/admin/users/{staff.id}", json=body)
    assert response.status_code == 200
    assert response.json["success"] is True
    assert response.json["data"]["id"] == staff.id
    assert {flag: response.json["data"][flag] for flag in PERMISSION_FLAGS} == body
    assert "password" not in response.json["data"]
    assert flags_of(staff.id) == body


def test_admin_json_partial_flags_leave_others(
    client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """A JSON client may send only the flags it changes; the others stay as they were."""
    login(admin)
    response = client.post(
        f"/admin/users/{staff.id}", json={"can_access_contact_center_moscow": True}
    )
    assert response.status_code == 200
    assert flags_of(staff.id) == {
        "is_admin": False,
        "is_redmine_user": True,
        "can_access_quality_control": True,
        "can_access_contact_center_moscow": True,
        "can_post_announcements": False,
    }
    response = client.post(f"/admin/users/{staff.id}", json={"is_redmine_user": False})
    assert response.status_code == 200
    assert flags_of(staff.id) == {
        "is_admin": False,
        "is_redmine_user": False,
        "can_access_quality_control": True,
        "can_access_contact_center_moscow": True,
        "can_post_announcements": False,
    }
    # An empty object changes nothing at all.
    assert client.post(f"/admin/users/{staff.id}", json={}).status_code == 200
    assert flags_of(staff.id)["can_access_quality_control"] is True


@pytest.mark.parametrize(
    "body",
    [
        {"is_admin": [True]},
        {"is_admin": {"value": True}},
        {"is_admin": 1},
        {"is_admin": 0, "is_redmine_user": False},
        {"is_admin": "yes"},
        ["is_admin"],
        "is_admin",
    ],
)
def test_admin_json_wrong_types_change_nothing(
    client: FlaskClient, admin: User, staff: User, login: Any, body: Any
) -> None:
    """Flags must be JSON booleans: anything else is refused and nothing changes."""
    login(admin)
    before = flags_of(staff.id)
    response = client.post(f"/admin/users/{staff.id}", json=body)
    assert response.status_code in {400, 422}
    assert response.json["success"] is False
    if isinstance(body, dict):
        assert response.status_code == 422
        assert "is_admin" in response.json["errors"]
    assert flags_of(staff.id) == before


def test_admin_cannot_remove_own_admin_flag(client: FlaskClient, admin: User, login: Any) -> None:
    """An admin cannot lock themselves out, by form or by JSON; other flags still change."""
    login(admin)
    response = client.post(f"/admin/users/{admin.id}", data={"is_redmine_user": "y"})
    assert response.status_code == 302
    assert flags_of(admin.id)["is_admin"] is True
    assert flags_of(admin.id)["is_redmine_user"] is True

    response = client.post(f"/admin/users/{admin.id}", json={"is_admin": False})
    assert response.status_code == 200
    assert response.json["data"]["is_admin"] is True
    assert flags_of(admin.id)["is_admin"] is True
    # Still an admin in practice, too.
    assert client.get("/admin/users").status_code == 200


def test_admin_can_remove_another_admins_flag(
    client: FlaskClient, admin: User, make_user: Callable[..., User], login: Any
) -> None:
    """The lock-out rule is about oneself only."""
    other = make_user("other-admin", is_admin=True)
    login(admin)
    response = client.post(f"/admin/users/{other.id}", json={"is_admin": False})
    assert response.status_code == 200
    assert flags_of(other.id)["is_admin"] is False


def test_update_unknown_user_is_404(client: FlaskClient, admin: User, login: Any) -> None:
    """An unknown user id is 404, in JSON and HTML."""
    login(admin)
    response = client.post("/admin/users/9999", json={"is_admin": True})
    assert response.status_code == 404
    assert response.json["status_code"] == 404
    assert client.post("/admin/users/9999", data={"is_admin": "y"}).status_code == 404


def test_update_flags_forbidden_for_non_admins(
    client: FlaskClient, staff: User, make_user: Callable[..., User], login: Any
) -> None:
    """A non-admin can neither promote themselves nor change anyone else."""
    victim = make_user("victim", is_redmine_user=True)
    login(staff)
    own_before, victim_before = flags_of(staff.id), flags_of(victim.id)
    response = client.post(f"/admin/users/{staff.id}", json={"is_admin": True})
    assert response.status_code == 403
    assert response.json["status_code"] == 403
    assert client.post(f"/admin/users/{victim.id}", data={}).status_code == 403
    assert flags_of(staff.id) == own_before
    assert flags_of(victim.id) == victim_before


def test_update_flags_anonymous(client: FlaskClient, staff: User) -> None:
    """Anonymous clients get 401 and nothing changes."""
    before = flags_of(staff.id)
    response = client.post(f"/admin/users/{staff.id}", json={"is_admin": True})
    assert response.status_code == 401
    assert flags_of(staff.id) == before


def test_update_flags_needs_post(client: FlaskClient, admin: User, staff: User, login: Any) -> None:
    """GET on the flag address is 405 with an Allow header."""
    login(admin)
    response = client.get(f"/admin/users/{staff.id}", headers=JSON)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


# --- metrics -------------------------------------------------------------------------------


def test_metrics_per_endpoint(
    app: Flask, client: FlaskClient, admin: User, staff: User, login: Any
) -> None:
    """After some requests the metrics show count, average, min and max per endpoint (the
    process's figures: earlier tests' requests are in them too, so the test counts the growth)."""
    before = app.extensions["performance_monitor"].get_metrics()

    def grown(figures: dict[str, Any], endpoint: str) -> int:
        return figures[endpoint]["count"] - before.get(endpoint, {}).get("count", 0)

    login(admin)
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/no-such-page").status_code == 404

    response = client.get("/admin/metrics")
    assert response.status_code == 200
    metrics = response.json
    assert grown(metrics, "posts.home") == 3
    assert grown(metrics, "health.health") == 1
    assert grown(metrics, "users.login") == 1
    assert grown(metrics, "unknown") == 1  # the 404 had no endpoint
    caches = metrics.pop("caches")  # beside the seed's shape: hits and misses per cache
    assert all(set(counts) == {"hits", "misses"} for counts in caches.values())
    for name, figures in metrics.items():
        assert set(figures) >= {"count", "avg_time", "min_time", "max_time", "total_time"}, name
        assert 0 <= figures["min_time"] <= figures["avg_time"] <= figures["max_time"], name
        assert figures["total_time"] == pytest.approx(figures["avg_time"] * figures["count"])

    # The metrics request itself is counted from the next call on.
    again = client.get("/admin/metrics").json
    assert grown(again, "admin.performance_metrics") == 1
    assert grown(again, "posts.home") == 3


def test_reset_metrics_counts_afresh(app: Flask, client: FlaskClient) -> None:
    """The seed's reset_metrics: get_metrics counts from the reset on."""
    monitor = app.extensions["performance_monitor"]
    assert client.get("/health").status_code == 200
    monitor.reset_metrics()
    assert "health.health" not in monitor.get_metrics()
    assert client.get("/health").status_code == 200
    assert monitor.get_metrics()["health.health"]["count"] == 1


def test_metrics_count_each_caches_hits_and_misses(
    client: FlaskClient, admin: User, login: Any
) -> None:
    """Beside the seed's figures, `caches` tells each cache's hits and misses (of every process,
    so the test counts the growth): the second read of the task lookups is a hit."""
    login(admin)

    def lookups() -> dict[str, int]:
        caches = client.get("/admin/metrics", headers=JSON).json["caches"]
        return caches.get("lookups", {"hits": 0, "misses": 0})

    before = lookups()
    for _ in range(2):
        assert client.get("/tasks/api/statuses", headers=JSON).status_code == 200
    after = lookups()
    assert after["hits"] >= before["hits"] + 1
    assert after["hits"] + after["misses"] == before["hits"] + before["misses"] + 2


def test_metrics_admin_only(client: FlaskClient, staff: User, login: Any) -> None:
    """Metrics are for admins: 401 anonymous, 403 for others."""
    assert client.get("/admin/metrics", headers=JSON).status_code == 401
    response = client.get("/admin/metrics", headers=BROWSER)
    assert response.status_code == 302
    assert "/users/login" in response.headers["Location"]
    login(staff)
    response = client.get("/admin/metrics")
    assert response.status_code == 403
    assert "posts.home" not in response.get_data(as_text=True)
