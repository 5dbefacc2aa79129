"""Forgot password: a signed link by e-mail (a real SMTP server) that expires and works once;
the same answer whether or not the account exists; never for accounts of a directory."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage

import pytest
from flask import Flask
from test_email import point_mail_at

from conftest import BROWSER, PASSWORD, csrf_token_from
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import JSON, json_sign_in, user_row
from smtp_server import Server, smtp_server

BASE = "https://help.example"
LINK = re.compile(re.escape(BASE) + r"(/users/password/reset/[A-Za-z0-9_.\-]+)")
NEW_PASSWORD = "a-new-Secret-42"


@pytest.fixture
def mail(app: Flask) -> Iterator[Server]:
    """A real SMTP server, and the public address links are built on."""
    with smtp_server() as server:
        point_mail_at(app, server.port, MAIL_BASE_URL=BASE)
        yield server


def mails_to(server: Server, address: str, count: int = 1) -> list[EmailMessage]:
    """Wait for the messages to one address (they are sent in the background)."""
    deadline = time.monotonic() + 10
    while len(server.inbox.to(address)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.inbox.to(address)


def link_in(message: EmailMessage) -> str:
    """The reset link's path, from the plain-text part."""
    text = message.get_body(("plain",))
    assert text is not None
    found = LINK.search(text.get_content())
    assert found, text.get_content()
    return found.group(1)


def ask(app: Flask, login: str) -> dict[str, object]:
    """Ask for a link as a script would."""
    answer = app.test_client().post("/users/password/forgot", json={"login": login}, headers=JSON)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_a_link_by_email_sets_a_new_password_once(
    app: Flask, mail: Server, make_user: Callable[..., User]
) -> None:
    user = make_user("forgetful", email="forgetful@example.com")
    user.language = "ru"  # the e-mail speaks the user's language, not the asking browser's
    db.session.commit()
    other = app.test_client()
    assert json_sign_in(other, "forgetful", PASSWORD).status_code == 200
    ask(app, "Forgetful@Example.com")
    (message,) = mails_to(mail, "forgetful@example.com")
    assert message["Subject"] == "Сброс пароля в службе поддержки"
    path = link_in(message)

    browser = app.test_client()
    form_page = browser.get(path, headers=BROWSER)
    assert form_page.status_code == 200
    token = csrf_token_from(browser, path)
    weak = browser.post(
        path, data={"csrf_token": token, "new_password": "1234", "confirm_password": "1234"}
    )
    assert weak.status_code == 422
    assert json_sign_in(app.test_client(), "forgetful", PASSWORD).status_code == 200
    done = browser.post(
        path,
        data={
            "csrf_token": token,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
        headers=BROWSER,
    )
    assert done.status_code == 302
    assert json_sign_in(app.test_client(), "forgetful", NEW_PASSWORD).status_code == 200
    assert json_sign_in(app.test_client(), "forgetful", PASSWORD).status_code == 401
    assert other.get("/users/account", headers=JSON).status_code == 401  # sessions ended

    used = app.test_client().post(
        path, json={"new_password": "x" + NEW_PASSWORD, "confirm_password": "x" + NEW_PASSWORD}
    )
    assert used.status_code == 404
    assert json_sign_in(app.test_client(), "forgetful", NEW_PASSWORD).status_code == 200


def test_the_answer_is_the_same_for_unknown_and_directory_accounts_and_sends_nothing(
    app: Flask, mail: Server, make_user: Callable[..., User]
) -> None:
    known = make_user("known")
    directory = make_user("fromldap", email="ldap@example.com")
    directory.auth_source = "ldap"
    locked = make_user("locked", email="locked@example.com")
    locked.locked = True
    db.session.commit()
    answers = [ask(app, login) for login in ("known", "nobody", "fromldap", "locked")]
    assert all(answer == answers[0] for answer in answers)
    assert len(mails_to(mail, known.email)) == 1
    time.sleep(0.5)
    assert [m["To"] for m in mail.inbox.messages] == [known.email]


def test_an_expired_or_forged_link_opens_nothing(
    app: Flask, mail: Server, make_user: Callable[..., User]
) -> None:
    user = make_user("late")
    app.config["PASSWORD_RESET_HOURS"] = 1 / 3600  # one second
    ask(app, "late")
    path = link_in(mails_to(mail, user.email)[0])
    time.sleep(2.1)  # itsdangerous counts whole seconds
    body = {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    before = user_row(user.id)["password"]
    assert app.test_client().post(path, json=body, headers=JSON).status_code == 404
    forged = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    assert app.test_client().post(forged, json=body, headers=JSON).status_code == 404
    assert app.test_client().get("/users/password/reset/x", headers=JSON).status_code == 404
    assert user_row(user.id)["password"] == before


def test_without_mail_or_a_public_address_there_is_no_reset_by_email(app: Flask) -> None:
    answer = app.test_client().post("/users/password/forgot", json={"login": "x"}, headers=JSON)
    assert answer.status_code == 404
    assert "administrator" in answer.get_json()["message"]
    page = app.test_client().get("/users/login", headers=BROWSER).get_data(as_text=True)
    assert "/users/password/forgot" not in page


def test_the_link_is_offered_on_the_login_page_and_its_token_is_never_logged(
    app: Flask, mail: Server, make_user: Callable[..., User], caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user("logged")
    page = app.test_client().get("/users/login", headers=BROWSER).get_data(as_text=True)
    assert "/users/password/forgot" in page
    ask(app, "logged")
    path = link_in(mails_to(mail, user.email)[0])
    with caplog.at_level(logging.INFO):
        assert app.test_client().get(path, headers=BROWSER).status_code == 200
    secret = path.rsplit("/", 1)[1]
    assert caplog.records
    assert all(secret not in record.getMessage() for record in caplog.records)


def test_bad_input_is_refused_clearly(app: Flask, mail: Server) -> None:
    for body in ({}, {"login": ""}, {"login": ["a"]}, {"login": "x" * 500}):
        answer = app.test_client().post("/users/password/forgot", json=body, headers=JSON)
        assert answer.status_code == 422, body
    assert mail.inbox.messages == []
