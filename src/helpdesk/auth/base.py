"""What every sign-in provider offers the chain: a profile for a good password, None for a bad
one, ProviderUnavailable when its directory cannot be asked."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """Who a directory says the user is; the chain copies it onto the local account."""

    username: str
    email: str | None = None
    fields: Mapping[str, str | date | None] = field(default_factory=dict)  # full_name, hire_date, …
    flags: dict[str, bool] = field(default_factory=dict)  # only the flags this source decides
    redmine_username: str | None = None


class SignInError(Exception):
    """A sign-in that must be answered with its own message rather than "wrong password"."""

    status = 403

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ProviderUnavailable(SignInError):
    """The directory could not be reached or answered nonsense: try again later."""

    status = 503


class AuthProvider(Protocol):
    """One source of accounts (local, ldap, redmine, …)."""

    name: str

    def authenticate(self, username: str, password: str) -> Profile | None:
        """The profile when the password is right, None when it is not or the user is unknown;
        raises ProviderUnavailable when the answer cannot be had."""
        ...  # pragma: no cover


class OutageLog:
    """Logs a provider's outage once when it starts and once when it ends, not per sign-in."""

    def __init__(self, name: str):
        self.name = name
        self.down = False
        self.lock = threading.Lock()

    def failed(self, reason: str) -> None:
        """Note a failed call; only the first of a run of failures is logged."""
        with self.lock:
            first, self.down = not self.down, True
        if first:
            log.warning("sign-in provider %s is unavailable: %s", self.name, reason)

    def succeeded(self) -> None:
        """Note an answer; the end of an outage is logged."""
        with self.lock:
            ended, self.down = self.down, False
        if ended:
            log.warning("sign-in provider %s answers again", self.name)
