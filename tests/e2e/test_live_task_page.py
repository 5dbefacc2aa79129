"""In a real browser: two people on one task page; one edits in place, the other's page follows
without a reload, and an edit from a page that fell behind shows the other person's change."""

from __future__ import annotations

from typing import Any

import pytest
import test_live_board
from test_live_board import signed_in_page

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

server = test_live_board.server  # `helpdesk serve` on demo data
browser = test_live_board.browser


def a_shared_task(page: Any, url: str) -> str:
    """An open task of Web Portal, where alice and bob are both developers."""
    found = page.request.get(
        f"{url}/tasks/api/tasks",
        params={"assigned_to": "any", "status": "open", "project": "web-portal", "per_page": "1"},
    ).json()["data"]["tasks"]
    return str(found[0]["id"])


def test_an_edit_shows_on_the_other_page_and_a_stale_edit_shows_the_conflict(
    server: str, browser: Any
) -> None:
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    bob = signed_in_page(browser, server, "bob", errors)
    task_id = a_shared_task(alice, server)
    for page in (alice, bob):
        page.goto(f"{server}/tasks/{task_id}")
        page.wait_for_load_state("networkidle")
    status = alice.eval_on_selector("#status_id", "select => select.selectedOptions[0].text")
    assert "(current)" in status  # the status form stands on the current status

    alice.click("#task-edit-open")  # alice starts editing, then bob saves first
    bob.click("#task-edit-open")
    bob.fill("#edit-subject", "Checkout fails on Safari")
    bob.select_option("#edit-assigned_to_id", label="Alice Ivanova")
    bob.fill("#edit-done_ratio", "40")
    bob.click("#task-edit-form button[type=submit]")
    bob.wait_for_selector("#task-edit-form.d-none", state="attached")
    bob.wait_for_function(
        "() => document.querySelector('#task-title').textContent.includes('Checkout fails')"
    )

    # alice's page follows without a reload: title, fields and history
    alice.wait_for_function(
        "() => document.querySelector('#task-title').textContent.includes('Checkout fails')"
    )
    assert alice.inner_text("#task-assignee") == "Alice Ivanova"
    history = alice.inner_text("#journal-list")
    assert "Done: " in history
    assert "40%" in history

    # her open form still stands on the task as she opened it: saving shows bob's change
    alice.fill("#edit-due_date", "2027-01-15")
    alice.click("#task-edit-form button[type=submit]")
    alice.wait_for_selector("#task-edit-conflict:not(.d-none)")
    conflict = alice.inner_text("#task-edit-conflict")
    assert "Checkout fails on Safari" in conflict
    assert "Bob" in conflict
    alice.click("#task-edit-form button[type=submit]")  # now deliberately, on the fresh task
    alice.wait_for_selector("#task-edit-form.d-none", state="attached")
    bob.wait_for_function(
        "() => document.querySelector('#task-fields').textContent.includes('2027-01-15')"
    )
    assert bob.input_value("#edit-due_date") == "2027-01-15"  # his closed form follows too

    # @mentions offer the project's people in the comment box
    alice.click("#notes")
    alice.keyboard.type("Thanks @bo")
    alice.wait_for_selector(".mention-list [data-username=bob]")
    alice.keyboard.press("Enter")
    assert alice.input_value("#notes") == "Thanks @bob "
    assert [e for e in errors if "409" not in e] == []  # the conflict's answer is logged


def test_the_watcher_alice_adds_is_told_live_and_both_pages_follow(
    server: str, browser: Any
) -> None:
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    bob = signed_in_page(browser, server, "bob", errors)
    projects = alice.request.get(f"{server}/tasks/api/projects").json()["data"]
    web = next(p["id"] for p in projects if p["identifier"] == "web-portal")
    members = alice.request.get(f"{server}/tasks/api/projects/{web}/members").json()["data"]
    bob_id = next(m["user_id"] for m in members if m["name"] == "Bob Petrov")
    found = alice.request.get(
        f"{server}/tasks/api/tasks",
        params={"assigned_to": "any", "status": "open", "project": "web-portal", "per_page": "50"},
    ).json()["data"]["tasks"]
    task_id = next(
        str(row["id"])
        for row in found
        if bob_id
        not in alice.request.get(f"{server}/tasks/api/task/{row['id']}").json()["data"][
            "watcher_ids"
        ]
    )
    for page in (alice, bob):
        page.goto(f"{server}/tasks/{task_id}")
        page.wait_for_load_state("networkidle")
    unread = int(bob.inner_text("#notification-counter") or "0")
    assert bob.get_attribute("#watch-toggle", "data-watching") == "false"

    alice.select_option("#watcher-add", label="Bob Petrov")
    alice.click("#watcher-add-button")
    alice.wait_for_selector(f'#watcher-list [data-watcher-id="{bob_id}"]')

    # bob's bell rings with a toast, and his open page shows him watching, without a reload
    bob.wait_for_function(
        "n => document.getElementById('notification-counter').textContent === String(n)",
        arg=unread + 1,
        timeout=10_000,
    )
    assert "Alice Ivanova added you as a watcher" in bob.inner_text("#toast-area")
    bob.wait_for_selector(f'#watcher-list [data-watcher-id="{bob_id}"]')
    assert bob.get_attribute("#watch-toggle", "data-watching") == "true"
    assert "Watcher: — → Bob Petrov" in bob.inner_text("#journal-list")

    # removed again: nothing rings, both pages follow, the history keeps it
    alice.click(f'#watcher-list .js-unwatch[data-user-id="{bob_id}"]')
    bob.wait_for_selector(f'#watcher-list [data-watcher-id="{bob_id}"]', state="detached")
    assert "Watcher: Bob Petrov → —" in bob.inner_text("#journal-list")
    assert bob.inner_text("#notification-counter") == str(unread + 1)
    assert errors == []
