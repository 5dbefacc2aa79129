"""Administrators keep projects, members, roles and the workflow of the local backend, and what
they change counts at once: a new member sees the project's tasks, a removed one no longer does,
and a role's workflow decides which status moves its members may make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from task_api_support import IN_PROGRESS, NEW, REPORTER, RESOLVED, World, build_world

from conftest import BROWSER, PASSWORD, csrf_token_from
from helpdesk.core.errors import APIException
from helpdesk.extensions import db
from helpdesk.tasks.models import Member, Project, WorkflowTransition
from helpdesk.tasks.structure import require_local_backend
from helpdesk.users.models import User
from helpers import JSON, count_rows, json_sign_in


@pytest.fixture
def world(make_user: Callable[..., User]) -> World:
    """Users, projects, memberships, a Reporter workflow and tasks."""
    built = build_world(make_user)
    db.session.commit()
    return built


def signed_in(app: Flask, name: str) -> FlaskClient:
    """A script signed in as a world user."""
    client = app.test_client()
    assert json_sign_in(client, name, PASSWORD).status_code == 200
    return client


def test_a_project_is_added_and_renamed(app: Flask, world: World) -> None:
    admin = signed_in(app, "admin")
    added = admin.post(
        "/admin/projects",
        json={"identifier": "hr", "name": "Human Resources", "description": "People"},
        headers=JSON,
    )
    assert added.status_code == 200, added.get_json()
    project_id = added.get_json()["data"]["id"]
    renamed = admin.post(
        f"/admin/projects/{project_id}", json={"name": "HR", "description": ""}, headers=JSON
    )
    assert renamed.get_json()["data"]["name"] == "HR"
    assert renamed.get_json()["data"]["identifier"] == "hr"
    page = admin.get("/admin/projects", headers=BROWSER).get_data(as_text=True)
    assert "HR" in page


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"identifier": "web-portal", "name": "Again"}, 409),
        ({"identifier": "Has Spaces", "name": "X"}, 422),
        ({"identifier": "9starts-with-digit", "name": "X"}, 422),
        ({"identifier": "ok", "name": ""}, 422),
        ({"identifier": "ok", "name": ["list"]}, 422),
        ({"identifier": "x" * 101, "name": "X"}, 422),
    ],
)
def test_bad_projects_are_refused_and_nothing_is_written(
    app: Flask, world: World, body: dict[str, Any], status: int
) -> None:
    before = count_rows(Project)
    answer = signed_in(app, "admin").post("/admin/projects", json=body, headers=JSON)
    assert answer.status_code == status
    assert answer.get_json()["message"]
    assert count_rows(Project) == before


def test_only_admins_change_projects_roles_and_workflows(app: Flask, world: World) -> None:
    alice = signed_in(app, "alice")
    web = world.projects["web"]
    attempts = [
        ("/admin/projects", {"identifier": "x", "name": "X"}),
        (f"/admin/projects/{web}", {"name": "Taken over"}),
        (f"/admin/projects/{web}/members", {"username": "dave", "role_id": 1}),
        (f"/admin/projects/{web}/members/{world.uid('bob')}/delete", {}),
        ("/admin/roles", {"name": "Boss"}),
        (f"/admin/roles/{REPORTER}/workflow", {"transitions": []}),
    ]
    for path, body in attempts:
        assert alice.post(path, json=body, headers=JSON).status_code == 403, path
    assert count_rows(Member) == 5
    assert count_rows(WorkflowTransition) == 2


def test_a_new_member_sees_the_projects_tasks_and_a_removed_one_does_not(
    app: Flask, world: World
) -> None:
    admin, dave = signed_in(app, "admin"), signed_in(app, "dave")
    task = f"/tasks/api/task/{world.tasks['bobweb']}"
    web = world.projects["web"]
    assert dave.get(task, headers=JSON).status_code == 404
    added = admin.post(
        f"/admin/projects/{web}/members", json={"username": "Dave", "role_id": 1}, headers=JSON
    )
    assert added.status_code == 200, added.get_json()
    assert dave.get(task, headers=JSON).status_code == 200
    again = admin.post(
        f"/admin/projects/{web}/members", json={"username": "dave", "role_id": 1}, headers=JSON
    )
    assert again.status_code == 409
    removed = admin.post(f"/admin/projects/{web}/members/{world.uid('dave')}/delete", headers=JSON)
    assert removed.status_code == 200
    assert dave.get(task, headers=JSON).status_code == 404


def test_membership_input_is_checked(app: Flask, world: World) -> None:
    admin = signed_in(app, "admin")
    web = world.projects["web"]
    members = f"/admin/projects/{web}/members"

    def status_of(path: str, body: dict[str, Any]) -> int:
        return admin.post(path, json=body, headers=JSON).status_code

    assert status_of(members, {"username": "ghost", "role_id": 1}) == 422
    assert status_of(members, {"username": "dave", "role_id": 999}) == 422
    assert status_of(members, {"username": "dave", "role_id": "x"}) == 422
    assert status_of("/admin/projects/999999/members", {"username": "dave", "role_id": 1}) == 404
    not_member = f"/admin/projects/{web}/members/{world.uid('dave')}"
    assert admin.post(not_member, json={"role_id": 1}, headers=JSON).status_code == 404
    assert count_rows(Member) == 5


def test_a_roles_workflow_decides_which_moves_its_members_make(app: Flask, world: World) -> None:
    admin, rita = signed_in(app, "admin"), signed_in(app, "rita")
    task = world.tasks["bobweb"]  # New, in web, where rita is a Reporter
    status = f"/tasks/api/task/{task}/status"
    assert rita.put(status, json={"status_id": RESOLVED}, headers=JSON).status_code == 422
    saved = admin.post(
        f"/admin/roles/{REPORTER}/workflow",
        json={"transitions": [[NEW, RESOLVED], [RESOLVED, NEW]]},
        headers=JSON,
    )
    assert saved.status_code == 200, saved.get_json()
    assert rita.put(status, json={"status_id": IN_PROGRESS}, headers=JSON).status_code == 422
    assert rita.put(status, json={"status_id": RESOLVED}, headers=JSON).status_code == 200
    assert (
        admin.post(
            f"/admin/roles/{REPORTER}/workflow", json={"transitions": []}, headers=JSON
        ).status_code
        == 200
    )
    assert rita.put(status, json={"status_id": IN_PROGRESS}, headers=JSON).status_code == 200


@pytest.mark.parametrize(
    "transitions",
    [None, "1-2", [[1]], [[1, 1]], [[1, 999]], [[True, 2]], [["1", "x"]], [{"a": 1}], [[1, 2**40]]],
)
def test_bad_workflows_are_refused_and_the_old_one_stays(
    app: Flask, world: World, transitions: Any
) -> None:
    answer = signed_in(app, "admin").post(
        f"/admin/roles/{REPORTER}/workflow", json={"transitions": transitions}, headers=JSON
    )
    assert answer.status_code == 422
    assert count_rows(WorkflowTransition) == 2


def test_the_workflow_page_saves_its_ticks(app: Flask, world: World) -> None:
    admin = signed_in(app, "admin")
    page = f"/admin/roles/{REPORTER}/workflow"
    html = admin.get(page, headers=BROWSER).get_data(as_text=True)
    assert f'value="{NEW}-{IN_PROGRESS}" aria-label' in html
    token = csrf_token_from(admin, page)
    saved = admin.post(
        page,
        data={"csrf_token": token, "move": [f"{NEW}-{RESOLVED}"]},
        headers=BROWSER,
    )
    assert saved.status_code == 303
    assert count_rows(WorkflowTransition) == 1
    stale = admin.post(page, data={"move": [f"{NEW}-{IN_PROGRESS}"]}, headers=BROWSER)
    assert stale.status_code == 400
    assert count_rows(WorkflowTransition) == 1


def test_a_role_is_added_once(app: Flask, world: World) -> None:
    admin = signed_in(app, "admin")
    added = admin.post("/admin/roles", json={"name": "Support agent"}, headers=JSON)
    assert added.status_code == 200
    assert (
        admin.post("/admin/roles", json={"name": "support AGENT"}, headers=JSON).status_code == 409
    )
    assert admin.post("/admin/roles", json={"name": ""}, headers=JSON).status_code == 422
    assert "Support agent" in admin.get("/admin/roles", headers=BROWSER).get_data(as_text=True)


def test_with_redmine_the_structure_is_redmines() -> None:
    with pytest.raises(APIException) as refused:
        require_local_backend("redmine")
    assert refused.value.status_code == 409
    require_local_backend("local")
