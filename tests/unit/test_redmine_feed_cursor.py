"""The Redmine feed's cursor and the feed job's interval: our own logic, no service needed."""

from __future__ import annotations

from datetime import datetime

from helpdesk.integrations.redmine.feed import Cursor
from helpdesk.worker import JOBS


def test_a_cursor_reads_back_what_it_wrote() -> None:
    cursor = Cursor(
        journal=41,
        gaps={39: 1796650000.0},
        since=datetime(2026, 12, 7, 15, 0, 1),
        seen={40: 1796649999.0},
        read={7: 1796650001.0},
        anchor=datetime(2026, 12, 7, 14, 59, 30),
    )
    assert Cursor.parse(cursor.dump()) == cursor
    assert cursor.dump() == Cursor.parse(cursor.dump()).dump()  # stable: the job compares them


def test_a_bare_journal_id_is_a_cursor() -> None:
    assert Cursor.parse("123") == Cursor(journal=123)


def test_the_feed_polls_redmine_at_its_own_interval() -> None:
    feed = next(job for job in JOBS if job.name == "follow_changes")
    config = {"TASK_BACKEND": "local", "CHANGE_FEED_INTERVAL": 5, "REDMINE_POLL_SECONDS": 2}
    assert feed.interval(config) == 5
    assert feed.interval({**config, "TASK_BACKEND": "redmine"}) == 2
