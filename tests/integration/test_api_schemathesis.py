"""schemathesis against a live `helpdesk serve` on the demo data, over every operation of the
OpenAPI document, as a normal user (bob, by bearer token and by session) and as an administrator:
no 5xx, every answer of a documented status and matching its schema, none slower than the
timeout; then a stateful run that follows the document's links (create a task, read it, change
its status, comment, edit). Bounded: a few examples per operation (SCHEMATHESIS_EXAMPLES, 5 by
default, raises it for a longer hunt), within a couple of minutes."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import demo_copy
from helpers import helpdesk_serving, signed_in

pytestmark = pytest.mark.servers

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
TIMEOUT = 10  # seconds: a request still unanswered then is a hang, and fails
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))  # per operation, mode and role
MODES = (
    GenerationMode.POSITIVE,
    GenerationMode.NEGATIVE,
)  # valid input, and input the schema refuses
ROLES = ("bob-token", "bob", "admin")
# Operations that change accounts or end sessions run after every other one, in this order
# (the linked run comes first in this file too): a role whose session they end, token they
# revoke or account they lock only answers 401/403 from then on, which the document allows,
# and no operation left to run loses its caller. Random ids may name bob or the administrator.
LAST = (
    "POST /admin/users/{user_id}",  # permission flags
    "POST /admin/users/{user_id}/password",
    "POST /admin/users/{user_id}/unlock",
    "POST /admin/users/{user_id}/lock",
    "POST /admin/users/{user_id}/delete",
    "POST /users/register",  # a valid one signs the caller's session in as the new account
    "POST /users/account",  # may rename the caller
    "POST /users/password",  # starts a new session
    "POST /users/tokens/{token_id}/revoke",  # may revoke bob's token
    "GET /users/logout",
    "POST /users/logout",
)


@pytest.fixture(scope="module")
def live_url(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `helpdesk serve` of its own on a copy of the demo data."""
    env = demo_copy(demo_template, tmp_path_factory.mktemp("schemathesis"))
    with helpdesk_serving(env) as (url, _process):
        yield url


@pytest.fixture(scope="module")
def sessions(live_url: str) -> dict[str, requests.Session]:
    """Each role's signed-in requests session: bob by token and by cookie, the administrator."""
    bob = signed_in(live_url, "bob")
    made = bob.post(f"{live_url}/users/tokens", json={"name": "schemathesis"}, timeout=TIMEOUT)
    assert made.status_code == 201, made.text
    by_token = requests.Session()
    by_token.headers["Authorization"] = f"Bearer {made.json()['data']['token']}"
    return {"bob-token": by_token, "bob": bob, "admin": signed_in(live_url, "admin")}


@pytest.fixture(scope="module")
def api_schema(live_url: str) -> Any:
    """The document as the server serves it."""
    return schemathesis.openapi.from_url(f"{live_url}/tasks/api/openapi.json")


def narrowed_for_bob(url: str, bob: requests.Session) -> dict[str, Any]:
    """The served document with only the create and the operations its links reach (with the
    rest in it, the state machine spent its steps elsewhere), a new task's JSON body reduced
    to a subject, a description and one of bob's projects, and a status change to the
    statuses there are."""
    document = bob.get(f"{url}/tasks/api/openapi.json", timeout=TIMEOUT).json()
    create = document["paths"]["/tasks/api/task"]["post"]
    create["requestBody"]["content"].pop("multipart/form-data")  # fuzzed by test_every_operation
    linked = {link["operationId"] for link in create["responses"]["201"]["links"].values()}
    kept = linked | {create["operationId"]}
    paths = {
        path: {
            method: operation
            for method, operation in operations.items()
            if isinstance(operation, dict) and operation.get("operationId") in kept
        }
        for path, operations in document["paths"].items()
    }
    document["paths"] = {path: operations for path, operations in paths.items() if operations}
    ids = {
        name: [
            item["id"]
            for item in bob.get(f"{url}/tasks/api/{name}", timeout=TIMEOUT).json()["data"]
        ]
        for name in ("projects", "statuses")
    }
    schemas = document["components"]["schemas"]
    body = schemas["TaskCreateIn"]
    body["properties"] = {
        "subject": body["properties"]["subject"],
        "description": body["properties"]["description"],
        "project_id": {"enum": ids["projects"]},
    }
    schemas["StatusChangeIn"]["properties"]["status_id"] = {"enum": ids["statuses"]}
    return dict(document)


def test_linked_operations(
    api_schema: Any, live_url: str, sessions: dict[str, requests.Session]
) -> None:
    """Create a task, then follow the links: read it, change its status, comment, edit. The
    new task's project and the statuses are narrowed to bob's own (random ids are refused
    long before a task is made, and the run would only test refusals)."""
    machine = schemathesis.openapi.from_dict(narrowed_for_bob(live_url, sessions["bob"]))
    machine = machine.as_state_machine()
    answered: list[tuple[str, int]] = []

    class Linked(machine):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": live_url,
                "session": sessions["bob"],
                "headers": {"Accept": "application/json"},
                "timeout": TIMEOUT,
            }

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            answered.append((case.operation.label, response.status_code))
            case.validate_response(response, checks=CHECKS)

    run_state_machine_as_test(
        Linked,
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # the run created tasks and reached the operations linked from them
    assert ("POST /tasks/api/task", 201) in answered, answered
    followed = {label for label, status in answered if "{task_id}" in label and status < 300}
    assert followed, answered


def test_every_operation(
    api_schema: Any, live_url: str, sessions: dict[str, requests.Session]
) -> None:
    """Each operation's generated requests, each sent as every role; every failure is listed.
    Those that change accounts or end sessions come last (LAST)."""
    failures = []
    operations = sorted(
        (result.ok() for result in api_schema.get_all_operations()),
        key=lambda operation: LAST.index(operation.label) if operation.label in LAST else -1,
    )
    assert set(LAST) <= {operation.label for operation in operations}
    for operation, mode in itertools.product(operations, MODES):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            for role in ROLES:  # each generated request, sent as each role in turn
                case.call_and_validate(
                    base_url=live_url,
                    session=sessions[role],
                    headers={"Accept": "application/json"},
                    checks=CHECKS,
                    timeout=TIMEOUT,
                )

        try:
            check()
        except Unsatisfiable:  # no input of this operation can break its schema (it takes none)
            assert mode == GenerationMode.NEGATIVE, operation.label
        except Exception as error:
            failures.append(f"{operation.label} ({mode}): {error}")
    assert not failures, "\n\n".join(failures)
