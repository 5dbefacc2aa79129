"""admin_required, redmine_user_required and permission_required, seen from the client."""

from __future__ import annotations

import pytest

from helpdesk.core.decorators import admin_required, permission_required, redmine_user_required
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import HTML, JSON, user_row


@pytest.fixture
def guarded(app):
    """Three tiny views, one behind each decorator."""
    app.add_url_rule("/_guarded/admin", "guarded_admin", admin_required(lambda: "admin ok"))
    app.add_url_rule("/_guarded/tasks", "guarded_tasks", redmine_user_required(lambda: "tasks ok"))
    app.add_url_rule(
        "/_guarded/qc",
        "guarded_qc",
        permission_required("can_access_quality_control")(lambda: "qc ok"),
    )
    app.add_url_rule(
        "/_guarded/unknown", "guarded_unknown", permission_required("no_such_flag")(lambda: "x")
    )
    return app


def test_admin_users_page_is_403_for_a_normal_user(client, make_user, login):
    login(make_user("alice"))
    assert client.get("/admin/users", headers=HTML).status_code == 403
    response = client.get("/admin/users", headers=JSON)
    assert response.status_code == 403
    assert response.get_json()["status_code"] == 403


def test_admin_users_page_is_200_for_an_admin(client, make_user, login):
    make_user("alice")
    login(make_user("root", is_admin=True))
    response = client.get("/admin/users", headers=HTML)
    assert response.status_code == 200
    assert "alice" in response.get_data(as_text=True)


def test_admin_users_page_asks_anonymous_clients_to_log_in(client):
    assert client.get("/admin/users", headers=JSON).status_code == 401
    response = client.get("/admin/users", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=/admin/users"


def test_normal_user_cannot_grant_themselves_admin(client, make_user, login):
    alice = make_user("alice")
    login(alice)
    before = user_row(alice.id)
    response = client.post(f"/admin/users/{alice.id}", json={"is_admin": True}, headers=JSON)
    assert response.status_code == 403
    assert user_row(alice.id) == before


@pytest.mark.parametrize(
    ("flags", "allowed"),
    [
        ({}, set()),
        ({"is_redmine_user": True}, {"tasks"}),
        ({"can_access_quality_control": True}, {"qc"}),
        ({"can_access_contact_center_moscow": True}, set()),
        ({"is_admin": True}, {"admin", "tasks", "qc", "unknown"}),
    ],
)
def test_each_decorator_lets_in_exactly_the_users_with_its_flag(
    guarded, client, make_user, login, flags, allowed
):
    login(make_user("someone", **flags))
    for name in ("admin", "tasks", "qc", "unknown"):
        response = client.get(f"/_guarded/{name}", headers=JSON)
        expected = 200 if name in allowed else 403
        assert response.status_code == expected, (name, flags)


@pytest.mark.parametrize("name", ["admin", "tasks", "qc"])
def test_decorators_answer_401_or_redirect_to_anonymous_clients(guarded, client, name):
    assert client.get(f"/_guarded/{name}", headers=JSON).status_code == 401
    response = client.get(f"/_guarded/{name}", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/users/login?next=/_guarded/{name}"


def test_revoked_flag_takes_effect_on_the_next_request(guarded, client, make_user, login):
    user = make_user("alice", is_redmine_user=True)
    login(user)
    assert client.get("/_guarded/tasks", headers=JSON).status_code == 200
    db.session.get(User, user.id).is_redmine_user = False
    db.session.commit()
    assert client.get("/_guarded/tasks", headers=JSON).status_code == 403
