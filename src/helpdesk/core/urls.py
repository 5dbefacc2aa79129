"""Redirect targets that stay on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request, url_for
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id names nothing (and SQLite's ends at 2^63)
MAX_PAGE = 100_000  # far beyond any real list; its offset still fits every database's integer


class BoundedInt(IntegerConverter):
    """`<int:…>` in routes: an id too large for the database's integer matches no route (404)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        """The stock converter, with an upper bound unless the route gives one."""
        kwargs.setdefault("max", MAX_ID)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def names_an_id_out_of_range(path: str) -> bool:
    """Whether a path has a number no `<int:…>` route accepts (BoundedInt's bound)."""
    return any(part.isascii() and part.isdigit() and int(part) > MAX_ID for part in path.split("/"))


def page_number() -> int:
    """The `page` query parameter as pages use it: a whole number from 1 to MAX_PAGE, else 1
    (a list past its end is simply empty)."""
    page = request.args.get("page", 1, type=int)
    return page if 1 <= page <= MAX_PAGE else 1


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
            and target.isprintable()
        ):
            return target
    return url_for(default_endpoint)
