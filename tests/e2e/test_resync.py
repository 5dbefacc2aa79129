"""In a real browser: while the Socket.IO message queue (Redis) is away, an event for a page is
lost; when the queue is back, the page is told to re-sync, catches up from the API and hears
live events again, without a reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_live_board import browser, signed_in_page  # noqa: F401 (browser is a fixture)

from helpers import helpdesk_serving, signed_in
from redis_server import OwnRedis

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

COUNTER = "#notification-counter"


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[OwnRedis]:
    """The message queue's own Redis, which the test stops and starts again."""
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def bobs_new_tasks(session: Any, url: str) -> list[int]:
    """Ids of two of bob's New tasks in a project alice works in too."""
    answer = session.get(
        f"{url}/tasks/api/tasks",
        params={"assigned_to": "me", "status": "New", "project": "web-portal", "per_page": "2"},
        timeout=10,
    )
    return [task["id"] for task in answer.json()["data"]["tasks"]]


def counter_reads(page: Any, value: str, timeout_ms: int) -> None:
    """Wait until the bell's counter shows value."""
    page.wait_for_function(
        "value => document.querySelector('#notification-counter').textContent === value",
        arg=value,
        timeout=timeout_ms,
    )


def test_a_page_catches_up_and_hears_again_after_the_queue_comes_back(
    demo_site: dict[str, str],
    queue: OwnRedis,
    browser: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    env = {**demo_site, "SOCKETIO_MESSAGE_QUEUE": queue.url}
    with helpdesk_serving(env) as (url, _process):
        errors: list[str] = []
        bob = signed_in_page(browser, url, "bob", errors)
        counter_reads(bob, "0", 10_000)
        first, second = bobs_new_tasks(signed_in(url, "bob"), url)
        alice = signed_in(url, "alice")

        queue.stop()
        bob.wait_for_timeout(3_000)  # the server's watch (every 2 s) sees the queue away
        moved = alice.put(f"{url}/tasks/api/task/{first}/status", json={"status_id": 2}, timeout=10)
        assert moved.ok, moved.text
        bob.wait_for_timeout(1_000)
        assert bob.inner_text(COUNTER) == "0"  # its event was lost with the queue

        queue.start()
        # re-sync once this process's listener has subscribed again (it retries with back-off)
        counter_reads(bob, "1", 60_000)
        assert f"#{first}" in bob.inner_text("#notifications-list")

        moved = alice.put(
            f"{url}/tasks/api/task/{second}/status", json={"status_id": 2}, timeout=10
        )
        assert moved.ok, moved.text
        counter_reads(bob, "2", 10_000)  # live again, no reload
        assert errors == []
