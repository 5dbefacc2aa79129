"""Sign-in limits that hold under concurrency, per account, and without locking out an office."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable

from flask import Flask

from conftest import PASSWORD
from helpdesk import create_app
from helpdesk.extensions import db
from helpdesk.users.models import User

LOGIN = "/users/login"
ENGLISH = {"Accept-Language": "en"}


def attempt(app: Flask, username: str, password: str, address: str = "127.0.0.1") -> int:
    """One JSON login from address; its status code."""
    client = app.test_client()
    response = client.post(
        LOGIN,
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_concurrent_guesses_are_counted_before_the_password_is_checked(
    app: Flask, make_user: Callable[..., User]
) -> None:
    app.config["LOGIN_RATE_LIMIT"] = "10 per minute"
    make_user("alice")
    start = threading.Barrier(30)
    statuses: list[int] = []

    def guess(number: int) -> None:
        with app.app_context():
            start.wait()
            statuses.append(attempt(app, "alice", f"wrong-pass-{number}"))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(statuses) == {401: 10, 429: 20}


def test_a_guesser_behind_a_shared_address_does_not_lock_out_colleagues(
    app: Flask, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    make_user("bob")
    office = "203.0.113.7"
    for _ in range(10):
        assert attempt(app, "alice", "wrong-pass-1", office) == 401
    assert attempt(app, "alice", PASSWORD, office) == 429
    assert attempt(app, "bob", PASSWORD, office) == 200


def test_one_account_guessed_from_many_addresses_is_slowed_down(
    app: Flask, make_user: Callable[..., User]
) -> None:
    app.config["LOGIN_ACCOUNT_RATE_LIMIT"] = "5 per 5 minutes"
    make_user("alice")
    for number in range(5):
        assert attempt(app, "alice", "wrong-pass-1", f"198.51.100.{number}") == 401
    client = app.test_client()
    refused = client.post(
        LOGIN,
        json={"username": "ALICE", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "198.51.100.99"},
    )
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 300
    assert refused.get_json()["success"] is False


def test_one_address_spraying_many_accounts_is_stopped(
    app: Flask, make_user: Callable[..., User]
) -> None:
    app.config["LOGIN_ADDRESS_RATE_LIMIT"] = "5 per minute"
    for number in range(6):
        make_user(f"user{number}")
    for number in range(5):
        assert attempt(app, f"user{number}", "Spring2026!", "192.0.2.10") == 401
    assert attempt(app, "user5", "Spring2026!", "192.0.2.10") == 429
    assert attempt(app, "user5", PASSWORD, "192.0.2.11") == 200


def test_a_correct_password_starts_the_accounts_count_again(
    app: Flask, make_user: Callable[..., User]
) -> None:
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    make_user("alice")
    for _ in range(2):
        assert attempt(app, "alice", "wrong-pass-1") == 401
    assert attempt(app, "alice", PASSWORD) == 200
    for _ in range(3):
        assert attempt(app, "alice", "wrong-pass-1") == 401
    assert attempt(app, "alice", "wrong-pass-1") == 429


def test_an_unreachable_limit_storage_answers_503_quickly(
    app: Flask, make_user: Callable[..., User]
) -> None:
    make_user("alice")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        unused_redis_port = probe.getsockname()[1]
    blind = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{unused_redis_port}/0",
    )
    with blind.app_context():
        credentials = {"username": "alice", "password": PASSWORD}
        response = blind.test_client().post(LOGIN, json=credentials, headers=ENGLISH)
        db.session.remove()
        db.engine.dispose()  # its own pool on the test's database: closed, not left to the GC
    assert response.status_code == 503
    assert "try again" in response.get_json()["message"]
