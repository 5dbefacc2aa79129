"""Queues (assigned to, reported by, watched by), full-text search with the task-number jump, and
saved filters, through My Tasks (page and JSON) and the task API (local backend)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from task_api_support import World, assert_error, build_world

from conftest import BROWSER, csrf_token_from
from helpdesk.extensions import db
from helpdesk.tasks.models import Journal, Watcher
from helpdesk.tasks.saved_filters import SavedFilter
from helpers import JSON, fresh

API = "/tasks/api"


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


def listed(client, path: str, **params) -> set[int]:
    response = client.get(path, query_string=params, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    return {task["id"] for task in body.get("data", body)["tasks"]}


def test_my_tasks_keeps_mine_by_default_and_takes_every_queue(client, login, world: World):
    login(world.users["alice"])
    t = world.tasks
    visible_open = {t["login"], t["report"], t["bobweb"], t["reset"], t["unassigned"], t["vpn"]}
    mine = {t["login"], t["report"], t["reset"], t["vpn"]}
    assert listed(client, "/tasks/my-tasks") == mine
    assert listed(client, "/tasks/my-tasks", assigned_to="me") == mine
    assert listed(client, "/tasks/my-tasks", assigned_to="any") == visible_open
    assert listed(client, "/tasks/my-tasks", assigned_to="none") == {t["unassigned"]}
    assert listed(client, "/tasks/my-tasks", assigned_to=world.uid("bob")) == {t["bobweb"]}
    reported = {t["report"], t["bobweb"], t["reset"]}  # alice wrote them ("printer" is closed)
    assert listed(client, "/tasks/my-tasks", assigned_to="any", author="me") == reported
    by_bob = listed(client, "/tasks/my-tasks", author=world.uid("bob"))
    assert by_bob == {t["login"], t["vpn"]}  # bob wrote them for alice; "hidden" is not visible
    db.session.add(Watcher(task_id=t["unassigned"], user_id=world.uid("alice")))
    db.session.commit()
    watched = listed(client, "/tasks/my-tasks", assigned_to="any", watcher="me")
    assert watched == {t["unassigned"]}


def test_the_api_shares_the_query_and_defaults_to_any(client, login, world: World):
    login(world.users["alice"])
    for params in ({}, {"author": "me"}, {"assigned_to": "none"}, {"status": "all"}):
        expected = listed(client, "/tasks/my-tasks", **{"assigned_to": "any", **params})
        assert listed(client, f"{API}/tasks", **params) == expected
    for params in ({"assigned_to": "me"}, {"assigned_to": "me", "search": "login"}):
        assert listed(client, f"{API}/tasks", **params) == listed(
            client, "/tasks/my-tasks", **params
        )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"assigned_to": "bob"}, "assigned_to"),
        ({"assigned_to": "0"}, "assigned_to"),
        ({"assigned_to": "-3"}, "assigned_to"),
        ({"author": "any"}, "author"),
        ({"author": "9" * 12}, "author"),
        ({"watcher": "you"}, "watcher"),
        ({"watcher": "1"}, "watcher"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"sort": "relevance,nonsense"}, "sort"),
        ({"search": "x" * 201}, "search"),
    ],
)
@pytest.mark.parametrize("path", ["/tasks/my-tasks", f"{API}/tasks"])
def test_bad_queue_parameters_are_400_naming_the_parameter(
    client, login, world: World, path, params, field
):
    login(world.users["alice"])
    body = assert_error(client.get(path, query_string=params, headers=JSON), 400)
    assert field in body["errors"]


def test_search_reaches_descriptions_and_comments_of_visible_tasks(client, login, world: World):
    login(world.users["alice"])
    t = world.tasks
    db.session.add(Journal(task_id=t["bobweb"], user_id=world.uid("bob"), notes="Cable swapped"))
    db.session.add(Journal(task_id=t["hidden"], user_id=world.uid("bob"), notes="cable too"))
    db.session.commit()
    assert listed(client, f"{API}/tasks", search="cables") == {t["bobweb"]}
    assert listed(client, f"{API}/tasks", search="about vpn") == {t["vpn"]}  # the description
    assert listed(client, "/tasks/my-tasks", search="cable") == set()  # not assigned to alice
    body = client.get(f"{API}/tasks", query_string={"search": "hour"}, headers=JSON).get_json()
    assert body["data"]["filters"]["search"] == "hour"


def test_a_task_number_is_the_single_match_and_the_page_jumps_to_it(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["bobweb"]  # bob's: not in alice's default queue, but visible
    for search in (f"#{task_id}", str(task_id)):
        body = client.get("/tasks/my-tasks", query_string={"search": search}, headers=JSON)
        document = body.get_json()
        assert [row["id"] for row in document["tasks"]] == [task_id]
        assert document["task_number"] == task_id
        page = client.get("/tasks/my-tasks", query_string={"search": search}, headers=BROWSER)
        assert page.status_code == 302
        assert page.headers["Location"].endswith(f"/tasks/{task_id}")
    hidden = world.tasks["hidden"]  # in a project alice is not in: searched as text, finds none
    document = client.get(
        "/tasks/my-tasks", query_string={"search": f"#{hidden}"}, headers=JSON
    ).get_json()
    assert document["tasks"] == []
    assert document["task_number"] is None
    page = client.get("/tasks/my-tasks", query_string={"search": str(hidden)}, headers=BROWSER)
    assert page.status_code == 200


def test_the_page_offers_views_keeps_filters_and_marks_overdue(client, login, world: World):
    login(world.users["alice"])
    page = client.get(
        "/tasks/my-tasks",
        query_string={"assigned_to": "any", "author": "me", "priority": "Urgent", "per_page": 10},
        headers=BROWSER,
    ).get_data(as_text=True)
    assert 'data-view="reported"' in page
    assert 'aria-current="page" href="/tasks/my-tasks?' in page
    assert "Bob web task" in page
    assert "Fix login issue" not in page  # bob reported it
    assert 'name="author" value="me"' in page  # the filter form keeps the view
    assert "priority=Urgent" in page  # so do the view links and the saved-filter form
    overdue = client.get("/tasks/my-tasks", headers=BROWSER).get_data(as_text=True)
    assert overdue.count("task-overdue") == 3  # login, report and vpn: due in 2024, still open


def test_saved_filters_crud_and_ownership(client, login, world: World, make_user):
    login(world.users["alice"])
    created = client.post(
        f"{API}/filters", json={"name": "Reported", "query": "?author=me&assigned_to=any&page=3"}
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    saved = created.get_json()["data"]
    assert saved["query"] == "assigned_to=any&author=me"  # canonical, without the page
    assert client.get(f"{API}/filters").get_json()["data"] == [saved]
    renamed = client.put(
        f"{API}/filters/{saved['id']}", json={"name": "Mine urgent", "query": "priority=Urgent"}
    )
    assert renamed.get_json()["data"]["name"] == "Mine urgent"
    other = make_user("olga", is_redmine_user=True)
    login(other)
    before = rows()
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(
            f"{API}/filters/{saved['id']}", json={"name": "Stolen", "query": ""}
        )
        assert_error(response, 404)
    assert client.get(f"{API}/filters").get_json()["data"] == []
    assert rows() == before
    login(world.users["alice"])
    assert client.delete(f"{API}/filters/{saved['id']}").status_code == 200
    assert rows() == []


def rows() -> list[tuple]:
    fresh()
    found = [
        (s.id, s.user_id, s.name, s.query)
        for s in db.session.scalars(select(SavedFilter).order_by(SavedFilter.id))
    ]
    db.session.rollback()
    return found


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "", "query": ""}, 422, "name"),
        ({"name": "x" * 101, "query": ""}, 422, "name"),
        ({"name": "Bad", "query": "assigned_to=bob"}, 422, "query"),
        ({"name": "Bad", "query": "per_page=5000"}, 422, "query"),
        ({"name": 5, "query": ""}, 422, "name"),
        ({"name": "Taken", "query": ""}, 422, "name"),
    ],
)
def test_bad_saved_filters_are_refused_and_write_nothing(
    client, login, world: World, body, status, field
):
    login(world.users["alice"])
    assert client.post(f"{API}/filters", json={"name": "Taken"}).status_code == 201
    before = rows()
    answer = assert_error(client.post(f"{API}/filters", json=body), status)
    assert field in answer["errors"]
    assert rows() == before
    assert_error(client.post(f"{API}/filters", data="name=x"), 415)
    assert rows() == before


def test_saving_and_deleting_from_the_page(client, login, world: World):
    login(world.users["alice"])
    token = csrf_token_from(client, "/tasks/my-tasks?assigned_to=none")
    saved = client.post(
        "/tasks/filters",
        data={"csrf_token": token, "name": "Unassigned", "query": "assigned_to=none"},
        headers=BROWSER,
    )
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith("/tasks/my-tasks?assigned_to=none")
    [(filter_id, *_rest)] = rows()
    page = client.get("/tasks/my-tasks", headers=BROWSER).get_data(as_text=True)
    assert 'href="/tasks/my-tasks?assigned_to=none">Unassigned</a>' in page
    forged = client.post(f"/tasks/filters/{filter_id}/delete", headers=BROWSER)
    assert forged.status_code == 400  # no CSRF token
    assert len(rows()) == 1
    deleted = client.post(
        f"/tasks/filters/{filter_id}/delete", data={"csrf_token": token}, headers=BROWSER
    )
    assert deleted.status_code == 302
    assert rows() == []


def test_a_bad_queue_in_the_page_is_a_400_page(client, login, world: World):
    login(world.users["alice"])
    response = client.get("/tasks/my-tasks?assigned_to=everyone", headers=BROWSER)
    assert response.status_code == 400
    assert "text/html" in response.content_type
