"""What counts as an @mention in a task's text."""

from __future__ import annotations

import pytest

from helpdesk.tasks.mentions import mentioned_usernames, newly_mentioned


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("@bob please look", {"bob"}),
        ("thanks, @Alice.", {"alice"}),  # the sentence's dot is no part of the name
        ("(@j.doe_2) and @x-y", {"j.doe_2", "x-y"}),
        ("line one\n@rita", {"rita"}),
        ("mail x@bob.org or @@bob", set()),  # addresses and doubled signs name nobody
        ("", set()),
        (None, set()),
    ],
)
def test_mentioned_usernames(text: str | None, names: set[str]) -> None:
    assert mentioned_usernames(text) == names


def test_an_edit_mentions_only_who_it_adds() -> None:
    assert newly_mentioned("cc @bob", "cc @bob and @rita") == {"rita"}
    assert newly_mentioned("cc @bob", "cc @BOB") == set()
    assert newly_mentioned(None, "@bob") == {"bob"}
