"""Email over SMTP (the seed's EmailSender): a text and an HTML part rendered from templates."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from flask import render_template

log = logging.getLogger(__name__)

TIMEOUT = 10.0  # seconds, for connecting and for each SMTP command
TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
ERROR_CHARS = 200
FALLBACK_SENDER = "helpdesk@localhost"  # without MAIL_DEFAULT_SENDER or MAIL_USERNAME


class MailError(Exception):
    """A mail that was not sent: permanent when resending cannot help (a 5xx rejection), and
    connection_lost when the SMTP session cannot carry another message."""

    def __init__(self, reason: str, *, permanent: bool = False, connection_lost: bool = False):
        super().__init__(reason[:ERROR_CHARS])
        self.reason = reason[:ERROR_CHARS]
        self.permanent = permanent
        self.connection_lost = connection_lost


def _reply(code: int, text: bytes | str) -> str:
    """A server's reply as one short line for logs and last_error."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}"


def as_mail_error(error: Exception) -> MailError:
    """Classify a failure: 5xx for this recipient or message is final, everything else (refused
    or dropped connections, timeouts, 4xx, a login or sender problem the admin can fix) is not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return MailError(_reply(code, text), permanent=500 <= code < 600)
    if isinstance(error, smtplib.SMTPDataError):
        code = error.smtp_code
        return MailError(_reply(code, error.smtp_error), permanent=500 <= code < 600)
    if isinstance(error, smtplib.SMTPSenderRefused):
        return MailError(_reply(error.smtp_code, error.smtp_error))
    if isinstance(error, smtplib.SMTPResponseException):
        return MailError(_reply(error.smtp_code, error.smtp_error), connection_lost=True)
    reason = f"{type(error).__name__}: {' '.join(str(error).split())}".rstrip(": ")
    return MailError(reason, connection_lost=True)


def render_bodies(template: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The plain-text and HTML bodies of templates/email/<template>.txt/.html in the current
    language (HTML autoescaped, so task text cannot inject markup)."""
    if not TEMPLATE_NAME.fullmatch(template):
        raise ValueError(f"not an email template name: {template!r}")
    context = with_status_texts(context)
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    return text, html


def with_status_texts(context: Mapping[str, Any]) -> Mapping[str, Any]:
    """The seed's example context (task_id, task_subject, old_status, new_status) has no title
    or message: it gets a status change's, as the recipient's notification would say it."""
    if context.get("title") or not context.get("task_id") or not context.get("new_status"):
        return context
    from helpdesk.notifications.service import status_change_texts  # the sender stays a leaf

    title, message = status_change_texts(
        int(context["task_id"]),
        context.get("old_status"),
        context["new_status"],
        context.get("task_subject"),
        context.get("comment"),
    )
    return {**context, "title": title, "message": message}


class EmailSender:
    """Sends templated notifications by SMTP; every connection has a timeout, STARTTLS when
    use_tls, and a login only when a username is set. Never logs the password."""

    def __init__(
        self,
        smtp_server: str,
        smtp_port: int,
        username: str,
        password: str,
        *,
        use_tls: bool = True,
        sender: str = "",
        timeout: float = TIMEOUT,
        ca_file: str = "",
    ) -> None:
        """The seed's arguments; sender defaults to the username (most servers require that)."""
        self.smtp_server = smtp_server
        self.smtp_port = int(smtp_port)
        self.username = username
        self._password = password
        self.use_tls = use_tls
        self.sender = sender or username or FALLBACK_SENDER
        self.timeout = timeout
        self.ca_file = ca_file

    def __repr__(self) -> str:
        return f"EmailSender({self.smtp_server}:{self.smtp_port}, user={self.username!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EmailSender | None:
        """The sender the app's MAIL_* settings describe, or None: without MAIL_SERVER, email
        is off."""
        if not config.get("MAIL_SERVER"):
            return None
        return cls(
            config["MAIL_SERVER"],
            config.get("MAIL_PORT") or 587,
            config.get("MAIL_USERNAME") or "",
            config.get("MAIL_PASSWORD") or "",
            use_tls=bool(config.get("MAIL_USE_TLS", True)),
            sender=config.get("MAIL_DEFAULT_SENDER") or "",
            timeout=float(config.get("MAIL_TIMEOUT") or TIMEOUT),
            ca_file=config.get("MAIL_CA_FILE") or "",
        )

    def build_message(
        self, to_email: str, subject: str, template: str, context: Mapping[str, Any] | None = None
    ) -> EmailMessage:
        """A multipart/alternative message (text, then HTML) in the current language; raises
        ValueError for an address or template that cannot make a message."""
        text, html = render_bodies(template, context or {})
        message = EmailMessage()
        message["Subject"] = " ".join(subject.split())  # no line breaks: no header injection
        message["From"] = self.sender
        message["To"] = to_email.strip()
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = make_msgid(domain=_domain(self.sender))
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    @contextmanager
    def connect(self) -> Iterator[smtplib.SMTP]:
        """An SMTP session, upgraded with STARTTLS and logged in as configured; raises
        MailError if it cannot be opened."""
        try:
            smtp = smtplib.SMTP(self.smtp_server, self.smtp_port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as error:
            raise as_mail_error(error) from None
        try:
            try:
                if self.use_tls:
                    context = ssl.create_default_context(cafile=self.ca_file or None)
                    smtp.starttls(context=context)
                if self.username:
                    smtp.login(self.username, self._password)
            except (OSError, smtplib.SMTPException) as error:
                raise as_mail_error(error) from None
            yield smtp
        finally:
            close_smtp(smtp)

    def deliver(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        """Send one message over an open session; raises MailError."""
        try:
            smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise as_mail_error(error) from None
        except ValueError as error:  # addresses or headers smtplib cannot send
            raise MailError(f"ValueError: {error}", permanent=True) from None

    def send_notification(
        self,
        to_email: str,
        subject: str,
        template: str,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Send one templated email now; True if the server accepted it. Never raises."""
        return self.send_bulk_notifications([to_email], subject, template, context)["success"] == 1

    def send_bulk_notifications(
        self,
        recipients: Iterable[str],
        subject: str,
        template: str,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send the same email to each recipient over one connection; returns counts of
        success and failure and the failed addresses. Never raises."""
        addresses = list(recipients)
        failed: list[str] = []
        try:
            with self.connect() as smtp:
                for index, address in enumerate(addresses):
                    try:
                        self.deliver(smtp, self.build_message(address, subject, template, context))
                    except (MailError, ValueError) as error:
                        log.warning("email to a recipient failed: %s", error)
                        failed.append(address)
                        if isinstance(error, MailError) and error.connection_lost:
                            failed.extend(addresses[index + 1 :])
                            break
        except MailError as error:
            log.warning("email via %s:%s failed: %s", self.smtp_server, self.smtp_port, error)
            failed = addresses
        except Exception:
            log.exception("email via %s:%s failed", self.smtp_server, self.smtp_port)
            failed = addresses
        return {"success": len(addresses) - len(failed), "failure": len(failed), "failed": failed}


def close_smtp(smtp: smtplib.SMTP) -> None:
    """End the session politely, or just drop it if the server is gone."""
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


def _domain(sender: str) -> str | None:
    """The sender's domain for Message-ID, so ids look like the mail's own."""
    return parseaddr(sender)[1].rpartition("@")[2] or None
