"""In a real browser: the My Tasks views, filters that live in the address (back and forward keep
them), saved filters, and a search that finds a comment or jumps to a task by its number."""

from __future__ import annotations

import re
from typing import Any

import pytest
import test_live_board
from test_live_board import signed_in_page

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

server = test_live_board.server  # `helpdesk serve` on demo data
browser = test_live_board.browser


def shown_ids(page: Any) -> set[int]:
    """The task numbers the list shows."""
    rows = page.query_selector_all("#task-table tbody tr[data-task-id]")
    return {int(row.get_attribute("data-task-id")) for row in rows}


def test_views_filters_in_the_address_saved_filters_and_search(server: str, browser: Any):
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    api = f"{server}/tasks/api/tasks"
    reported = alice.request.get(api, params={"author": "me", "per_page": "100"}).json()["data"]
    assert reported["pagination"]["total"] > 0

    alice.goto(f"{server}/tasks/my-tasks")
    with alice.expect_navigation():
        alice.click("#task-views a[data-view=reported]")
    assert re.search(r"assigned_to=any", alice.url)
    assert "author=me" in alice.url
    first_page = {row["id"] for row in reported["tasks"][:25]}
    assert shown_ids(alice) <= {row["id"] for row in reported["tasks"]}
    assert shown_ids(alice) & first_page

    with alice.expect_navigation():
        alice.select_option("#f-per-page", "10")
    assert "per_page=10" in alice.url
    assert "author=me" in alice.url
    assert len(shown_ids(alice)) <= 10
    if reported["pagination"]["total"] > 10:
        with alice.expect_navigation():
            alice.click("#page-next")
        assert "page=2" in alice.url
        assert "author=me" in alice.url
        alice.go_back()
        alice.wait_for_load_state()
        assert "page=2" not in alice.url
    alice.go_back()
    alice.wait_for_load_state()
    assert "per_page=10" not in alice.url
    assert "author=me" in alice.url
    active = alice.get_attribute("#task-views a.active", "data-view")
    assert active == "reported"

    alice.click("#saved-filters-menu")
    alice.fill("#save-filter input[name=name]", "Reported by me, open")
    with alice.expect_navigation():
        alice.click("#save-filter button[type=submit]")
    alice.goto(f"{server}/tasks/my-tasks")
    alice.click("#saved-filters-menu")
    with alice.expect_navigation():
        alice.click("#saved-filters a:has-text('Reported by me, open')")
    assert "author=me" in alice.url

    unassigned = alice.request.get(api, params={"assigned_to": "none"}).json()["data"]["tasks"]
    task = unassigned[0]
    commented = alice.request.post(
        f"{server}/tasks/api/task/{task['id']}/comments",
        data={"notes": "The flux capacitor needs recalibration"},
    )
    assert commented.ok, commented.text()
    alice.goto(f"{server}/tasks/my-tasks?assigned_to=any")
    alice.fill("#f-search", "capacitors recalibrating")  # stemmed: capacitor, recalibration
    with alice.expect_navigation():
        alice.press("#f-search", "Enter")
    assert shown_ids(alice) == {task["id"]}
    assert "assigned_to=any" in alice.url

    alice.fill("#f-search", f"#{task['id']}")
    with alice.expect_navigation():
        alice.press("#f-search", "Enter")
    assert alice.url.endswith(f"/tasks/{task['id']}")
    assert errors == []
