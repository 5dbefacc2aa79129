"""Browser push goes only to push services: no way into the helpdesk's own network (SSRF), no
taking over another user's browser, and one user's dead browsers do not delay anyone else."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conftest import PASSWORD
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications import endpoints
from helpdesk.notifications.endpoints import EndpointRefused, address_refused, push_session
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.notifications.webpush import (
    TIMEOUT,
    BrowserPushService,
    generate_vapid_keys,
    key_file,
    write_key_file,
)
from helpdesk.users.models import User
from push_service import BrowserSubscription, PushEndpoint

FCM = "https://fcm.googleapis.com/fcm/send/"


@pytest.fixture
def keyed_app(app: Flask) -> Flask:
    """The app with VAPID keys and the production endpoint rules (no private endpoints)."""
    write_key_file(key_file(app), generate_vapid_keys("mailto:push-admin@example.com"))
    return app


@pytest.fixture
def local_push(keyed_app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[PushEndpoint]:
    """The tests' decrypting push service on 127.0.0.1, allowed by the one explicit setting."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    keyed_app.config.update(PUSH_ALLOW_HTTP=True, PUSH_ALLOW_PRIVATE_ENDPOINTS=True)
    endpoint = PushEndpoint().start()
    yield endpoint
    endpoint.stop()


def signed_in(app: Flask, user: User) -> FlaskClient:
    """A client logged in as user."""
    client = app.test_client()
    answer = client.post("/users/login", json={"username": user.username, "password": PASSWORD})
    assert answer.status_code == 200
    return client


def keys() -> dict[str, str]:
    """A browser's keys, valid in form."""
    return BrowserSubscription("https://unused", None).to_json()["keys"]


def subscribe(client: FlaskClient, endpoint: str, browser_keys: dict[str, str] | None = None):
    """POST a subscription for endpoint."""
    return client.post(
        "/tasks/api/push-subscribe", json={"endpoint": endpoint, "keys": browser_keys or keys()}
    )


def stored(user: User) -> list[str]:
    """The endpoints stored for user."""
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(PushSubscription.endpoint)
            .where(PushSubscription.user_id == user.id)
            .order_by(PushSubscription.id)
        )
    )


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://127.0.0.1:9999/admin?x=1",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/push",
        "https://localhost/push",
        "https://0x7f000001/push",
        "https://127.1/push",
        "https://2130706433/push",
        "https://[::1]/push",
        "https://[::ffff:127.0.0.1]/push",
        "https://user:pw@fcm.googleapis.com/fcm/send/abc",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "https://fcm.googleapis.com.attacker.example/fcm/send/abc",
        "https://notify.windows.com.evil/abc",
        "http://fcm.googleapis.com/fcm/send/abc",
        "https://intranet.example.com/hook",
    ],
)
def test_endpoints_outside_the_push_services_are_refused(
    keyed_app: Flask, make_user: Callable[..., User], endpoint: str
) -> None:
    alice = make_user("alice")
    answer = subscribe(signed_in(keyed_app, alice), endpoint)
    assert answer.status_code == 422, answer.get_json()
    assert "endpoint" in str(answer.get_json())
    assert stored(alice) == []


@pytest.mark.parametrize(
    "endpoint",
    [
        FCM + "abc:APA91b",
        "https://jmt17.google.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
        "https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB",
        "https://web.push.apple.com/QGuQyavXutnMaw",
        "https://FCM.googleapis.com:443/fcm/send/abc",
    ],
)
def test_the_browsers_push_services_are_accepted(
    keyed_app: Flask, make_user: Callable[..., User], endpoint: str
) -> None:
    alice = make_user("alice")
    assert subscribe(signed_in(keyed_app, alice), endpoint).status_code == 201
    assert stored(alice) == [endpoint]


def test_the_subscribe_check_needs_no_dns(keyed_app: Flask, make_user: Callable[..., User]) -> None:
    keyed_app.config["PUSH_ALLOWED_HOSTS"] = ("*.push.example.invalid",)
    alice = make_user("alice")
    client = signed_in(keyed_app, alice)
    assert subscribe(client, "https://a.push.example.invalid/x").status_code == 201
    assert subscribe(client, "https://push.example.invalid/x").status_code == 422


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::a00:1",
    ],
)
def test_inward_addresses_are_refused(address: str) -> None:
    assert address_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["142.250.74.74", "2a00:1450:4001:82b::200a"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert not address_refused(ipaddress.ip_address(address))


class Recorder(BaseHTTPRequestHandler):
    """Records each request's path and Host header."""

    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        """Answer 200 and remember what came."""
        self.seen.append((self.path, self.headers.get("Host", "")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def internal_service() -> Iterator[ThreadingHTTPServer]:
    """A service on the loopback interface that no push may reach."""
    Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_name_resolving_inward_is_refused_before_connecting(
    internal_service: ThreadingHTTPServer,
) -> None:
    port = internal_service.server_address[1]
    session = push_session({})
    with pytest.raises(EndpointRefused):
        session.post(f"http://localhost:{port}/admin?drop=1", timeout=5)
    assert Recorder.seen == []


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(
    internal_service: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # push.test does not resolve: the request can reach the server only through the address the
    # check returned, so no later lookup (which a DNS change could answer differently) is made.
    checked: list[str] = []

    def check(host: str, port: int) -> str:
        checked.append(host)
        return "127.0.0.1"

    monkeypatch.setattr(endpoints, "public_address", check)
    port = internal_service.server_address[1]
    answer = push_session({}).post(f"http://push.test:{port}/fcm/send/x", timeout=5)
    assert answer.status_code == 200
    assert checked == ["push.test"]
    assert Recorder.seen == [("/fcm/send/x", f"push.test:{port}")]


def test_a_stored_endpoint_that_resolves_inward_is_never_sent_to_and_retired(
    keyed_app: Flask,
    make_user: Callable[..., User],
    internal_service: ThreadingHTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    keyed_app.config["PUSH_ALLOWED_HOSTS"] = ("localhost",)
    alice = make_user("alice")
    alice.browser_notifications_enabled = True
    db.session.add(PushSubscription(user_id=alice.id, endpoint="https://localhost/x", **keys()))
    port = internal_service.server_address[1]
    db.session.add(
        PushSubscription(user_id=alice.id, endpoint=f"https://localhost:{port}/y", **keys())
    )
    db.session.commit()

    assert BrowserPushService(sleep=lambda _s: None).send_admin_notification("t", "m") == 0
    assert BrowserPushService(sleep=lambda _s: None).push_notification(notify(alice)) == 0

    assert Recorder.seen == []
    db.session.expire_all()
    active = db.session.scalars(select(PushSubscription.is_active)).all()
    assert active == [False, False]


def notify(user: User) -> Notifications:
    """A recorded notification for user."""
    notification = Notifications(
        user_id=user.id,
        issue_id=7,
        type="status_change",
        title="Task #7 status changed",
        message="Task #7 changed",
        event_key=f"test:{user.id}:{time.monotonic_ns()}",
    )
    db.session.add(notification)
    db.session.commit()
    return notification


def test_knowing_an_endpoint_does_not_take_over_the_subscription(
    keyed_app: Flask, make_user: Callable[..., User]
) -> None:
    alice, mallory = make_user("alice"), make_user("mallory")
    endpoint = FCM + "alices-browser"
    alices_keys = keys()
    assert subscribe(signed_in(keyed_app, alice), endpoint, alices_keys).status_code == 201

    answer = subscribe(signed_in(keyed_app, mallory), endpoint)
    assert answer.status_code == 409
    assert stored(alice) == [endpoint]
    assert stored(mallory) == []

    # The same browser (its own keys), now signed in as someone else, moves to that account.
    assert subscribe(signed_in(keyed_app, mallory), endpoint, alices_keys).status_code == 200
    assert stored(mallory) == [endpoint]


def test_subscriptions_per_user_are_capped_keeping_the_newest(
    keyed_app: Flask, make_user: Callable[..., User]
) -> None:
    keyed_app.config["PUSH_MAX_SUBSCRIPTIONS_PER_USER"] = 3
    alice, bob = make_user("alice"), make_user("bob")
    assert subscribe(signed_in(keyed_app, bob), FCM + "bob").status_code == 201
    client = signed_in(keyed_app, alice)
    for number in range(6):
        assert subscribe(client, f"{FCM}{number}").status_code == 201
    assert stored(alice) == [f"{FCM}{number}" for number in (3, 4, 5)]
    assert stored(bob) == [FCM + "bob"]
    assert db.session.scalar(select(func.count()).select_from(PushSubscription)) == 4


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An address that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/push/stuck"


def test_one_users_dead_browsers_do_not_delay_another_users_push(
    local_push: PushEndpoint,
    keyed_app: Flask,
    make_user: Callable[..., User],
    black_hole: str,
) -> None:
    mallory, bob = make_user("mallory"), make_user("bob")
    for user in (mallory, bob):
        user.browser_notifications_enabled = True
    for number in range(4):  # subscribed first, so a one-by-one sender would try them first
        db.session.add(
            PushSubscription(user_id=mallory.id, endpoint=f"{black_hole}{number}", **keys())
        )
    db.session.commit()
    client = signed_in(keyed_app, bob)
    key = client.get("/tasks/api/push-key").get_json()["data"]["public_key"]
    browser = local_push.subscribe(application_server_key=key)
    assert subscribe(client, browser.endpoint, browser.to_json()["keys"]).status_code == 201
    notifications = [notify(mallory), notify(bob)]

    pusher = BrowserPushService(sleep=lambda _s: None, max_attempts=1, timeout=2.0)
    started = time.monotonic()
    assert pusher.push_notifications(notifications) == 1
    elapsed = time.monotonic() - started

    [message] = local_push.received(browser)
    assert message.status == 201
    assert elapsed < 2 * 2.0  # the dead browsers were tried side by side, not one after another


def test_push_times_out_fast() -> None:
    assert TIMEOUT <= 5


@pytest.fixture
def closed() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_browsers_unreachable_for_long_are_retired(
    local_push: PushEndpoint, make_user: Callable[..., User], closed: int
) -> None:
    alice = make_user("alice")
    alice.browser_notifications_enabled = True
    old = PushSubscription(
        user_id=alice.id,
        endpoint=f"http://127.0.0.1:{closed}/old",
        created_at=utcnow() - timedelta(days=30),
        **keys(),
    )
    new = PushSubscription(user_id=alice.id, endpoint=f"http://127.0.0.1:{closed}/new", **keys())
    db.session.add_all([old, new])
    db.session.commit()

    assert BrowserPushService(sleep=lambda _s: None).push_notification(notify(alice)) == 0

    db.session.expire_all()
    assert (old.is_active, new.is_active) == (False, True)


def test_push_log_lines_never_carry_user_information(
    local_push: PushEndpoint,
    make_user: Callable[..., User],
    caplog: pytest.LogCaptureFixture,
    closed: int,
) -> None:
    alice = make_user("alice")
    alice.browser_notifications_enabled = True
    db.session.add(
        PushSubscription(
            user_id=alice.id, endpoint=f"http://admin:hunter2@127.0.0.1:{closed}/x", **keys()
        )
    )
    db.session.commit()
    caplog.set_level(logging.DEBUG)

    BrowserPushService(sleep=lambda _s: None).push_notification(notify(alice))

    assert "127.0.0.1" in caplog.text
    assert "hunter2" not in caplog.text
    assert "admin:" not in caplog.text


def test_the_push_session_ignores_proxies_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    session = push_session({})
    assert session.trust_env is False
    assert isinstance(session, requests.Session)
