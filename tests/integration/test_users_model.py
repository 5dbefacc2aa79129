"""The User row: the Redmine API key is encrypted at rest, passwords are bcrypt hashes."""

from __future__ import annotations

from sqlalchemy import text

from helpdesk.extensions import db
from helpers import JSON, fetch_user

API_KEY = "0123456789abcdef0123456789abcdef01234567"


def raw_column(user_id: int, column: str) -> str | None:
    """A column as stored, read with plain SQL so no column type decodes it."""
    db.session.rollback()
    query = text(f'SELECT {column} FROM "user" WHERE id = :id')  # noqa: S608 - fixed names
    return db.session.execute(query, {"id": user_id}).scalar()


def test_redmine_api_key_is_encrypted_at_rest(make_user):
    user = make_user("alice")
    user.redmine_api_key = API_KEY
    db.session.commit()
    stored = raw_column(user.id, "redmine_api_key")
    assert stored
    assert stored != API_KEY
    assert API_KEY not in stored
    assert fetch_user(user.id).redmine_api_key == API_KEY


def test_the_same_key_encrypts_differently_for_two_users(make_user):
    alice, bob = make_user("alice"), make_user("bob")
    alice.redmine_api_key = bob.redmine_api_key = API_KEY
    db.session.commit()
    assert raw_column(alice.id, "redmine_api_key") != raw_column(bob.id, "redmine_api_key")


def test_key_reads_as_absent_under_another_secret(app, make_user):
    user = make_user("alice")
    user.redmine_api_key = API_KEY
    db.session.commit()
    app.config["SECRET_KEY"] = "a-completely-different-secret-key"
    assert fetch_user(user.id).redmine_api_key is None


def test_empty_key_stays_empty(make_user):
    user = make_user("alice")
    user.redmine_api_key = None
    db.session.commit()
    assert raw_column(user.id, "redmine_api_key") is None
    assert fetch_user(user.id).redmine_api_key is None


def test_password_is_stored_as_a_bcrypt_hash(make_user):
    user = make_user("alice", password="purple-otter-77")
    stored = raw_column(user.id, "password")
    assert stored.startswith("$2")
    assert "purple-otter-77" not in stored
    assert fetch_user(user.id).check_password("purple-otter-77")
    assert not fetch_user(user.id).check_password("purple-otter-78")


def test_the_api_never_returns_the_key(client, make_user, login):
    user = make_user("alice")
    user.redmine_api_key = API_KEY
    db.session.commit()
    login(user)
    response = client.get("/users/account", headers=JSON)
    assert API_KEY not in response.get_data(as_text=True)
    assert response.get_json()["data"]["has_redmine_api_key"] is True
