"""A real Web Push service on 127.0.0.1 for the tests: it checks VAPID, decrypts, and answers.

Browsers subscribe with a P-256 key pair and a 16-byte auth secret (`BrowserSubscription`);
the push service (`PushEndpoint`) receives the application server's encrypted POSTs, verifies the
VAPID JWT as RFC 8292 requires, decrypts the aes128gcm body (RFC 8291) with the browser's keys,
and answers as told (201 by default; 410, 429 with Retry-After, 500, … when scripted).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_JWT_LIFETIME = 24 * 3600  # RFC 8292: exp no more than 24 hours ahead
MAX_BODY = 4096  # RFC 8030: push services may refuse larger messages (413)


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url, strictly."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(raw: bytes) -> str:
    """Unpadded base64url, as PushSubscription.toJSON() writes keys."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class VapidError(Exception):
    """The Authorization header does not prove the sender holds the VAPID key."""


def verify_vapid(authorization: str, audience: str, now: float | None = None) -> dict[str, Any]:
    """Check `vapid t=<JWT>,k=<key>`: ES256 signature by k, aud, exp and sub; return the claims."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(f"scheme {scheme!r} is not vapid")
    parts = dict(item.strip().split("=", 1) for item in params.split(",") if "=" in item)
    if "t" not in parts or "k" not in parts:
        raise VapidError("t= and k= are both required")
    try:
        point = b64url_decode(parts["k"])
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        header_b64, claims_b64, signature_b64 = parts["t"].split(".")
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
        signature = b64url_decode(signature_b64)
    except (ValueError, binascii.Error) as error:
        raise VapidError(f"malformed token or key: {error}") from error
    if len(point) != 65 or point[0] != 4:
        raise VapidError("k is not an uncompressed P-256 point")
    if header.get("alg") != "ES256":
        raise VapidError(f"alg {header.get('alg')!r} is not ES256")
    if len(signature) != 64:
        raise VapidError("an ES256 signature is 64 bytes (r || s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as error:
        raise VapidError("the JWT signature does not verify with k") from error
    now = time.time() if now is None else now
    if claims.get("aud") != audience:
        raise VapidError(f"aud {claims.get('aud')!r} is not {audience!r}")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_JWT_LIFETIME:
        raise VapidError(f"exp {exp!r} is not within the next 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
        raise VapidError(f"sub {claims.get('sub')!r} is not a mailto: or https: contact")
    return {**claims, "k": parts["k"]}


@dataclass
class BrowserSubscription:
    """What PushManager.subscribe() creates in a browser: keys it keeps, and their public JSON."""

    endpoint: str
    application_server_key: str | None = None
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        """The browser's public key, uncompressed and base64url."""
        return b64url_encode(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    def to_json(self) -> dict[str, Any]:
        """PushSubscription.toJSON(): what the page POSTs to /tasks/api/push-subscribe."""
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64url_encode(self.auth_secret)},
        }

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an aes128gcm push message as the browser would."""
        return http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )


@dataclass
class PushRequest:
    """One POST the push service received, with what it made of it."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    claims: dict[str, Any] | None = None
    plaintext: bytes | None = None
    error: str | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The decrypted JSON message."""
        assert self.plaintext is not None, self.error
        return json.loads(self.plaintext)

    def header(self, name: str) -> str | None:
        """A request header, case-insensitively."""
        return self.headers.get(name.lower())


@dataclass
class Answer:
    """A scripted reply: status code and extra headers."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


class PushEndpoint:
    """The push service: subscribe() makes a browser subscription whose endpoint is here."""

    def __init__(self) -> None:
        """Bind a free port on 127.0.0.1; start() serves it in a daemon thread."""
        self.lock = threading.Lock()
        self.requests: list[PushRequest] = []
        self.subscriptions: dict[str, BrowserSubscription] = {}
        self.scripts: dict[str, deque[Answer]] = {}
        self.counter = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            """Hands each POST to the endpoint."""

            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                """Receive a push message."""
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                answer = endpoint.receive(self.path, headers, body)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.status == 201:
                    self.send_header("Location", f"{endpoint.origin}/message/{endpoint.counter}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> PushEndpoint:
        """Serve in the background."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def subscribe(self, application_server_key: str | None = None) -> BrowserSubscription:
        """A new browser subscription, tied (as real services do) to the server's public key."""
        with self.lock:
            self.counter += 1
            path = f"/push/{self.counter}-{b64url_encode(os.urandom(12))}"
            subscription = BrowserSubscription(self.origin + path, application_server_key)
            self.subscriptions[path] = subscription
        return subscription

    def script(self, subscription: BrowserSubscription, *answers: Answer | int) -> None:
        """Answer the next messages for a subscription so; 201 after the script runs out."""
        path = subscription.endpoint.removeprefix(self.origin)
        with self.lock:
            self.scripts[path] = deque(a if isinstance(a, Answer) else Answer(a) for a in answers)

    def received(self, subscription: BrowserSubscription | None = None) -> list[PushRequest]:
        """The messages received so far, all or for one subscription."""
        with self.lock:
            items = list(self.requests)
        if subscription is None:
            return items
        return [item for item in items if self.origin + item.path == subscription.endpoint]

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """Check a message as a push service must, decrypt it as the browser would, then answer."""
        record = PushRequest(path, headers, body, 0)
        answer = self._check(record)
        if answer is None:
            with self.lock:
                queue = self.scripts.get(path)
                answer = queue.popleft() if queue else Answer(201)
        record.status = answer.status
        with self.lock:
            self.requests.append(record)
        return answer

    def _check(self, record: PushRequest) -> Answer | None:
        """None when the message is acceptable, else the refusal a push service would send."""
        subscription = self.subscriptions.get(record.path)
        if subscription is None:
            record.error = "unknown subscription"
            return Answer(404)
        try:
            record.claims = verify_vapid(record.header("authorization") or "", self.origin)
        except VapidError as error:
            record.error = f"VAPID: {error}"
            return Answer(401)
        expected_key = subscription.application_server_key
        if expected_key and record.claims["k"] != expected_key.rstrip("="):
            record.error = "VAPID key differs from the applicationServerKey"
            return Answer(403)
        if not (record.header("ttl") or "").isdigit():
            record.error = "TTL header missing or not a number"
            return Answer(400)
        if len(record.body) > MAX_BODY:
            record.error = f"body of {len(record.body)} bytes"
            return Answer(413)
        if record.header("content-encoding") != "aes128gcm":
            record.error = f"content-encoding {record.header('content-encoding')!r}"
            return Answer(415)
        try:
            record.plaintext = subscription.decrypt(record.body)
        except Exception as error:  # http_ece raises several types for bad ciphertext
            record.error = f"decryption failed: {type(error).__name__}: {error}"
            return Answer(400)
        return None
