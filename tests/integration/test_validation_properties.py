"""Hypothesis properties of the task API's validation (TaskCreateIn, TaskListQuery): any invalid
input is a 4xx with a message and writes nothing; any valid input is accepted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from task_api_support import World, build_world, snapshot

from conftest import PASSWORD
from helpdesk.users.models import User

pytestmark = pytest.mark.local_backend

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
SUBJECT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=60,
)
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
WRONG = st.sampled_from(["", "x", "1", -1, 0, 2**31, 1.5, True, None, [], {}, "2024-13-40"])


@pytest.fixture
def world(app: Flask, make_user: Callable[..., User]) -> World:
    return build_world(make_user)


def signed_in(app: Flask, who: str) -> Any:
    client = app.test_client()
    assert client.post("/users/login", json={"username": who, "password": PASSWORD}).status_code
    return client


@st.composite
def valid_task(draw: st.DrawFn, project_id: int) -> dict[str, Any]:
    """A body every rule accepts: a subject, a project of alice's, maybe dates in order."""
    body: dict[str, Any] = {"subject": draw(SUBJECT), "project_id": project_id}
    if draw(st.booleans()):
        body["description"] = draw(st.text(max_size=200))
    if draw(st.booleans()):
        start = draw(DAYS)
        body["start_date"] = start.isoformat()
        body["due_date"] = (start + timedelta(days=draw(st.integers(0, 400)))).isoformat()
    if draw(st.booleans()):
        body["estimated_hours"] = draw(st.floats(0, 100_000, allow_nan=False))
    return body


@st.composite
def invalid_task(draw: st.DrawFn, project_id: int) -> tuple[dict[str, Any], str]:
    """A valid body with one rule broken, and the field the answer must name."""
    body = draw(valid_task(project_id))
    broken = draw(
        st.sampled_from(
            [
                "subject",
                "project_id",
                "start_date",
                "due_date",
                "estimated_hours",
                "priority_id",
                "custom_fields",
                "description",
            ]
        )
    )
    if broken == "subject":
        body["subject"] = draw(st.sampled_from(["", "   ", "x" * 256, 5, None]))
    elif broken == "project_id":
        body["project_id"] = draw(st.sampled_from([0, -3, "1", 1.5, None, 2**31, True]))
    elif broken == "due_date":
        start = draw(DAYS)
        body["start_date"] = start.isoformat()
        body["due_date"] = (start - timedelta(days=draw(st.integers(1, 400)))).isoformat()
    elif broken == "estimated_hours":
        body["estimated_hours"] = draw(st.sampled_from([-0.5, 100_001, "3", True]))
    elif broken == "custom_fields":
        body["custom_fields"] = draw(st.sampled_from(["x", [{"id": 0, "value": "a"}], [1]]))
    elif broken == "description":
        body["description"] = draw(st.sampled_from([5, ["a"], "x" * 65_536]))
    else:
        body[broken] = draw(WRONG.filter(lambda value: value is not None))
    return body, broken


def test_an_invalid_new_task_is_a_4xx_with_a_message_and_writes_nothing(
    app: Flask, world: World
) -> None:
    client = signed_in(app, "alice")
    before = snapshot()

    @SETTINGS
    @given(invalid_task(world.projects["web"]))
    def refused(case: tuple[dict[str, Any], str]) -> None:
        body, broken = case
        answer = client.post("/tasks/api/task", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.status_code)
        document = answer.get_json()
        assert document["success"] is False
        assert document["message"]
        fields = document.get("errors", {})
        named = {key.split(".")[0] for key in fields}
        assert broken in named or (broken.endswith("_date") and "due_date" in named), document
        assert all(texts and all(texts) for texts in fields.values())
        assert snapshot() == before

    refused()


def test_a_valid_new_task_is_created_as_sent(app: Flask, world: World) -> None:
    client = signed_in(app, "alice")

    @SETTINGS
    @given(valid_task(world.projects["web"]))
    def accepted(body: dict[str, Any]) -> None:
        tasks_before = snapshot()["counts"]["tasks"]
        answer = client.post("/tasks/api/task", json=body)
        assert answer.status_code == 201, (body, answer.get_json())
        task = answer.get_json()["data"]["task"]
        assert task["subject"] == body["subject"].strip()
        assert task["project_id"] == body["project_id"]
        assert task["due_date"] == body.get("due_date")
        assert snapshot()["counts"]["tasks"] == tasks_before + 1

    accepted()


FILTER_VALUES = {
    "page": st.integers(1, 1_000_000).map(str),
    "per_page": st.integers(1, 100).map(str),
    "limit": st.integers(1, 100).map(str),
    "status": st.sampled_from(["open", "closed", "all", "New", "In Progress", ""]),
    "assigned_to": st.sampled_from(["me", "any", "none", "1", "7", ""]),
    "author": st.sampled_from(["me", "2", ""]),
    "watcher": st.sampled_from(["me", ""]),
    "closed_days": st.integers(1, 3650).map(str),
    "search": st.text(max_size=50),
    "sort": st.lists(
        st.sampled_from(["id", "-id", "subject", "-priority", "status", "-updated_on"]),
        min_size=1,
        max_size=3,
    ).map(",".join),
}
BAD_FILTERS = {
    "page": st.sampled_from(["0", "-1", "x", "1.5", "1000001"]),
    "per_page": st.sampled_from(["0", "101", "x", "", "1e2"]),
    "assigned_to": st.sampled_from(["everyone", "0", "-5", "2147483648", "1.0"]),
    "author": st.sampled_from(["you", "0", "any"]),
    "watcher": st.sampled_from(["you", "1"]),
    "closed_days": st.sampled_from(["0", "3651", "soon"]),
    "sort": st.sampled_from(["nope", "id,bogus", "-nope"]),
    "search": st.just("x" * 201),
}


@pytest.mark.parametrize("path", ["/tasks/api/tasks", "/tasks/my-tasks"])
def test_valid_filters_list_and_invalid_ones_name_the_parameter(
    app: Flask, world: World, path: str
) -> None:
    client = signed_in(app, "alice")
    headers = {"Accept": "application/json"}

    @SETTINGS
    @given(st.fixed_dictionaries({}, optional=FILTER_VALUES))
    def listed(query: dict[str, str]) -> None:
        answer = client.get(path, query_string=query, headers=headers)
        assert answer.status_code == 200, (query, answer.get_json())

    @SETTINGS
    @given(
        st.fixed_dictionaries({}, optional=FILTER_VALUES),
        st.sampled_from(sorted(BAD_FILTERS)).flatmap(
            lambda name: st.tuples(st.just(name), BAD_FILTERS[name])
        ),
    )
    def refused(query: dict[str, str], bad: tuple[str, str]) -> None:
        name, value = bad
        query = {key: v for key, v in query.items() if key != "limit"} | {name: value}
        answer = client.get(path, query_string=query, headers=headers)
        assert answer.status_code == 400, (query, answer.status_code)
        document = answer.get_json()
        assert document["message"]
        assert name in document["errors"], document

    listed()
    refused()
