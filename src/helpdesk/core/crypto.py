"""Secrets at rest: a column type that encrypts with a key derived from the app's secret."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    """A Fernet key derived from the configured secret (ENCRYPTION_KEY, else SECRET_KEY)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"helpdesk-at-rest").derive(
        secret.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(key))


def current_fernet() -> Fernet:
    """The cipher for this app."""
    config = current_app.config
    return _fernet(config.get("ENCRYPTION_KEY") or config["SECRET_KEY"])


class EncryptedText(TypeDecorator[str]):
    """Text stored encrypted; reads give the plain value, or None when the key has changed."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Encrypt on the way into the database."""
        if value is None or value == "":
            return value
        return current_fernet().encrypt(str(value).encode("utf-8")).decode("ascii")

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """Decrypt on the way out; an undecryptable value reads as absent rather than failing."""
        if not value:
            return value
        try:
            return current_fernet().decrypt(value.encode("ascii")).decode("utf-8")
        except InvalidToken:
            return None
