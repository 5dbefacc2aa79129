"""In a real browser: the board fits the screen, scrolls sideways inside itself, and each
column's header stays in sight while the cards scroll, on a desktop and on a phone."""

from __future__ import annotations

from typing import Any

import pytest
import test_live_board
from test_live_board import settled, sign_in

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

server = test_live_board.server  # `helpdesk serve` on demo data
browser = test_live_board.browser

HEADERS_IN_SIGHT = """() => {
    const board = document.getElementById("kanban-board").getBoundingClientRect();
    return [...document.querySelectorAll(".kanban-column > .card-header")].map(header => {
        const box = header.getBoundingClientRect();
        const x = Math.min(Math.max(box.left + 10, board.left + 1), board.right - 1);
        const shown = document.elementFromPoint(x, box.top + box.height / 2);
        return {
            top: box.top - board.top,
            onTop: header.contains(shown),
            inWindow: box.top >= 0 && box.bottom <= window.innerHeight,
        };
    });
}"""


@pytest.mark.parametrize(
    "viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}], ids=str
)
def test_the_board_fits_the_screen_and_its_headers_stay_in_sight(
    server: str, browser: Any, viewport: dict[str, int]
) -> None:
    errors: list[str] = []
    context = browser.new_context(locale="en-US", viewport=viewport)
    page = sign_in(context.new_page(), server, "admin", errors)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server}/tasks/kanban?assigned_to=any")
    settled(page)
    page.wait_for_selector(".kanban-card")
    board = page.query_selector("#kanban-board")
    size = board.evaluate(
        "b => ({sw: b.scrollWidth, cw: b.clientWidth, sh: b.scrollHeight, ch: b.clientHeight})"
    )
    assert size["sw"] > size["cw"]  # six columns: the board scrolls sideways ...
    assert size["sh"] > size["ch"]  # ... and down, inside itself
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]

    board.evaluate("b => { b.scrollTop = b.scrollHeight; }")  # the cards scroll under ...
    page.mouse.wheel(0, 2000)  # ... and the page scrolls as far as it goes
    page.wait_for_timeout(200)
    assert board.evaluate("b => b.scrollTop") > 500
    headers = page.evaluate(HEADERS_IN_SIGHT)
    assert len(headers) == 6
    visible = [h for h in headers if h["onTop"]]  # those within the board's width
    assert visible, headers
    for header in visible:
        assert abs(header["top"]) <= 1, headers  # stuck to the board's top edge
        assert header["inWindow"], headers

    board.evaluate("b => { b.scrollLeft = b.scrollWidth; }")  # the last columns, still headed
    page.wait_for_timeout(100)
    last = page.evaluate(HEADERS_IN_SIGHT)[-1]
    assert last["onTop"], last
    assert abs(last["top"]) <= 1, last
    assert last["inWindow"], last
    assert errors == []
