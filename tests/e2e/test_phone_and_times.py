"""In a real browser: one way of showing times on every surface, and pages that fit a phone."""

from __future__ import annotations

import re
from typing import Any

import pytest
import test_live_board
from test_live_board import sign_in, signed_in_page

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

server = test_live_board.server  # `helpdesk serve` on demo data
browser = test_live_board.browser

PHONE = {"width": 390, "height": 844}


def first_new_task(page: Any, server: str) -> dict[str, Any]:
    """The user's most urgent new task in Web Portal (where alice and bob both work)."""
    params = {"assigned_to": "me", "status": "New", "project": "web-portal", "per_page": "1"}
    return page.request.get(f"{server}/tasks/api/tasks", params=params).json()["data"]["tasks"][0]


def in_russian(page: Any) -> None:
    """Switch the interface to Russian with the language menu's form."""
    with page.expect_navigation():
        page.eval_on_selector("button[lang=ru]", "button => button.form.requestSubmit(button)")


def page_width(page: Any) -> int:
    """How wide the page's content is (wider than the window means sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth")


def test_the_bell_shows_the_time_as_the_notifications_page_does(server: str, browser: Any):
    """A browser in New York with an English locale, the helpdesk in Russian on Moscow time: the
    bell and the page agree, in the page's language and zone, never the browser's."""
    errors: list[str] = []
    context = browser.new_context(locale="en-US", timezone_id="America/New_York")
    bob = sign_in(context.new_page(), server, "bob", errors)
    in_russian(bob)
    alice = signed_in_page(browser, server, "alice", errors)
    task = first_new_task(bob, server)
    moved = alice.request.put(
        f"{server}/tasks/api/task/{task['id']}/status",
        data={"status_id": 2, "comment": "Printer on the third floor"},
    )
    assert moved.ok, moved.text()
    bob.wait_for_function(
        "() => document.getElementById('notification-counter').textContent === '1'",
        timeout=10_000,
    )
    bob.reload()  # the entry as caught up from the API, as after any page load
    bob.click("#notification-bell > a")
    entry = bob.wait_for_selector("#notifications-list .notification-item")
    text = entry.inner_text()
    assert task["subject"] in text
    assert "Printer on the third floor" in text
    bell_time = entry.query_selector(".notification-time").inner_text()
    bob.goto(f"{server}/notifications")
    page_time = bob.inner_text(".notification-time >> nth=0")
    assert bell_time == page_time
    # Russian, not en-US; Moscow's clock, labelled as the browser's clock is New York's
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d GMT\+03:00", page_time)
    assert errors == []


def test_a_time_carries_its_zone_where_the_browsers_clock_differs(server: str, browser: Any):
    """The one rule for zone labels, on the server's times (also those swapped in later) and on
    the ones the pages' scripts format: a label where the browser's clock stands at another
    offset than the page's zone; none where it agrees (Istanbul shares Moscow's offset)."""
    errors: list[str] = []
    seen: dict[str, dict[str, Any]] = {}
    for zone in ("Europe/Moscow", "Europe/Istanbul", "Asia/Tokyo"):
        context = browser.new_context(locale="ru-RU", timezone_id=zone)
        page = sign_in(context.new_page(), server, "alice", errors)
        page.on("pageerror", lambda error: errors.append(str(error)))
        row_time = page.wait_for_selector("#task-table time.local-time[data-zone]")
        seen[zone] = {
            "row": row_time.inner_text(),
            "title": row_time.get_attribute("title"),
            "script": page.evaluate("Helpdesk.formatTime('2026-12-07T10:25:00Z')"),
            "swapped": page.evaluate(
                """() => new Promise(resolve => {
                    const time = document.querySelector("time.local-time").cloneNode(true);
                    time.removeAttribute("data-zone");
                    time.replaceChildren("07.12.2026, 13:25");
                    time.setAttribute("datetime", "2026-12-07T10:25:00Z");
                    document.querySelector("main").append(time);
                    requestAnimationFrame(() => resolve(time.textContent));
                })"""
            ),
        }
        context.close()
    for zone in ("Europe/Moscow", "Europe/Istanbul"):
        assert re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d", seen[zone]["row"]), zone
        assert seen[zone]["title"] is None
        assert seen[zone]["script"] == seen[zone]["swapped"] == "07.12.2026, 13:25"
    tokyo = seen["Asia/Tokyo"]
    assert tokyo["row"] == seen["Europe/Moscow"]["row"] + " GMT+03:00"
    assert tokyo["script"] == tokyo["swapped"] == "07.12.2026, 13:25 GMT+03:00"
    assert "GMT+9" in tokyo["title"]  # the time on the reader's own clock
    assert errors == []


def test_a_phone_shows_the_bell_and_fits_the_tokens_and_task_pages(server: str, browser: Any):
    errors: list[str] = []
    context = browser.new_context(locale="ru-RU", viewport=PHONE, is_mobile=True)
    bob = sign_in(context.new_page(), server, "bob", errors)
    alice = signed_in_page(browser, server, "alice", errors)
    task = first_new_task(bob, server)
    subject = "Путь " + "C:\\Users\\bob\\AppData\\Local\\Temp\\очень-длинное-имя-файла" * 4
    detail = bob.request.get(f"{server}/tasks/api/task/{task['id']}").json()["data"]
    project_id = detail["project_id"]
    created = bob.request.post(
        f"{server}/tasks/api/task",
        data={"project_id": project_id, "subject": subject},
    )
    assert created.ok, created.text()
    new_id = created.json()["data"]["task_id"]
    moved = alice.request.put(f"{server}/tasks/api/task/{task['id']}/status", data={"status_id": 2})
    assert moved.ok, moved.text()

    bob.goto(f"{server}/tasks/my-tasks")
    assert bob.is_visible("#notification-bell > a")  # not hidden in the collapsed menu
    bob.wait_for_function(
        "() => document.getElementById('notification-counter').textContent === '1'",
        timeout=10_000,
    )
    badge = bob.query_selector("#notification-counter").bounding_box()
    assert badge["x"] >= 0
    assert badge["x"] + badge["width"] <= PHONE["width"]
    bob.click("#notification-bell > a")
    menu = bob.wait_for_selector("#notification-bell .dropdown-menu.show").bounding_box()
    assert menu["x"] >= 0
    assert menu["x"] + menu["width"] <= PHONE["width"]
    assert page_width(bob) <= PHONE["width"]

    bob.goto(f"{server}/users/tokens")
    bob.fill("#name", "ночной-экспорт-" + "x" * 40)
    bob.click("main form button[type=submit]")
    bob.wait_for_selector("#new-token")
    assert page_width(bob) <= PHONE["width"]

    bob.goto(f"{server}/tasks/{new_id}")
    assert page_width(bob) <= PHONE["width"]
    bob.goto(f"{server}/tasks/my-tasks?status=all&sort=-id")
    assert page_width(bob) <= PHONE["width"]
    assert errors == []
