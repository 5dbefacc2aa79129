"""Email notifications against a real SMTP server (aiosmtpd on a loopback port).

EmailSender sends multipart text+HTML mail; a task change queues one outbox row per recipient who
wants email, in the change's transaction; send_due_mail sends them, retries temporary failures
with backoff, gives up on permanent ones, and never sends one row twice, even from two senders.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from task_api_support import DEVELOPER, RESOLVED, World, as_user, build_world, record_status_events

from helpdesk.core.events import commit, publish, record
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications import mail
from helpdesk.notifications.mail_sender import EmailSender
from helpdesk.notifications.models import MailOutbox, Notifications
from helpdesk.tasks.events import TaskStatusChanged
from helpdesk.tasks.models import Member, Task, Watcher
from helpdesk.users.models import User
from helpers import JSON, free_port, fresh
from smtp_server import (
    HOST,
    Inbox,
    accept_login,
    self_signed_certificate,
    server_tls_context,
    smtp_server,
)

SENDER = "helpdesk@example.com"
EVIL_SUBJECT = "<script>alert(1)</script> Printer & scanner"
CONTEXT = {
    "title": "Задача #7: статус изменён",
    "message": "Task #7 changed from 'New' to 'Resolved'",
    "task_id": 7,
    "task_subject": EVIL_SUBJECT,
    "comment": "",
    "task_url": "https://help.example/tasks/7",
}


def point_mail_at(app: Any, port: int, **settings: Any) -> None:
    """Configure the app's MAIL_* settings for a local server without TLS."""
    app.config.update(
        MAIL_SERVER=HOST,
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_USERNAME="",
        MAIL_PASSWORD="",
        MAIL_DEFAULT_SENDER=SENDER,
        MAIL_TIMEOUT=5,
        **settings,
    )


@pytest.fixture
def smtp(app):
    """A running SMTP server the app is configured to use."""
    with smtp_server() as server:
        point_mail_at(app, server.port)
        yield server


def parts(message) -> dict[str, str]:
    """The text bodies of a multipart message by content type."""
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def outbox_rows() -> list[dict[str, Any]]:
    """Outbox rows as committed, oldest first."""
    fresh()
    query = select(MailOutbox.__table__).order_by(MailOutbox.id)
    return [dict(row) for row in db.session.execute(query).mappings()]


def pending() -> int:
    """How many rows wait to be sent (or are being sent)."""
    fresh()
    query = select(func.count()).where(MailOutbox.status == "pending")
    return db.session.scalar(query) or 0


def make_due() -> None:
    """Move every pending row's next attempt into the past, as time passing would."""
    db.session.execute(
        update(MailOutbox)
        .where(MailOutbox.status == "pending")
        .values(next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()


# =============================================================================================
# EmailSender
# =============================================================================================


def sender_for(port: int, **options: Any) -> EmailSender:
    return EmailSender(HOST, port, "", "", use_tls=False, sender=SENDER, timeout=5, **options)


def test_send_notification_delivers_a_multipart_text_and_html_mail(app, smtp):
    ok = sender_for(smtp.port).send_notification(
        "anna@example.com", "Задача #7: статус изменён", "task_notification", CONTEXT
    )
    assert ok is True
    (message,) = smtp.inbox.messages
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Задача #7: статус изменён"
    assert message["From"] == SENDER
    assert message["To"] == "anna@example.com"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"
    bodies = parts(message)
    assert set(bodies) == {"text/plain", "text/html"}
    assert EVIL_SUBJECT in bodies["text/plain"]
    assert "https://help.example/tasks/7" in bodies["text/plain"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Printer &amp; scanner" in bodies["text/html"]
    assert "<script>" not in bodies["text/html"]
    assert '<a href="https://help.example/tasks/7">' in bodies["text/html"]


def test_the_subject_header_is_encoded_for_cyrillic(app):
    message = sender_for(25).build_message(
        "anna@example.com", "Статус\r\nBcc: x@evil.example", "task_notification", CONTEXT
    )
    head = message.as_bytes().split(b"\n\n")[0].splitlines()
    assert any(line.startswith(b"Subject: =?utf-8?b?") for line in head)
    assert not any(line.startswith(b"Bcc:") for line in head)  # no header injection
    assert message["Subject"] == "Статус Bcc: x@evil.example"


def test_bulk_sending_counts_successes_and_failures(app):
    with smtp_server(Inbox(reject={"nobody@example.com"})) as server:
        result = sender_for(server.port).send_bulk_notifications(
            ["a@example.com", "nobody@example.com", "b@example.com"],
            "Subject",
            "task_notification",
            CONTEXT,
        )
    assert result["success"] == 2
    assert result["failure"] == 1
    assert result["failed"] == ["nobody@example.com"]
    assert sorted(m["To"] for m in server.inbox.messages) == ["a@example.com", "b@example.com"]


def test_an_unreachable_server_returns_false_without_raising(app):
    sender = sender_for(free_port())
    assert sender.send_notification("a@example.com", "S", "task_notification", CONTEXT) is False
    result = sender.send_bulk_notifications(["a@example.com", "b@example.com"], "S", "x", {})
    assert (result["success"], result["failure"]) == (0, 2)


def test_a_server_that_never_answers_times_out(app):
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind((HOST, 0))
        silent.listen()
        sender = EmailSender(HOST, silent.getsockname()[1], "", "", use_tls=False, timeout=0.5)
        started = time.monotonic()
        assert sender.send_notification("a@example.com", "S", "task_notification", CONTEXT) is False
        assert time.monotonic() - started < 3


def test_starttls_with_a_private_ca_and_login(app, tmp_path, caplog):
    cert_file, key_file = self_signed_certificate(tmp_path)
    inbox = Inbox()
    tls = {
        "tls_context": server_tls_context(cert_file, key_file),
        "require_starttls": True,
        "authenticator": accept_login("mailer", "s3cret-pass"),
    }
    with smtp_server(inbox, **tls) as server:
        secure = EmailSender(
            HOST, server.port, "mailer", "s3cret-pass", sender=SENDER, ca_file=str(cert_file)
        )
        assert secure.send_notification("a@example.com", "S", "task_notification", CONTEXT)

        untrusted = EmailSender(HOST, server.port, "mailer", "s3cret-pass", sender=SENDER)
        assert not untrusted.send_notification("b@example.com", "S", "task_notification", CONTEXT)

        wrong = EmailSender(
            HOST, server.port, "mailer", "wrong-pass", sender=SENDER, ca_file=str(cert_file)
        )
        assert not wrong.send_notification("c@example.com", "S", "task_notification", CONTEXT)

        plain = EmailSender(HOST, server.port, "", "", use_tls=False, sender=SENDER)
        assert not plain.send_notification("d@example.com", "S", "task_notification", CONTEXT)
    assert [m["To"] for m in inbox.messages] == ["a@example.com"]
    assert "s3cret-pass" not in caplog.text
    assert "wrong-pass" not in caplog.text
    assert "s3cret-pass" not in repr(secure)


def test_from_config_is_none_without_a_mail_server(app):
    app.config["MAIL_SERVER"] = ""
    assert EmailSender.from_config(app.config) is None
    assert mail.send_due_mail() == 0


# =============================================================================================
# The outbox: queued with the change, sent by send_due_mail
# =============================================================================================


@pytest.fixture
def world(make_user) -> World:
    """Projects, members and tasks (see task_api_support.build_world)."""
    return build_world(make_user)


@pytest.fixture
def login_task(world: World) -> int:
    """ "Fix login issue" (author bob, assignee alice) with an evil-looking subject, watched by
    dave (a Developer of its project, email off); bob reads English, alice Russian."""
    task_id = world.tasks["login"]
    db.session.add(
        Member(project_id=world.projects["web"], user_id=world.uid("dave"), role_id=DEVELOPER)
    )
    db.session.add(Watcher(task_id=task_id, user_id=world.uid("dave")))
    db.session.get(Task, task_id).subject = EVIL_SUBJECT
    for name, values in {
        "bob": {"language": "en"},
        "alice": {"language": "ru"},
        "dave": {"email_notifications_enabled": False},
    }.items():
        user = db.session.get(User, world.uid(name))
        for column, value in values.items():
            setattr(user, column, value)
    db.session.commit()
    return task_id


def resolve(app, login, world: World, task_id: int) -> Any:
    """rita (a Reporter of the project) resolves the task through the API."""
    rita = as_user(app, login, world.users["rita"])
    return rita.put(
        f"/tasks/api/task/{task_id}/status",
        json={"status_id": RESOLVED, "comment": "Checked"},
        headers=JSON,
    )


def test_a_status_change_mails_each_recipient_in_their_language_once(
    app, login, world: World, login_task: int, smtp
):
    app.config["MAIL_BASE_URL"] = "https://help.example/"
    events = record_status_events(app)
    assert resolve(app, login, world, login_task).status_code == 200

    rows = outbox_rows()  # queued, not sent, by the request
    assert sorted(row["user_id"] for row in rows) == sorted([world.uid("alice"), world.uid("bob")])
    assert {row["status"] for row in rows} == {"pending"}
    assert smtp.inbox.messages == []

    assert mail.send_due_mail() == 2
    (english,) = smtp.inbox.to("bob@example.com")
    (russian,) = smtp.inbox.to("alice@example.com")
    assert english["Subject"] == f"Task #{login_task} status changed"
    assert russian["Subject"] == f"Изменен статус задачи #{login_task}"
    text_en, text_ru = parts(english)["text/plain"], parts(russian)["text/plain"]
    assert "changed from 'In Progress' to 'Resolved'" in text_en
    assert "email notifications are on" in text_en
    assert "«Решена»" in text_ru
    assert "email notifications are on" not in text_ru
    assert f"https://help.example/tasks/{login_task}" in text_en
    for message in (english, russian):
        html = parts(message)["text/html"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>" not in html
        assert "Checked" in html
    assert {row["status"] for row in outbox_rows()} == {"sent"}
    assert all(row["sent_at"] and row["attempts"] == 1 for row in outbox_rows())

    assert mail.send_due_mail() == 0  # nothing is sent twice
    (event,) = events
    publish(event)  # a replay of the same change, as the change feed might deliver it
    commit()
    assert len(outbox_rows()) == 2
    assert mail.send_due_mail() == 0
    assert len(smtp.inbox.messages) == 2


def test_a_mail_says_when_in_the_recipients_zone_with_its_label(
    app, login, world: World, login_task: int, smtp
):
    """bob chose New York in his profile, alice did not (the company's Moscow): each mail says
    when the change happened on the reader's clock, in their language, with the zone's label."""
    db.session.get(User, world.uid("bob")).timezone = "America/New_York"
    db.session.commit()
    assert resolve(app, login, world, login_task).status_code == 200
    assert mail.send_due_mail() == 2
    (english,) = smtp.inbox.to("bob@example.com")
    (russian,) = smtp.inbox.to("alice@example.com")

    def changed_at(name: str) -> datetime:
        when = db.session.scalar(
            select(Notifications.date_created).where(Notifications.user_id == world.uid(name))
        )
        return when.replace(tzinfo=UTC)

    bob_time = changed_at("bob").astimezone(ZoneInfo("America/New_York"))
    offset = "GMT-05:00" if bob_time.utcoffset() == timedelta(hours=-5) else "GMT-04:00"
    hour = bob_time.hour % 12 or 12
    en = f"When: {bob_time.month}/{bob_time.day}/{bob_time:%y}, {hour}:{bob_time:%M}\u202f"
    en += f"{bob_time:%p} {offset}"
    alice_time = changed_at("alice").astimezone(ZoneInfo("Europe/Moscow"))
    ru = f"Когда: {alice_time:%d.%m.%Y, %H:%M} GMT+03:00"
    for message, line in ((english, en), (russian, ru)):
        text, html = parts(message)["text/plain"], parts(message)["text/html"]
        assert line in text.splitlines()
        assert line in html


def test_a_comment_and_a_new_assignment_are_mailed_too(
    app, login, world: World, login_task: int, smtp
):
    rita = as_user(app, login, world.users["rita"])
    response = rita.post(
        f"/tasks/api/task/{login_task}/comments", json={"notes": "Works for me"}, headers=JSON
    )
    assert response.status_code == 201
    alice = as_user(app, login, world.users["alice"])
    body = {
        "project_id": world.projects["web"],
        "subject": "Rotate",
        "assigned_to_id": world.uid("bob"),
    }
    assert alice.post("/tasks/api/task", json=body, headers=JSON).status_code == 201
    assert mail.send_due_mail() == 3
    subjects = sorted(message["Subject"] for message in smtp.inbox.to("bob@example.com"))
    assert subjects[0].startswith(f"New comment on task #{login_task}")
    assert subjects[1].endswith("assigned to you")
    (to_alice,) = smtp.inbox.to("alice@example.com")
    assert "Rita Reporter: Works for me" in parts(to_alice)["text/plain"]


def test_without_a_mail_server_email_is_off(app, login, world: World, login_task: int):
    app.config["MAIL_SERVER"] = ""
    assert resolve(app, login, world, login_task).status_code == 200
    assert outbox_rows() == []
    assert mail.send_due_mail() == 0


def test_a_change_that_rolls_back_queues_nothing(app, login, world: World, login_task: int, smtp):
    queued_before_failure: list[int] = []

    def fail_after_the_mail_is_queued(event: TaskStatusChanged) -> None:
        queued_before_failure.append(len(db.session.scalars(select(MailOutbox.id)).all()))
        raise RuntimeError("a later step of the change failed")

    record(app, TaskStatusChanged, fail_after_the_mail_is_queued)
    assert resolve(app, login, world, login_task).status_code == 500
    assert queued_before_failure == [2]
    assert outbox_rows() == []
    assert mail.send_due_mail() == 0


def test_a_temporary_failure_is_retried_later_and_nothing_is_lost(
    app, login, world: World, login_task: int
):
    with smtp_server(Inbox(fail_first=1)) as server:
        point_mail_at(app, server.port)
        assert resolve(app, login, world, login_task).status_code == 200
        assert mail.send_due_mail() == 1  # the first message got 451, the second went
        failed = [row for row in outbox_rows() if row["status"] == "pending"]
        assert len(failed) == 1
        (row,) = failed
        assert row["attempts"] == 1
        assert row["last_error"].startswith("451")
        assert row["next_attempt_at"] > utcnow() + timedelta(seconds=30)
        assert row["claim_token"] is None

        assert mail.send_due_mail() == 0  # not due yet
        make_due()
        assert mail.send_due_mail() == 1
    assert {row["status"] for row in outbox_rows()} == {"sent"}
    assert sorted(m["To"] for m in server.inbox.messages) == [
        "alice@example.com",
        "bob@example.com",
    ]


def test_backoff_doubles_and_is_capped():
    assert [mail.backoff(n).total_seconds() for n in (1, 2, 3)] == [60, 120, 240]
    assert mail.backoff(30).total_seconds() == mail.BACKOFF_CAP


def test_a_permanent_rejection_fails_the_row_without_retrying(
    app, login, world: World, login_task: int
):
    with smtp_server(Inbox(reject={"bob@example.com"})) as server:
        point_mail_at(app, server.port)
        assert resolve(app, login, world, login_task).status_code == 200
        assert mail.send_due_mail() == 1
        (bob,) = [row for row in outbox_rows() if row["user_id"] == world.uid("bob")]
        assert bob["status"] == "failed"
        assert bob["attempts"] == 1
        assert bob["last_error"].startswith("550")
        make_due()
        assert mail.send_due_mail() == 0
    assert [m["To"] for m in server.inbox.messages] == ["alice@example.com"]


def test_after_the_last_attempt_the_row_fails_and_is_logged_once(
    app, login, world: World, login_task: int, caplog
):
    with smtp_server(Inbox(fail_first=100)) as server:
        point_mail_at(app, server.port)
        assert resolve(app, login, world, login_task).status_code == 200
        db.session.execute(update(MailOutbox).values(attempts=mail.MAX_ATTEMPTS - 1))
        db.session.commit()
        with caplog.at_level(logging.WARNING, logger="helpdesk.notifications.mail"):
            assert mail.send_due_mail() == 0
            make_due()
            assert mail.send_due_mail() == 0
    assert {row["status"] for row in outbox_rows()} == {"failed"}
    assert {row["attempts"] for row in outbox_rows()} == {mail.MAX_ATTEMPTS}
    given_up = [r for r in caplog.records if "failed for good" in r.getMessage()]
    assert len(given_up) == 2  # one line per row, once


def test_with_smtp_down_the_request_is_quick_and_the_mail_waits(
    app, login, world: World, login_task: int
):
    point_mail_at(app, free_port())  # nobody listens there
    started = time.monotonic()
    response = resolve(app, login, world, login_task)
    assert response.status_code == 200
    assert time.monotonic() - started < 2
    assert len(outbox_rows()) == 2

    assert mail.send_due_mail() == 0
    rows = outbox_rows()
    tried = [row for row in rows if row["attempts"] == 1]
    assert len(tried) == 1  # the connection failed once; the other row was not tried
    assert "ConnectionRefusedError" in tried[0]["last_error"]
    assert all(row["status"] == "pending" and row["claim_token"] is None for row in rows)

    with smtp_server() as server:
        point_mail_at(app, server.port)
        assert mail.send_due_mail() == 1  # the untried row; the failed one waits its backoff
        make_due()
        assert mail.send_due_mail() == 1
    assert len(server.inbox.messages) == 2


def test_a_crashed_senders_lease_expires_and_the_row_is_sent(
    app, login, world: World, login_task: int, smtp
):
    assert resolve(app, login, world, login_task).status_code == 200
    db.session.execute(
        update(MailOutbox).values(
            claim_token="crashed", claimed_until=utcnow() + timedelta(minutes=5)
        )
    )
    db.session.commit()
    assert mail.send_due_mail() == 0  # leased to a sender that may still be working
    db.session.execute(update(MailOutbox).values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert mail.send_due_mail() == 2
    assert len(smtp.inbox.messages) == 2


def queue(user_id: int, count: int, **fields: Any) -> None:
    """Put count emails straight into the outbox, to reader<n>@example.com."""
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "to_address": f"reader{n}@example.com",
            "language": "en",
            "subject": f"Message {n}",
            "template": "task_notification",
            "context": {"title": f"Message {n}", "message": "", "task_id": n},
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            **fields,
        }
        for n in range(count)
    ]
    db.session.execute(MailOutbox.__table__.insert(), rows)
    db.session.commit()


def test_a_row_that_cannot_become_a_mail_fails_without_blocking_the_rest(app, make_user, smtp):
    user = make_user("reader")
    queue(user.id, 1, template="no_such_template")
    queue(user.id, 1, to_address="reader@example.com\r\nBcc: x@evil.example")
    queue(user.id, 1)
    assert mail.send_due_mail() == 1
    rows = outbox_rows()
    assert [row["status"] for row in rows] == ["failed", "failed", "sent"]
    assert rows[0]["last_error"].startswith("TemplateNotFound")
    assert [m["To"] for m in smtp.inbox.messages] == ["reader0@example.com"]


def test_two_senders_at_once_send_each_message_exactly_once(app, make_user):
    queue(make_user("reader").id, 40)
    with smtp_server(Inbox(delay=0.01)) as server:
        point_mail_at(app, server.port)
        start = threading.Barrier(2)
        counts: list[int] = []
        errors: list[BaseException] = []

        def run() -> None:
            with app.app_context():
                try:
                    start.wait()
                    total = 0
                    while pending():  # rows the other sender holds are pending until sent
                        total += mail.send_due_mail(limit=7)
                    counts.append(total)
                except BaseException as error:  # reported by the test thread
                    errors.append(error)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    assert sum(counts) == 40
    received = sorted(message["To"] for message in server.inbox.messages)
    assert received == sorted(f"reader{n}@example.com" for n in range(40))
    assert {row["status"] for row in outbox_rows()} == {"sent"}
