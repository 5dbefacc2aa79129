"""In a real browser: files dropped on a task page are attached and an image shows its preview;
a comment's Markdown shows formatted, its link safe."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import test_live_board
from test_live_board import signed_in_page

from helpers import image_bytes

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

server = test_live_board.server  # `helpdesk serve` on demo data
browser = test_live_board.browser


def a_task_of(page: Any, server: str) -> int:
    """One of the user's open tasks."""
    found = page.request.get(f"{server}/tasks/api/tasks", params={"assigned_to": "me"}).json()
    return int(found["data"]["tasks"][0]["id"])


def drop_files(page: Any, selector: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drop files on an element as a person dragging them from the desktop does: a real drop
    event whose DataTransfer carries the files."""
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const [name, type, data] of files) {
                const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, {type}));
            }
            return transfer;
        }""",
        [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})


def test_dropped_files_are_attached_with_a_preview(server: str, browser: Any) -> None:
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    task_id = a_task_of(alice, server)
    alice.goto(f"{server}/tasks/{task_id}")
    assert alice.is_disabled("#files-submit")
    png = image_bytes("PNG", size=(120, 80))
    drop_files(
        alice,
        "#files-drop",
        [("screen.png", "image/png", png), ("steps.txt", "text/plain", b"1. open\n2. click\n")],
    )
    assert alice.inner_text("#files-chosen").split("\n") == ["screen.png", "steps.txt"]
    alice.fill("#files-form textarea[name=notes]", "See **the screenshot** and https://example.com")
    with alice.expect_navigation():
        alice.click("#files-submit")
    assert "Files attached" in alice.inner_text("main")
    preview = alice.wait_for_selector("#files-list img.files-preview")
    preview.scroll_into_view_if_needed()  # previews load lazily
    loaded = alice.wait_for_function(
        "img => img.complete && img.naturalWidth", arg=preview, timeout=10_000
    )
    assert loaded.json_value() == 120  # the browser decoded the image the helpdesk served
    names = alice.eval_on_selector_all("#files-list .files-name", "links => links.map(a => a.text)")
    assert names == ["screen.png", "steps.txt"]
    history = alice.inner_text("#journal-list")
    assert "File added: screen.png" in history
    assert "File added: steps.txt" in history
    strong = alice.inner_text("#journal-list .rich-text strong")
    assert strong == "the screenshot"
    link = alice.query_selector("#journal-list .rich-text a[href='https://example.com']")
    assert link is not None
    assert link.get_attribute("rel") == "nofollow noopener"
    download = alice.request.get(
        f"{server}{alice.get_attribute('#files-list .files-name >> nth=1', 'href')}"
    )
    assert download.body() == b"1. open\n2. click\n"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert errors == []


def test_a_new_task_is_created_with_a_chosen_and_a_dropped_file(server: str, browser: Any) -> None:
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    alice.goto(f"{server}/tasks/new")
    alice.fill("#subject", "The printer shows an error")
    alice.fill("#description", "The log and a screenshot are attached")
    alice.set_input_files(  # chosen with the file picker
        "#files-input",
        files=[{"name": "printer.log", "mimeType": "text/plain", "buffer": b"paper jam\n"}],
    )
    png = image_bytes("PNG", size=(90, 60))
    drop_files(alice, "#files-drop", [("error.png", "image/png", png)])  # and one dropped
    assert alice.inner_text("#files-chosen").split("\n") == ["printer.log", "error.png"]
    with alice.expect_navigation():
        alice.click("#files-form button[type=submit]")
    assert "Task created successfully" in alice.inner_text("main")
    assert "/tasks/new" not in alice.url
    names = alice.eval_on_selector_all("#files-list .files-name", "links => links.map(a => a.text)")
    assert names == ["printer.log", "error.png"]
    preview = alice.wait_for_selector("#files-list img.files-preview")
    preview.scroll_into_view_if_needed()  # previews load lazily
    loaded = alice.wait_for_function(
        "img => img.complete && img.naturalWidth", arg=preview, timeout=10_000
    )
    assert loaded.json_value() == 90  # the image is shown inline, decoded by the browser
    assert preview.get_attribute("alt") == "error.png"
    assert errors == []


def test_a_bad_file_on_the_new_task_form_creates_nothing(server: str, browser: Any) -> None:
    errors: list[str] = []
    alice = signed_in_page(browser, server, "alice", errors)
    before = alice.request.get(f"{server}/tasks/api/tasks", params={"status": "all"}).json()
    alice.goto(f"{server}/tasks/new")
    alice.fill("#subject", "Not a picture")
    drop_files(alice, "#files-drop", [("fake.png", "image/png", b"<html>not an image</html>")])
    with alice.expect_navigation():
        alice.click("#files-form button[type=submit]")
    assert "fake.png: The file is not a valid image." in alice.inner_text("main")
    assert alice.input_value("#subject") == "Not a picture"  # the other fields are kept
    after = alice.request.get(f"{server}/tasks/api/tasks", params={"status": "all"}).json()
    assert after["data"]["pagination"]["total"] == before["data"]["pagination"]["total"]
    assert [e for e in errors if "422" not in e] == []
