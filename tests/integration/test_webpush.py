"""Browser push: VAPID keys, the service worker and manifest, and real encrypted round trips
to a push service the tests run on 127.0.0.1 (it verifies VAPID and decrypts like a browser)."""

from __future__ import annotations

import io
import json
import logging
import socket
import stat
import time
from collections.abc import Callable, Iterator
from typing import Any

import http_ece
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from PIL import Image
from py_vapid import Vapid
from sqlalchemy import select

from conftest import PASSWORD
from helpdesk.cli import main
from helpdesk.extensions import db
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.notifications.webpush import (
    BACKOFF_BASE,
    MAX_ATTEMPTS,
    TTL,
    BrowserPushService,
    generate_vapid_keys,
    key_file,
    write_key_file,
)
from helpdesk.tasks.labels import label
from helpdesk.users.models import User
from push_service import Answer, BrowserSubscription, PushEndpoint, b64url_decode

CONTACT = "push-admin@example.com"
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy")


@pytest.fixture
def push_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[PushEndpoint]:
    """A local push service; proxies from the environment must not intercept 127.0.0.1."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    endpoint = PushEndpoint().start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def push_app(app: Flask) -> Flask:
    """The app with a generated key pair in its instance folder and http:// endpoints allowed."""
    app.config["PUSH_ALLOW_HTTP"] = True
    app.config["PUSH_ALLOW_PRIVATE_ENDPOINTS"] = True
    write_key_file(key_file(app), generate_vapid_keys(f"mailto:{CONTACT}"))
    return app


@pytest.fixture
def sleeps() -> list[float]:
    """The delays the service asked for, instead of sleeping through them."""
    return []


@pytest.fixture
def pusher(sleeps: list[float]) -> BrowserPushService:
    """The service under test, with sleep recorded rather than slept."""
    return BrowserPushService(sleep=sleeps.append)


@pytest.fixture
def subscribe(
    push_app: Flask, push_service: PushEndpoint
) -> Callable[..., tuple[User, BrowserSubscription]]:
    """Log a user in, read the push key, subscribe at the push service, register with us."""

    def do_subscribe(
        user: User, server_key: str | None = None, client: FlaskClient | None = None
    ) -> tuple[User, BrowserSubscription]:
        client = client or push_app.test_client()
        login = client.post("/users/login", json={"username": user.username, "password": PASSWORD})
        assert login.status_code == 200
        key = server_key or client.get("/tasks/api/push-key").get_json()["data"]["public_key"]
        browser = push_service.subscribe(application_server_key=key)
        response = client.post("/tasks/api/push-subscribe", json=browser.to_json())
        assert response.status_code == 201, response.get_json()
        return user, browser

    return do_subscribe


@pytest.fixture
def person(make_user: Callable[..., User]) -> Callable[..., User]:
    """Create a user with browser notifications on (unless push=False) and a language."""

    def factory(
        username: str, *, push: bool = True, language: str = "en", is_admin: bool = False
    ) -> User:
        user = make_user(username, is_admin=is_admin)
        user.browser_notifications_enabled = push
        user.language = language
        db.session.commit()
        return user

    return factory


@pytest.fixture
def alice(person: Callable[..., User]) -> User:
    """A user who turned browser notifications on and reads English."""
    return person("alice")


def notify(user: User, **fields: Any) -> Notifications:
    """A recorded notification for user, as notifications.service writes them."""
    values: dict[str, Any] = {
        "issue_id": 7,
        "type": "status_change",
        "title": "Task #7 status changed",
        "message": "Task #7 changed from 'New' to 'Resolved'",
        "old_status": "New",
        "new_status": "Resolved",
        "old_subj": "Printer on floor 3",
        "data": {"task_subject": "Printer on floor 3", "comment": "secret internal comment"},
        "event_key": f"test:{fields.get('issue_id', 7)}:{fields.get('type', 'status_change')}",
    }
    values.update(fields)
    notification = Notifications(user_id=user.id, **values)
    db.session.add(notification)
    db.session.commit()
    return notification


def subscription_row(browser: BrowserSubscription) -> PushSubscription:
    """Our stored row for a browser subscription, fresh from the database."""
    db.session.expire_all()
    row = db.session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == browser.endpoint)
    )
    assert row is not None
    return row


# --- keys -------------------------------------------------------------------------------------


@pytest.fixture
def run_cli(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run a `helpdesk` subcommand against the test app."""
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(main, list(args))


def test_vapid_command_writes_a_private_key_file_and_pages_get_the_public_key(
    app: Flask, client: FlaskClient, run_cli: Callable[..., Any], alice: User, login: Any
) -> None:
    result = run_cli("vapid", "--email", CONTACT)
    assert result.exit_code == 0, result.output
    path = key_file(app)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["claim_email"] == f"mailto:{CONTACT}"
    assert len(b64url_decode(stored["private_key"])) == 32
    assert stored["private_key"] not in result.output

    login(alice)
    response = client.get("/tasks/api/push-key")
    assert response.status_code == 200
    body = response.get_json()
    assert body["success"] is True
    key = body["data"]["public_key"]
    raw = b64url_decode(key)
    assert len(raw) == 65
    assert raw[0] == 0x04
    assert "=" not in key
    assert key == stored["public_key"]
    assert key in result.output


def test_vapid_command_keeps_existing_keys_unless_forced(
    app: Flask, run_cli: Callable[..., Any], subscribe: Any, alice: User
) -> None:
    first = json.loads(key_file(app).read_text())  # written by the push_app fixture
    again = run_cli("vapid")
    assert again.exit_code == 0
    assert "--force" in again.output
    assert json.loads(key_file(app).read_text())["private_key"] == first["private_key"]

    _, browser = subscribe(alice)
    forced = run_cli("vapid", "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads(key_file(app).read_text())["private_key"] != first["private_key"]
    # Subscriptions were made with the old key; push services would refuse the new one.
    assert subscription_row(browser).is_active is False


def test_vapid_command_leaves_configured_keys_alone(
    app: Flask, run_cli: Callable[..., Any]
) -> None:
    app.config["VAPID_PRIVATE_KEY"] = generate_vapid_keys().private_key
    result = run_cli("vapid")
    assert result.exit_code == 0
    assert "configuration" in result.output
    assert not key_file(app).exists()


def test_configured_keys_win_over_the_file(
    push_app: Flask, subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    configured = generate_vapid_keys()
    push_app.config["VAPID_PRIVATE_KEY"] = configured.private_key
    push_app.config["VAPID_PUBLIC_KEY"] = configured.public_key
    push_app.config["VAPID_CLAIM_EMAIL"] = CONTACT
    _, browser = subscribe(alice)
    assert browser.application_server_key == configured.public_key

    assert pusher.push_notification(notify(alice)) == 1
    [message] = push_service.received(browser)
    assert message.claims is not None
    assert message.claims["k"] == configured.public_key
    assert message.claims["sub"] == f"mailto:{CONTACT}"


def test_push_key_needs_a_login_and_configured_push(
    app: Flask, client: FlaskClient, alice: User, login: Any
) -> None:
    assert client.get("/tasks/api/push-key").status_code == 401
    login(alice)
    assert client.get("/tasks/api/push-key").status_code == 404  # no keys yet
    write_key_file(key_file(app), generate_vapid_keys())
    assert client.get("/tasks/api/push-key").status_code == 200
    app.config["PUSH_NOTIFICATIONS_ENABLED"] = False
    assert client.get("/tasks/api/push-key").status_code == 404


# --- service worker and manifest ------------------------------------------------------------


def test_service_worker_is_served_from_the_root(client: FlaskClient) -> None:
    with client.get("/sw.js") as response:
        source = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "addEventListener('push'" in source
    assert "addEventListener('notificationclick'" in source
    assert "showNotification" in source
    assert "openWindow" in source
    assert "innerHTML" not in source
    assert "importScripts" not in source


def test_manifest_makes_the_helpdesk_installable(client: FlaskClient) -> None:
    with client.get("/manifest.webmanifest") as response:
        manifest = json.loads(response.get_data())
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    assert manifest["name"] == "Helpdesk"
    assert manifest["short_name"]
    assert manifest["start_url"] == "/tasks/my-tasks"
    assert manifest["display"] == "standalone"
    sizes = set()
    for icon in manifest["icons"]:
        with client.get(icon["src"]) as image_response:
            content = image_response.get_data()
        assert image_response.status_code == 200
        assert image_response.mimetype == "image/png"
        image = Image.open(io.BytesIO(content))
        assert image.format == "PNG"
        assert f"{image.width}x{image.height}" == icon["sizes"]
        sizes.add(image.width)
    assert sizes == {192, 512}


# --- sending ----------------------------------------------------------------------------------


def test_a_status_change_arrives_encrypted_signed_and_small(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(alice)
    notification = notify(alice)

    assert pusher.push_notification(notification) == 1

    [message] = push_service.received(browser)
    assert message.error is None
    assert message.status == 201
    assert message.payload == {
        "id": notification.id,
        "title": "Task #7 status changed",
        "body": "Task #7 changed from 'New' to 'Resolved'",
        "url": "/tasks/7",
        "tag": "task-7",
    }
    assert message.header("ttl") == str(TTL)
    assert int(message.header("ttl") or 0) > 0
    assert message.header("urgency") == "high"
    assert message.header("content-encoding") == "aes128gcm"
    assert message.claims is not None
    assert message.claims["aud"] == push_service.origin
    assert message.claims["sub"] == f"mailto:{CONTACT}"
    assert message.claims["k"] == browser.application_server_key
    assert len(message.body) < 4096
    assert b"secret internal comment" not in message.plaintext  # type: ignore[operator]
    assert subscription_row(browser).last_used is not None


def test_other_notifications_are_normal_urgency(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(alice)
    notification = notify(alice, type="comment", title="New comment on task #7", message="bob: ok")
    assert pusher.push_notification(notification) == 1
    [message] = push_service.received(browser)
    assert message.header("urgency") == "normal"
    assert message.payload["body"] == "bob: ok"


def test_a_long_message_is_cut_to_a_short_body(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(alice)
    # The longest title a notification can hold (255), and a very long message.
    notification = notify(alice, title=("Задача " * 40)[:255], message="очень длинный текст " * 800)
    assert pusher.push_notification(notification) == 1
    [message] = push_service.received(browser)
    assert len(message.body) < 4096
    assert message.plaintext is not None
    assert len(message.plaintext) < 4096
    assert len(message.payload["body"]) <= 200
    assert message.payload["body"].endswith("…")
    assert len(message.payload["title"]) <= 120


def test_every_browser_of_the_user_gets_it_and_no_one_else(
    subscribe: Any,
    alice: User,
    person: Callable[..., User],
    push_service: PushEndpoint,
    pusher: Any,
) -> None:
    _, laptop = subscribe(alice)
    _, phone = subscribe(alice)
    _, bobs = subscribe(person("bob"))

    assert pusher.push_notification(notify(alice)) == 2

    assert len(push_service.received(laptop)) == 1
    assert len(push_service.received(phone)) == 1
    assert push_service.received(bobs) == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deactivated(
    status: int, subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(alice)
    push_service.script(browser, status)

    assert pusher.push_notification(notify(alice)) == 0
    assert subscription_row(browser).is_active is False

    assert pusher.push_notification(notify(alice, issue_id=8)) == 0
    assert len(push_service.received(browser)) == 1


def test_429_waits_as_told_then_succeeds(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any, sleeps: list[float]
) -> None:
    _, browser = subscribe(alice)
    push_service.script(browser, Answer(429, {"Retry-After": "2"}))

    assert pusher.push_notification(notify(alice)) == 1

    first, second = push_service.received(browser)
    assert (first.status, second.status) == (429, 201)
    assert first.payload == second.payload
    assert sleeps == [2.0]
    row = subscription_row(browser)
    assert row.is_active is True
    assert row.last_used is not None


def test_server_errors_back_off_exponentially_then_succeed(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any, sleeps: list[float]
) -> None:
    _, browser = subscribe(alice)
    push_service.script(browser, 500, 503)

    assert pusher.push_notification(notify(alice)) == 1

    assert [m.status for m in push_service.received(browser)] == [500, 503, 201]
    assert sleeps == [BACKOFF_BASE, BACKOFF_BASE * 2]


def test_retries_are_bounded_and_the_subscription_kept(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any, sleeps: list[float]
) -> None:
    _, browser = subscribe(alice)
    push_service.script(browser, *[502] * 10)

    assert pusher.push_notification(notify(alice)) == 0

    assert len(push_service.received(browser)) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1
    row = subscription_row(browser)
    assert row.is_active is True
    assert row.last_used is None


def test_a_long_retry_after_is_not_waited_for_in_process(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any, sleeps: list[float]
) -> None:
    _, browser = subscribe(alice)
    push_service.script(browser, Answer(429, {"Retry-After": "3600"}))

    assert pusher.push_notification(notify(alice)) == 0

    assert len(push_service.received(browser)) == 1
    assert sleeps == []
    assert subscription_row(browser).is_active is True


def test_a_refusal_is_logged_without_secrets_and_the_subscription_kept(
    push_app: Flask,
    subscribe: Any,
    alice: User,
    push_service: PushEndpoint,
    pusher: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Subscribed with another server's key: the push service refuses our VAPID key (403).
    _, browser = subscribe(alice, server_key=generate_vapid_keys().public_key)
    caplog.set_level(logging.DEBUG, logger="helpdesk")

    assert pusher.push_notification(notify(alice)) == 0

    [message] = push_service.received(browser)
    assert message.status == 403
    assert subscription_row(browser).is_active is True
    assert "403" in caplog.text
    stored = json.loads(key_file(push_app).read_text())
    for secret in (
        stored["private_key"],
        browser.to_json()["keys"]["auth"],
        browser.endpoint.removeprefix(push_service.origin),
        "Task #7",
    ):
        assert secret not in caplog.text


def test_an_unreachable_push_service_never_raises(
    subscribe: Any, alice: User, pusher: Any, sleeps: list[float]
) -> None:
    _, browser = subscribe(alice)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    row = subscription_row(browser)
    row.endpoint = f"http://127.0.0.1:{closed}/push/gone"
    db.session.commit()

    assert pusher.push_notification(notify(alice)) == 0

    assert len(sleeps) == MAX_ATTEMPTS - 1
    db.session.refresh(row)
    assert row.is_active is True
    assert row.last_used is None


def test_users_who_turned_push_off_get_nothing(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    subscribe(alice)
    alice.browser_notifications_enabled = False
    db.session.commit()

    assert pusher.push_notification(notify(alice)) == 0
    assert push_service.received() == []


def test_inactive_subscriptions_get_nothing(
    push_app: Flask, subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    client = push_app.test_client()
    _, old = subscribe(alice, client=client)
    _, current = subscribe(alice, client=client)
    response = client.post("/tasks/api/push-unsubscribe", json={"endpoint": old.endpoint})
    assert response.status_code == 200

    assert pusher.push_notification(notify(alice)) == 1

    assert push_service.received(old) == []
    assert len(push_service.received(current)) == 1


def test_nothing_is_sent_when_push_is_switched_off(
    push_app: Flask, subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    subscribe(alice)
    push_app.config["PUSH_NOTIFICATIONS_ENABLED"] = False
    assert pusher.push_notification(notify(alice)) == 0
    assert push_service.received() == []


def test_send_task_notification_speaks_the_users_language(
    subscribe: Any,
    alice: User,
    person: Callable[..., User],
    push_service: PushEndpoint,
    pusher: Any,
) -> None:
    _, english = subscribe(alice)
    ivan, russian = subscribe(person("ivan", language="ru"))

    sent = pusher.send_task_notification(
        user_id=alice.id,
        task_id=12345,
        notification_type="status_change",
        old_status="New",
        new_status="Resolved",
    )
    assert sent == 1
    assert pusher.send_task_notification(ivan.id, 12345, "status_change", "New", "Resolved") == 1

    [message] = push_service.received(english)
    assert message.payload == {
        "id": None,
        "title": "Task #12345 status changed",
        "body": "Task #12345 changed from 'New' to 'Resolved'",
        "url": "/tasks/12345",
        "tag": "task-12345",
    }
    assert message.header("urgency") == "high"
    [in_russian] = push_service.received(russian)
    with force_locale("ru"):
        new, resolved = str(label("New")), str(label("Resolved"))
    assert new != "New"
    assert in_russian.payload["title"] == "Изменен статус задачи #12345"
    assert in_russian.payload["body"] == f"Задача #12345: статус «{new}» изменен на «{resolved}»"


def test_send_admin_notification_reaches_administrators_only(
    subscribe: Any, person: Callable[..., User], push_service: PushEndpoint, pusher: Any
) -> None:
    _, admin_browser = subscribe(person("boss", is_admin=True))
    _, quiet_admin = subscribe(person("quiet", is_admin=True, push=False))
    _, staff_browser = subscribe(person("staff"))

    sent = pusher.send_admin_notification(
        "Redmine is down", "The change feed stopped at 10:02.", {"url": "/admin/"}
    )

    assert sent == 1
    [message] = push_service.received(admin_browser)
    assert message.payload["title"] == "Redmine is down"
    assert message.payload["url"] == "/admin/"
    assert message.header("urgency") == "normal"
    assert push_service.received(quiet_admin) == []
    assert push_service.received(staff_browser) == []


def test_a_foreign_url_in_admin_data_is_replaced(
    subscribe: Any, person: Callable[..., User], push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(person("boss", is_admin=True))
    pusher.send_admin_notification("Hi", "there", {"url": "https://evil.example/"})
    pusher.send_admin_notification("Hi", "again", {"url": "//evil.example/"})
    assert [m.payload["url"] for m in push_service.received(browser)] == ["/tasks/my-tasks"] * 2


def test_the_payload_never_carries_the_task(
    subscribe: Any, alice: User, push_service: PushEndpoint, pusher: Any
) -> None:
    _, browser = subscribe(alice)
    pusher.push_notification(notify(alice))
    [message] = push_service.received(browser)
    assert set(message.payload) == {"id", "title", "body", "url", "tag"}


def test_the_local_push_service_refuses_what_a_real_one_would(push_service: PushEndpoint) -> None:
    """The round-trip tests mean something only if this endpoint rejects bad VAPID and bad TTL."""
    keys = generate_vapid_keys()
    browser = push_service.subscribe(application_server_key=keys.public_key)
    signer = Vapid.from_raw(keys.private_key.encode())
    good = signer.sign({"sub": f"mailto:{CONTACT}", "aud": push_service.origin})["Authorization"]
    wrong_aud = signer.sign({"sub": f"mailto:{CONTACT}", "aud": "https://elsewhere.example"})
    token, _, key = good.removeprefix("vapid t=").partition(",k=")
    forged = f"vapid t={token[:-4]}AAAA,k={key}"
    body = http_ece.encrypt(
        b'{"title":"x"}',
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(browser.p256dh),
        auth_secret=browser.auth_secret,
        version="aes128gcm",
    )
    base = {"TTL": "60", "Content-Encoding": "aes128gcm"}
    cases = [
        ({**base, "Authorization": good}, 201),
        ({**base, "Authorization": wrong_aud["Authorization"]}, 401),
        ({**base, "Authorization": forged}, 401),
        ({"Content-Encoding": "aes128gcm", "Authorization": good}, 400),
        ({**base}, 401),
    ]
    for headers, expected in cases:
        response = requests.post(browser.endpoint, data=body, headers=headers, timeout=5)
        assert response.status_code == expected, (headers, push_service.received()[-1].error)
    assert push_service.received()[0].payload == {"title": "x"}


def test_a_status_change_through_the_api_is_pushed_to_the_recipients_browser(
    push_app: Flask, subscribe: Any, person: Callable[..., User], push_service: PushEndpoint
) -> None:
    """The whole way: PUT status → recorded → after commit, pushed from a worker thread."""
    from helpdesk.tasks.models import Member, Project, Task

    author, actor = person("author"), person("actor", push=False)
    author.is_redmine_user = actor.is_redmine_user = True
    project = Project(identifier="push", name="Push")
    db.session.add(project)
    db.session.flush()
    db.session.add_all(
        [
            Member(project_id=project.id, user_id=author.id, role_id=2),
            Member(project_id=project.id, user_id=actor.id, role_id=2),
        ]
    )
    task = Task(
        project_id=project.id,
        tracker_id=1,
        status_id=1,
        priority_id=2,
        author_id=author.id,
        assigned_to_id=actor.id,
        subject="Printer on fire",
    )
    db.session.add(task)
    db.session.commit()
    _, browser = subscribe(author)
    client = push_app.test_client()
    client.post("/users/login", json={"username": "actor", "password": PASSWORD})
    response = client.put(f"/tasks/api/task/{task.id}/status", json={"status_id": 3})
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while not push_service.received(browser) and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = push_service.received(browser)
    assert message.error is None
    assert message.payload["title"] == f"Task #{task.id} status changed"
    assert message.payload["url"] == f"/tasks/{task.id}"
    assert message.header("urgency") == "high"


def test_send_task_notification_names_the_task_to_those_who_may_see_it(
    subscribe: Any, person: Callable[..., User], push_service: PushEndpoint, pusher: Any
) -> None:
    """The seed's call with its own arguments: the text names the task's subject, in the
    recipient's language, and only to a recipient who may see the task."""
    from helpdesk.tasks.models import Member, Project, Task

    _, member_browser = subscribe(person("member", language="ru"))
    _, outsider_browser = subscribe(person("outsider"))
    member = db.session.scalar(select(User).where(User.username == "member"))
    outsider = db.session.scalar(select(User).where(User.username == "outsider"))
    project = Project(identifier="printers", name="Printers")
    db.session.add(project)
    db.session.flush()
    db.session.add(Member(project_id=project.id, user_id=member.id, role_id=2))
    task = Task(
        project_id=project.id,
        tracker_id=1,
        status_id=1,
        priority_id=2,
        author_id=member.id,
        subject="Printer on fire",
    )
    db.session.add(task)
    db.session.commit()

    for user in (member, outsider):
        assert (
            pusher.send_task_notification(
                user_id=user.id,
                task_id=task.id,
                notification_type="status_change",
                old_status="New",
                new_status="Resolved",
            )
            == 1
        )
    assert pusher.send_task_notification(member.id, task.id, "comment") == 1

    status_change, comment = push_service.received(member_browser)
    with force_locale("ru"):
        new, resolved = str(label("New")), str(label("Resolved"))
    assert status_change.payload["body"] == (
        f"Задача #{task.id} «Printer on fire»: статус «{new}» изменен на «{resolved}»"
    )
    assert comment.payload["title"] == f"Новый комментарий к задаче #{task.id}"
    assert comment.payload["body"] == "Printer on fire"
    [told] = push_service.received(outsider_browser)
    assert told.payload["body"] == f"Task #{task.id} changed from 'New' to 'Resolved'"
    assert "Printer" not in json.dumps(told.payload)
