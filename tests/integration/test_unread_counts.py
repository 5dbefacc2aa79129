"""The unread counts the database keeps follow every way a notification is written."""

from __future__ import annotations

from itertools import count

import pytest
from sqlalchemy import delete, func, insert, select, update

from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.notifications import service
from helpdesk.notifications.models import Notifications, UnreadCount

_keys = count()


def add(user_id: int, *, is_read: bool = False) -> int:
    """One notification for the user, committed through the ORM."""
    item = Notifications(
        user_id=user_id,
        title="t",
        message="m",
        is_read=is_read,
        event_key=f"unread:{next(_keys)}",
        date_created=utcnow(),
    )
    db.session.add(item)
    db.session.commit()
    return item.id


def counted(user_id: int) -> int:
    """The unread notifications, counted row by row."""
    return db.session.scalar(
        select(func.count()).where(
            Notifications.user_id == user_id, Notifications.is_read.is_(False)
        )
    )


@pytest.fixture
def people(make_user) -> tuple[int, int]:
    return make_user("alice").id, make_user("bob").id


def assert_in_step(*user_ids: int) -> None:
    for user_id in user_ids:
        assert service.unread_count(user_id) == counted(user_id), user_id


def test_the_count_follows_inserts_reads_and_deletes(people):
    alice, bob = people
    assert service.unread_count(alice) == 0  # no row yet
    first, second, third = add(alice), add(alice), add(alice)
    add(alice, is_read=True)
    add(bob)
    assert (service.unread_count(alice), service.unread_count(bob)) == (3, 1)
    assert service.mark_read(alice, first)
    assert service.mark_read(alice, first)  # twice: counted once
    db.session.commit()
    assert service.unread_count(alice) == 2
    assert service.delete(alice, second)
    db.session.commit()
    assert service.unread_count(alice) == 1
    assert service.delete(alice, first)  # a read one: the count stays
    db.session.commit()
    assert service.unread_count(alice) == 1
    assert service.mark_all_read(alice) == 1
    db.session.commit()
    assert service.unread_count(alice) == 0
    db.session.execute(update(Notifications).where(Notifications.id == third).values(is_read=False))
    db.session.commit()
    assert service.unread_count(alice) == 1
    assert_in_step(alice, bob)


def test_the_count_follows_bulk_statements_moves_and_rollbacks(people):
    alice, bob = people
    db.session.execute(
        insert(Notifications),
        [
            {
                "user_id": user_id,
                "title": "t",
                "message": "m",
                "is_read": False,
                "type": "comment",
                "data": {},
                "event_key": f"bulk:{next(_keys)}",
                "date_created": utcnow(),
            }
            for user_id in (alice, alice, bob)
        ],
    )
    db.session.commit()
    assert (service.unread_count(alice), service.unread_count(bob)) == (2, 1)
    moved = db.session.scalar(select(Notifications.id).where(Notifications.user_id == alice))
    db.session.execute(update(Notifications).where(Notifications.id == moved).values(user_id=bob))
    db.session.commit()
    assert (service.unread_count(alice), service.unread_count(bob)) == (1, 2)
    add(alice)
    db.session.execute(delete(Notifications).where(Notifications.user_id == bob))
    db.session.rollback()  # nothing happened
    assert (service.unread_count(alice), service.unread_count(bob)) == (2, 2)
    db.session.execute(delete(Notifications).where(Notifications.user_id == bob))
    db.session.commit()
    assert (service.unread_count(alice), service.unread_count(bob)) == (2, 0)
    assert_in_step(alice, bob)


def test_a_deleted_user_takes_their_count_along(people):
    from helpdesk.users.models import User

    alice, _bob = people
    add(alice)
    db.session.delete(db.session.get(User, alice))
    db.session.commit()
    assert db.session.get(UnreadCount, alice) is None
