"""A real SMTP server for tests: aiosmtpd on a free loopback port that keeps what it accepts,
and can answer 451 (try later) or 550 (no such user) like a real mail server does."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from helpers import free_port

HOST = "127.0.0.1"


@dataclass
class Inbox:
    """The aiosmtpd handler: stores accepted messages; the first fail_first DATA commands get
    451, recipients in reject get 550; delay slows each DATA (to make senders overlap)."""

    fail_first: int = 0
    reject: set[str] = field(default_factory=set)
    delay: float = 0.0
    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options):  # noqa: N802
        if address in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay:
            time.sleep(self.delay)  # blocks the server's loop: senders queue up behind it
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return "451 4.3.0 Try again later"
            message = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for one address."""
        return [message for message in self.messages if message["To"] == address]


@dataclass
class Server:
    """A running server's address and its inbox."""

    port: int
    inbox: Inbox


@contextmanager
def smtp_server(inbox: Inbox | None = None, **smtp: Any) -> Iterator[Server]:
    """Run an SMTP server for the duration of the block; smtp passes TLS and auth settings."""
    inbox = inbox or Inbox()
    port = free_port()
    controller = Controller(inbox, hostname=HOST, port=port, **smtp)
    controller.start()
    try:
        yield Server(port, inbox)
    finally:
        controller.stop()


def accept_login(username: str, password: str):
    """An aiosmtpd authenticator that accepts only this username and password."""

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == username
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helpdesk test SMTP")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """The server side of STARTTLS with the given certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context
