"""Personal API tokens: /users/tokens (create, list, revoke) and `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from task_api_support import (
    IN_PROGRESS,
    RESOLVED,
    World,
    build_world,
    journals_of,
    record_status_events,
    task_row,
)

from conftest import csrf_token_from
from helpdesk.extensions import db
from helpdesk.users.tokens import ApiToken
from helpers import FORM, HTML, JSON, count_rows, fresh

TOKENS = "/users/tokens"


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


def new_token(client, name: str = "script") -> dict:
    """Create a token through the JSON face of the tokens page."""
    response = client.post(TOKENS, json={"name": name}, headers=JSON)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is True
    return body["data"]


def token_rows(user_id: int | None = None) -> list[dict]:
    """api_tokens rows as committed."""
    fresh()
    query = select(ApiToken.__table__).order_by(ApiToken.id)
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return [dict(r) for r in db.session.execute(query).mappings()]


def bearer(token: str) -> dict:
    return {**JSON, "Authorization": f"Bearer {token}"}


@pytest.fixture
def script(app):
    """A client with no session: it can only authenticate with a token."""
    return app.test_client()


# =============================================================================================
# Creating, listing and revoking
# =============================================================================================


def test_create_token_shows_it_once_and_stores_only_its_hash(client, login, world: World):
    login(world.users["alice"])
    data = new_token(client, "  nightly export  ")
    plain = data["token"]
    assert plain.startswith("hd_")
    assert len(plain) >= 40
    assert data["name"] == "nightly export"
    rows = token_rows(world.uid("alice"))
    assert len(rows) == 1
    row = rows[0]
    assert row["id"] == data["id"]
    assert row["token_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    assert row["hint"] == plain[:7]
    assert row["last_used_at"] is None
    assert row["revoked_at"] is None
    assert all(plain not in str(value) for value in row.values())
    # Listing shows the name and the hint, never the token again.
    html = client.get(TOKENS, headers=HTML).get_data(as_text=True)
    assert "nightly export" in html
    assert f"{plain[:7]}…" in html
    assert plain not in html


def test_each_token_is_different(client, login, world: World):
    login(world.users["alice"])
    tokens = {new_token(client, f"t{i}")["token"] for i in range(3)}
    assert len(tokens) == 3
    assert len({r["token_hash"] for r in token_rows()}) == 3


def test_create_token_from_the_page_shows_it_once(client, login, world: World):
    login(world.users["alice"])
    token = csrf_token_from(client, TOKENS)
    response = client.post(TOKENS, data={"name": "browser made", "csrf_token": token}, headers=FORM)
    assert response.status_code == 303  # POST-redirect-GET: reloading the page creates nothing
    assert response.headers["Location"] == TOKENS
    html = client.get(TOKENS, headers=HTML).get_data(as_text=True)
    match = re.search(r'id="new-token">.*?<code[^>]*>(hd_[^<]+)</code>', html, re.S)
    assert match
    plain = match.group(1)
    assert token_rows()[0]["token_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    again = client.get(TOKENS, headers=HTML).get_data(as_text=True)
    assert plain not in again
    assert 'id="new-token"' not in again
    assert "browser made" in again
    assert len(token_rows()) == 1


def test_create_token_from_the_page_needs_the_csrf_token(client, login, world: World):
    login(world.users["alice"])
    response = client.post(TOKENS, data={"name": "forged"}, headers=FORM)
    assert response.status_code == 400
    assert token_rows() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 61])
def test_token_name_is_required_and_bounded(client, login, world, name):
    login(world.users["alice"])
    response = client.post(TOKENS, json={"name": name}, headers=JSON)
    assert response.status_code == 422
    body = response.get_json()
    assert body["success"] is False
    assert "name" in body["errors"]
    assert token_rows() == []


def test_a_user_may_hold_at_most_20_tokens(client, login, world: World):
    login(world.users["alice"])
    for i in range(20):
        new_token(client, f"t{i}")
    response = client.post(TOKENS, json={"name": "one too many"}, headers=JSON)
    assert response.status_code == 422
    assert "name" in response.get_json()["errors"]
    assert len(token_rows()) == 20


def test_token_list_shows_only_own_working_tokens(app, client, login, world: World):
    login(world.users["alice"])
    new_token(client, "alice-kept")
    revoked = new_token(client, "alice-revoked")
    assert client.post(f"{TOKENS}/{revoked['id']}/revoke", headers=JSON).status_code == 200
    bob = app.test_client()
    login(world.users["bob"], the_client=bob)
    new_token(bob, "bob-secret")
    html = client.get(TOKENS, headers=HTML).get_data(as_text=True)
    assert "alice-kept" in html
    assert "alice-revoked" not in html
    assert "bob-secret" not in html


def test_tokens_page_needs_login(client, world: World):
    assert client.get(TOKENS, headers=HTML).status_code == 302
    response = client.post(TOKENS, json={"name": "x"}, headers=JSON)
    assert response.status_code == 401
    assert token_rows() == []


def test_revoke_own_token(client, script, login, world: World):
    login(world.users["alice"])
    data = new_token(client)
    assert (
        script.get(
            f"/tasks/api/task/{world.tasks['login']}", headers=bearer(data["token"])
        ).status_code
        == 200
    )
    response = client.post(f"{TOKENS}/{data['id']}/revoke", headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["success"] is True
    assert token_rows()[0]["revoked_at"] is not None
    refused = script.get(f"/tasks/api/task/{world.tasks['login']}", headers=bearer(data["token"]))
    assert refused.status_code == 401
    # Revoking twice is "not found".
    assert client.post(f"{TOKENS}/{data['id']}/revoke", headers=JSON).status_code == 404


def test_revoke_from_the_page_needs_the_csrf_token(client, login, world: World):
    login(world.users["alice"])
    data = new_token(client)
    response = client.post(f"{TOKENS}/{data['id']}/revoke", headers=FORM)
    assert response.status_code == 400
    assert token_rows()[0]["revoked_at"] is None
    token = csrf_token_from(client, TOKENS)
    response = client.post(
        f"{TOKENS}/{data['id']}/revoke", data={"csrf_token": token}, headers=FORM
    )
    assert response.status_code == 302
    assert token_rows()[0]["revoked_at"] is not None


def test_revoking_another_users_token_is_404_and_it_keeps_working(
    app, client, script, login, world: World
):
    bob = app.test_client()
    login(world.users["bob"], the_client=bob)
    bobs = new_token(bob, "bob-script")
    login(world.users["alice"])
    for headers in (JSON, FORM):
        extra = {}
        if headers is FORM:
            extra["data"] = {"csrf_token": csrf_token_from(client, TOKENS)}
        response = client.post(f"{TOKENS}/{bobs['id']}/revoke", headers=headers, **extra)
        assert response.status_code in {404, 302}
        if headers is JSON:
            assert response.status_code == 404
            assert response.get_json()["success"] is False
    assert token_rows(world.uid("bob"))[0]["revoked_at"] is None
    response = script.get(f"/tasks/api/task/{world.tasks['bobweb']}", headers=bearer(bobs["token"]))
    assert response.status_code == 200
    assert client.post(f"{TOKENS}/999999/revoke", headers=JSON).status_code == 404


# =============================================================================================
# Authorization: Bearer
# =============================================================================================


def test_bearer_token_authenticates_the_task_api_without_a_session(client, script, login, world):
    login(world.users["alice"])
    plain = new_token(client)["token"]
    task_id = world.tasks["login"]

    response = script.get(f"/tasks/api/task/{task_id}", headers=bearer(plain))
    assert response.status_code == 200
    assert response.get_json()["data"]["subject"] == "Fix login issue"
    # Visibility is the owner's: alice's task in a project she is not in stays hidden.
    assert (
        script.get(f"/tasks/api/task/{world.tasks['hidden']}", headers=bearer(plain)).status_code
        == 404
    )

    mine = script.get("/tasks/my-tasks", headers=bearer(plain))
    assert mine.status_code == 200
    assert mine.get_json()["pagination"]["total"] == 4


def test_bearer_token_can_change_a_status_as_its_owner(app, client, script, login, world):
    login(world.users["alice"])
    plain = new_token(client)["token"]
    events = record_status_events(app)
    task_id = world.tasks["login"]
    response = script.put(
        f"/tasks/api/task/{task_id}/status",
        json={"status_id": RESOLVED, "comment": "from cron"},
        headers=bearer(plain),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert task_row(task_id)["status_id"] == RESOLVED
    journal = journals_of(task_id)[0]
    assert journal["user_id"] == world.uid("alice")
    assert journal["details"] == [("status_id", str(IN_PROGRESS), str(RESOLVED))]
    assert [e.actor_id for e in events] == [world.uid("alice")]


def test_bearer_request_does_not_open_a_session(client, script, login, world: World):
    login(world.users["alice"])
    plain = new_token(client)["token"]
    response = script.get(f"/tasks/api/task/{world.tasks['login']}", headers=bearer(plain))
    assert response.status_code == 200
    assert not any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))
    # The next request without the header is anonymous again.
    assert script.get(f"/tasks/api/task/{world.tasks['login']}", headers=JSON).status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer hd_unknown-token-value",
        "Bearer hd_",
        "Bearer ",
        "Bearer",
        "Bearer not-our-prefix",
        "Basic YWxpY2U6Y29ycmVjdC1ob3JzZS00Mg==",
        "Token {token}",
        "{token}",
        "Bearer {token}x",
        "Bearer x{token}",
    ],
)
def test_unknown_or_malformed_bearer_is_401(client, script, login, world, header):
    login(world.users["alice"])
    plain = new_token(client)["token"]
    before = task_row(world.tasks["login"])
    headers = {**JSON, "Authorization": header.format(token=plain)}
    read = script.get(f"/tasks/api/task/{world.tasks['login']}", headers=headers)
    assert read.status_code == 401
    assert read.get_json()["success"] is False
    write = script.put(
        f"/tasks/api/task/{world.tasks['login']}/status", json={"status_id": 3}, headers=headers
    )
    assert write.status_code == 401
    assert task_row(world.tasks["login"]) == before
    assert token_rows()[0]["last_used_at"] is None


def test_revoked_token_is_401(client, script, login, world: World):
    login(world.users["alice"])
    data = new_token(client)
    assert client.post(f"{TOKENS}/{data['id']}/revoke", headers=JSON).status_code == 200
    response = script.get("/tasks/my-tasks", headers=bearer(data["token"]))
    assert response.status_code == 401


def test_token_of_a_user_without_task_access_is_403_on_the_task_api(client, script, login, world):
    login(world.users["carol"])
    plain = new_token(client)["token"]
    response = script.get(f"/tasks/api/task/{world.tasks['login']}", headers=bearer(plain))
    assert response.status_code == 403


def test_last_used_at_is_recorded(client, script, login, world: World):
    login(world.users["alice"])
    plain = new_token(client)["token"]
    assert token_rows()[0]["last_used_at"] is None
    assert script.get("/tasks/api/statuses", headers=bearer(plain)).status_code == 200
    first = token_rows()[0]["last_used_at"]
    assert first is not None
    # Within the resolution window the row is not rewritten on every call.
    assert script.get("/tasks/api/statuses", headers=bearer(plain)).status_code == 200
    assert token_rows()[0]["last_used_at"] == first
    # An older stamp is refreshed.
    fresh()
    db.session.execute(ApiToken.__table__.update().values(last_used_at=first - timedelta(hours=1)))
    db.session.commit()
    assert script.get("/tasks/api/statuses", headers=bearer(plain)).status_code == 200
    assert token_rows()[0]["last_used_at"] > first - timedelta(hours=1)
    html = client.get(TOKENS, headers=HTML).get_data(as_text=True)
    assert "—" not in re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)


def test_session_cookie_clients_keep_working_next_to_tokens(client, login, world: World):
    """The seed's cookie-session clients are unaffected by tokens existing."""
    login(world.users["alice"])
    new_token(client)
    assert client.get(f"/tasks/api/task/{world.tasks['login']}", headers=JSON).status_code == 200
    assert count_rows(ApiToken) == 1
