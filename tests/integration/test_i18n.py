"""Interface language: Russian by default, English on request, the user's own choice first."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.testing import FlaskClient

import helpdesk
from conftest import PASSWORD
from helpdesk.extensions import babel, db

TRANSLATIONS = Path(helpdesk.__file__).parent / "translations"
PROJECT = Path(__file__).resolve().parents[2]
LOGIN = {"username": "alice", "password": PASSWORD}


def compile_catalog(po_path: Path) -> None:
    """Compile one .po next to itself as `make translations` does (fuzzy entries included)."""
    mo_path = po_path.with_suffix(".mo")
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file)
    fd, tmp_name = tempfile.mkstemp(dir=po_path.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as mo_file:
            write_mo(mo_file, catalog, use_fuzzy=True)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """A fresh clone has only .po files: build any .mo that is missing or older than its .po."""
    po_files = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
    assert po_files, f"no catalogs under {TRANSLATIONS}"
    stale = [
        po
        for po in po_files
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    for po in stale:
        compile_catalog(po)
    if stale:
        # Flask-Babel caches loaded catalogs for the whole process; drop what an earlier test
        # may have loaded before the .mo files existed.
        domain = vars(babel).get("domain_instance")
        if domain is not None:
            domain.cache.clear()


@pytest.fixture
def alice(make_user: Callable[..., Any]) -> Any:
    return make_user("alice")


def page(client: FlaskClient, path: str, language: str | None = None) -> str:
    headers = {"Accept-Language": language} if language else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("accept_language", "lang", "title", "label", "other_language"),
    [
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru", "Войти", "Логин или e-mail", "Log in"),
        ("en-US,en;q=0.9", "en", "Log in", "Username or e-mail", "Войти"),
    ],
    ids=["ru", "en"],
)
def test_login_page_in_the_browsers_language(
    client: FlaskClient,
    accept_language: str,
    lang: str,
    title: str,
    label: str,
    other_language: str,
) -> None:
    html = page(client, "/users/login", accept_language)
    assert f'<html lang="{lang}" ' in html
    assert f"<title>{title} · Helpdesk</title>" in html
    assert label in html
    assert other_language not in html


def test_russian_is_the_default(client: FlaskClient) -> None:
    assert "<title>Войти · Helpdesk</title>" in page(client, "/users/login")
    # A language we do not offer falls back to the default too.
    assert "<title>Войти · Helpdesk</title>" in page(client, "/users/login", "de")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Вход выполнен успешно"),  # Russian by default
        ({"Accept-Language": "en"}, "Login successful"),
    ],
    ids=["default", "en"],
)
@pytest.mark.usefixtures("alice")
def test_json_login_message(client: FlaskClient, headers: dict[str, str], message: str) -> None:
    response = client.post("/users/login", json=LOGIN, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["message"] == message


def test_json_error_is_translated(client: FlaskClient) -> None:
    wrong = {"username": "nobody", "password": "wrong-password-1"}
    assert client.post("/users/login", json=wrong).get_json()["message"] == (
        "Неверный логин или пароль."
    )
    response = client.post("/users/login", json=wrong, headers={"Accept-Language": "en"})
    assert response.get_json()["message"] == "Invalid username or password."


def test_saved_preference_wins_over_accept_language(client: FlaskClient, alice: Any) -> None:
    alice.language = "en"
    db.session.commit()
    response = client.post("/users/login", json=LOGIN, headers={"Accept-Language": "ru"})
    assert response.get_json()["message"] == "Login successful"
    assert "<title>Announcements · Helpdesk</title>" in page(client, "/", "ru")

    alice.language = "ru"
    db.session.commit()
    assert "<title>Объявления · Helpdesk</title>" in page(client, "/", "en")


def test_language_switch_is_remembered_for_the_user(
    client: FlaskClient, alice: Any, login: Callable[..., Any]
) -> None:
    login(alice)
    response = client.post("/language/en", data={"next": "/"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    db.session.refresh(alice)
    assert alice.language == "en"
    assert "<title>Announcements · Helpdesk</title>" in page(client, "/", "ru")


def test_language_switch_is_remembered_for_an_anonymous_session(client: FlaskClient) -> None:
    client.post("/language/en", data={"next": "/users/login"})
    assert "<title>Log in · Helpdesk</title>" in page(client, "/users/login", "ru")


def russian_catalog() -> Any:
    with (TRANSLATIONS / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as po_file:
        return read_po(po_file)


def test_every_russian_message_is_translated() -> None:
    catalog = russian_catalog()
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated
    assert not fuzzy
    for message in catalog:
        if message.id:
            assert not list(message.check(catalog)), message.id


def test_catalog_has_every_message_in_the_source() -> None:
    """A new _() string needs `make extract-messages` and a Russian translation."""
    with (PROJECT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    in_source = {
        (context, message[0] if isinstance(message, tuple) else message)
        for _file, _line, message, _comments, context in extract_from_dir(
            str(PROJECT), method_map, options_map, keywords=keywords
        )
    }
    in_catalog = {
        (m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in russian_catalog()
    }
    missing = sorted(str(key) for key in in_source - in_catalog)
    assert not missing, "run `make extract-messages` and translate: " + ", ".join(missing)
