"""Watcher changes through the API on every backend, with two users: the user someone else adds
is told; one who may not see the task is neither added nor told."""

from __future__ import annotations

from typing import Any

from test_api_contract import API, data, error, signed_in
from test_contract_edit import developers_choose_watchers  # noqa: F401 (autouse on Redmine)

from contract_world import World


def notices(client: Any) -> list[tuple[str, str, int]]:
    """The signed-in user's notifications as (type, title, task id), oldest first."""
    found = data(client.get(f"{API}/notifications"))["notifications"]
    return [(n["type"], n["title"], n["issue_id"]) for n in reversed(found)]


def test_the_user_someone_adds_as_a_watcher_is_told(app, world: World) -> None:
    task_id = world.create("alice", "P2", "Nightly backup").id
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    url = f"{API}/task/{task_id}/watchers"
    added = data(alice.post(url, json={"user_id": world.actors["bob"].user_id}))
    assert world.actors["bob"].user_id in [w["user_id"] for w in added["watchers"]]
    assert notices(bob) == [
        ("watcher", f"Alice Ivanova added you as a watcher of task #{task_id}", task_id)
    ]
    assert notices(alice) == []
    again = data(alice.post(url, json={"user_id": world.actors["bob"].user_id}))  # no change
    assert again["watchers"] == added["watchers"]
    data(alice.delete(f"{url}/{world.actors['bob'].user_id}"))
    assert len(notices(bob)) == 1  # being added twice, or removed, tells nothing more
    data(bob.post(url, json={"user_id": world.actors["bob"].user_id}))  # by himself
    assert len(notices(bob)) == 1
    assert notices(alice) == []


def test_one_who_may_not_see_the_task_is_neither_added_nor_told(app, world: World) -> None:
    task_id = world.create("alice", "P1", "Private to P1").id
    alice, dave = signed_in(app, "alice"), signed_in(app, "dave")
    url = f"{API}/task/{task_id}/watchers"
    for outsider in ("bob", "dave"):  # bob works in P2 only, dave in no project
        refused = error(alice.post(url, json={"user_id": world.actors[outsider].user_id}), 422)
        assert "user_id" in refused["errors"]
    assert notices(signed_in(app, "bob")) == []
    assert notices(dave) == []
    watchers = data(alice.get(url))["watchers"]
    assert [w["user_id"] for w in watchers] == [world.actors["alice"].user_id]
