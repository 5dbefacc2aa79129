"""REDMINE_READS's choice at start-up, and Redmine's role settings as Rails writes them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from helpdesk.config import ConfigurationError
from helpdesk.integrations.redmine.reads import reads_mode, search_tokens
from helpdesk.integrations.redmine.visibility import Role

DATABASE = {"REDMINE_DB_URL": "mysql+pymysql://reader@db/redmine"}


def test_reads_default_to_the_database_when_one_is_configured() -> None:
    assert reads_mode({}) == "rest"
    assert reads_mode(DATABASE) == "database"
    assert reads_mode({"REDMINE_DB_HOST": "db", "REDMINE_DB_NAME": "redmine"}) == "database"
    assert reads_mode({**DATABASE, "REDMINE_READS": "REST"}) == "rest"


@pytest.mark.parametrize(
    ("config", "words"),
    [({"REDMINE_READS": "database"}, "needs Redmine's database"), ({"REDMINE_READS": "db"}, "not")],
)
def test_a_reads_setting_that_cannot_work_stops_start_up(config: dict, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        reads_mode(config)


def role(permissions: str | None, settings: str | None) -> Role:
    row = SimpleNamespace(
        id=7, builtin=0, permissions=permissions, issues_visibility="default", settings=settings
    )
    return Role.of(row)


def test_a_roles_tracker_limits_are_read_from_rails_yaml() -> None:
    limited = role(
        "---\n- :view_issues\n- :add_issues\n",
        "--- !ruby/hash:ActiveSupport::HashWithIndifferentAccess\n"
        "permissions_all_trackers: !ruby/hash:ActiveSupport::HashWithIndifferentAccess\n"
        "  view_issues: '0'\n"
        "permissions_tracker_ids: !ruby/hash:ActiveSupport::HashWithIndifferentAccess\n"
        "  view_issues:\n  - '2'\n  - '3'\n",
    )
    assert limited.allowed_to("view_issues")
    assert not limited.allowed_to("view_private_notes")
    assert limited.allowed_to("view_project")  # public: every role has it
    assert limited.trackers_for("view_issues") == (2, 3)
    everything = role("---\n- :view_issues\n", None)
    assert everything.trackers_for("view_issues") is None
    none = role("--- []\n", "---\npermissions_all_trackers:\n  view_issues: '0'\n")
    assert none.trackers_for("view_issues") == ()


def test_search_splits_words_as_redmine_does() -> None:
    assert search_tokens('vpn "night shift" x') == ["vpn", "night shift"]
    assert search_tokens("%") == ["%"]
    assert search_tokens("a b") == ["a b"]
    assert search_tokens("a b c d e f g h") == ["a b c d e f g h"]
    assert search_tokens("one two three four five six") == ["one", "two", "three", "four", "five"]
