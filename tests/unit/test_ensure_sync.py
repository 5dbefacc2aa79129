"""The app asks Flask once per hook or view whether it must be run as a coroutine, and keeps no
more answers than it has room for."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from helpdesk import Helpdesk


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The functions Flask's own ensure_sync was asked about."""
    asked: list[Any] = []
    flask_check = Flask.ensure_sync

    def counted(self: Flask, func: Any) -> Any:
        asked.append(func)
        return flask_check(self, func)

    monkeypatch.setattr(Flask, "ensure_sync", counted)
    return asked


def hook() -> str:
    """A plain function, as every hook and view of the helpdesk is."""
    return "ran"


def test_a_plain_function_is_checked_once_and_given_back_as_it_is(checks: list[Any]) -> None:
    app = Helpdesk(__name__)
    assert app.ensure_sync(hook) is hook
    assert app.ensure_sync(hook) is hook
    assert checks == [hook]


def test_a_coroutine_is_still_refused_without_flasks_async_extra(checks: list[Any]) -> None:
    async def view() -> str:
        return "never"

    app = Helpdesk(__name__)
    with pytest.raises(RuntimeError, match="async"):
        app.ensure_sync(view)


def test_answers_beyond_the_limit_are_not_kept(
    checks: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Helpdesk, "MAX_REMEMBERED", 2)
    app = Helpdesk(__name__)
    made = [lambda: None for _ in range(3)]
    for func in made * 2:
        assert app.ensure_sync(func) is func
    assert checks == [made[0], made[1], made[2], made[2]]
