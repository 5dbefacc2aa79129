"""In-process domain events: recorders run inside the transaction, subscribers after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.core.database import insert_ignoring
from helpdesk.core.models import PublishedEvent, utcnow
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


def publish_once(event_key: str, domain_event: object | None) -> bool:
    """Publish a change unless it was announced already; False then. One change may reach us
    twice: made here, then seen by the change feed in the backend's history (or the reverse, for
    a backend that writes before we record). Each announcement claims the change's key in
    published_events, in the transaction of the change and its notifications, so the first unit
    of work to commit its claim announces it on every channel (rows, sockets, board, push,
    e-mail) and any other, finding the key taken, announces nothing. None claims the key only:
    the change is settled here and tells nobody."""
    if event_key not in claim([event_key]):
        return False
    if domain_event is not None:
        publish(domain_event)
    return True


def claim(event_keys: list[str]) -> set[str]:
    """Claim the keys of changes to announce in the current transaction; returns those nobody
    had claimed (see publish_once). Keys are claimed in one order, so two claimers never wait
    for each other in a circle."""
    if not event_keys:
        return set()
    table = PublishedEvent.__table__
    dialect = db.session.get_bind().dialect.name
    statement = insert_ignoring(table, dialect, "event_key").returning(table.c.event_key)
    now = utcnow()
    rows = [{"event_key": key, "published_at": now} for key in sorted(set(event_keys))]
    return set(db.session.scalars(statement, rows))


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
