"""src/ reaches dependencies through their public API only: a patch on a library's private name
breaks without warning on its next release and pins the library to one version. The names below
are ones this code once used (a short, explicit list, not a proof); Flask's documented
`_get_current_object()` of its proxies is public and allowed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "helpdesk"

PRIVATE_NAMES = {
    "_send_ping": "engine.io's socket",
    "_websocket_handler": "engine.io's socket",
    "_async": "engine.io's server",
    "construct_expanded_state": "SQLAlchemy's compiler",
    "positiontup": "SQLAlchemy's compiler",
    "_sa_instance_state": "SQLAlchemy's instrumentation (sqlalchemy.inspect is public)",
    "_check_request_limit": "Flask-Limiter",
    "_limiter_request_context": "Flask-Limiter",
    "_retrieve_session_data": "Flask-Session",
    "_get_store_id": "Flask-Session",
    "_upsert_session": "Flask-Session",
    "_get_filename": "cachelib",
    "_session_identifier_generator": "Flask-Login",
    "_login_user": "Flask-Login (current_user is public)",
    "_load_user": "Flask-Login",
    "_prepare_response_obj": "Flask's JSON provider",
    "StreamServer": "gunicorn's gevent worker",
    "__closure__": "another function's closure",
    "co_freevars": "another function's closure",
    "makeRecord": "logging's record making (log.info is the public way)",
}
PRIVATE_MODULE = re.compile(r"^\s*(?:from|import)\s+(?!helpdesk\b)[\w.]*\._\w*", re.MULTILINE)


def uses(name: str, text: str) -> bool:
    """Whether the text names this name as a whole word."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def sources() -> list[tuple[str, str]]:
    """Every Python file of the package: (path within src, text)."""
    return [
        (str(path.relative_to(SOURCE.parent)), path.read_text(encoding="utf-8"))
        for path in sorted(SOURCE.rglob("*.py"))
    ]


@pytest.mark.parametrize("name", sorted(PRIVATE_NAMES))
def test_src_names_no_known_private_attribute_of_a_dependency(name: str) -> None:
    found = [path for path, text in sources() if uses(name, text)]
    assert not found, f"{name} belongs to {PRIVATE_NAMES[name]}; used in {found}"


def test_src_imports_no_private_module_of_a_dependency() -> None:
    found = {path: PRIVATE_MODULE.findall(text) for path, text in sources()}
    assert not {path: lines for path, lines in found.items() if lines}


def test_the_check_finds_what_it_looks_for() -> None:
    assert uses("_send_ping", "Socket._send_ping after its sleep")
    assert not uses("_async", "engineio.async_drivers")
    assert uses("_login_user", 'g.get("_login_user")')
    assert PRIVATE_MODULE.findall("from flask_session._utils import total_seconds\n")
    assert not PRIVATE_MODULE.findall("from helpdesk.core._x import y\nfrom flask import g\n")
    assert len(sources()) > 50
