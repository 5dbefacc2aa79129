"""In a real browser: one user drags a card, another sees it move and hears of it at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import require_service
from helpers import DEMO_PASSWORD, helpdesk_serving

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(demo_site: dict[str, str]) -> Iterator[str]:
    """`helpdesk serve` on demo data, as `make run` starts it."""
    with helpdesk_serving(demo_site) as (url, _process):
        yield url


def playwright_api() -> Any:
    """Playwright's sync API, once Debian's Chromium is known to be there (no browser download)."""
    if not Path(CHROMIUM).exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright."""
    with playwright_api().sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def signed_in_page(
    browser: Any, url: str, username: str, errors: list[str], locale: str = "en-US"
) -> Any:
    """A page of a fresh browser profile, logged in through the login form."""
    context = browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    return sign_in(context.new_page(), url, username, errors)


def sign_in(
    page: Any, url: str, username: str, errors: list[str], password: str = DEMO_PASSWORD
) -> Any:
    """Log a page in through the login form, collecting its console errors."""
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    page.goto(f"{url}/users/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/tasks/my-tasks")
    return page


def column_of(page: Any, task_id: str) -> str:
    """The status column a card sits in on a board page (waiting for it to be on the board)."""
    found = page.wait_for_function(
        """id => {
            const card = document.querySelector(`.kanban-card[data-task-id='${id}']`);
            const column = card && card.closest(".kanban-column");
            return column ? column.dataset.statusName : null;
        }""",
        arg=task_id,
    )
    return found.json_value()


def column_header(page: Any, task_id: str) -> str:
    """The (localized) title of the column a card sits in."""
    column_of(page, task_id)
    return page.eval_on_selector(
        f".kanban-card[data-task-id='{task_id}']",
        "card => card.closest('.kanban-column').querySelector('header span').textContent",
    )


def settled(page: Any) -> None:
    """Wait until the board's column requests are answered."""
    page.wait_for_load_state("networkidle")


def test_a_drag_moves_the_card_for_everyone_and_rings_the_assignees_bell(
    server: str, browser: Any
) -> None:
    errors: list[str] = []
    bob = signed_in_page(browser, server, "bob", errors)
    alice = signed_in_page(browser, server, "alice", errors)
    # Bob's most urgent new task in a project both work in: the first card of that column.
    found = bob.request.get(
        f"{server}/tasks/api/tasks",
        params={
            "assigned_to": "me",
            "status": "New",
            "project": "web-portal",
            "per_page": "1",
            "sort": "-priority,-updated_on",
        },
    ).json()["data"]["tasks"]
    task_id = str(found[0]["id"])
    bob.goto(f"{server}/tasks/kanban")
    bob.select_option("select[name=project]", label="Web Portal")
    settled(bob)
    assert column_of(bob, task_id) == "New"
    assert bob.inner_text("#notification-counter") == "0"

    alice.goto(f"{server}/tasks/kanban")
    alice.select_option("select[name=project]", label="Web Portal")
    alice.select_option("select[name=assigned_to]", label="Bob Petrov")
    settled(alice)
    assert column_of(alice, task_id) == "New"  # bob's task is on alice's board too
    card = alice.wait_for_selector(f'.kanban-card[data-task-id="{task_id}"]')
    target = alice.query_selector('.kanban-cards[data-status-id="2"]')
    start, goal = card.bounding_box(), target.bounding_box()
    alice.mouse.move(start["x"] + 20, start["y"] + 10)
    alice.mouse.down()
    alice.mouse.move(start["x"] + 60, start["y"] + 40, steps=5)
    alice.mouse.move(goal["x"] + 40, goal["y"] + 30, steps=15)
    # released a moment after reaching the column, as a person does: a drop in the same instant
    # can come before SortableJS has placed the card there, and leaves it in its old column
    alice.wait_for_timeout(250)
    alice.mouse.up()

    bob.wait_for_function(
        "id => document.querySelector(`.kanban-card[data-task-id='${id}']`)"
        ".closest('.kanban-column').dataset.statusName === 'In Progress'",
        arg=task_id,
        timeout=10_000,
    )
    bob.wait_for_function(
        "() => document.getElementById('notification-counter').textContent === '1'",
        timeout=10_000,
    )
    assert f"#{task_id}" in bob.inner_text("#toast-area")
    assert column_of(alice, task_id) == "In Progress"

    alice.reload()
    alice.select_option("select[name=project]", label="Web Portal")
    alice.select_option("select[name=assigned_to]", label="Bob Petrov")
    assert column_of(alice, task_id) == "In Progress"  # it was saved, not only moved on screen

    bob.click("#notification-bell > a")
    bob.click(f'#notifications-list a[href="/tasks/{task_id}"]')
    bob.wait_for_url(f"{server}/tasks/{task_id}")
    assert bob.inner_text("#notification-counter") == "0"
    assert errors == []


def test_a_live_move_shows_the_status_in_the_page_language_even_without_the_bell(
    server: str, browser: Any
) -> None:
    errors: list[str] = []
    bob = signed_in_page(browser, server, "bob", errors, locale="ru-RU")
    alice = signed_in_page(browser, server, "alice", errors)
    bob.request.put(
        f"{server}/tasks/api/notification-preferences",
        data={"notifications_widget_enabled": False},
    )
    found = bob.request.get(
        f"{server}/tasks/api/tasks",
        params={
            "assigned_to": "me",
            "status": "New",
            "project": "web-portal",
            "per_page": "1",
            "sort": "-priority,-updated_on",
        },
    ).json()["data"]["tasks"]
    task_id = found[0]["id"]
    task_page = bob.context.new_page()
    task_page.goto(f"{server}/tasks/{task_id}")
    board = bob.context.new_page()
    board.goto(f"{server}/tasks/kanban")
    board.select_option("select[name=project]", label="Web Portal")
    settled(board)
    bob.goto(f"{server}/tasks/my-tasks?status=all")
    row_badge = f'tr[data-task-id="{task_id}"] .task-status'
    assert bob.inner_text(row_badge) == "Новая"
    assert bob.query_selector("#notification-bell") is None
    assert task_page.inner_text(".task-status >> nth=0") == "Новая"
    assert column_header(board, str(task_id)) == "Новая"

    moved = alice.request.put(f"{server}/tasks/api/task/{task_id}/status", data={"status_id": 2})
    assert moved.ok, moved.text()

    for page, badge in ((bob, row_badge), (task_page, ".task-status")):
        page.wait_for_function(
            """selector => [...document.querySelectorAll(selector)].every(
                b => b.textContent === "В работе" && b.classList.contains("text-bg-warning"))""",
            arg=badge,
            timeout=10_000,
        )
    board.wait_for_function(
        "id => document.querySelector(`.kanban-card[data-task-id='${id}']`)"
        ".closest('.kanban-column').dataset.statusId === '2'",
        arg=task_id,
        timeout=10_000,
    )
    assert column_header(board, str(task_id)) == "В работе"
    assert errors == []


def test_a_board_moves_a_card_of_a_task_that_is_not_its_users(server: str, browser: Any) -> None:
    """The admin's board shows web-portal: a move of a task they neither wrote, hold nor watch
    reaches it through the project's room, which the page joined on connecting."""
    errors: list[str] = []
    admin = signed_in_page(browser, server, "admin", errors)
    alice = signed_in_page(browser, server, "alice", errors)
    listed = admin.request.get(
        f"{server}/tasks/api/tasks",
        params={  # the first page of the board's New column
            "status": "New",
            "project": "web-portal",
            "per_page": "10",
            "sort": "-priority,-updated_on",
        },
    ).json()["data"]["tasks"]
    account = admin.request.get(f"{server}/users/account", headers={"Accept": "application/json"})
    admin_id = account.json()["data"]["id"]
    details = (
        admin.request.get(f"{server}/tasks/api/task/{row['id']}").json()["data"] for row in listed
    )
    task = next(
        t
        for t in details
        if admin_id not in {t["author_id"], t["assigned_to_id"], *t["watcher_ids"]}
    )
    task_id = str(task["id"])
    admin.goto(f"{server}/tasks/kanban")
    admin.select_option("select[name=project]", label="Web Portal")
    admin.select_option("select[name=assigned_to]", value="any")
    settled(admin)
    assert column_of(admin, task_id) == "New"

    moved = alice.request.put(f"{server}/tasks/api/task/{task_id}/status", data={"status_id": 2})
    assert moved.ok, moved.text()
    admin.wait_for_function(
        "id => document.querySelector(`.kanban-card[data-task-id='${id}']`)"
        ".closest('.kanban-column').dataset.statusId === '2'",
        arg=task_id,
        timeout=10_000,
    )
    assert admin.inner_text("#notification-counter") == "0"  # moved, not told
    assert errors == []


def test_the_board_keeps_its_filters_in_the_address_and_flags_overdue_cards(
    server: str, browser: Any
) -> None:
    errors: list[str] = []
    bob = signed_in_page(browser, server, "bob", errors)
    project = bob.request.get(f"{server}/tasks/api/projects").json()["data"][0]
    created = bob.request.post(
        f"{server}/tasks/api/task",
        data={
            "project_id": project["id"],
            "subject": "Renew the certificate",
            "assigned_to_id": int(
                bob.request.get(
                    f"{server}/users/account", headers={"Accept": "application/json"}
                ).json()["data"]["id"]
            ),
            "start_date": "2020-01-01",
            "due_date": "2020-01-02",
        },
    )
    assert created.ok, created.text()
    task_id = str(created.json()["data"]["task_id"])
    bob.goto(f"{server}/tasks/kanban?project={project['id']}&assigned_to=me")
    assert bob.input_value("select[name=project]") == str(project["id"])  # read from the address
    settled(bob)
    card = f".kanban-card[data-task-id='{task_id}']"
    bob.wait_for_selector(card)
    assert bob.query_selector(f"{card} .kanban-overdue") is not None
    assert "Overdue" in bob.inner_text(card)
    bob.select_option("select[name=assigned_to]", value="any")
    assert "assigned_to=any" in bob.url  # the change is kept in the address
    bob.reload()
    assert bob.input_value("select[name=assigned_to]") == "any"
    closed = bob.inner_text(".kanban-column[data-closed='true'] header")
    assert "14 days" in closed
    assert errors == []
