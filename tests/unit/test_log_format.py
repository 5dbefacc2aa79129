"""The request log's formatter writes each record's time exactly as logging's own Formatter."""

from __future__ import annotations

import logging

from helpdesk.core.middleware import LOG_FORMAT, TimeOncePerSecond


def record_at(created: float) -> logging.LogRecord:
    """A request line's record made at the given time."""
    record = logging.LogRecord("helpdesk.request", logging.INFO, "x.py", 1, "GET /", None, None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


def test_times_within_and_across_seconds_read_as_logging_writes_them() -> None:
    ours, theirs = TimeOncePerSecond(LOG_FORMAT), logging.Formatter(LOG_FORMAT)
    for created in (1_700_000_000.001, 1_700_000_000.999, 1_700_000_001.5, 1_700_000_000.25):
        record = record_at(created)
        assert ours.format(record) == theirs.format(record)


def test_a_date_format_of_its_own_is_honoured() -> None:
    ours, theirs = TimeOncePerSecond(LOG_FORMAT, "%H:%M"), logging.Formatter(LOG_FORMAT, "%H:%M")
    record = record_at(1_700_000_000.5)
    assert ours.format(record) == theirs.format(record)
