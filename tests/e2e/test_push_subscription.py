"""In a real browser: switching browser notifications on registers the service worker, subscribes
with the server's VAPID key and stores the subscription; refusals leave everything off.

Chromium's pushManager.subscribe() asks Google's push service (GCM) for a registration, and this
machine has no internet. Chromium lets the GCM check-in and registration URLs be replaced
(--gcm-checkin-url, --gcm-registration-url), so `LocalGcm` answers them on 127.0.0.1: everything
else — the permission, the service worker, the browser's keys, the subscription's JSON — is
Chromium's own. Subscriptions need a regular profile (incognito contexts refuse them), hence a
persistent context. Not covered here: a push reaching this browser (its endpoint is on Google's
host, and MCS, the channel pushes arrive by, is not faked); tests/integration/test_webpush.py sends
pushes to a local push service instead.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import test_live_board
from test_live_board import CHROMIUM, CHROMIUM_ARGS, playwright_api, sign_in

from helpdesk.notifications.webpush import KEY_FILE, generate_vapid_keys, write_key_file

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

ANDROID_ID = 4_242_424_242
SECURITY_TOKEN = 1_313_131_313
PREFERENCES = "/notifications/preferences"
SWITCH = "#browser_notifications_enabled"


class LocalGcm:
    """The two GCM endpoints subscribe() needs: device check-in (protobuf) and registration."""

    def __init__(self) -> None:
        self.registrations: list[dict[str, list[str]]] = []
        self.refuse_with: str | None = None  # an Error= code GCM answers instead of a token
        gcm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/checkin":
                    answer, kind = gcm.checkin(), "application/x-protobuf"
                else:
                    answer, kind = gcm.register(parse_qs(body.decode())), "text/plain"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads what it needs from the recorded registrations."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def checkin() -> bytes:
        """AndroidCheckinResponse: stats_ok (1), android_id (7) and security_token (8)."""
        return (
            b"\x08\x01"
            + b"\x39"
            + struct.pack("<Q", ANDROID_ID)
            + b"\x41"
            + struct.pack("<Q", SECURITY_TOKEN)
        )

    def register(self, form: dict[str, list[str]]) -> bytes:
        """A registration token; a web push subscription's sender is the VAPID key."""
        self.registrations.append(form)
        if self.refuse_with:
            return f"Error={self.refuse_with}".encode()
        return f"token=local-{len(self.registrations)}".encode()

    def web_push(self) -> list[tuple[str, str]]:
        """(sender, token) of each web push registration (Chromium registers itself too)."""
        return [
            (form["sender"][0], f"local-{number}")
            for number, form in enumerate(self.registrations, 1)
            if form.get("X-subtype", [""])[0].startswith("wp:")
        ]

    def switches(self) -> list[str]:
        """Chromium switches that send check-in and registration here."""
        return [f"--gcm-checkin-url={self.url}/checkin", f"--gcm-registration-url={self.url}/reg"]

    def stop(self) -> None:
        """Stop answering."""
        self.httpd.shutdown()
        self.httpd.server_close()


server = test_live_board.server  # the same `helpdesk serve` on demo data


@pytest.fixture
def gcm() -> Iterator[LocalGcm]:
    """A LocalGcm for one test."""
    service = LocalGcm()
    yield service
    service.stop()


@pytest.fixture
def vapid_key(server: str, tmp_path: Path) -> str:
    """VAPID keys in the served instance folder (read on each request), as `helpdesk vapid`."""
    keys = generate_vapid_keys("mailto:helpdesk@example.com")
    write_key_file(tmp_path / "instance" / KEY_FILE, keys)
    return keys.public_key


@pytest.fixture
def profile(gcm: LocalGcm, tmp_path: Path) -> Iterator[Any]:
    """A regular (not incognito) Chromium profile whose push service is LocalGcm."""
    with playwright_api().sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            args=[*CHROMIUM_ARGS, *gcm.switches()],
            locale="en-US",
        )
        yield context
        context.close()


@contextmanager
def database(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The served instance's database, used directly (the test asks what was committed)."""
    path = tmp_path / "instance" / "helpdesk.db"
    with closing(sqlite3.connect(path)) as connection, connection:
        yield connection


def push_state(tmp_path: Path, username: str) -> dict[str, Any]:
    """The user's push preference and subscriptions (endpoint → active) as committed."""
    with database(tmp_path) as db:
        user_id, enabled = db.execute(
            'SELECT id, browser_notifications_enabled FROM "user" WHERE username = ?', (username,)
        ).fetchone()
        rows = db.execute(
            "SELECT endpoint, is_active FROM push_subscriptions WHERE user_id = ?", (user_id,)
        ).fetchall()
    return {"enabled": bool(enabled), "subscriptions": {e: bool(a) for e, a in rows}}


def browser_subscription(page: Any) -> dict[str, Any] | None:
    """What the browser itself holds: the worker's scope and its push subscription."""
    return page.evaluate(
        """async () => {
            const registration = await navigator.serviceWorker.ready;
            const subscription = await registration.pushManager.getSubscription();
            return {scope: registration.scope, subscription: subscription && subscription.toJSON()};
        }"""
    )


def switch_and_wait(page: Any) -> str:
    """Click the push switch; the status line once the work is done."""
    page.click(SWITCH)
    page.wait_for_function(f"() => !document.querySelector('{SWITCH}').disabled")
    return page.inner_text("#push-status")


def test_switching_push_on_subscribes_this_browser_and_off_unsubscribes_it(
    server: str, profile: Any, gcm: LocalGcm, vapid_key: str, tmp_path: Path
) -> None:
    errors: list[str] = []
    profile.grant_permissions(["notifications"], origin=server)
    page = sign_in(profile.new_page(), server, "bob", errors)
    page.goto(server + PREFERENCES)
    assert not page.is_checked(SWITCH)

    assert switch_and_wait(page) == "Browser notifications are on for this browser."
    assert page.is_checked(SWITCH)
    held = browser_subscription(page)
    assert held["scope"] == f"{server}/"
    endpoint = held["subscription"]["endpoint"]
    [(sender, token)] = gcm.web_push()
    assert sender == vapid_key
    assert endpoint.endswith(f"/{token}")
    assert push_state(tmp_path, "bob") == {"enabled": True, "subscriptions": {endpoint: True}}

    page.reload()
    assert page.is_checked(SWITCH)  # saved, not only ticked
    assert switch_and_wait(page) == "Browser notifications are off."
    assert not page.is_checked(SWITCH)
    assert browser_subscription(page)["subscription"] is None
    assert push_state(tmp_path, "bob") == {"enabled": False, "subscriptions": {endpoint: False}}
    assert errors == []


def test_pages_of_a_user_with_push_on_send_the_subscription_again(
    server: str, profile: Any, gcm: LocalGcm, vapid_key: str, tmp_path: Path
) -> None:
    errors: list[str] = []
    profile.grant_permissions(["notifications"], origin=server)
    page = sign_in(profile.new_page(), server, "bob", errors)
    page.goto(server + PREFERENCES)
    switch_and_wait(page)
    endpoint = browser_subscription(page)["subscription"]["endpoint"]
    # The server lost the subscription (say, a push service answered 410 once).
    with database(tmp_path) as db:
        db.execute("DELETE FROM push_subscriptions")
    page.evaluate("() => localStorage.clear()")

    with page.expect_response(lambda r: r.url.endswith("/tasks/api/push-subscribe")) as sent:
        page.goto(f"{server}/tasks/my-tasks")
    assert sent.value.status == 201
    assert push_state(tmp_path, "bob") == {"enabled": True, "subscriptions": {endpoint: True}}
    assert len(gcm.web_push()) == 1  # the same subscription, not a new one
    assert errors == []


def test_refused_permission_is_explained_and_nothing_is_saved(
    server: str, profile: Any, vapid_key: str, tmp_path: Path
) -> None:
    errors: list[str] = []
    page = sign_in(profile.new_page(), server, "bob", errors)
    page.goto(server + PREFERENCES)
    message = switch_and_wait(page)
    assert message.startswith("The browser did not allow notifications.")
    assert "text-danger" in page.get_attribute("#push-status", "class")
    assert not page.is_checked(SWITCH)
    assert push_state(tmp_path, "bob") == {"enabled": False, "subscriptions": {}}


def test_a_push_service_refusal_is_explained_and_nothing_is_saved(
    server: str, profile: Any, gcm: LocalGcm, vapid_key: str, tmp_path: Path
) -> None:
    gcm.refuse_with = "INVALID_SENDER"
    errors: list[str] = []
    profile.grant_permissions(["notifications"], origin=server)
    page = sign_in(profile.new_page(), server, "bob", errors)
    page.goto(server + PREFERENCES)
    message = switch_and_wait(page)
    assert message.startswith("Browser notifications could not be turned on: ")
    assert len(message) > len("Browser notifications could not be turned on: ")
    assert not page.is_checked(SWITCH)
    assert browser_subscription(page)["scope"] == f"{server}/"  # the worker did register
    assert push_state(tmp_path, "bob") == {"enabled": False, "subscriptions": {}}
