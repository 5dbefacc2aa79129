"""What counts as mentioning someone in a task's text: @ and a helpdesk username."""

from __future__ import annotations

import re

# after a space, a line start or punctuation (not inside an e-mail address); a username's
# characters (users/forms.py USERNAME_RULES), a sentence's final dot left out
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_.-]*[A-Za-z0-9_-])")


def mentioned_usernames(text: str | None) -> set[str]:
    """The usernames a text mentions, lower-cased (usernames are matched case-insensitively)."""
    return {name.lower() for name in MENTION.findall(text or "")}


def newly_mentioned(old: str | None, new: str | None) -> set[str]:
    """Who an edited text mentions that it did not before (an edit never repeats a mention)."""
    return mentioned_usernames(new) - mentioned_usernames(old)
