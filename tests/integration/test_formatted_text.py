"""Formatted text on every surface that shows what people write: Markdown rendered (links, lists,
code), and never their HTML, on the task page (description, comments), announcements (page and
card), notifications (page and API) and e-mail."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from task_api_support import World, as_user, build_world

from helpdesk.extensions import db
from helpdesk.notifications.mail_sender import render_bodies
from helpdesk.posts.models import Post
from helpdesk.tasks.models import Task
from helpers import HTML, JSON

EVIL = (
    "Steps:\n\n- open <script>alert(1)</script>\n- click [here](javascript:alert(2))\n\n"
    '<img src=x onerror="alert(3)"> see https://intranet.example/wiki and '
    "[docs](https://docs.example/a) `<b>code</b>`\n\n"
    '<a href="https://evil.example" onclick="alert(4)">raw</a> '
    "[data](data:text/html;base64,PHNjcmlwdD4=) <iframe src=https://evil.example></iframe>"
)


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


def assert_safe(html: str, where: str) -> None:
    """None of EVIL's HTML runs: no script, handler, iframe, javascript: or data: link (read as
    the browser reads the page: text inside an attribute value or a textarea is not a tag)."""
    assert "<script>alert" not in html, where
    parser = Tags()
    parser.feed(html)
    for tag, attributes in parser.tags:
        assert not [name for name in attributes if name.startswith("on")], (where, tag)
        assert tag != "iframe", where
        link = (attributes.get("href") or "").strip().lower()
        assert not link.startswith(("javascript:", "data:")), where


class Tags(HTMLParser):
    """The start tags of a page with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_formatted(html: str, where: str) -> None:
    """EVIL's Markdown is rendered: a list, safe links with rel, code escaped inside."""
    assert "<li>open &lt;script&gt;alert(1)&lt;/script&gt;</li>" in html, where
    assert (
        '<a href="https://intranet.example/wiki" rel="nofollow noopener">'
        "https://intranet.example/wiki</a>" in html
    ), where
    assert '<a href="https://docs.example/a" rel="nofollow noopener">docs</a>' in html, where
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html, where


def test_task_description_and_comments(client, app, login, world: World):
    task_id = world.tasks["login"]
    db.session.get(Task, task_id).description = EVIL
    db.session.commit()
    bob = as_user(app, login, world.users["bob"])
    commented = bob.post(f"/tasks/api/task/{task_id}/comments", json={"notes": EVIL})
    assert commented.status_code == 201
    login(world.users["alice"])
    page = client.get(f"/tasks/{task_id}", headers=HTML).get_data(as_text=True)
    assert_safe(page, "task page")
    assert page.count("<li>open &lt;script&gt;alert(1)&lt;/script&gt;</li>") == 2
    assert_formatted(page, "task page")


def test_notification_text_is_escaped(client, app, login, world: World):
    bob = as_user(app, login, world.users["bob"])
    bob.post(f"/tasks/api/task/{world.tasks['login']}/comments", json={"notes": EVIL})
    login(world.users["alice"])
    page = client.get("/notifications", headers=HTML).get_data(as_text=True)
    assert "Bob Jones" in page
    assert_safe(page, "notifications page")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    listed = client.get("/tasks/api/notifications", headers=JSON).get_json()
    assert "<script>alert(1)</script>" in str(listed)  # JSON carries text; pages write it as text


def test_announcements(client, login, world: World):
    post = Post(title="<script>alert(9)</script> News", content=EVIL, author=world.users["admin"])
    db.session.add(post)
    db.session.commit()
    login(world.users["alice"])
    for path in ("/", f"/posts/{post.id}"):
        page = client.get(path, headers=HTML).get_data(as_text=True)
        assert_safe(page, path)
        assert "&lt;script&gt;alert(9)&lt;/script&gt; News" in page
    assert_formatted(client.get(f"/posts/{post.id}", headers=HTML).get_data(as_text=True), "post")


def test_email_bodies(app):
    context = {
        "title": "<script>alert(5)</script>",
        "message": "<img src=x onerror=alert(6)>",
        "task_id": 7,
        "task_subject": "<script>alert(7)</script>",
        "comment": EVIL,
        "task_url": "https://help.example/tasks/7",
    }
    with app.test_request_context():
        text, html = render_bodies("task_notification", context)
    assert_safe(html, "e-mail")
    assert_formatted(html, "e-mail")
    assert "<li>" not in text  # the text part is the comment as written
    assert "[here](javascript:alert(2))" in text
