"""Email notifications through an outbox: queued with the change, sent later by a job.

The request that changes a task only inserts outbox rows (in its own transaction, so a rolled-back
change mails nobody); `send_due_mail`, run periodically by the job runner, claims due rows with a
lease, sends them and retries temporary failures with exponential backoff.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from typing import Any, cast

from flask import current_app
from flask_babel import force_locale
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import CursorResult, Row, func, or_, select, update

from helpdesk.core.metrics import NOTIFICATIONS_SENT
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications import service
from helpdesk.notifications.mail_sender import EmailSender, MailError
from helpdesk.notifications.models import MailOutbox, Notifications
from helpdesk.notifications.preferences import gets_email
from helpdesk.notifications.webpush import task_url
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.events import (
    TaskEvent,
)
from helpdesk.users.models import User

log = logging.getLogger(__name__)

TEMPLATE = "task_notification"
LEASE = timedelta(minutes=10)  # a sender that crashed mid-batch leaves its rows for this long
MAX_ATTEMPTS = 8  # then the row is marked failed: about two hours of retries
BACKOFF_BASE = 60  # seconds before the second attempt, doubled after each failure
BACKOFF_CAP = 3600  # seconds; never wait longer than an hour between attempts


def enqueue(
    event: TaskEvent,
) -> None:
    """Queue one email per notification of this change whose recipient wants email, in the
    change's transaction (recorded after the notifications); a replay finds them queued."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        return
    rows = db.session.execute(
        select(Notifications, User.email, User.timezone)
        .join(User, User.id == Notifications.user_id)
        .outerjoin(MailOutbox, MailOutbox.notification_id == Notifications.id)
        .where(
            Notifications.event_key == service.event_key(event),
            gets_email(),
            MailOutbox.id.is_(None),
        )
    ).all()
    if not rows:
        return
    languages = service.recipient_languages(item.user_id for item, _email, _zone in rows)
    base_url = (config.get("MAIL_BASE_URL") or "").rstrip("/")
    now = utcnow()
    db.session.execute(
        MailOutbox.__table__.insert(),
        [
            {
                "notification_id": item.id,
                "user_id": item.user_id,
                "to_address": email,
                "language": languages[item.user_id],
                "subject": item.title,
                "template": TEMPLATE,
                "context": _context(item, base_url, zone or config["DISPLAY_TIMEZONE"]),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for item, email, zone in rows
        ],
    )


def _context(item: Notifications, base_url: str, zone: str) -> dict[str, Any]:
    """What the email template shows: the notification's texts (already in the recipient's
    language), when it happened (shown in the recipient's zone, with its label), the task and a
    link when the site's address is configured."""
    data = item.data or {}
    return {
        "changed_at": item.date_created.isoformat(),
        "time_zone": zone,
        "title": item.title,
        "message": item.message,
        "kind": item.type,
        "task_id": item.issue_id,
        "task_subject": data.get("task_subject") or item.old_subj or "",
        "comment": data.get("comment") or "",
        "plain_text": get_backend().text_format() == "plain",  # how the HTML part shows it
        "task_url": f"{base_url}{task_url(item.issue_id)}" if base_url else "",
    }


def send_due_mail(limit: int = 50) -> int:
    """Send up to limit queued emails that are due; returns how many the server accepted.

    Commits its own transactions. Safe in several processes at once: a row is claimed (leased)
    by one sender before it is sent, and a crashed sender's claim expires.
    """
    sender = EmailSender.from_config(current_app.config)
    if sender is None or limit < 1:
        return 0
    token = secrets.token_hex(16)
    rows = _claim(token, limit)
    if not rows:
        return 0
    try:
        return _send(sender, token, rows)
    finally:
        _release(token)


def _due() -> tuple[Any, ...]:
    """Pending, due, and not leased by a live sender."""
    now = utcnow()
    return (
        MailOutbox.status == "pending",
        MailOutbox.next_attempt_at <= now,
        or_(MailOutbox.claimed_until.is_(None), MailOutbox.claimed_until < now),
    )


def _claim(token: str, limit: int) -> list[Row[Any]]:
    """Lease due rows to this sender: the UPDATE re-checks that each is still unclaimed, so
    of two senders racing for a row only one gets it (rowcount says how many were won)."""
    candidates = db.session.scalars(
        select(MailOutbox.id)
        .where(*_due())
        .order_by(MailOutbox.next_attempt_at, MailOutbox.id)
        .limit(limit)
    ).all()
    db.session.commit()  # end the read: on SQLite the claim must start its own transaction
    if not candidates:
        return []
    claimed = cast(
        "CursorResult[Any]",
        db.session.execute(
            update(MailOutbox)
            .where(MailOutbox.id.in_(candidates), *_due())
            .values(claim_token=token, claimed_until=utcnow() + LEASE)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    db.session.commit()
    if not claimed:
        return []
    rows = db.session.execute(
        select(
            MailOutbox.id,
            MailOutbox.user_id,
            MailOutbox.to_address,
            MailOutbox.language,
            MailOutbox.subject,
            MailOutbox.template,
            MailOutbox.context,
            MailOutbox.attempts,
        )
        .where(MailOutbox.claim_token == token)
        .order_by(MailOutbox.id)
    ).all()
    db.session.commit()
    return list(rows)


def _send(sender: EmailSender, token: str, rows: list[Row[Any]]) -> int:
    """Send the claimed rows over one connection, recording each outcome at once; stop when the
    connection is lost or the lease runs short (the rest are released for the next run)."""
    deadline = time.monotonic() + LEASE.total_seconds() / 2
    sent = 0
    with ExitStack() as stack:
        smtp = None
        for row in rows:
            if time.monotonic() > deadline:
                break
            try:
                with force_locale(row.language):
                    message = sender.build_message(
                        row.to_address, row.subject, row.template, row.context
                    )
            except Exception as error:  # a row that cannot become a mail must not block the rest
                log.exception("email %d could not be built", row.id)
                _failed(token, row, MailError(f"{type(error).__name__}: {error}", permanent=True))
                continue
            try:
                if smtp is None:
                    smtp = stack.enter_context(sender.connect())
                sender.deliver(smtp, message)
            except MailError as error:
                _failed(token, row, error)
                if error.connection_lost:
                    break
            else:
                _finish(token, row.id, status="sent", sent_at=utcnow(), attempts=row.attempts + 1)
                NOTIFICATIONS_SENT.labels("email").inc()
                sent += 1
    return sent


def outbox_metrics() -> Iterator[Metric]:
    """The outbox's depth for /metrics: mail waiting to be sent, and mail given up on."""
    counts = dict(
        db.session.execute(
            select(MailOutbox.status, func.count())
            .where(MailOutbox.status != "sent")
            .group_by(MailOutbox.status)
        ).all()
    )
    family = GaugeMetricFamily(
        "helpdesk_mail_outbox", "E-mails in the outbox, by state", labels=["status"]
    )
    for status in ("pending", "failed"):
        family.add_metric([status], counts.get(status, 0))
    yield family


def backoff(attempts: int) -> timedelta:
    """How long to wait after the given number of failed attempts: doubling, capped."""
    return timedelta(seconds=min(BACKOFF_BASE * 2 ** (attempts - 1), BACKOFF_CAP))


def _failed(token: str, row: Row[Any], error: MailError) -> None:
    """Schedule a retry of a temporary failure, or give up (once, logged) on a permanent one or
    after MAX_ATTEMPTS."""
    attempts = row.attempts + 1
    if error.permanent or attempts >= MAX_ATTEMPTS:
        log.warning(
            "email %d to user %d failed for good after %d attempt(s): %s",
            row.id,
            row.user_id,
            attempts,
            error.reason,
        )
        _finish(token, row.id, status="failed", attempts=attempts, last_error=error.reason)
        return
    log.info("email %d to user %d will be retried: %s", row.id, row.user_id, error.reason)
    _finish(
        token,
        row.id,
        attempts=attempts,
        last_error=error.reason,
        next_attempt_at=utcnow() + backoff(attempts),
    )


def _finish(token: str, row_id: int, **values: Any) -> None:
    """Record one row's outcome and end its claim, at once (a crash later must not resend it)."""
    db.session.execute(
        update(MailOutbox)
        .where(MailOutbox.id == row_id, MailOutbox.claim_token == token)
        .values(claim_token=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _release(token: str) -> None:
    """Give back the rows this sender claimed but did not try, for the next run."""
    db.session.rollback()  # whatever failed before must not keep the claims
    db.session.execute(
        update(MailOutbox)
        .where(MailOutbox.claim_token == token)
        .values(claim_token=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
