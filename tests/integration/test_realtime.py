"""Live notifications over Socket.IO: who may listen, and who hears a change."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from task_api_support import IN_PROGRESS, RESOLVED, World, build_world

from helpdesk.extensions import socketio
from helpdesk.notifications.realtime import NAMESPACE


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


def test_a_member_with_the_board_open_sees_the_card_move(app, client, login, world: World) -> None:
    """rita is in the project but none of the task's people: her open page (a socket, which
    makes her online) is why the change is sent to her, and dave, outside it, hears nothing."""
    rita, dave = world.users["rita"], world.users["dave"]
    rita_http, dave_http = app.test_client(), app.test_client()
    login(rita, the_client=rita_http)
    login(dave, the_client=dave_http)
    rita_sock, dave_sock = socket_for(app, rita_http), socket_for(app, dave_http)
    login(world.users["alice"])
    task_id = world.tasks["login"]  # web: author bob, assignee alice
    response = client.put(f"/tasks/api/task/{task_id}/status", json={"status_id": RESOLVED})
    assert response.status_code == 200
    rita_heard, dave_heard = received(rita_sock), received(dave_sock)
    assert "new_notification" not in rita_heard
    moves = rita_heard.get("task_status_changed", [])
    assert [(m["task_id"], m["new_status_id"]) for m in moves] == [(task_id, RESOLVED)]
    assert dave_heard == {}


def test_a_refused_change_sends_nothing(app, client, login, world: World) -> None:
    bob_http = app.test_client()
    login(world.users["bob"], the_client=bob_http)
    bob_sock = socket_for(app, bob_http)
    login(world.users["alice"])
    response = client.put(f"/tasks/api/task/{world.tasks['login']}/status", json={"status_id": 999})
    assert response.status_code == 422
    assert received(bob_sock) == {}
