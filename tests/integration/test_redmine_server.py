"""The tests' Redmine is the real thing: its REST API acts as the user the admin key switches to,
and a stopped server refuses connections until it serves again."""

from __future__ import annotations

import pytest
import requests

from redmine_server import RedmineServer

pytestmark = pytest.mark.redmine


def call(server: RedmineServer, method: str, path: str, **kwargs):
    """One REST call with the admin's key (and any extra headers)."""
    headers = {"X-Redmine-API-Key": server.api_key, **kwargs.pop("headers", {})}
    return requests.request(method, f"{server.url}{path}", headers=headers, timeout=30, **kwargs)


def test_rest_api_acts_as_the_switched_to_user(redmine_server: RedmineServer) -> None:
    """A note written with X-Redmine-Switch-User is the switched-to user's in Redmine's journal,
    and the same row is in Redmine's database."""
    user = call(
        redmine_server,
        "POST",
        "/users.json",
        json={
            "user": {
                "login": "fixture_jane",
                "firstname": "Jane",
                "lastname": "Doe",
                "mail": "fixture_jane@example.com",
                "password": "fixture-password-1",
            }
        },
    )
    assert user.status_code == 201, user.text
    user_id = user.json()["user"]["id"]
    project = call(
        redmine_server,
        "POST",
        "/projects.json",
        json={"project": {"name": "Fixture", "identifier": "fixture-check"}},
    )
    assert project.status_code == 201, project.text
    project_id = project.json()["project"]["id"]
    member = call(
        redmine_server,
        "POST",
        f"/projects/{project_id}/memberships.json",
        json={"membership": {"user_id": user_id, "role_ids": [4]}},  # Developer
    )
    assert member.status_code == 201, member.text
    issue = call(
        redmine_server,
        "POST",
        "/issues.json",
        json={"issue": {"project_id": project_id, "subject": "Printer jams"}},
    )
    assert issue.status_code == 201, issue.text
    issue_id = issue.json()["issue"]["id"]

    noted = call(
        redmine_server,
        "PUT",
        f"/issues/{issue_id}.json",
        json={"issue": {"notes": "Looking at it"}},
        headers={"X-Redmine-Switch-User": "fixture_jane"},
    )

    assert noted.status_code == 204
    journals = call(redmine_server, "GET", f"/issues/{issue_id}.json?include=journals").json()
    assert [(j["user"]["id"], j["notes"]) for j in journals["issue"]["journals"]] == [
        (user_id, "Looking at it")
    ]
    rows = redmine_server.sql(
        "SELECT user_id, notes FROM journals WHERE journalized_id = :issue", issue=issue_id
    )
    assert [tuple(row) for row in rows] == [(user_id, "Looking at it")]


def test_a_stopped_redmine_refuses_until_it_serves_again(redmine_server: RedmineServer) -> None:
    """Outage tests can stop the server and bring it back on the same address."""
    redmine_server.stop()
    try:
        with pytest.raises(requests.ConnectionError):
            call(redmine_server, "GET", "/issue_statuses.json")
    finally:
        redmine_server.serve()
    assert call(redmine_server, "GET", "/issue_statuses.json").status_code == 200
