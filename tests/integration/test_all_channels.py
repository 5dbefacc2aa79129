"""One status change on a real server reaches its recipient on every channel — the open page
(Socket.IO), the browser (Web Push, decrypted by a local push service) and the mailbox (SMTP via
the outbox and a separate `helpdesk worker`) — and reaches nobody else; an offline recipient
finds it on reconnecting."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from helpers import (
    HELPDESK,
    free_port,
    helpdesk_serving,
    open_task_assigned_to,
    own_id,
    signed_in,
)
from push_service import PushEndpoint
from smtp_server import Server, smtp_server

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

NAMESPACE = "/notifications"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy")


@dataclass
class Site:
    """A running helpdesk (server and worker) with its mail server and push service."""

    url: str
    mail: Server
    push: PushEndpoint


@pytest.fixture
def site(demo_site: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """`helpdesk serve` and `helpdesk worker` on one SQLite database with demo data, mailing to a
    local SMTP server and pushing to a local push service."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    push = PushEndpoint().start()
    with smtp_server() as mail:
        port = free_port()
        env = {
            **{k: v for k, v in demo_site.items() if k not in PROXY_VARIABLES},
            "PUSH_ALLOW_HTTP": "true",
            "PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail.port),
            "MAIL_USE_TLS": "false",
            "MAIL_QUEUE_INTERVAL": "1",
            "MAIL_BASE_URL": f"http://127.0.0.1:{port}",
            "JOBS_EMBEDDED": "false",
        }
        subprocess.run(
            [HELPDESK, "vapid", "--email", "ops@example.com"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        worker = subprocess.Popen([HELPDESK, "worker"], env=env, **quiet)
        try:
            with helpdesk_serving(env, port) as (url, _server):
                yield Site(url, mail, push)
        finally:
            worker.terminate()
            worker.wait(timeout=10)
            push.stop()


class Listener:
    """A Socket.IO client with a user's session, keeping the notifications it hears."""

    def __init__(self, site: Site, http: requests.Session) -> None:
        self.heard: list[dict[str, Any]] = []
        self.arrived = threading.Event()
        self.client = socketio.Client(reconnection=False)
        self.client.on("new_notification", self._hear, namespace=NAMESPACE)
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        self.client.connect(
            site.url,
            namespaces=[NAMESPACE],
            headers={"Cookie": cookie},
            transports=["websocket"],
            wait_timeout=10,
        )

    def _hear(self, data: dict[str, Any]) -> None:
        self.heard.append(data)
        self.arrived.set()

    def close(self) -> None:
        """Disconnect, as a closed tab does."""
        self.client.disconnect()


def wait_for(condition: Callable[[], Any], seconds: float = 15) -> Any:
    """Poll until the condition holds (mail and push arrive from other threads and processes)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def turn_on_browser_push(site: Site, bob: requests.Session, instance: Path) -> Any:
    """Bob's browser subscribes (with the site's VAPID key) and he turns browser push on."""
    key = bob.get(f"{site.url}/tasks/api/push-key", timeout=10).json()["data"]["public_key"]
    subscription = site.push.subscribe(key)
    response = bob.post(
        f"{site.url}/tasks/api/push-subscribe", json=subscription.to_json(), timeout=10
    )
    assert response.status_code in {200, 201}, response.text
    with sqlite3.connect(instance / "helpdesk.db") as database:
        database.execute("UPDATE user SET browser_notifications_enabled = 1 WHERE username = 'bob'")
    return subscription


def test_one_change_reaches_the_recipient_everywhere_and_nobody_else(
    site: Site, tmp_path: Path
) -> None:
    alice, bob, admin = (signed_in(site.url, name) for name in ("alice", "bob", "admin"))
    bob_id = own_id(site.url, bob)
    subscription = turn_on_browser_push(site, bob, tmp_path / "instance")
    bob_page, admin_page, alice_page = (Listener(site, s) for s in (bob, admin, alice))
    try:
        task = open_task_assigned_to(site.url, alice, bob_id)
        target = 3 if task["status_id"] != 3 else 2
        response = alice.put(
            f"{site.url}/tasks/api/task/{task['id']}/status",
            json={"status_id": target, "comment": "Checked on the test bench"},
            timeout=10,
        )
        assert response.status_code == 200, response.text

        assert bob_page.arrived.wait(10), "bob's open page heard nothing"
        pushed = wait_for(lambda: site.push.received(subscription))
        mailed = wait_for(lambda: site.mail.inbox.to("bob@example.com"))
        time.sleep(1.5)  # a duplicate on any channel would have arrived by now

        assert [n["issue_id"] for n in bob_page.heard] == [task["id"]]
        assert bob_page.heard[0]["unread_count"] >= 1
        assert admin_page.heard == []
        assert alice_page.heard == []
        assert len(site.push.received(subscription)) == 1
        assert pushed[0].payload["url"] == f"/tasks/{task['id']}"
        assert len(site.mail.inbox.messages) == 1, "only bob is told; alice acted"
        assert f"#{task['id']}" in mailed[0]["Subject"]
        text = mailed[0].get_body(preferencelist=("plain",)).get_content()
        assert f"{site.url}/tasks/{task['id']}" in text
    finally:
        for page in (bob_page, admin_page, alice_page):
            page.close()


def test_the_watcher_someone_adds_hears_of_it_everywhere_and_nobody_else(
    site: Site, tmp_path: Path
) -> None:
    alice, bob, admin = (signed_in(site.url, name) for name in ("alice", "bob", "admin"))
    bob_id = own_id(site.url, bob)
    subscription = turn_on_browser_push(site, bob, tmp_path / "instance")
    bob_page, admin_page, alice_page = (Listener(site, s) for s in (bob, admin, alice))
    try:
        task = open_task_assigned_to(site.url, alice, bob_id)  # one bob may see
        watchers = f"{site.url}/tasks/api/task/{task['id']}/watchers"
        alice.delete(f"{watchers}/{bob_id}", timeout=10)  # so that he is added below
        response = alice.post(watchers, json={"user_id": bob_id}, timeout=10)
        assert response.status_code == 200, response.text

        assert bob_page.arrived.wait(10), "bob's open page heard nothing"
        pushed = wait_for(lambda: site.push.received(subscription))
        mailed = wait_for(lambda: site.mail.inbox.to("bob@example.com"))
        time.sleep(1.5)  # a duplicate on any channel would have arrived by now

        assert [(n["type"], n["issue_id"]) for n in bob_page.heard] == [("watcher", task["id"])]
        assert admin_page.heard == []
        assert alice_page.heard == []
        assert len(site.push.received(subscription)) == 1
        assert pushed[0].payload["url"] == f"/tasks/{task['id']}"
        assert len(site.mail.inbox.messages) == 1, "only bob is told; alice acted"
        assert f"#{task['id']}" in mailed[0]["Subject"]
    finally:
        for page in (bob_page, admin_page, alice_page):
            page.close()


def test_a_recipient_who_was_offline_finds_the_change_on_reconnecting(site: Site) -> None:
    alice, bob = signed_in(site.url, "alice"), signed_in(site.url, "bob")
    bob_id = own_id(site.url, bob)
    task = open_task_assigned_to(site.url, alice, bob_id)
    target = 3 if task["status_id"] != 3 else 2
    response = alice.put(
        f"{site.url}/tasks/api/task/{task['id']}/status", json={"status_id": target}, timeout=10
    )
    assert response.status_code == 200, response.text

    bob_page = Listener(site, bob)  # the page's socket connects, then it catches up
    try:
        unread = bob.get(
            f"{site.url}/tasks/api/notifications", params={"unread_only": "true"}, timeout=10
        ).json()["data"]
        assert [n["issue_id"] for n in unread["notifications"]] == [task["id"]]
        assert unread["unread_count"] == 1
    finally:
        bob_page.close()
