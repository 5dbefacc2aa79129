"""Formatted text: what people write (task descriptions, comments, announcements) as Markdown
(CommonMark), rendered here, on the server, and nowhere else.

Their HTML is never passed through: markdown-it-py escapes it as text, and nh3 (the Ammonia
sanitiser) then keeps only the tags below, links only to http, https and mailto, each with
rel="nofollow noopener". Bare addresses become links (linkify).
"""

from __future__ import annotations

from functools import cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}  # no class, no style
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener"


@cache
def parser() -> MarkdownIt:
    """CommonMark with tables, strikethrough and linkify; raw HTML off (shown as text), line
    breaks kept as typed (people write comments as they would an e-mail), images off (an
    image from anywhere would tell its server who reads the task)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable(["table", "strikethrough", "linkify"])
    md.disable("image")
    return md


def render_markdown(text: str | None, plain: bool = False) -> Markup:
    """The one way a user's text becomes HTML: Markdown rendered, then sanitised; plain: shown
    as typed (text written for another formatter, such as a Textile Redmine's)."""
    if not text:
        return Markup("")
    if plain:
        return Markup('<p class="text-pre-line">%s</p>') % escape(text)
    html = parser().render(text)
    return Markup(  # noqa: S704 -- nh3 has removed every tag, attribute and scheme not allowed
        nh3.clean(
            html,
            tags=set(ALLOWED_TAGS),
            attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
            url_schemes=set(LINK_SCHEMES),
            link_rel=LINK_REL,
        )
    )
