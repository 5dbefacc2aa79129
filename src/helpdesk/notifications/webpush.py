"""Browser push (Web Push with VAPID): the key pair, and sending short encrypted messages."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask, current_app
from flask_babel import force_locale
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlalchemy import func, select, update

from helpdesk.core.metrics import NOTIFICATIONS_SENT
from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications.endpoints import EndpointRefused, endpoint_problem, push_session
from helpdesk.notifications.models import Notifications, PushSubscription
from helpdesk.notifications.preferences import gets_push
from helpdesk.notifications.service import assigned_title, comment_title, status_change_texts
from helpdesk.tasks.backends import get_backend
from helpdesk.tasks.backends.base import TaskError
from helpdesk.tasks.service import actor_for
from helpdesk.users.models import User

log = logging.getLogger(__name__)

KEY_FILE = "vapid.json"
TTL = 86_400  # a day: a laptop that was asleep overnight still hears of the change
TIMEOUT = 5.0  # seconds, for connecting to a push service and for its answer
MAX_ATTEMPTS = 3  # first try plus two retries on 429/5xx/connection failures
BACKOFF_BASE = 0.5  # seconds; doubled each retry
RETRY_AFTER_CAP = 10.0  # seconds; a push service asking for longer is not retried now
MAX_PAYLOAD_BYTES = 3000  # Web Push allows ~4 KB of ciphertext; stay well under it
TITLE_CHARS = 120
BODY_CHARS = 200
HOME_URL = "/tasks/my-tasks"
# What became of one message to one browser; "unreachable": no connection after every attempt.
Delivery = Literal["sent", "gone", "failed", "unreachable"]
Message = tuple[int, Callable[[User], bytes], str]  # the user, their payload, its urgency


@dataclass(frozen=True)
class VapidKeys:
    """The server's VAPID key pair (base64url) and the contact for its JWT `sub` claim."""

    public_key: str
    private_key: str
    claim_email: str = ""

    def signer(self) -> Vapid:
        """A py_vapid signer for pywebpush, built from the raw private key."""
        return Vapid.from_raw(self.private_key.encode("ascii"))


def _b64url(raw: bytes) -> str:
    """Unpadded base64url, the encoding browsers and push services use for keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _keys_from_private(private: ec.EllipticCurvePrivateKey, claim_email: str = "") -> VapidKeys:
    """Both halves of a P-256 key as base64url: raw 32-byte scalar, 65-byte uncompressed point."""
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(_b64url(point), _b64url(scalar), claim_email)


def generate_vapid_keys(claim_email: str = "") -> VapidKeys:
    """A fresh P-256 key pair for VAPID."""
    return _keys_from_private(ec.generate_private_key(ec.SECP256R1()), claim_email)


def parse_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """Read VAPID_PRIVATE_KEY as generators write it: raw base64url, DER base64 or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key: Any = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    else:
        vapid = Vapid.from_string(text)
        key = vapid.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("not a P-256 private key")
    return key


def key_file(app: Flask) -> Path:
    """Where `helpdesk vapid` keeps the generated key pair."""
    return Path(app.instance_path) / KEY_FILE


def write_key_file(path: Path, keys: VapidKeys) -> None:
    """Write the key pair readable by the owner only, replacing any old file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "public_key": keys.public_key,
        "private_key": keys.private_key,
        "claim_email": keys.claim_email,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def claim_subject(value: str) -> str:
    """The JWT `sub`: a mailto: or https: contact for the push service's operators."""
    value = value.strip()
    if value.startswith(("mailto:", "https://")):
        return value
    address = parseaddr(value)[1]
    return f"mailto:{address}" if "@" in address else ""


def configured_private_key(app: Flask) -> bool:
    """Whether the keys come from configuration (env or config.ini), not the instance file."""
    return bool(app.config.get("VAPID_PRIVATE_KEY"))


def load_vapid_keys(app: Flask) -> VapidKeys | None:
    """The key pair from configuration first, then the instance file; None if neither works."""
    config = app.config
    stored: dict[str, Any] = {}
    path = key_file(app)
    private_text = config.get("VAPID_PRIVATE_KEY") or ""
    if not private_text and path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            private_text = str(stored["private_key"])
        except (OSError, ValueError, KeyError, TypeError):
            log.error("the VAPID key file %s cannot be read; run `helpdesk vapid --force`", path)
            return None
    if not private_text:
        return None
    try:
        private = parse_private_key(private_text)
    except (ValueError, TypeError):
        source = "VAPID_PRIVATE_KEY" if config.get("VAPID_PRIVATE_KEY") else str(path)
        log.error("%s does not hold a valid P-256 private key", source)
        return None
    email = config.get("VAPID_CLAIM_EMAIL") or stored.get("claim_email") or ""
    keys = _keys_from_private(private, claim_subject(str(email)))
    configured_public = config.get("VAPID_PUBLIC_KEY") or ""
    if (
        config.get("VAPID_PRIVATE_KEY")
        and configured_public
        and configured_public.rstrip("=") != keys.public_key
    ):
        log.error("VAPID_PUBLIC_KEY does not match VAPID_PRIVATE_KEY; using the derived key")
    return keys


def public_key(app: Flask) -> str | None:
    """The public key pages pass to pushManager.subscribe(), or None when push is off."""
    if not app.config.get("PUSH_NOTIFICATIONS_ENABLED"):
        return None
    keys = load_vapid_keys(app)
    return keys.public_key if keys else None


def truncate(text: str, limit: int) -> str:
    """Shorten text to limit characters on a word boundary, with an ellipsis."""
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:") + "…"


def build_payload(
    title: str, body: str, url: str, tag: str, notification_id: int | None = None
) -> bytes:
    """The JSON the service worker shows: short title and body, a same-site URL and a tag."""
    if not url.startswith("/") or url.startswith("//"):
        url = HOME_URL
    document: dict[str, Any] = {
        "id": notification_id,
        "title": truncate(title, TITLE_CHARS),
        "body": truncate(body, BODY_CHARS),
        "url": url[:300],
        "tag": tag[:64],
    }
    data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    while len(data) > MAX_PAYLOAD_BYTES and document["body"]:
        document["body"] = truncate(document["body"], len(document["body"]) // 2)
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return data


def task_url(issue_id: int | None) -> str:
    """The page a notification opens: its task, or the user's task list."""
    return f"/tasks/{issue_id}" if issue_id else HOME_URL


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _origin(endpoint: str) -> str:
    """The push service's origin without user information, the only part safe to log."""
    parts = urlsplit(endpoint)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _always(payload: bytes) -> Callable[[User], bytes]:
    """A payload that is the same whoever receives it."""
    return lambda _user: payload


@dataclass(frozen=True, slots=True)
class Browser:
    """What sending to one subscription needs, read before the network calls begin."""

    id: int
    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def of(cls, subscription: PushSubscription) -> Browser:
        """The plain values of a subscription row."""
        return cls(subscription.id, subscription.endpoint, subscription.p256dh, subscription.auth)

    def where(self) -> str:
        """The subscription as log lines name it: its id and its push service's origin."""
        return f"subscription {self.id} at {_origin(self.endpoint)}"


def record_outcomes(
    sent: list[int], gone: list[int], unreachable: list[int], dead_after: timedelta
) -> None:
    """After sending, in one short transaction: browsers that took a message were used now;
    those their push service says are gone, and those unreachable now that took nothing for
    dead_after, are retired."""
    if sent:
        NOTIFICATIONS_SENT.labels("push").inc(len(sent))
        db.session.execute(
            update(PushSubscription).where(PushSubscription.id.in_(sent)).values(last_used=utcnow())
        )
    if gone:
        db.session.execute(
            update(PushSubscription).where(PushSubscription.id.in_(gone)).values(is_active=False)
        )
    if unreachable:
        last_success = func.coalesce(PushSubscription.last_used, PushSubscription.created_at)
        db.session.execute(
            update(PushSubscription)
            .where(PushSubscription.id.in_(unreachable), last_success < utcnow() - dead_after)
            .values(is_active=False)
        )
    db.session.commit()


def subject_seen_by(user: User, task_id: int) -> str | None:
    """A task's subject as the user reads it in the backend; None when they may not see the task
    (or the backend cannot say now): a push never names a task to someone who cannot open it."""
    try:
        return get_backend().get_task(actor_for(user), task_id).subject
    except TaskError:
        return None


class BrowserPushService:
    """Sends Web Push messages to the browsers of users who turned browser notifications on.

    Synchronous and never raising: call it after the change committed (it commits its own
    bookkeeping of last_used and dead subscriptions), ideally off the request thread.
    """

    def __init__(
        self,
        *,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = TIMEOUT,
        ttl: int = TTL,
    ) -> None:
        """Tests inject sleep (to see the backoff) and a session; defaults suit production."""
        self.sleep = sleep
        self.session = session
        self.max_attempts = max(1, max_attempts)
        self.timeout = timeout
        self.ttl = max(1, ttl)

    def push_notification(self, notification: Notifications) -> int:
        """Push one recorded notification to its recipient; returns how many browsers took it."""
        return self.push_notifications([notification])

    def push_notifications(self, notifications: Iterable[Notifications]) -> int:
        """Push recorded notifications to their recipients at once, so a slow browser of one
        user delays no one else; returns how many messages browsers took."""
        messages: list[Message] = []
        for notification in notifications:
            payload = build_payload(
                notification.title,
                notification.message,
                task_url(notification.issue_id),
                f"task-{notification.issue_id}"
                if notification.issue_id
                else f"notification-{notification.id}",
                notification.id,
            )
            urgency = "high" if notification.type == "status_change" else "normal"
            messages.append((notification.user_id, _always(payload), urgency))
        return self._send(messages)

    def send_task_notification(
        self,
        user_id: int,
        task_id: int,
        notification_type: str = "status_change",
        old_status: str | None = None,
        new_status: str | None = None,
    ) -> int:
        """The seed's call: tell one user about a task, in their language, without a stored row;
        the task's subject is named when the user may see the task."""

        def payload_for(user: User) -> bytes:
            """Texts in the recipient's language, the same messages as the notification list."""
            language = user.language or current_app.config["BABEL_DEFAULT_LOCALE"]
            subject = subject_seen_by(user, task_id)
            with force_locale(language):
                if notification_type == "comment":
                    title, body = comment_title(task_id), subject or ""
                elif notification_type == "assigned":
                    title, body = assigned_title(task_id), subject or ""
                else:
                    title, body = status_change_texts(task_id, old_status, new_status, subject)
            return build_payload(title, body, task_url(task_id), f"task-{task_id}")

        urgency = "high" if notification_type == "status_change" else "normal"
        return self._send([(user_id, payload_for, urgency)])

    def send_admin_notification(
        self, title: str, message: str, data: dict[str, Any] | None = None
    ) -> int:
        """The seed's call: tell every administrator with push on; data may hold url and tag."""
        data = data or {}
        payload = build_payload(
            title,
            message,
            str(data.get("url") or HOME_URL),
            str(data.get("tag") or "admin"),
        )
        admins = db.session.scalars(select(User.id).where(User.is_admin.is_(True))).all()
        return self._send([(admin, _always(payload), "normal") for admin in admins])

    def _send(self, messages: list[Message]) -> int:
        """The one way out: each active subscription of each opted-in user, retried, recorded."""
        try:
            return self._send_unsafe(messages)
        except Exception:
            db.session.rollback()
            log.exception("browser push failed")
            return 0

    def _send_unsafe(self, messages: list[Message]) -> int:
        """_send without the safety net."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if not messages or not app.config.get("PUSH_NOTIFICATIONS_ENABLED"):
            return 0
        keys = load_vapid_keys(app)
        if keys is None:
            log.warning("browser push skipped: no VAPID keys (run `helpdesk vapid`)")
            return 0
        subject = keys.claim_email or claim_subject(app.config.get("MAIL_DEFAULT_SENDER") or "")
        if not subject:
            log.warning("browser push skipped: set VAPID_CLAIM_EMAIL (or `helpdesk vapid --email`)")
            return 0
        rows = db.session.execute(
            select(PushSubscription, User)
            .join(User, User.id == PushSubscription.user_id)
            .where(PushSubscription.user_id.in_({m[0] for m in messages}), gets_push())
            .order_by(PushSubscription.id)
        ).all()
        browsers_of: dict[int, list[tuple[Browser, User]]] = {}
        for subscription, user in rows:
            browsers_of.setdefault(user.id, []).append((Browser.of(subscription), user))
        deliveries: list[tuple[Browser, bytes, str]] = []
        for user_id, payload_for, urgency in messages:
            payload: bytes | None = None
            for browser, user in browsers_of.get(user_id, []):
                payload = payload if payload is not None else payload_for(user)
                deliveries.append((browser, payload, urgency))
        db.session.rollback()  # no transaction (on SQLite: no writer) held while the network waits
        if not deliveries:
            return 0
        outcomes: dict[Delivery, set[int]] = {
            "sent": set(),
            "gone": set(),
            "failed": set(),
            "unreachable": set(),
        }
        allowed = []
        for delivery in deliveries:
            problem = endpoint_problem(delivery[0].endpoint, app.config)
            if problem:
                log.warning("push to %s refused: %s; deactivated", delivery[0].where(), problem)
                outcomes["gone"].add(delivery[0].id)
            else:
                allowed.append(delivery)
        signer = keys.signer()
        session = self.session or push_session(app.config)
        taken = 0
        workers = max(1, min(int(app.config["PUSH_SEND_CONCURRENCY"]), len(allowed) or 1))
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = pool.map(
                    lambda d: self._deliver(session, d[0], d[1], signer, subject, d[2]), allowed
                )
                for (browser, _payload, _urgency), outcome in zip(allowed, results, strict=True):
                    outcomes[outcome].add(browser.id)
                    taken += outcome == "sent"
        finally:
            if self.session is None:
                session.close()
        record_outcomes(
            sorted(outcomes["sent"]),
            sorted(outcomes["gone"]),
            sorted(outcomes["unreachable"] - outcomes["sent"]),
            timedelta(hours=app.config["PUSH_DEAD_AFTER_HOURS"]),
        )
        return taken

    def _deliver(
        self,
        session: requests.Session,
        browser: Browser,
        payload: bytes,
        signer: Vapid,
        subject: str,
        urgency: str,
    ) -> Delivery:
        """Send to one browser: "sent", "gone" (404/410: retire it) or "failed"; 429/5xx retry."""
        where = browser.where()
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                webpush(
                    subscription_info={
                        "endpoint": browser.endpoint,
                        "keys": {"p256dh": browser.p256dh, "auth": browser.auth},
                    },
                    data=payload.decode("utf-8"),
                    vapid_private_key=signer,
                    vapid_claims={"sub": subject},  # a fresh dict: webpush() adds aud and exp
                    content_encoding="aes128gcm",
                    timeout=self.timeout,
                    ttl=self.ttl,
                    headers={"Urgency": urgency},
                    requests_session=session,
                )
            except WebPushException as error:
                status = error.status_code
                if status is None:
                    log.warning("push to %s refused before sending: %s", where, error.message)
                    return "failed"
                if status in (404, 410):
                    log.info("push service says %s is gone (%s); deactivated", where, status)
                    return "gone"
                if status != 429 and status < 500:
                    log.warning("push to %s answered %s; left as it is", where, status)
                    return "failed"
                retry_after = _retry_after_seconds(error.retry_after)
                problem = f"HTTP {status}"
            except EndpointRefused:
                log.warning("push to %s refused: it resolves to a private address", where)
                return "gone"
            except requests.ConnectionError as error:
                problem = type(error).__name__
            except requests.RequestException as error:
                log.warning("push to %s failed: %s", where, type(error).__name__)
                return "failed"
            except Exception as error:
                log.warning("push to %s could not be sent: %s", where, type(error).__name__)
                return "failed"
            else:
                return "sent"
            if attempt == self.max_attempts:
                log.warning("push to %s gave up after %d attempts (%s)", where, attempt, problem)
                return "failed" if problem.startswith("HTTP") else "unreachable"
            if retry_after is not None and retry_after > RETRY_AFTER_CAP:
                log.warning(
                    "push to %s not retried: the service asks to wait %.0f s", where, retry_after
                )
                return "failed"
            delay = retry_after if retry_after is not None else BACKOFF_BASE * 2 ** (attempt - 1)
            log.info("push to %s got %s; retrying in %.1f s", where, problem, delay)
            self.sleep(delay)
        return "failed"
