"""In-process domain events: recorders run inside the transaction, subscribers after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.extensions import db

log = logging.getLogger(__name__)

PENDING = "helpdesk_pending_events"
Handler = Callable[[Any], None]


def subscribe(app: Flask, event_type: type, handler: Handler) -> None:
    """Call handler with every committed event of event_type (side effects: sockets, push). It
    reads what was committed, on PostgreSQL in autocommit: a handler sends, it does not write."""
    app.extensions.setdefault("helpdesk_events", {}).setdefault(event_type, []).append(handler)


def record(app: Flask, event_type: type, handler: Handler) -> None:
    """Call handler when an event is published, inside its transaction (rows that must commit
    or roll back with the change, such as notifications); its errors undo the change."""
    app.extensions.setdefault("helpdesk_recorders", {}).setdefault(event_type, []).append(handler)


def publish(domain_event: object) -> None:
    """Run the recorders now; queue the event for the subscribers, which commit() calls."""
    for handler in current_app.extensions.get("helpdesk_recorders", {}).get(type(domain_event), ()):
        handler(domain_event)
    db.session.info.setdefault(PENDING, []).append(domain_event)


def commit() -> None:
    """Commit, then deliver the unit of work's events; a failing handler is logged, not raised."""
    db.session.commit()
    pending = db.session.info.pop(PENDING, [])
    if not pending:
        return
    handlers = current_app.extensions.get("helpdesk_events", {})
    with _reading_committed():
        for domain_event in pending:
            for handler in handlers.get(type(domain_event), ()):
                try:
                    handler(domain_event)
                except Exception:
                    log.exception("handler %r failed for %r", handler, domain_event)


@contextmanager
def _reading_committed() -> Iterator[None]:
    """What the handlers read, on PostgreSQL in autocommit (two round trips fewer, and each
    statement sees what was committed anyway); ended with COMMIT, since closing the session would
    ROLLBACK, and at every ROLLBACK psycopg forgets its prepared statements."""
    session = db.session()
    if db.engine.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    try:
        yield
    finally:
        if session.in_transaction():
            try:
                session.commit()
            except SQLAlchemyError:
                log.exception("ending the event handlers' transaction failed")
                session.rollback()


def rollback() -> None:
    """Undo the unit of work and drop its events, which must never be delivered."""
    db.session.rollback()
    db.session.info.pop(PENDING, None)
