"""The seed's documented install path and names work as documented: db.create_all(), the
positional Notifications constructor, the push subscription relationships, EmailSender's example,
last_notification_check."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from helpdesk.extensions import db
from helpdesk.notifications.mail_sender import EmailSender
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.notifications.service import unread_count
from helpdesk.users.models import User
from helpers import HTML, JSON, fresh
from smtp_server import Inbox, smtp_server


def test_a_database_made_by_create_all_counts_unread_notifications(app, make_user):
    """The seed installs with db.create_all(): the unread-count triggers come with the tables."""
    db.session.remove()
    db.drop_all()
    db.create_all()
    alice = make_user("alice")
    db.session.add(Notifications(user_id=alice.id, issue_id=7, event_key="k", title="t"))
    db.session.commit()
    assert unread_count(alice.id) == 1
    note = db.session.scalars(select(Notifications)).one()
    note.is_read = True
    db.session.commit()
    assert unread_count(alice.id) == 0


def test_the_seeds_positional_notification_constructor(app, make_user):
    alice = make_user("alice")
    when = datetime(2026, 12, 7, 10, 0)
    db.session.add(Notifications(alice.id, 7, "New", "Resolved", "Printer jams", when))
    db.session.add(Notifications(alice.id, 8, "New", "Closed", "Scanner", when))
    db.session.commit()
    fresh()
    first, second = db.session.scalars(select(Notifications).order_by(Notifications.id))
    assert (first.user_id, first.issue_id, first.old_subj) == (alice.id, 7, "Printer jams")
    assert (first.old_status, first.new_status, first.date_created) == ("New", "Resolved", when)
    assert first.is_read is False
    assert first.title  # the bell has something to show
    assert "Printer jams" in first.message
    assert first.event_key != second.event_key
    assert unread_count(alice.id) == 2


def test_push_subscriptions_and_their_user_are_relationships(app, make_user):
    alice = make_user("alice")
    alice.push_subscriptions.append(
        PushSubscription(endpoint="https://push.example/1", p256dh="k", auth="a")
    )
    db.session.commit()
    fresh()
    subscription = db.session.scalars(select(PushSubscription)).one()
    assert subscription.user.username == "alice"
    assert [s.endpoint for s in db.session.get(User, alice.id).push_subscriptions] == [
        "https://push.example/1"
    ]


def test_the_seeds_email_example_sends_a_title_and_a_message(app):
    inbox = Inbox()
    with smtp_server(inbox) as server:
        sender = EmailSender("127.0.0.1", server.port, "", "", use_tls=False, timeout=5)
        assert sender.send_notification(
            to_email="user@example.com",
            subject="Task Status Update",
            template="task_notification",
            context={
                "task_id": 12345,
                "task_subject": "Fix login issue",
                "old_status": "In Progress",
                "new_status": "Resolved",
            },
        )
    (message,) = inbox.messages
    text = message.get_body(("plain",)).get_content()
    title = text.strip().splitlines()[0]
    assert "#12345" in title
    assert "Fix login issue" in text
    assert re.search(r"«(В работе|In Progress)».*«(Решена|Resolved)»|'In Progress'", text)


def test_marking_all_read_records_the_check_and_leaves_no_red_zero(client, login, make_user):
    alice = make_user("alice")
    login(alice)
    assert alice.last_notification_check is None
    assert client.put("/tasks/api/notifications/read-all", headers=JSON).status_code == 200
    fresh()
    assert db.session.get(User, alice.id).last_notification_check is not None
    page = client.get("/notifications", headers=HTML).get_data(as_text=True)
    assert 'id="unread-count"' not in page  # no red "0" when nothing is unread
