"""Redmine's visibility rules (integrations/redmine/visibility.py) on a small Redmine schema in
SQLite: each rule once, without a Redmine (the differential test proves them against one)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.types import NullType

from helpdesk.integrations.redmine import tables
from helpdesk.integrations.redmine.tables import issues, projects
from helpdesk.integrations.redmine.visibility import load_principal, visible_condition

VIEW = "---\n- :view_issues\n"
NONE = "--- []\n"
LIMITED = (
    "---\npermissions_all_trackers:\n  view_issues: '0'\n"
    "permissions_tracker_ids:\n  view_issues:\n  - '2'\n"
)


@pytest.fixture
def redmine() -> Iterator[Connection]:
    """Redmine's tables the rules read, empty, in an in-memory SQLite."""
    metadata = MetaData()
    for name in dir(tables):
        table = getattr(tables, name)
        if hasattr(table, "c") and not name.startswith("_"):
            Table(
                table.name,
                metadata,
                *(
                    Column(c.name, Integer if isinstance(c.type, NullType) else c.type)
                    for c in table.c
                ),
            )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection


def add(connection: Connection, table: Any, *rows: dict[str, Any]) -> None:
    for row in rows:
        connection.execute(insert(table).values(row))


def seen(connection: Connection, user_id: int) -> set[int]:
    principal = load_principal(connection, user_id)
    assert principal is not None
    query = (
        select(issues.c.id)
        .select_from(issues.join(projects, projects.c.id == issues.c.project_id))
        .where(visible_condition(principal))
    )
    return set(connection.scalars(query))


def test_each_rule(redmine: Connection) -> None:
    c = redmine
    user = {"status": 1, "type": "User", "admin": False}
    add(
        c,
        tables.users,
        {**user, "id": 1, "admin": True},
        {**user, "id": 2},  # member: role all in P1, default in P2, own in P3
        {**user, "id": 3},  # no membership: Non member on public projects
        {**user, "id": 4, "status": 3},  # locked
        {"id": 5, "type": "Group", "status": 1},
        {"id": 6, "type": "GroupNonMember", "status": 1},
    )
    add(c, tables.groups_users, {"group_id": 5, "user_id": 2})
    add(
        c,
        tables.roles,
        {"id": 1, "builtin": 1, "permissions": VIEW, "issues_visibility": "default"},
        {"id": 10, "builtin": 0, "permissions": VIEW, "issues_visibility": "all"},
        {"id": 11, "builtin": 0, "permissions": VIEW, "issues_visibility": "default"},
        {"id": 12, "builtin": 0, "permissions": VIEW, "issues_visibility": "own"},
        {
            "id": 13,
            "builtin": 0,
            "permissions": VIEW,
            "issues_visibility": "all",
            "settings": LIMITED,
        },
        {"id": 14, "builtin": 0, "permissions": NONE, "issues_visibility": "all"},
    )
    public, private = True, False
    add(
        c,
        tables.projects,
        {"id": 1, "status": 1, "is_public": private},
        {"id": 2, "status": 1, "is_public": private},
        {"id": 3, "status": 5, "is_public": private},  # closed: still readable
        {"id": 4, "status": 9, "is_public": public},  # archived: hidden from all
        {"id": 5, "status": 1, "is_public": public},  # issue tracking off
        {"id": 6, "status": 1, "is_public": public},  # Non member's
        {"id": 7, "status": 1, "is_public": public},  # the Non-member group's own role
        {"id": 8, "status": 1, "is_public": private},  # tracker limit
    )
    add(
        c,
        tables.enabled_modules,
        *({"project_id": p, "name": "issue_tracking"} for p in (1, 2, 3, 4, 6, 7, 8)),
    )
    memberships = [
        (1, 2, 1, 10),
        (2, 2, 2, 11),
        (3, 2, 3, 12),
        (4, 2, 4, 10),
        (5, 6, 7, 14),
        (6, 2, 8, 13),
    ]
    add(
        c,
        tables.members,
        *({"id": m, "user_id": u, "project_id": p} for m, u, p, _r in memberships),
    )
    add(
        c,
        tables.member_roles,
        *({"id": m, "member_id": m, "role_id": r} for m, _u, _p, r in memberships),
    )
    issue = {"tracker_id": 1, "is_private": False, "author_id": 1, "assigned_to_id": None}
    add(
        c,
        issues,
        {**issue, "id": 101, "project_id": 1, "is_private": True},
        {**issue, "id": 201, "project_id": 2},
        {**issue, "id": 202, "project_id": 2, "is_private": True},
        {**issue, "id": 203, "project_id": 2, "is_private": True, "assigned_to_id": 5},
        {**issue, "id": 301, "project_id": 3},
        {**issue, "id": 302, "project_id": 3, "author_id": 2},
        {**issue, "id": 401, "project_id": 4},
        {**issue, "id": 501, "project_id": 5},
        {**issue, "id": 601, "project_id": 6},
        {**issue, "id": 602, "project_id": 6, "is_private": True},
        {**issue, "id": 701, "project_id": 7},
        {**issue, "id": 801, "project_id": 8},
        {**issue, "id": 802, "project_id": 8, "tracker_id": 2},
    )
    assert seen(c, 1) == {101, 201, 202, 203, 301, 302, 601, 602, 701, 801, 802}
    # all in P1; default in P2 (public, or assigned to her group); own in the closed P3; Non
    # member in public P6; the Non-member group's role hides P7; tracker 2 only in P8
    assert seen(c, 2) == {101, 201, 203, 302, 601, 802}
    assert seen(c, 3) == {601}
    assert load_principal(c, 4) is None
    assert load_principal(c, 5) is None
