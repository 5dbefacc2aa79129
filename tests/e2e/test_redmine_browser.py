"""In a real browser, `helpdesk serve` with TASK_BACKEND=redmine on a real Redmine, as `make run`
serves it: people sign in with their Redmine passwords, and every page and call acts in Redmine as
them: My Tasks, the task page, a new task, a comment, a drag on the board that another person's
board follows live, and the bell."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_live_board import CHROMIUM, CHROMIUM_ARGS, column_of, playwright_api, settled

from conftest import HELPDESK, demo_environment
from helpdesk.integrations.redmine.answers import IssueAnswer, ProjectAnswer, UserAnswer
from helpdesk.integrations.redmine.client import RedmineClient
from helpers import helpdesk_serving
from redmine_server import RedmineServer

pytestmark = [pytest.mark.servers, pytest.mark.redmine]

PASSWORD = "Пароль-redmine-1"  # a Redmine password, never stored by the helpdesk
DEVELOPER = 4  # Redmine's default role
NEW, IN_PROGRESS = 1, 2
numbers = itertools.count(1)


class Office:
    """Two Redmine users, developers of one project, and an issue alice wrote for bob."""

    def __init__(self, server: RedmineServer) -> None:
        self.server = server
        self.client = RedmineClient(server.url, server.api_key, timeout=30)
        tag = f"{os.getpid() % 100_000}x{next(numbers)}"
        self.project_name = f"Front office {tag}"
        self.project_id = self.client.post(
            "/projects.json",
            {"project": {"name": self.project_name, "identifier": f"front-{tag}"}},
            shape=ProjectAnswer,
        )["project"]["id"]
        self.logins = {}
        for name, last in (("alice", "Ivanova"), ("bob", "Petrov")):
            login = f"{name}_{tag}"
            user = self.client.post(
                "/users.json",
                {
                    "user": {
                        "login": login,
                        "firstname": name.title(),
                        "lastname": last,
                        "mail": f"{login}@example.com",
                        "password": PASSWORD,
                    }
                },
                shape=UserAnswer,
            )["user"]
            self.client.post(
                f"/projects/{self.project_id}/memberships.json",
                {"membership": {"user_id": user["id"], "role_ids": [DEVELOPER]}},
            )
            self.logins[name] = login
        server.sql(  # developers may make every move, whatever earlier tests left
            """INSERT INTO workflows (tracker_id, old_status_id, new_status_id, role_id, assignee,
            author, type) SELECT t.id, :new, :moved, :role, 0, 0, 'WorkflowTransition'
            FROM trackers t WHERE NOT EXISTS (SELECT 1 FROM workflows w WHERE w.tracker_id = t.id
            AND w.old_status_id = :new AND w.new_status_id = :moved AND w.role_id = :role)""",
            new=NEW,
            moved=IN_PROGRESS,
            role=DEVELOPER,
        )
        self.issue_id = self.client.post(
            "/issues.json",
            {
                "issue": {
                    "project_id": self.project_id,
                    "subject": "Printer on the third floor jams",
                    "assigned_to_id": self.redmine_id("bob"),
                }
            },
            shape=IssueAnswer,
            as_login=self.logins["alice"],
        )["issue"]["id"]

    def redmine_id(self, name: str) -> int:
        """A person's Redmine id."""
        [(user_id,)] = self.server.sql(
            "SELECT id FROM users WHERE login = :login", login=self.logins[name]
        )
        return int(user_id)

    def journals(self, issue_id: int) -> list[tuple[str, str]]:
        """(login, notes) of an issue's journals, from Redmine's own database."""
        return [
            (login, notes or "")
            for login, notes in self.server.sql(
                "SELECT u.login, j.notes FROM journals j JOIN users u ON u.id = j.user_id "
                "WHERE j.journalized_id = :id ORDER BY j.id",
                id=issue_id,
            )
        ]


@pytest.fixture
def office(redmine_server: RedmineServer) -> Iterator[Office]:
    """The test's people and issue in the session's Redmine."""
    built = Office(redmine_server)
    yield built
    built.client.close()


@pytest.fixture
def server(redmine_server: RedmineServer, tmp_path: Path) -> Iterator[str]:
    """`helpdesk serve` on an empty helpdesk database of its own, on the session's Redmine."""
    env = {
        **demo_environment(tmp_path / "instance"),
        "TASK_BACKEND": "redmine",
        "REDMINE_URL": redmine_server.url,
        "REDMINE_API_KEY": redmine_server.api_key,
        "AUTH_PROVIDERS": "local,redmine",
    }
    subprocess.run(
        [HELPDESK, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120
    )
    with helpdesk_serving(env) as (url, _process):
        yield url


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright."""
    with playwright_api().sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def signed_in(chromium: Any, url: str, login: str, errors: list[str]) -> Any:
    """A page of a fresh browser profile, signed in through the login form with the person's
    Redmine login and password."""
    context = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/users/login")
    page.fill("#username", login)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{url}/tasks/my-tasks")
    return page


def drag(page: Any, card_selector: str, target_selector: str) -> None:
    """Drag a card to a column as a person does (see test_live_board)."""
    card = page.wait_for_selector(card_selector)
    start, goal = card.bounding_box(), page.query_selector(target_selector).bounding_box()
    page.mouse.move(start["x"] + 20, start["y"] + 10)
    page.mouse.down()
    page.mouse.move(start["x"] + 60, start["y"] + 40, steps=5)
    page.mouse.move(goal["x"] + 40, goal["y"] + 30, steps=15)
    page.wait_for_timeout(250)
    page.mouse.up()


def test_every_page_acts_in_redmine_as_the_signed_in_person(
    server: str, office: Office, chromium: Any
) -> None:
    errors: list[str] = []
    bob = signed_in(chromium, server, office.logins["bob"], errors)
    issue = str(office.issue_id)
    assert "Printer on the third floor jams" in bob.inner_text("main")  # My Tasks

    bob.click(f'main a[href="/tasks/{issue}"]')  # the task page
    bob.wait_for_url(f"{server}/tasks/{issue}")
    assert "Printer on the third floor jams" in bob.inner_text("main")
    bob.fill("#notes", "Paper tray 2 is empty")
    bob.click("#notes ~ div button[type=submit]")
    bob.wait_for_selector("#journal-list >> text=Paper tray 2 is empty")

    bob.goto(f"{server}/tasks/new")  # a new task
    bob.select_option("#project_id", label=office.project_name)
    bob.fill("#subject", "Order toner")
    bob.click("form:has(#subject) button[type=submit]")
    bob.wait_for_url(re.compile(r"/tasks/\d+$"))
    created = int(bob.url.rsplit("/", 1)[1])
    assert "Order toner" in bob.inner_text("main")
    [(author,)] = office.server.sql(
        "SELECT u.login FROM issues i JOIN users u ON u.id = i.author_id WHERE i.id = :id",
        id=created,
    )
    assert author == office.logins["bob"]

    bob.goto(f"{server}/tasks/kanban?project={office.project_id}&assigned_to=me")
    settled(bob)
    assert column_of(bob, issue) == "New"
    assert bob.inner_text("#notification-counter") == "0"

    alice = signed_in(chromium, server, office.logins["alice"], errors)  # a second person
    alice.goto(f"{server}/tasks/kanban?project={office.project_id}&assigned_to=any")
    settled(alice)
    assert column_of(alice, issue) == "New"
    drag(
        alice,
        f'.kanban-card[data-task-id="{issue}"]',
        f'.kanban-cards[data-status-id="{IN_PROGRESS}"]',
    )
    bob.wait_for_function(  # bob's board follows, live
        "id => document.querySelector(`.kanban-card[data-task-id='${id}']`)"
        ".closest('.kanban-column').dataset.statusName === 'In Progress'",
        arg=issue,
        timeout=15_000,
    )
    bob.wait_for_function(  # and bob, the assignee, hears of it
        "() => document.getElementById('notification-counter').textContent === '1'",
        timeout=15_000,
    )
    [(status_id,)] = office.server.sql(
        "SELECT status_id FROM issues WHERE id = :id", id=office.issue_id
    )
    assert status_id == IN_PROGRESS
    assert office.journals(office.issue_id) == [
        (office.logins["bob"], "Paper tray 2 is empty"),
        (office.logins["alice"], ""),  # the move, as alice in Redmine's own history
    ]

    bob.click("#notification-bell > a")  # the bell
    bob.click(f'#notifications-list a[href="/tasks/{issue}"]')
    bob.wait_for_url(f"{server}/tasks/{issue}")
    assert bob.inner_text("#notification-counter") == "0"
    assert errors == []
