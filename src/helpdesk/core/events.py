"""In-process domain events, handed to subscribers only after the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from helpdesk.extensions import db

log = logging.getLogger(__name__)

PENDING = "helpdesk_pending_events"
Handler = Callable[[Any], None]


def subscribe(app: Flask, event_type: type, handler: Handler) -> None:
    """Call handler with every committed event of event_type."""
    app.extensions.setdefault("helpdesk_events", {}).setdefault(event_type, []).append(handler)


def publish(domain_event: object) -> None:
    """Queue an event in the current unit of work; it is delivered by commit(), never before."""
    db.session.info.setdefault(PENDING, []).append(domain_event)


def commit() -> None:
    """Commit, then deliver the unit of work's events; a failing handler is logged, not raised."""
    db.session.commit()
    pending = db.session.info.pop(PENDING, [])
    handlers = current_app.extensions.get("helpdesk_events", {})
    for domain_event in pending:
        for handler in handlers.get(type(domain_event), ()):
            try:
                handler(domain_event)
            except Exception:
                log.exception("handler %r failed for %r", handler, domain_event)


def rollback() -> None:
    """Undo the unit of work and drop its events, which must never be delivered."""
    db.session.rollback()
    db.session.info.pop(PENDING, None)
