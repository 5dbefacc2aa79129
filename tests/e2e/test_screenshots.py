"""In a real browser: the main pages on the demo data, as the README shows them. Every run takes
the pictures (each page answers, has no script errors and makes a picture of the window's size);
`make screenshots` (HELPDESK_SCREENSHOTS=folder) keeps them, made small, in docs/screenshots."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_live_board
from PIL import Image
from test_live_board import settled, sign_in

from helpers import helpdesk_serving, own_id, signed_in

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

browser = test_live_board.browser

VIEWPORT = {"width": 1366, "height": 800}
COLOURS = 128  # a palette this size keeps the pictures sharp and small


@pytest.fixture
def server(demo_site: dict[str, str]) -> Iterator[str]:
    """`helpdesk serve` on the demo data of an English install."""
    with helpdesk_serving({**demo_site, "BABEL_DEFAULT_LOCALE": "en"}) as (url, _process):
        yield url


def small_png(picture: bytes) -> bytes:
    """A screenshot with a palette of COLOURS (Pillow): a tenth of the size, text still sharp."""
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    out = io.BytesIO()
    image.quantize(COLOURS, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def test_the_readmes_screenshots(server: str, browser: Any, tmp_path: Path) -> None:
    folder = Path(os.environ.get("HELPDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    # something to be told about: bob moves and comments on one of alice's tasks
    bob = signed_in(server, "bob")
    alice_session = signed_in(server, "alice")
    alice_id = own_id(server, alice_session)
    tasks = bob.get(
        f"{server}/tasks/api/tasks",
        params={"assigned_to": alice_id, "status": "New", "project": "web-portal"},
        timeout=10,
    ).json()["data"]["tasks"]
    for task, comment in zip(tasks[:2], ("Picked up, looking at the logs.", ""), strict=True):
        moved = bob.put(
            f"{server}/tasks/api/task/{task['id']}/status",
            json={"status_id": 2, "comment": comment},
            timeout=10,
        )
        assert moved.ok, moved.text
    task_id = tasks[0]["id"]

    errors: list[str] = []
    window = {"locale": "en-US", "timezone_id": "Europe/Moscow", "viewport": VIEWPORT}
    page = browser.new_context(**window).new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/users/login")
    shots = {"login": page.screenshot()}
    sign_in(page, server, "alice", errors)
    settled(page)
    shots["my-tasks"] = page.screenshot()
    page.goto(f"{server}/tasks/{task_id}")
    settled(page)
    shots["task"] = page.screenshot()
    page.goto(f"{server}/tasks/kanban?project=2")
    page.wait_for_selector(".kanban-card")
    settled(page)
    shots["board"] = page.screenshot()
    page.goto(f"{server}/notifications")
    page.wait_for_selector("main .notification-time")
    page.click("#notification-bell > a")
    page.wait_for_selector("#notifications-list .notification-item")
    shots["notifications"] = page.screenshot()
    admin = sign_in(browser.new_context(**window).new_page(), server, "admin", errors)
    admin.on("pageerror", lambda error: errors.append(str(error)))
    admin.goto(f"{server}/admin/users")
    settled(admin)
    shots["admin"] = admin.screenshot()

    for name, picture in shots.items():
        small = small_png(picture)
        image = Image.open(io.BytesIO(small))
        assert image.size == (VIEWPORT["width"], VIEWPORT["height"]), name
        assert len(image.getcolors(COLOURS) or ()) > 8, name  # a page, not a blank window
        assert len(small) < 250_000, (name, len(small))
        (folder / f"{name}.png").write_bytes(small)
    assert errors == []
