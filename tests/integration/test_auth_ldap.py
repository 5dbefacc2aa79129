"""Sign-in against a real OpenLDAP (slapd): first sign-in creates the local account from the
directory, later ones refresh it; wrong, unknown, disabled and injected names fail cleanly; a
directory that is down or silent says so without locking local administrators out."""

from __future__ import annotations

import itertools
import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from conftest import PASSWORD
from helpdesk.auth import build_providers
from helpdesk.extensions import db
from helpdesk.users.models import User
from helpers import HTML, JSON, count_rows, is_logged_in, json_sign_in, user_named, user_row
from ldap_server import READER_DN, READER_PASSWORD, SUFFIX, LdapServer

LOGIN = "/users/login"
UNAVAILABLE = "The directory is unavailable, try again later."
WRONG = "Invalid username or password."
LDAP_PASSWORD = "ldap-password-1"
names = (f"ldapuser{n}" for n in itertools.count(1))  # the directory outlives each test


def use_ldap(app: Flask, server: LdapServer, **settings: Any) -> None:
    """Point the app's chain at the directory (local first, then ldap, unless told)."""
    app.config.update(
        {
            "AUTH_PROVIDERS": ("local", "ldap"),
            "LDAP_URL": server.url,
            "LDAP_BASE_DN": SUFFIX,
            "LDAP_BIND_DN": READER_DN,
            "LDAP_BIND_PASSWORD": READER_PASSWORD,
            "LDAP_CA_FILE": str(server.cert_file),
            "LDAP_TIMEOUT": 2,
            **settings,
        }
    )
    app.extensions["auth_providers"] = build_providers(app.config)


@pytest.fixture
def directory(app: Flask, ldap_server: LdapServer) -> LdapServer:
    """The directory, with the app signing in through local then ldap."""
    use_ldap(app, ldap_server)
    return ldap_server


@pytest.fixture
def person(directory: LdapServer) -> Callable[..., tuple[str, str]]:
    """Add a person with a fresh uid to the directory; returns (uid, dn)."""

    def add(password: str = LDAP_PASSWORD, **attributes: str) -> tuple[str, str]:
        uid = next(names)
        attributes.setdefault("mail", f"{uid.title()}@Example.org")
        return uid, directory.add_person(uid, password, **attributes)

    return add


def test_first_sign_in_creates_the_user_from_the_directory(client, person):
    uid, _dn = person(
        cn="Lena Smirnova", title="Engineer", departmentNumber="IT", telephoneNumber="+7 1"
    )
    response = json_sign_in(client, uid, "ldap-password-1")
    assert response.status_code == 200
    assert response.get_json() == {
        "success": True,
        "message": "Login successful",
        "redirect": "/tasks/my-tasks",
    }
    assert is_logged_in(client)
    user = user_named(uid)
    assert user is not None
    assert (user.auth_source, user.email, user.full_name) == (
        "ldap",
        f"{uid}@example.org",
        "Lena Smirnova",
    )
    assert (user.position, user.department, user.phone) == ("Engineer", "IT", "+7 1")
    assert user_row(user.id)["password"] == ""  # no local password is kept
    assert user.is_admin is False


def test_later_sign_ins_refresh_the_profile_and_are_checked_by_the_directory_only(
    client, person, directory
):
    uid, dn = person(title="Engineer")
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    directory.modify(
        f"dn: {dn}\nchangetype: modify\nreplace: title\ntitle: Lead\n-\n"
        f"replace: userPassword\nuserPassword: new-ldap-password-2\n"
    )
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 401
    response = json_sign_in(client, f"{uid}@example.org", "new-ldap-password-2")  # by e-mail, too
    assert response.status_code == 200
    assert user_named(uid).position == "Lead"


def test_wrong_password_unknown_user_and_empty_password_are_plain_misses(client, person):
    uid, _dn = person()
    for username, password in ((uid, "not-the-password"), ("nobody-here", "ldap-password-1")):
        response = json_sign_in(client, username, password)
        assert response.status_code == 401
        assert response.get_json() == {"success": False, "message": WRONG}
    assert user_named(uid) is None
    assert user_named("nobody-here") is None
    # An empty password would be an anonymous bind, which LDAP servers accept: never a sign-in.
    assert json_sign_in(client, uid, "").status_code in {401, 422}


def test_an_entry_outside_the_filter_cannot_sign_in(app, client, directory, person):
    use_ldap(app, directory, LDAP_USER_FILTER="(&(uid={username})(!(description=disabled)))")
    uid, _dn = person(description="disabled")
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 401
    assert user_named(uid) is None


@pytest.mark.parametrize("username", ["*)(uid=*", "*", "ldapuser*", "x)(|(uid=*", "\\2a"])
def test_ldap_injection_in_the_username_fails_cleanly(client, person, username):
    person(password="shared-password-1")
    response = json_sign_in(client, username, "shared-password-1")
    assert response.status_code == 401
    assert response.get_json()["message"] == WRONG
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


def flags_of(username: str) -> tuple[bool, bool, bool]:
    """is_redmine_user, is_admin, can_access_quality_control of the committed account."""
    user = user_named(username)
    assert user is not None
    return user.is_redmine_user, user.is_admin, user.can_access_quality_control


def test_group_membership_sets_flags_again_at_each_sign_in(app, client, directory, person):
    uid, dn = person()
    agents = directory.add_group(f"agents-{uid}", dn, READER_DN)  # never empty
    admins = directory.add_group(f"admins-{uid}", READER_DN)
    flags = {agents: ["is_redmine_user"], admins: ["is_admin", "can_access_quality_control"]}
    use_ldap(app, directory, LDAP_GROUP_FLAGS=json.dumps(flags))
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    assert flags_of(uid) == (True, False, False)
    directory.modify(f"dn: {agents}\nchangetype: modify\ndelete: member\nmember: {dn}\n")
    directory.modify(f"dn: {admins}\nchangetype: modify\nadd: member\nmember: {dn}\n")
    client.post("/users/logout", headers=JSON)
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    assert flags_of(uid) == (False, True, True)


def test_a_local_user_is_checked_by_the_local_password_only(client, make_user, directory):
    uid = next(names)
    make_user(uid, password=PASSWORD)
    directory.add_person(uid, "directory-password-1", mail=f"{uid}@example.org")
    assert json_sign_in(client, uid, "directory-password-1").status_code == 401
    assert json_sign_in(client, uid, PASSWORD).status_code == 200
    assert user_named(uid).auth_source == "local"


def test_a_directory_user_cannot_sign_in_locally(app, client, directory, person):
    uid, _dn = person()
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    use_ldap(app, directory, AUTH_PROVIDERS=("local",))  # the directory is switched off
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 401


def test_a_newcomer_whose_email_is_taken_is_refused_with_a_reason(client, make_user, person):
    make_user("owner", email="shared@example.org")
    uid, _dn = person(mail="shared@example.org")
    response = json_sign_in(client, uid, "ldap-password-1")
    assert response.status_code == 403
    assert "already exists" in response.get_json()["message"]
    assert user_named(uid) is None
    assert user_named("owner").email == "shared@example.org"


def test_a_newcomer_without_email_is_refused_with_a_reason(client, directory):
    uid = next(names)
    directory.add_person(uid, "ldap-password-1")
    response = json_sign_in(client, uid, "ldap-password-1")
    assert response.status_code == 403
    assert "no e-mail" in response.get_json()["message"]
    assert user_named(uid) is None


def test_directory_down_says_so_and_local_admins_still_sign_in(
    app, client, directory, person, make_user, caplog
):
    uid, _dn = person()
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    admin = make_user("localadmin", is_admin=True)
    directory.stop()
    try:
        with caplog.at_level(logging.WARNING, logger="helpdesk.auth"):
            for username in (uid, uid, "never-seen-before"):
                response = json_sign_in(client, username, "ldap-password-1")
                assert response.status_code == 503
                assert response.get_json() == {"success": False, "message": UNAVAILABLE}
            page = client.post(
                LOGIN, data={"username": uid, "password": "ldap-password-1"}, headers=HTML
            )
            assert page.status_code == 503
            assert UNAVAILABLE in page.get_data(as_text=True)
            assert WRONG not in page.get_data(as_text=True)
            assert json_sign_in(client, admin.username, PASSWORD).status_code == 200
        outages = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(outages) == 1  # logged once, not per sign-in
        assert READER_PASSWORD not in caplog.text
        assert "ldap-password-1" not in caplog.text
    finally:
        directory.start()
    client.post("/users/logout", headers=JSON)
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200


@pytest.fixture
def silent_directory() -> Iterator[str]:
    """A socket that accepts connections and never answers: a hung directory."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"ldap://127.0.0.1:{listener.getsockname()[1]}"


def test_a_silent_directory_times_out(app, client, directory, silent_directory, make_user):
    use_ldap(app, directory, LDAP_URL=silent_directory, LDAP_TIMEOUT=1)
    started = time.monotonic()
    response = json_sign_in(client, "someone", "some-password-1")
    assert response.status_code == 503
    assert response.get_json()["message"] == UNAVAILABLE
    assert time.monotonic() - started < 5
    make_user("localuser")
    assert json_sign_in(client, "localuser", PASSWORD).status_code == 200


# ldap3 2.9.1 leaves the TLS socket of a failed handshake to the garbage collector.
@pytest.mark.filterwarnings("ignore:unclosed <ssl.SSLSocket:ResourceWarning")
def test_ldaps_and_starttls_check_the_certificate(app, client, directory, person, tmp_path):
    uid, _dn = person()
    use_ldap(app, directory, LDAP_URL=directory.tls_url)
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    use_ldap(app, directory, LDAP_START_TLS=True)
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    from smtp_server import self_signed_certificate

    stranger, _key = self_signed_certificate(tmp_path)  # a CA that did not sign the server's
    for settings in ({"LDAP_URL": directory.tls_url}, {"LDAP_START_TLS": True}):
        use_ldap(app, directory, LDAP_CA_FILE=str(stranger), **settings)
        response = json_sign_in(client, uid, "ldap-password-1")
        assert response.status_code == 503, settings


def test_the_admin_users_page_shows_where_each_account_comes_from(client, person, make_user, login):
    uid, _dn = person()
    assert json_sign_in(client, uid, "ldap-password-1").status_code == 200
    client.post("/users/logout", headers=JSON)
    admin = make_user("boss", is_admin=True)
    login(admin)
    page = client.get("/admin/users", headers=HTML).get_data(as_text=True)
    row = page[page.index(f"@{uid}") :]
    assert "LDAP" in row[: row.index("</tr>")]
    own = page[page.index("@boss") :]
    assert "Local password" in own[: own.index("</tr>")]


def test_a_directory_user_keeps_the_name_and_address_the_directory_gives(client, person):
    uid, _dn = person()
    assert json_sign_in(client, uid, LDAP_PASSWORD).status_code == 200
    response = client.post(
        "/users/account",
        json={"username": "renamed", "email": "mine@example.org", "full_name": "Own Name"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    user = user_named(uid)
    assert (user.email, user.full_name) == (f"{uid}@example.org", "Own Name")
    password = client.post(
        "/users/password",
        json={"current_password": "", "new_password": "a-new-password-9"},
        headers=JSON,
    )
    assert password.status_code == 403
    assert "not kept here" in password.get_json()["message"]
    assert user_row(user.id)["password"] == ""
    client.post("/users/logout", headers=JSON)
    assert json_sign_in(client, uid, LDAP_PASSWORD).status_code == 200  # the link still holds


def test_self_registration_closes_while_a_directory_signs_people_in(client, directory):
    uid = next(names)
    directory.add_person(uid, LDAP_PASSWORD, mail=f"{uid}@example.org")
    body = {"username": uid, "email": "squatter@example.org", "password": "squat-password-7"}
    body["confirm_password"] = body["password"]
    response = client.post("/users/register", json=body, headers=JSON)
    assert response.status_code == 403
    assert user_named(uid) is None
    assert "Register" not in client.get(LOGIN, headers=HTML).get_data(as_text=True)
    assert json_sign_in(client, uid, LDAP_PASSWORD).status_code == 200


def test_a_newcomer_whose_name_does_not_fit_is_refused_with_a_reason(client, directory):
    width = User.__table__.c.username.type.length
    uid = f"{next(names)}-".ljust(width + 1, "x")
    directory.add_person(uid, LDAP_PASSWORD, mail=f"{uid}@example.org")
    response = json_sign_in(client, uid, LDAP_PASSWORD)
    assert response.status_code == 403
    assert "too long" in response.get_json()["message"]
    assert count_rows(User) == 0


def test_wrong_directory_passwords_count_against_the_login_rate_limit(app, client, person):
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    uid, _dn = person()
    for _ in range(3):
        assert json_sign_in(client, uid, "not-the-password").status_code == 401
    assert json_sign_in(client, uid, LDAP_PASSWORD).status_code == 429
    assert user_named(uid) is None
