"""Every write to the user table goes through an ORM session, where users/snapshot.py sees it and
makes the signed-in user's cached snapshot stale; a write on a bare connection or in SQL text
would leave other processes serving the old snapshot."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "helpdesk"
STATEMENT_ON_USER = re.compile(r"\b(update|delete|insert)\(User\b")
SQL_TEXT_ON_USER = re.compile(
    r"""(UPDATE|DELETE\s+FROM|INSERT\s+INTO)\s+["`]?user["`]?[\s(]""", re.I
)


def application_sources() -> list[Path]:
    """src/ without the migrations (frozen, run before any process serves)."""
    return [path for path in SRC.rglob("*.py") if "migrations" not in path.parts]


def test_statements_on_the_user_table_run_through_the_session():
    strays = []
    for path in application_sources():
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if STATEMENT_ON_USER.search(line):
                before = "\n".join(lines[max(0, number - 2) : number + 1])
                if "db.session.execute(" not in before:
                    strays.append(f"{path.relative_to(SRC)}:{number + 1}: {line.strip()}")
            if SQL_TEXT_ON_USER.search(line):
                strays.append(f"{path.relative_to(SRC)}:{number + 1}: {line.strip()}")
    assert strays == []
