"""The task pages: My Tasks, one task (comment and status forms), the new-task form, the board."""

from __future__ import annotations

import json
import re
from datetime import datetime
from html import unescape

import pytest
from task_api_support import (
    CLOSED,
    FEEDBACK,
    IN_PROGRESS,
    NEW,
    NORMAL,
    RESOLVED,
    World,
    build_world,
    counts,
    journals_of,
    snapshot,
    task_row,
)

from conftest import csrf_token_from
from helpdesk.extensions import db
from helpdesk.tasks.models import Task
from helpers import FORM, HTML, JSON


@pytest.fixture
def world(make_user) -> World:
    """Projects, members, a workflow and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


def page(client, path: str, expect: int = 200, **params) -> str:
    """GET a page as a browser and return its text."""
    response = client.get(path, headers=HTML, query_string=params)
    assert response.status_code == expect, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def options(html: str, select_name: str) -> list[tuple[str, str, bool]]:
    """(value, text, selected) of each option of the named select."""
    match = re.search(rf'<select[^>]*name="{select_name}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {select_name}"
    return [
        (value, unescape(re.sub(r"<[^>]+>", "", text)).strip(), bool(selected.strip()))
        for value, selected, text in re.findall(
            r'<option value="([^"]*)"\s*([^>]*)>(.*?)</option>', match.group(1), re.S
        )
    ]


def flashes(html: str) -> list[str]:
    """The texts of the flash messages on a page."""
    return [
        " ".join(unescape(re.sub(r"<[^>]+>", " ", m)).split())
        for m in re.findall(
            r'<div class="alert alert-[a-z]+[^"]*" role="alert">(.*?)</div>', html, re.S
        )
    ]


def add_task(world: World, subject: str, assignee: str = "alice", project: str = "web") -> int:
    task = Task(
        project_id=world.projects[project],
        tracker_id=1,
        status_id=NEW,
        priority_id=NORMAL,
        author_id=world.uid("bob"),
        assigned_to_id=world.uid(assignee),
        subject=subject,
        description=subject,
        created_on=datetime(2024, 2, 1),
        updated_on=datetime(2024, 2, 1),
    )
    db.session.add(task)
    db.session.commit()
    return task.id


# =============================================================================================
# My Tasks
# =============================================================================================


def test_my_tasks_page_lists_own_open_tasks_with_a_filter_bar(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/my-tasks")
    for subject in ("Fix login issue", "Export 50% report", "Reset_password flow", "VPN drops"):
        assert subject in html
    for absent in ("Closed printer ticket", "Bob web task", "Hidden infra task", "Unassigned web"):
        assert absent not in html
    assert 'id="task-filters"' in html
    assert [o[0] for o in options(html, "status")][:3] == ["", "closed", "all"]
    assert {o[1] for o in options(html, "status")} >= {"New", "In Progress", "Closed"}
    labels = [o[1] for o in options(html, "status")]
    assert len(labels) == len(set(labels)), labels  # the closed group is not a second "Closed"
    priorities = [o[1] for o in options(html, "priority")]
    assert priorities == ["Any", "Immediate", "Urgent", "High", "Normal", "Low"]
    assert [o[1] for o in options(html, "project")] == ["Any", "Service Desk", "Web Portal"]
    assert 'name="search"' in html
    assert re.search(r'id="task-total">\s*4\s*<', html)
    assert f'href="/tasks/{world.tasks["login"]}"' in html


def test_my_tasks_page_shows_the_chosen_filters(client, login, world: World):
    login(world.users["alice"])
    html = page(
        client,
        "/tasks/my-tasks",
        status="closed",
        priority="Normal",
        project=str(world.projects["desk"]),
        search="printer",
    )
    assert ("closed", "All closed", True) in options(html, "status")
    assert [o for o in options(html, "priority") if o[2]] == [("Normal", "Normal", True)]
    assert [o[1] for o in options(html, "project") if o[2]] == ["Service Desk"]
    assert re.search(r'name="search" value="printer"', html)
    assert "Closed printer ticket" in html
    assert "Fix login issue" not in html


def test_my_tasks_page_escapes_task_subjects_and_the_search_box(client, login, world: World):
    add_task(world, "<script>alert('pwned')</script> evil")
    login(world.users["alice"])
    html = page(client, "/tasks/my-tasks")
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(" in html
    html = page(client, "/tasks/my-tasks", search='"><script>alert(1)</script>')
    assert "<script>alert(1)" not in html
    assert "&#34;&gt;&lt;script&gt;" in html or "&quot;&gt;&lt;script&gt;" in html


def test_my_tasks_page_paginates(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/my-tasks", per_page=3)
    assert 'class="pagination' in html
    assert re.search(r'href="/tasks/my-tasks\?[^"]*page=2[^"]*"', html)
    assert html.count('<tr data-task-id="') == 3
    second = page(client, "/tasks/my-tasks", per_page=3, page=2)
    assert second.count('<tr data-task-id="') == 1


def test_my_tasks_page_sort_links_toggle_direction(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/my-tasks", sort="due_date")
    assert "sort=-due_date" in html
    rows = re.findall(r'<tr data-task-id="(\d+)"', html)
    assert rows[0] == str(world.tasks["vpn"])  # earliest due date first


@pytest.mark.parametrize(
    "params", [{"per_page": "abc"}, {"per_page": 0}, {"page": -1}, {"sort": "password"}]
)
def test_my_tasks_page_with_bad_parameters_is_a_400_page(client, login, world, params):
    login(world.users["alice"])
    response = client.get("/tasks/my-tasks", headers=HTML, query_string=params)
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_my_tasks_page_needs_login_and_task_access(client, login, world: World):
    response = client.get("/tasks/my-tasks", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login?next=")
    login(world.users["carol"])
    assert client.get("/tasks/my-tasks", headers=HTML).status_code == 403


# =============================================================================================
# The task page
# =============================================================================================


def test_task_page_shows_details_and_history(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    assert (
        client.put(
            f"/tasks/api/task/{task_id}/status",
            json={"status_id": RESOLVED, "comment": "Fixed <b>now</b>"},
        ).status_code
        == 200
    )
    html = page(client, f"/tasks/{task_id}")
    assert "Fix login issue" in html
    assert "About: Fix login issue" in html
    assert "Web Portal" in html
    assert "Alice Smith" in html
    assert "History" in html
    history = re.search(r'<ol class="list-unstyled" id="journal-list">(.*?)</ol>', html, re.S)
    assert history
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", history.group(1))).split())
    assert "Status: In Progress → Resolved" in text
    assert "Fixed <b>now</b>" in text  # shown as text ...
    assert "Fixed <b>now</b>" not in history.group(1)  # ... never as markup


def test_task_page_offers_every_other_status_to_a_developer(client, login, world: World):
    login(world.users["alice"])
    html = page(client, f"/tasks/{world.tasks['login']}")
    offered = options(html, "status_id")  # the current status first, chosen: never a step back
    assert offered[0] == (str(IN_PROGRESS), "In Progress (current)", True)
    assert [int(o[0]) for o in offered[1:]] == [NEW, RESOLVED, FEEDBACK, CLOSED, 6]


def test_task_page_offers_only_the_statuses_the_workflow_allows(client, login, world: World):
    login(world.users["rita"])
    html = page(client, f"/tasks/{world.tasks['unassigned']}")
    assert options(html, "status_id") == [
        (str(NEW), "New (current)", True),
        (str(IN_PROGRESS), "In Progress", False),
    ]


def test_task_page_without_allowed_statuses_has_no_status_select(app, client, login, world):
    """The Reporter workflow has no transition out of Feedback."""
    task_id = world.tasks["bobweb"]
    db.session.get(Task, task_id).status_id = FEEDBACK
    db.session.commit()
    login(world.users["rita"])
    html = page(client, f"/tasks/{task_id}")
    assert 'name="status_id"' not in html
    assert "You may not change the status of this task." in html


def test_task_page_of_invisible_or_unknown_task_is_404(client, login, world: World):
    login(world.users["alice"])
    html = page(client, f"/tasks/{world.tasks['hidden']}", expect=404)
    assert "Hidden infra task" not in html
    page(client, "/tasks/999999", expect=404)


def test_task_page_needs_login_and_task_access(client, login, world: World):
    response = client.get(f"/tasks/{world.tasks['login']}", headers=HTML)
    assert response.status_code == 302
    assert "/users/login" in response.headers["Location"]
    login(world.users["carol"])
    assert client.get(f"/tasks/{world.tasks['login']}", headers=HTML).status_code == 403


def test_task_page_escapes_the_subject(client, login, world: World):
    task_id = add_task(world, "<img src=x onerror=alert(1)>")
    login(world.users["alice"])
    html = page(client, f"/tasks/{task_id}")
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# -- comment form ----------------------------------------------------------------------------


def post_form(client, path: str, data: dict, token_from: str | None = None):
    """POST a form as a browser, with the CSRF token of the page it came from."""
    if token_from:
        data = {**data, "csrf_token": csrf_token_from(client, token_from)}
    return client.post(path, data=data, headers=FORM)


def test_comment_form_adds_a_comment_and_redirects(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    url = f"/tasks/{task_id}"
    response = post_form(client, f"{url}/comment", {"notes": "From the page"}, token_from=url)
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert [(j["notes"], j["details"]) for j in journals_of(task_id)] == [("From the page", [])]
    html = page(client, url)
    assert "Comment added" in flashes(html)
    assert "From the page" in html


def test_comment_form_without_csrf_token_is_400_and_adds_nothing(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    response = post_form(client, f"/tasks/{world.tasks['login']}/comment", {"notes": "x"})
    assert response.status_code == 400
    bad = post_form(
        client, f"/tasks/{world.tasks['login']}/comment", {"notes": "x", "csrf_token": "forged"}
    )
    assert bad.status_code == 400
    assert snapshot() == before


def test_empty_comment_flashes_and_adds_nothing(client, login, world: World):
    login(world.users["alice"])
    url = f"/tasks/{world.tasks['login']}"
    before = snapshot()
    response = post_form(client, f"{url}/comment", {"notes": "   "}, token_from=url)
    assert response.status_code == 302
    assert "This field is required." in flashes(page(client, url))
    assert snapshot() == before


def test_comment_on_an_invisible_task_from_a_form_adds_nothing(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    response = post_form(
        client,
        f"/tasks/{world.tasks['hidden']}/comment",
        {"notes": "peek"},
        token_from=f"/tasks/{world.tasks['login']}",
    )
    assert response.status_code == 302
    assert snapshot() == before
    assert len(flashes(page(client, f"/tasks/{world.tasks['login']}"))) == 1


# -- status form -----------------------------------------------------------------------------


def test_status_form_changes_the_status_and_redirects(client, login, world: World):
    login(world.users["alice"])
    task_id = world.tasks["login"]
    url = f"/tasks/{task_id}"
    response = post_form(
        client, f"{url}/status", {"status_id": str(RESOLVED), "comment": "done"}, token_from=url
    )
    assert response.status_code == 302
    assert response.headers["Location"] == url
    assert task_row(task_id)["status_id"] == RESOLVED
    journals = journals_of(task_id)
    assert [(j["notes"], j["details"]) for j in journals] == [
        ("done", [("status_id", str(IN_PROGRESS), str(RESOLVED))])
    ]
    html = page(client, url)
    assert "Task status updated" in flashes(html)
    assert [int(o[0]) for o in options(html, "status_id")] == [
        RESOLVED,  # where it stands now, chosen
        NEW,
        IN_PROGRESS,
        FEEDBACK,
        CLOSED,
        6,
    ]


def test_refused_status_change_flashes_the_reason_and_changes_nothing(client, login, world):
    login(world.users["rita"])
    url = f"/tasks/{world.tasks['unassigned']}"
    before = snapshot()
    response = post_form(client, f"{url}/status", {"status_id": str(CLOSED)}, token_from=url)
    assert response.status_code == 302
    assert snapshot() == before
    messages = flashes(page(client, url))
    assert len(messages) == 1
    assert "You may not move this task from New to Closed" in messages[0]
    assert "Allowed: In Progress" in messages[0]


@pytest.mark.parametrize("value", ["", "abc", "-1", "99"])
def test_bad_status_from_the_form_flashes_and_changes_nothing(client, login, world, value):
    login(world.users["alice"])
    url = f"/tasks/{world.tasks['login']}"
    before = snapshot()
    response = post_form(client, f"{url}/status", {"status_id": value}, token_from=url)
    assert response.status_code == 302
    assert snapshot() == before
    assert len(flashes(page(client, url))) == 1


def test_status_form_without_csrf_token_is_400(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    response = post_form(client, f"/tasks/{world.tasks['login']}/status", {"status_id": "3"})
    assert response.status_code == 400
    assert snapshot() == before


def test_cross_site_status_post_is_refused(client, login, world: World):
    login(world.users["alice"])
    url = f"/tasks/{world.tasks['login']}"
    token = csrf_token_from(client, url)
    before = snapshot()
    response = client.post(
        f"{url}/status",
        data={"status_id": "3", "csrf_token": token},
        headers={"Sec-Fetch-Site": "cross-site", "Accept": "text/html"},
    )
    assert response.status_code == 403
    assert snapshot() == before


# =============================================================================================
# New task form
# =============================================================================================


def test_new_task_form_offers_the_users_projects_and_lookups(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/new")
    assert 'name="csrf_token"' in html
    assert [o[1] for o in options(html, "project_id")] == ["Service Desk", "Web Portal"]
    assert [o[1] for o in options(html, "priority_id") if o[2]] == ["Normal"]
    assert [o[1] for o in options(html, "tracker_id")] == ["Bug", "Feature", "Support"]
    assert [o[1] for o in options(html, "status_id")] == [
        "New",
        "In Progress",
        "Resolved",
        "Feedback",
    ]
    # the assignee among the chosen project's members (the first: Service Desk, alice alone);
    # the page carries each project's members for the choice of another project
    assert {o[1] for o in options(html, "assigned_to_id")} == {"—", "Alice Smith"}
    members = re.search(r"data-members='([^']*)'", html)
    assert members
    by_project = json.loads(unescape(members.group(1)))
    assert [name for _id, name in by_project[str(world.projects["web"])]] == [
        "Alice Smith",
        "Bob Jones",  # not rita: a reporter takes no tasks
    ]


def new_task_form(world: World, **fields) -> dict:
    return {
        "project_id": str(world.projects["web"]),
        "tracker_id": "2",
        "priority_id": "3",
        "subject": "Made in the form",
        "description": "Some words",
        "assigned_to_id": str(world.uid("bob")),
        "status_id": str(NEW),
        "start_date": "2024-05-01",
        "due_date": "2024-05-10",
        "estimated_hours": "2.5",
        **fields,
    }


def test_new_task_form_creates_and_redirects_to_the_task(client, login, world: World):
    login(world.users["alice"])
    before = counts()
    response = post_form(client, "/tasks/new", new_task_form(world), token_from="/tasks/new")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    match = re.fullmatch(r"/tasks/(\d+)", response.headers["Location"])
    assert match
    row = task_row(int(match.group(1)))
    assert row["subject"] == "Made in the form"
    assert row["author_id"] == world.uid("alice")
    assert row["assigned_to_id"] == world.uid("bob")
    assert (row["tracker_id"], row["priority_id"], row["status_id"]) == (2, 3, NEW)
    assert str(row["due_date"]) == "2024-05-10"
    assert row["estimated_hours"] == 2.5
    assert counts()["tasks"] == before["tasks"] + 1
    html = page(client, response.headers["Location"])
    assert "Task created successfully" in flashes(html)


def test_new_task_form_offers_and_keeps_the_projects_custom_fields(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/new")
    field = re.search(r'<input[^>]*id="cf_(\d+)"[^>]*maxlength="(\d+)"', html)
    assert field, "no custom field box"
    field_id, max_length = field.groups()
    assert max_length == "20"
    too_long = new_task_form(world, **{f"cf_{field_id}": "x" * 21})
    response = post_form(client, "/tasks/new", too_long, token_from="/tasks/new")
    assert response.status_code == 422
    assert "Customer is longer than 20 characters." in unescape(response.get_data(as_text=True))
    form = new_task_form(world, **{f"cf_{field_id}": "ACME"})
    response = post_form(client, "/tasks/new", form, token_from="/tasks/new")
    assert response.status_code == 302
    task_id = int(response.headers["Location"].rsplit("/", 1)[1])
    values = client.get(f"/tasks/api/task/{task_id}").get_json()["data"]["custom_fields"]
    assert values == [{"id": int(field_id), "name": "Customer", "value": "ACME"}]


def test_new_task_form_with_empty_optional_boxes(client, login, world: World):
    login(world.users["alice"])
    form = new_task_form(
        world, assigned_to_id="", start_date="", due_date="", estimated_hours="", description=""
    )
    response = post_form(client, "/tasks/new", form, token_from="/tasks/new")
    assert response.status_code == 302
    row = task_row(int(response.headers["Location"].rsplit("/", 1)[1]))
    assert row["assigned_to_id"] is None
    assert row["due_date"] is None
    assert row["estimated_hours"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subject": ""}, None),
        ({"subject": "   "}, None),
        ({"subject": "x" * 256}, None),
        ({"start_date": "2024-05-10", "due_date": "2024-05-01"}, "due date is before the start"),
        ({"due_date": "not-a-date"}, None),
        ({"estimated_hours": "-3"}, None),
        ({"estimated_hours": "lots"}, None),
        ({"project_id": "INFRA"}, "Unknown project, or you are not a member of it."),
        ({"project_id": "999999"}, "Unknown project, or you are not a member of it."),
        ({"assigned_to_id": "RITA"}, "The assignee must be a member of the project."),
        ({"priority_id": "99"}, "Unknown priority."),
    ],
)
def test_new_task_form_errors_rerender_with_422_and_create_nothing(
    client, login, world, fields, message
):
    login(world.users["alice"])
    names = {"INFRA": str(world.projects["infra"]), "RITA": str(world.uid("rita"))}
    fields = {key: names.get(value, value) for key, value in fields.items()}
    form = new_task_form(world, description="Keep what I typed", **fields)
    before = snapshot()
    response = post_form(client, "/tasks/new", form, token_from="/tasks/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="invalid-feedback d-block"' in html
    if message:
        assert message in unescape(html)
    assert "Keep what I typed" in html
    assert snapshot() == before


def test_new_task_form_without_csrf_token_is_400(client, login, world: World):
    login(world.users["alice"])
    before = snapshot()
    response = post_form(client, "/tasks/new", new_task_form(world))
    assert response.status_code == 400
    assert snapshot() == before


def test_new_task_page_needs_task_access(client, login, world: World):
    login(world.users["carol"])
    assert client.get("/tasks/new", headers=HTML).status_code == 403


# =============================================================================================
# Kanban board
# =============================================================================================


def test_kanban_has_a_column_per_status_with_data_attributes(client, login, world: World):
    login(world.users["alice"])
    html = page(client, "/tasks/kanban")
    columns = re.findall(
        r'<section class="kanban-column[^"]*" data-status-id="(\d+)" data-status-name="([^"]+)"',
        html,
    )
    assert columns == [
        ("1", "New"),
        ("2", "In Progress"),
        ("3", "Resolved"),
        ("4", "Feedback"),
        ("5", "Closed"),
        ("6", "Rejected"),
    ]
    assert len(re.findall(r'<div class="kanban-cards[^"]*" data-status-id="\d+"', html)) == 6
    board = re.search(r'<div id="kanban-board"([^>]*)>', html, re.S)
    assert board
    attributes = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', board.group(1)))
    assert attributes["data-api"] == "/tasks/api/tasks"
    assert attributes["data-status-url"] == "/tasks/api/task/0/status"
    assert attributes["data-task-url"] == "/tasks/0"
    assert attributes["data-column-size"] == "30"
    assert [o[1] for o in options(html, "project")] == [
        "All projects",
        "Service Desk",
        "Web Portal",
    ]
    assignees = [o[0] for o in options(html, "assigned_to")]
    assert assignees[:2] == ["me", "any"]
    assert assignees[2:], "fellow project members can be picked"
    assert all(value.isdigit() for value in assignees[2:])
    assert "vendor/sortablejs/Sortable.min.js" in html


def test_kanban_needs_task_access(client, login, world: World):
    assert client.get("/tasks/kanban", headers=HTML).status_code == 302
    login(world.users["carol"])
    assert client.get("/tasks/kanban", headers=HTML).status_code == 403


def test_kanban_data_source_answers_json_for_the_board(client, login, world: World):
    """The board loads its cards from data-api with a status per column."""
    login(world.users["alice"])
    response = client.get(
        "/tasks/api/tasks",
        query_string={"status": "In Progress", "assigned_to": "me", "per_page": 30},
        headers=JSON,
    )
    assert response.status_code == 200
    tasks = response.get_json()["data"]["tasks"]
    assert {t["subject"] for t in tasks} == {"Fix login issue", "VPN drops every hour"}
    assert all({"priority", "assigned_to", "due_date", "status_id"} <= set(t) for t in tasks)


@pytest.mark.parametrize(
    ("language", "shown"), [("ru", "15.01.2024, 13:00"), ("en", "1/15/24, 1:00\u202fPM")]
)
def test_my_tasks_and_the_task_page_show_one_time_in_the_office_zone(
    client, login, world: World, language, shown
):
    """Updated 10:00 UTC is 13:00 in Moscow (DISPLAY_TIMEZONE) on both pages, never raw UTC."""
    login(world.users["alice"])
    headers = {**HTML, "Accept-Language": language}
    listing = client.get("/tasks/my-tasks", headers=headers).get_data(as_text=True)
    row = re.search(rf'<tr data-task-id="{world.tasks["login"]}">.*?</tr>', listing, re.S)
    assert row
    assert shown in unescape(row.group(0))
    assert "2024-01-15 10:00" not in listing
    task = client.get(f"/tasks/{world.tasks['login']}", headers=headers).get_data(as_text=True)
    assert f"{shown}</time>\n" in unescape(task)  # "updated <time>"


def test_a_users_own_time_zone_decides_the_times_they_read(client, login, world: World):
    alice = db.session.get(type(world.users["alice"]), world.uid("alice"))
    alice.timezone = "Asia/Vladivostok"  # UTC+10: updated 10:00 UTC is 20:00
    db.session.commit()
    login(world.users["alice"])
    headers = {**HTML, "Accept-Language": "ru"}
    task = client.get(f"/tasks/{world.tasks['login']}", headers=headers).get_data(as_text=True)
    assert "15.01.2024, 20:00</time>\n" in unescape(task)
