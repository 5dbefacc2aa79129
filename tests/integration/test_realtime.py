"""Live notifications over Socket.IO: who may listen, and who hears a change."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from task_api_support import IN_PROGRESS, RESOLVED, World, build_world

from helpdesk.extensions import db, socketio
from helpdesk.notifications.realtime import NAMESPACE
from helpdesk.tasks.models import Watcher


@pytest.fixture
def world(make_user: Any) -> World:
    """Projects, members and tasks (alice and bob share the web project; dave is in none)."""
    return build_world(make_user)


def socket_for(app: Flask, http: FlaskClient) -> Any:
    """A Socket.IO test client that carries the HTTP client's session cookie.

    Its handlers run in a fresh app context, as on a server (the test's own context would let
    Flask-Login's cached user leak from one connection into the next).
    """
    with app.app_context():
        return socketio.test_client(app, namespace=NAMESPACE, flask_test_client=http)


def send(app: Flask, sock: Any, event: str, data: Any) -> None:
    """Emit from a client, handled in a fresh app context."""
    with app.app_context():
        sock.emit(event, data, namespace=NAMESPACE)


def received(sock: Any) -> dict[str, list[dict[str, Any]]]:
    """Payloads the client received since the last call, by event name."""
    events: dict[str, list[dict[str, Any]]] = {}
    for message in sock.get_received(NAMESPACE):
        events.setdefault(message["name"], []).append(message["args"][0])
    return events


def test_anonymous_connections_are_refused(app: Flask, client: FlaskClient) -> None:
    sock = socket_for(app, client)
    assert not sock.is_connected(NAMESPACE)


def test_join_answers_success_for_ones_own_room(app, client, login, world: World) -> None:
    login(world.users["alice"])
    sock = socket_for(app, client)
    assert sock.is_connected(NAMESPACE)
    send(app, sock, "join_notifications", {"user_id": world.users["alice"].id})
    assert received(sock).get("joined_notifications", []) == [{"status": "success"}]
    send(app, sock, "leave_notifications", {})
    assert received(sock).get("left_notifications", []) == [{"status": "success"}]


def test_joining_someone_elses_room_is_refused(app, client, login, world: World) -> None:
    """The seed let anyone listen to anyone; here bob's room stays bob's."""
    login(world.users["alice"])
    alice_sock = socket_for(app, client)
    send(app, alice_sock, "join_notifications", {"user_id": world.users["bob"].id})
    answer = received(alice_sock).get("joined_notifications", [])
    assert answer[0]["status"] == "error"
    socketio.emit(
        "new_notification", {"secret": 1}, to=f"user_{world.users['bob'].id}", namespace=NAMESPACE
    )
    assert received(alice_sock).get("new_notification", []) == []


def test_a_status_change_reaches_the_recipient_and_no_one_else(
    app, client, login, world: World
) -> None:
    alice, bob, dave = world.users["alice"], world.users["bob"], world.users["dave"]
    bob_http, dave_http = app.test_client(), app.test_client()
    login(bob, the_client=bob_http)
    login(dave, the_client=dave_http)
    bob_sock, dave_sock = socket_for(app, bob_http), socket_for(app, dave_http)
    login(alice)
    task_id = world.tasks["login"]
    response = client.put(
        f"/tasks/api/task/{task_id}/status", json={"status_id": RESOLVED, "comment": "Done"}
    )
    assert response.status_code == 200
    bob_heard, dave_heard = received(bob_sock), received(dave_sock)
    notes = bob_heard.get("new_notification", [])
    assert len(notes) == 1
    assert notes[0]["issue_id"] == task_id
    assert notes[0]["type"] == "status_change"
    assert notes[0]["unread_count"] == 1
    moves = bob_heard.get("task_status_changed", [])
    assert [(m["task_id"], m["old_status_id"], m["new_status_id"]) for m in moves] == [
        (task_id, IN_PROGRESS, RESOLVED)
    ]
    assert dave_heard == {}


def board_socket(app: Flask, login: Any, user: Any, *project_ids: int) -> tuple[Any, list[Any]]:
    """A page of the user's that asked to join the projects' rooms, and the answers it got."""
    http = app.test_client()
    login(user, the_client=http)
    sock = socket_for(app, http)
    for project_id in project_ids:
        send(app, sock, "join_project", {"project_id": project_id})
    return sock, received(sock).get("joined_project", [])


def move(client: FlaskClient, task_id: int, status_id: int) -> None:
    """Change a task's status through the API as the client's user."""
    response = client.put(f"/tasks/api/task/{task_id}/status", json={"status_id": status_id})
    assert response.status_code == 200, response.get_data(as_text=True)


def moves_heard(sock: Any) -> list[tuple[int, int]]:
    """The (task, new status) moves a socket heard since the last call."""
    return [
        (m["task_id"], m["new_status_id"]) for m in received(sock).get("task_status_changed", [])
    ]


def test_a_member_with_the_board_open_sees_the_card_move(app, client, login, world: World) -> None:
    """rita is in the project but none of the task's people: her board joined the project's
    room, which is why the move reaches her; her page without a board hears nothing of it."""
    web = world.projects["web"]
    board, answers = board_socket(app, login, world.users["rita"], web)
    assert answers == [{"status": "success", "project_id": web}]
    other_page, _ = board_socket(app, login, world.users["rita"])
    login(world.users["alice"])
    task_id = world.tasks["login"]  # web: author bob, assignee alice
    move(client, task_id, RESOLVED)
    assert moves_heard(board) == [(task_id, RESOLVED)]
    assert received(board) == {}  # no notification: rita is not one of the task's people
    assert received(other_page) == {}


def test_a_non_member_cannot_join_a_project_room_and_hears_no_moves(
    app, client, login, world: World
) -> None:
    """dave is in no project: the server refuses him the room and joins him to nothing."""
    web = world.projects["web"]
    board, answers = board_socket(app, login, world.users["dave"], web)
    assert answers == [
        {"status": "error", "project_id": web, "message": "not a member of this project"}
    ]
    login(world.users["alice"])
    move(client, world.tasks["login"], RESOLVED)
    assert received(board) == {}


def test_a_member_cannot_join_another_projects_room(app, client, login, world: World) -> None:
    """rita is a member of web only; infra's moves stay infra's."""
    infra = world.projects["infra"]
    board, answers = board_socket(app, login, world.users["rita"], infra)
    assert answers[0]["status"] == "error"
    login(world.users["bob"])
    move(client, world.tasks["bobinfra"], RESOLVED)
    assert received(board) == {}


def test_an_admin_may_join_any_projects_room(app, client, login, world: World) -> None:
    infra = world.projects["infra"]
    board, answers = board_socket(app, login, world.users["admin"], infra)
    assert answers == [{"status": "success", "project_id": infra}]
    login(world.users["bob"])
    move(client, world.tasks["bobinfra"], RESOLVED)
    assert moves_heard(board) == [(world.tasks["bobinfra"], RESOLVED)]


@pytest.mark.parametrize(
    "data", [{}, {"project_id": "1"}, {"project_id": 0}, {"project_id": True}, [1], None]
)
def test_joining_without_a_project_id_is_refused(app, login, world: World, data: Any) -> None:
    http = app.test_client()
    login(world.users["alice"], the_client=http)
    sock = socket_for(app, http)
    send(app, sock, "join_project", data)
    (answer,) = received(sock)["joined_project"]
    assert answer["status"] == "error"
    assert answer["message"]


def test_a_board_that_leaves_its_project_hears_no_more_moves(
    app, client, login, world: World
) -> None:
    web = world.projects["web"]
    board, _ = board_socket(app, login, world.users["rita"], web)
    send(app, board, "leave_project", {"project_id": web})
    assert received(board) == {"left_project": [{"status": "success", "project_id": web}]}
    login(world.users["alice"])
    move(client, world.tasks["login"], RESOLVED)
    assert received(board) == {}


def test_a_watcher_outside_the_project_hears_the_move_on_their_own_pages(
    app, client, login, world: World
) -> None:
    """The admin watches a task of a project whose board they have not joined: being told of
    the change, their pages hear the move too, once per page even when also in the room."""
    task_id = world.tasks["bobweb"]  # web: author alice, assignee bob
    db.session.add(Watcher(task_id=task_id, user_id=world.uid("admin")))
    db.session.commit()
    page, _ = board_socket(app, login, world.users["admin"])
    board, _ = board_socket(app, login, world.users["admin"], world.projects["web"])
    login(world.users["bob"])
    move(client, task_id, RESOLVED)
    for sock in (page, board):
        heard = received(sock)
        assert [n["issue_id"] for n in heard["new_notification"]] == [task_id]
        assert [m["task_id"] for m in heard["task_status_changed"]] == [task_id]


def test_a_refused_change_sends_nothing(app, client, login, world: World) -> None:
    bob_http = app.test_client()
    login(world.users["bob"], the_client=bob_http)
    bob_sock = socket_for(app, bob_http)
    login(world.users["alice"])
    response = client.put(f"/tasks/api/task/{world.tasks['login']}/status", json={"status_id": 999})
    assert response.status_code == 422
    assert received(bob_sock) == {}
