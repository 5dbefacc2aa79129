"""A new task with its files, through the API on every backend (local and a real Redmine): sent
as multipart/form-data, read back, and a refused create leaves neither a task nor a file."""

from __future__ import annotations

import io
from typing import Any

import pytest
from test_api_contract import API, data, error, signed_in
from test_contract_edit import customer_field

from contract_world import World
from helpers import image_bytes


def create(client: Any, fields: dict[str, Any], *files: tuple[bytes, str]) -> Any:
    """POST /tasks/api/task as a form with files."""
    sent: dict[str, Any] = {**fields, "files": [(io.BytesIO(body), name) for body, name in files]}
    return client.post(f"{API}/task", data=sent, content_type="multipart/form-data")


def subjects(client: Any) -> list[str]:
    """Every task the client's user may see, by subject."""
    found = data(client.get(f"{API}/tasks", query_string={"status": "all", "per_page": "100"}))
    return [row["subject"] for row in found["tasks"]]


def test_a_task_is_created_with_two_files(app, world: World) -> None:
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    png = image_bytes("PNG")
    created = data(
        create(
            alice,
            {
                "project_id": str(world.projects["P2"]),
                "subject": "Printer shows an error",
                "description": "Screenshot and log attached",
                "assigned_to_id": str(world.actors["bob"].user_id),
                "due_date": "2026-12-31",
                f"cf_{customer_field(world)}": "ACME",
            },
            (png, "error.png"),
            (b"paper jam\n", "printer.log"),
        ),
        201,
    )
    task_id = created["task_id"]
    assert created["assigned_to"] == "Bob Petrov"
    assert [(a["filename"], a["content_type"], a["size"]) for a in created["attachments"]] == [
        ("error.png", "image/png", len(png)),
        ("printer.log", "text/plain", len(b"paper jam\n")),
    ]
    assert created["task"]["custom_fields"][0]["value"] == "ACME"
    listed = data(bob.get(f"{API}/task/{task_id}/attachments"))
    assert [a["id"] for a in listed] == [a["id"] for a in created["attachments"]]
    assert {a["author_id"] for a in listed} == {world.actors["alice"].user_id}
    image = bob.get(listed[0]["url"])
    assert (image.status_code, image.data, image.mimetype) == (200, png, "image/png")
    assert image.headers["Content-Disposition"].startswith("inline;")
    assert bob.get(listed[1]["url"]).data == b"paper jam\n"
    assert signed_in(app, "dave").get(listed[0]["url"]).status_code == 404


@pytest.mark.parametrize(
    ("fields", "files", "field"),
    [
        ({}, [(b"<html><script>alert(1)</script></html>", "shot.png")], "files"),
        ({}, [(b"fine", "a.txt"), (b"", "empty.txt")], "files"),
        ({"subject": ""}, [(b"fine", "a.txt")], "subject"),
        ({"due_date": "tomorrow"}, [(b"fine", "a.txt")], "due_date"),
    ],
)
def test_a_refused_create_makes_no_task_and_keeps_no_file(
    app, world: World, fields: dict[str, Any], files: list[tuple[bytes, str]], field: str
) -> None:
    alice = signed_in(app, "alice")
    before = subjects(alice)
    sent = {"project_id": str(world.projects["P1"]), "subject": "Must not exist", **fields}
    refused = error(create(alice, sent, *files), 422)
    assert field in refused["errors"], refused
    assert subjects(alice) == before
    assert world.unattached_files() == 0


def test_redmine_refusing_the_task_removes_the_files_it_took(app, world: World) -> None:
    """The files are sent before the task: when the task is then refused (here by the backend
    itself: the assignee's role takes no tasks), the files sent go again."""
    alice = signed_in(app, "alice")
    png = image_bytes("PNG")
    sent = {
        "project_id": str(world.projects["P1"]),
        "subject": "Assigned to a reporter",
        "assigned_to_id": str(world.actors["carol"].user_id),
    }
    refused = error(create(alice, sent, (png, "a.png"), (b"text", "b.txt")), 422)
    assert "assigned_to_id" in refused["errors"]
    assert world.unattached_files() == 0
    assert "Assigned to a reporter" not in subjects(alice)


def test_a_json_create_still_works_and_says_it_has_no_files(app, world: World) -> None:
    alice = signed_in(app, "alice")
    created = data(
        alice.post(f"{API}/task", json={"project_id": world.projects["P1"], "subject": "Plain"}),
        201,
    )
    assert created["attachments"] == []
    refused = error(alice.post(f"{API}/task", data="project_id=1", content_type="text/plain"), 415)
    assert refused["message"]
