"""How many sign-in attempts are allowed, counted before the password is checked.

Each attempt is counted first, atomically in the rate limiter's storage (an increment that also
answers whether the limit is passed), so concurrent guesses cannot all slip through before any is
counted. Three counters, each with its own limits:

- `LOGIN_RATE_LIMIT`: one address guessing one account. Keyed on both, so a guesser behind an
  office's NAT does not lock out the colleagues who share its address.
- `LOGIN_ACCOUNT_RATE_LIMIT`: one account from any address (guessing spread over many
  addresses). A short window: its owner is slowed down, not locked out for long.
- `LOGIN_ADDRESS_RATE_LIMIT`: one address over every account (spraying one password), set high
  enough for an office behind one address.

A correct password clears the first two counters: the owner has shown who they are.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from flask import current_app
from limits import RateLimitItem, parse_many

from helpdesk.extensions import limiter

SETTINGS = ("LOGIN_RATE_LIMIT", "LOGIN_ACCOUNT_RATE_LIMIT", "LOGIN_ADDRESS_RATE_LIMIT")


@dataclass(frozen=True)
class Verdict:
    """The outcome of counting one attempt: refused or not, and the headers to send."""

    refused: bool
    limit: int
    remaining: int
    reset_at: float

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* of the tightest limit, and Retry-After when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if self.refused:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_at - time.time())))
        return headers


def _counters(
    address: str, account: str, *, including_address: bool = True
) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    """Each configured limit with the identifiers it counts under."""
    account = account.strip().casefold()
    namespace = current_app.config["RATELIMIT_KEY_PREFIX"]  # as Flask-Limiter's own keys
    keys = {
        "LOGIN_RATE_LIMIT": (namespace, "login", address, account),
        "LOGIN_ACCOUNT_RATE_LIMIT": (namespace, "login-account", account),
    }
    if including_address:
        keys["LOGIN_ADDRESS_RATE_LIMIT"] = (namespace, "login-address", address)
    counters = []
    for setting in SETTINGS:
        text = current_app.config.get(setting) or ""
        for item in parse_many(text) if text and setting in keys else []:
            counters.append((item, keys[setting]))
    return counters


def count_attempt(address: str, account: str) -> Verdict | None:
    """Count one attempt under each limit in turn; the first limit passed refuses it, and the
    limits after it do not count it (it never reaches the password). None: no limits set.

    Raises the storage's error when it cannot be reached (core/errors.py answers 503).
    """
    strategy = limiter.limiter
    tightest: Verdict | None = None
    for item, identifiers in _counters(address, account):
        allowed = strategy.hit(item, *identifiers)
        stats = strategy.get_window_stats(item, *identifiers)
        verdict = Verdict(not allowed, item.amount, stats.remaining, stats.reset_time)
        if not allowed:
            return verdict
        if tightest is None or verdict.remaining < tightest.remaining:
            tightest = verdict
    return tightest


def forget_failures(address: str, account: str) -> None:
    """After a correct password: this account's counters start again (not the address's)."""
    strategy = limiter.limiter
    for item, identifiers in _counters(address, account, including_address=False):
        strategy.clear(item, *identifiers)
