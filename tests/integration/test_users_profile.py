"""GET /users/profile/<username>: signed-in staff see a user's details and announcements."""

from __future__ import annotations

from datetime import timedelta

import pytest

from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.posts.models import Post
from helpers import HTML, JSON


def add_posts(user, count: int, prefix: str = "Notice") -> None:
    """Commit count posts by user, the highest number the newest."""
    start = utcnow() - timedelta(days=1)
    for number in range(1, count + 1):
        db.session.add(
            Post(
                title=f"{prefix} {number:02d}",
                content=f"Body of {prefix.lower()} {number}",
                user_id=user.id,
                date_posted=start + timedelta(minutes=number),
            )
        )
    db.session.commit()


def test_anonymous_json_client_gets_401(client, make_user):
    make_user("alice")
    response = client.get("/users/profile/alice", headers=JSON)
    assert response.status_code == 401
    body = response.get_json()
    assert body["success"] is False
    assert body["status_code"] == 401


def test_anonymous_browser_is_sent_to_login_and_back(client, make_user):
    make_user("alice")
    response = client.get("/users/profile/alice", headers=HTML)
    assert response.status_code == 302
    assert response.headers["Location"] == "/users/login?next=/users/profile/alice"


def test_unknown_user_is_404(client, make_user, login):
    login(make_user("alice"))
    assert client.get("/users/profile/nobody", headers=HTML).status_code == 404
    response = client.get("/users/profile/nobody", headers=JSON)
    assert response.status_code == 404
    assert response.get_json()["status_code"] == 404


def test_anonymous_client_cannot_probe_for_unknown_users(client):
    assert client.get("/users/profile/nobody", headers=JSON).status_code == 401


def test_profile_shows_details_and_only_that_users_posts(client, make_user, login):
    viewer = make_user("viewer")
    alice = make_user("alice", full_name="Alice Smith", department="Sales", phone="+7 495 000")
    bob = make_user("bob")
    add_posts(alice, 2, "Alice news")
    add_posts(bob, 1, "Bob news")
    login(viewer)
    response = client.get("/users/profile/alice", headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Alice Smith" in page
    assert "Sales" in page
    assert "Alice news 01" in page
    assert "Alice news 02" in page
    assert "Bob news" not in page


def test_profile_lists_newest_first_and_paginates(app, client, make_user, login):
    alice = make_user("alice")
    add_posts(alice, app.config["POSTS_PER_PAGE"] + 2)
    login(alice)
    first = client.get("/users/profile/alice", headers=HTML).get_data(as_text=True)
    newest, oldest_on_page = "Notice 12", "Notice 03"
    assert newest in first
    assert oldest_on_page in first
    assert first.index(newest) < first.index(oldest_on_page)
    assert "Notice 02" not in first
    second = client.get("/users/profile/alice?page=2", headers=HTML).get_data(as_text=True)
    assert "Notice 02" in second
    assert "Notice 01" in second
    assert "Notice 12" not in second


@pytest.mark.parametrize(
    ("page", "shown"),
    [
        ("99", False),  # beyond the last page: empty, not an error
        ("abc", True),  # not a number: the first page
    ],
    ids=["beyond-the-last", "not-a-number"],
)
def test_odd_page_numbers_are_not_an_error(client, make_user, login, page, shown):
    alice = make_user("alice")
    add_posts(alice, 1)
    login(alice)
    response = client.get(f"/users/profile/alice?page={page}", headers=HTML)
    assert response.status_code == 200
    assert ("Notice 01" in response.get_data(as_text=True)) is shown


def test_profile_text_is_escaped(client, make_user, login):
    login(make_user("alice", full_name="<script>alert(1)</script>"))
    page = client.get("/users/profile/alice", headers=HTML).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_profile_never_shows_the_password_hash(client, make_user, login):
    alice = make_user("alice")
    login(alice)
    page = client.get("/users/profile/alice", headers=HTML).get_data(as_text=True)
    assert alice.password not in page
