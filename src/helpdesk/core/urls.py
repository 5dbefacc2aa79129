"""Redirect targets that stay on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for


def safe_next_url(target: str | None, default_endpoint: str = "posts.home") -> str:
    """Accept only a local path as a redirect target, so `?next=` cannot send users elsewhere."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for(default_endpoint)
