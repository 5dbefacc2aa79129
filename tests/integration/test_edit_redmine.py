"""TASK_BACKEND=redmine: editing through the API and the task page acts as the signed-in user in
a real Redmine, and a stale edit answers 409 with the other person's change."""

from __future__ import annotations

import pytest
from flask import Flask

from contract_world import World, redmine_world
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import HTML, JSON

pytestmark = pytest.mark.redmine


@pytest.fixture
def world(app: Flask, make_user, request: pytest.FixtureRequest) -> World:
    """The contract suite's world, in the session's Redmine, served by the test's app."""
    return redmine_world(make_user, request)


def user(name: str) -> User:
    """A helpdesk user of the world by username."""
    return db.session.query(User).filter_by(username=name).one()


def test_an_edit_in_redmine_is_the_users_and_a_stale_one_is_a_409(
    app: Flask, client, login, world: World, redmine_server
) -> None:
    task = world.create("alice", "P2", "Router reboots")
    url = f"/tasks/api/task/{task.id}"
    login(user("bob"))
    seen = client.get(url, headers=JSON).get_json()["data"]["lock_version"]
    response = client.patch(
        url, json={"subject": "Router reboots hourly", "lock_version": seen}, headers=JSON
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    journal_id = response.get_json()["data"]["journal_id"]
    [(login_name,)] = redmine_server.sql(
        "SELECT u.login FROM journals j JOIN users u ON u.id = j.user_id WHERE j.id = :id",
        id=journal_id,
    )
    assert login_name == user("bob").redmine_username  # Redmine's journal names bob

    stale = client.patch(
        url, json={"subject": "Something else", "lock_version": seen}, headers=JSON
    )
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["task"]["subject"] == "Router reboots hourly"
    assert body["last_change"]["details"][0]["new_value"] == "Router reboots hourly"
    assert client.get(url, headers=JSON).get_json()["data"]["subject"] == "Router reboots hourly"

    page = client.get(f"/tasks/{task.id}", headers=HTML).get_data(as_text=True)
    assert 'id="task-edit-form"' in page
    assert "Subject: Router reboots → <strong>Router reboots hourly</strong>" in page
