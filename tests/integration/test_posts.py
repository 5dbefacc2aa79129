"""Announcements: the home feed, and create, edit and delete by the author or an admin."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from conftest import BROWSER, csrf_token_from
from helpdesk.extensions import db
from helpdesk.posts.models import Post
from helpdesk.users.models import User
from helpers import count_rows, image_bytes, upload

TITLE_PATTERN = re.compile(r'<h2 class="h5"><a [^>]*href="/posts/(\d+)">([^<]*)</a></h2>')


# --- helpers -------------------------------------------------------------------------------


def stored_images(app: Flask) -> list[Path]:
    """The files in the announcement image folder."""
    folder = Path(app.config["UPLOAD_FOLDER"]) / "posts"
    return sorted(folder.iterdir()) if folder.exists() else []


def fresh_post(post_id: int) -> Post | None:
    """The post as the database has it now."""
    db.session.expire_all()
    return db.session.get(Post, post_id)


@pytest.fixture
def author(make_user: Callable[..., User]) -> User:
    """A user given the right to write announcements."""
    return make_user("author", can_post_announcements=True)


@pytest.fixture
def make_post(app: Flask) -> Callable[..., Post]:
    """Create and commit a post directly in the database."""

    def factory(user: User, title: str = "Hello", content: str = "Text", **fields: Any) -> Post:
        post = Post(title=title, content=content, author=user, **fields)
        db.session.add(post)
        db.session.commit()
        return post

    return factory


def create_via_form(client: FlaskClient, **data: Any) -> Any:
    """POST /posts/new as a script would (multipart, no Origin)."""
    body = {"title": "Title", "content": "Some content", **data}
    return client.post("/posts/new", data=body, content_type="multipart/form-data")


def create_with_picture(client: FlaskClient, **data: Any) -> Post:
    """Publish a post with a picture through the form, and return it as stored."""
    assert create_via_form(client, picture=upload(image_bytes()), **data).status_code == 302
    return db.session.scalars(select(Post)).one()


def edit_via_form(client: FlaskClient, post_id: int, **data: Any) -> Any:
    """POST /posts/<id>/edit as a script would (multipart, no Origin)."""
    return client.post(f"/posts/{post_id}/edit", data=data, content_type="multipart/form-data")


# --- home page -----------------------------------------------------------------------------


def test_home_requires_login_for_browsers(client: FlaskClient, author: User) -> None:
    """Anonymous browsers are sent to the login page and brought back afterwards."""
    response = client.get("/", headers=BROWSER)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/users/login")
    assert "next=/" in response.headers["Location"]


def test_home_requires_login_for_json_clients(client: FlaskClient) -> None:
    """Anonymous JSON clients get 401 in the common error shape."""
    response = client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert response.json["success"] is False
    assert response.json["status_code"] == 401


def test_home_lists_posts_newest_first_with_pagination(
    app: Flask, client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """Posts come newest first, POSTS_PER_PAGE at a time, with links to the other pages."""
    app.config["POSTS_PER_PAGE"] = 3
    start = datetime(2024, 1, 1, 12, 0)
    # Inserted in shuffled order so the listing cannot rely on insertion order.
    for hour in (3, 0, 6, 1, 5, 2, 4):
        make_post(author, title=f"Post {hour}", date_posted=start + timedelta(hours=hour))
    login(author)

    pages = {}
    for page in (1, 2, 3):
        response = client.get(f"/?page={page}")
        assert response.status_code == 200
        pages[page] = [title for _, title in TITLE_PATTERN.findall(response.get_data(as_text=True))]

    assert pages[1] == ["Post 6", "Post 5", "Post 4"]
    assert pages[2] == ["Post 3", "Post 2", "Post 1"]
    assert pages[3] == ["Post 0"]
    first = client.get("/").get_data(as_text=True)
    assert 'href="/?page=2"' in first
    assert 'href="/?page=3"' in first
    assert pages[1] == [
        title for _, title in TITLE_PATTERN.findall(first)
    ]  # no page parameter means page 1


def test_home_default_page_size_is_posts_per_page(
    app: Flask, client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """The default POSTS_PER_PAGE (10) is honoured: 12 posts make two pages."""
    assert app.config["POSTS_PER_PAGE"] == 10
    start = datetime(2024, 1, 1)
    for minute in range(12):
        make_post(author, title=f"P{minute:02d}", date_posted=start + timedelta(minutes=minute))
    login(author)
    first = TITLE_PATTERN.findall(client.get("/").get_data(as_text=True))
    second = TITLE_PATTERN.findall(client.get("/?page=2").get_data(as_text=True))
    assert [t for _, t in first] == [f"P{m:02d}" for m in range(11, 1, -1)]
    assert [t for _, t in second] == ["P01", "P00"]


def test_home_page_past_the_end_is_empty_not_an_error(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """A page number past the end shows no posts rather than failing."""
    make_post(author, title="Only one")
    login(author)
    response = client.get("/?page=99")
    assert response.status_code == 200
    assert TITLE_PATTERN.findall(response.get_data(as_text=True)) == []
    response = client.get("/?page=notanumber")
    assert response.status_code == 200
    assert [t for _, t in TITLE_PATTERN.findall(response.get_data(as_text=True))] == ["Only one"]


def test_single_post_page_and_unknown_post(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """A post has its own page; an unknown id is 404."""
    post = make_post(author, title="Shown alone", content="Body text")
    login(author)
    response = client.get(f"/posts/{post.id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Shown alone" in page
    assert "Body text" in page
    assert client.get("/posts/9999").status_code == 404


def test_single_post_requires_login(
    client: FlaskClient, author: User, make_post: Callable[..., Post]
) -> None:
    """Anonymous visitors cannot read a post."""
    post = make_post(author)
    response = client.get(f"/posts/{post.id}", headers=BROWSER)
    assert response.status_code == 302
    assert "/users/login" in response.headers["Location"]


def test_post_text_is_escaped(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """Untrusted title and text are shown as text, never as HTML, on every page."""
    evil = "<script>alert(1)</script>"
    img = '<img src=x onerror="alert(2)">'
    post = make_post(author, title=f"T {evil}", content=f"C {evil} {img}")
    login(author)
    for path in ("/", f"/posts/{post.id}", f"/posts/{post.id}/edit", "/users/profile/author"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page, path
        assert "<img src=x onerror" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags", [{}, {"is_redmine_user": True, "can_access_quality_control": True}]
)
def test_only_admins_and_the_announcement_right_may_publish(
    client: FlaskClient, make_user: Callable[..., User], login: Any, flags: dict[str, bool]
) -> None:
    """A self-registered user (or one with other rights) cannot address the whole company."""
    login(make_user("newcomer", **flags))
    assert client.get("/posts/new", headers=BROWSER).status_code == 403
    assert create_via_form(client).status_code == 403
    assert count_rows(Post) == 0
    assert "/posts/new" not in client.get("/", headers=BROWSER).get_data(as_text=True)


def test_admins_publish_without_the_announcement_right(
    client: FlaskClient, make_user: Callable[..., User], login: Any
) -> None:
    login(make_user("boss", is_admin=True))
    assert create_via_form(client).status_code == 302
    assert count_rows(Post) == 1


def test_new_post_requires_login(client: FlaskClient, author: User) -> None:
    """Anonymous users cannot see the form or publish."""
    assert client.get("/posts/new", headers=BROWSER).status_code == 302
    response = create_via_form(client)
    assert response.status_code == 302
    assert client.post("/posts/new", json={"title": "x", "content": "y"}).status_code == 401
    assert count_rows(Post) == 0


def test_new_post_form_page(client: FlaskClient, author: User, login: Any) -> None:
    """The form is served with a CSRF token and a file input."""
    login(author)
    response = client.get("/posts/new", headers=BROWSER)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert 'type="file"' in page
    assert 'enctype="multipart/form-data"' in page


def test_create_post_without_image(client: FlaskClient, author: User, login: Any) -> None:
    """A title and text publish an announcement and redirect to it."""
    login(author)
    response = create_via_form(client, title="  Office closed  ", content="  On Monday.  ")
    assert response.status_code == 302
    post = db.session.scalars(select(Post)).one()
    assert response.headers["Location"] == f"/posts/{post.id}"
    assert post.title == "Office closed"
    assert post.content == "On Monday."
    assert post.user_id == author.id
    assert post.image_post is None
    assert post.date_posted is not None
    assert "Office closed" in client.get("/").get_data(as_text=True)


def test_create_post_from_browser_with_csrf_token(
    client: FlaskClient, author: User, login: Any
) -> None:
    """A browser form post carrying the page's CSRF token is accepted."""
    login(author)
    token = csrf_token_from(client, "/posts/new")
    response = client.post(
        "/posts/new",
        data={"csrf_token": token, "title": "From a browser", "content": "Body"},
        headers=BROWSER,
    )
    assert response.status_code == 302
    assert db.session.scalars(select(Post.title)).all() == ["From a browser"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (BROWSER, 400),  # a browser form post without the CSRF token
        ({"Origin": "http://evil.example"}, 403),  # another site
        ({"Sec-Fetch-Site": "cross-site"}, 403),
    ],
    ids=["no-csrf-token", "foreign-origin", "cross-site"],
)
def test_create_post_forged_from_a_browser_is_refused(
    client: FlaskClient, author: User, login: Any, headers: dict[str, str], status: int
) -> None:
    """Without the token, or from another site, nothing is published for a logged-in user."""
    login(author)
    response = client.post(
        "/posts/new", data={"title": "Forged", "content": "Body"}, headers=headers
    )
    assert response.status_code == status
    assert count_rows(Post) == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"content": ""}, "content"),
        ({"content": "  \n "}, "content"),
    ],
)
def test_create_post_invalid_fields(
    app: Flask,
    client: FlaskClient,
    author: User,
    login: Any,
    data: dict[str, str],
    field: str,
) -> None:
    """Missing or too long fields give 422 with the form again, and nothing is created."""
    login(author)
    response = create_via_form(client, **data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(rf'class="[^"]*is-invalid[^"]*" id="{field}"', page), page
    assert count_rows(Post) == 0
    assert stored_images(app) == []


def test_create_post_title_of_exactly_100_characters(
    client: FlaskClient, author: User, login: Any
) -> None:
    """The title limit is 100 characters inclusive."""
    login(author)
    assert create_via_form(client, title="x" * 100).status_code == 302
    assert db.session.scalars(select(Post.title)).one() == "x" * 100


def test_create_post_with_image_is_reencoded_and_resized(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """An image is verified, resized to POST_IMAGE_SIZE, re-encoded and stored under a new name."""
    login(author)
    original = image_bytes("JPEG", size=(2000, 1000), exif=b"Exif\x00\x00secret-metadata")
    response = create_via_form(client, picture=upload(original, "holiday photo.jpg"))
    assert response.status_code == 302
    post = db.session.scalars(select(Post)).one()
    assert post.image_post
    assert "holiday" not in post.image_post
    files = stored_images(app)
    assert [f.name for f in files] == [post.image_post]
    stored = files[0].read_bytes()
    assert stored != original
    assert b"secret-metadata" not in stored
    with Image.open(io.BytesIO(stored)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == app.config["POST_IMAGE_SIZE"]
        assert image.size == (1280, 640)

    # The stored image is served to signed-in users and shown with the post.
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert f"/uploads/posts/{post.image_post}" in page
    served = client.get(f"/uploads/posts/{post.image_post}")
    assert served.status_code == 200
    assert served.data == stored
    served.close()


def test_create_post_with_transparent_png_keeps_png(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """An image with transparency is stored as PNG so the alpha channel survives."""
    login(author)
    response = create_via_form(client, picture=upload(image_bytes("PNG", mode="RGBA")))
    assert response.status_code == 302
    post = db.session.scalars(select(Post)).one()
    assert post.image_post.endswith(".png")
    with Image.open(stored_images(app)[0]) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == (64, 48)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"this is plain text, not an image", "notes.png"),
        (b"<html><script>alert(1)</script></html>", "page.jpg"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "truncated.png"),
        (image_bytes("BMP"), "bitmap.bmp"),
        (image_bytes("PNG")[:60], "cut-short.png"),
    ],
)
def test_create_post_with_non_image_is_refused(
    app: Flask, client: FlaskClient, author: User, login: Any, data: bytes, name: str
) -> None:
    """A file that is not an accepted image gives 400: no post and no file are created."""
    login(author)
    response = create_via_form(client, title="With a bad file", picture=upload(data, name))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "is-invalid" in page
    assert count_rows(Post) == 0
    assert stored_images(app) == []


def test_create_post_with_decompression_bomb_is_refused(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """An image with more pixels than MAX_IMAGE_PIXELS is refused before it is decoded."""
    app.config["MAX_IMAGE_PIXELS"] = 100 * 100
    login(author)
    bomb = image_bytes("PNG", size=(200, 200))
    response = create_via_form(client, picture=upload(bomb))
    assert response.status_code == 400
    assert count_rows(Post) == 0
    assert stored_images(app) == []


def test_create_post_body_over_limit_is_413(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """An upload over MAX_CONTENT_LENGTH gets 413 and creates nothing."""
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    login(author)
    response = create_via_form(client, picture=upload(b"\0" * 20_000, "big.png"))
    assert response.status_code == 413
    assert count_rows(Post) == 0
    assert stored_images(app) == []


# --- edit ----------------------------------------------------------------------------------


def test_author_can_edit_post(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """The author sees the filled form and can save changes."""
    post = make_post(author, title="Old title", content="Old text")
    login(author)
    form = client.get(f"/posts/{post.id}/edit")
    assert form.status_code == 200
    assert 'value="Old title"' in form.get_data(as_text=True)
    response = edit_via_form(client, post.id, title="New title", content="New text")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/posts/{post.id}"
    changed = fresh_post(post.id)
    assert (changed.title, changed.content) == ("New title", "New text")
    assert changed.user_id == author.id


def test_admin_can_edit_someone_elses_post(
    client: FlaskClient,
    author: User,
    make_user: Callable[..., User],
    make_post: Callable[..., Post],
    login: Any,
) -> None:
    """An administrator may change any announcement; the author stays the same."""
    admin = make_user("boss", is_admin=True)
    post = make_post(author, title="Typo heer")
    login(admin)
    assert client.get(f"/posts/{post.id}/edit").status_code == 200
    response = edit_via_form(client, post.id, title="Typo here", content="Text")
    assert response.status_code == 302
    changed = fresh_post(post.id)
    assert changed.title == "Typo here"
    assert changed.user_id == author.id


def test_other_user_cannot_edit(
    app: Flask,
    client: FlaskClient,
    author: User,
    make_user: Callable[..., User],
    make_post: Callable[..., Post],
    login: Any,
) -> None:
    """Someone else gets 403 for the form and the post, and nothing changes."""
    post = make_post(author, title="Mine", content="My text")
    login(author)
    create = create_via_form(client, title="Mine too", picture=upload(image_bytes()))
    assert create.status_code == 302
    with_image = db.session.scalars(select(Post).where(Post.title == "Mine too")).one()
    image_name = with_image.image_post
    client.get("/users/logout")

    intruder = make_user("intruder", is_redmine_user=True)
    login(intruder)
    assert client.get(f"/posts/{post.id}/edit").status_code == 403
    response = edit_via_form(client, post.id, title="Hacked", content="Hacked")
    assert response.status_code == 403
    response = edit_via_form(
        client, with_image.id, title="Hacked", content="Hacked", remove_picture="y"
    )
    assert response.status_code == 403
    json_response = client.post(
        f"/posts/{post.id}/edit",
        json={"title": "Hacked", "content": "Hacked"},
        headers={"Accept": "application/json"},
    )
    assert json_response.status_code == 403
    assert json_response.json["status_code"] == 403

    unchanged = fresh_post(post.id)
    assert (unchanged.title, unchanged.content) == ("Mine", "My text")
    kept = fresh_post(with_image.id)
    assert (kept.title, kept.image_post) == ("Mine too", image_name)
    assert [f.name for f in stored_images(app)] == [image_name]
    # The edit and delete buttons are not offered to someone else.
    page = client.get(f"/posts/{post.id}").get_data(as_text=True)
    assert f"/posts/{post.id}/edit" not in page
    assert f"/posts/{post.id}/delete" not in page


def test_edit_unknown_post_is_404(client: FlaskClient, author: User, login: Any) -> None:
    """Editing a post that does not exist is 404, not 403."""
    login(author)
    assert client.get("/posts/4242/edit").status_code == 404
    response = edit_via_form(client, 4242, title="x", content="y")
    assert response.status_code == 404
    assert count_rows(Post) == 0


def test_edit_with_invalid_fields_changes_nothing(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """Invalid input on edit gives 422 and leaves the post as it was."""
    post = make_post(author, title="Keep", content="Keep text")
    login(author)
    for data in ({"title": "", "content": "x"}, {"title": "y" * 101, "content": "x"}):
        response = edit_via_form(client, post.id, **data)
        assert response.status_code == 422
    unchanged = fresh_post(post.id)
    assert (unchanged.title, unchanged.content) == ("Keep", "Keep text")


def test_edit_replacing_image_deletes_old_file(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """A new picture replaces the old one, whose file is deleted."""
    login(author)
    post = create_with_picture(client)
    old_name = post.image_post
    old_path = Path(app.config["UPLOAD_FOLDER"]) / "posts" / old_name
    assert old_path.exists()

    response = edit_via_form(
        client,
        post.id,
        title="Title",
        content="Content",
        picture=upload(image_bytes("JPEG", size=(30, 30)), "new.jpg"),
    )
    assert response.status_code == 302
    new_name = fresh_post(post.id).image_post
    assert new_name
    assert new_name != old_name
    assert not old_path.exists()
    assert [f.name for f in stored_images(app)] == [new_name]


def test_edit_without_new_image_keeps_image(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """Saving text changes only does not touch the picture."""
    login(author)
    post = create_with_picture(client)
    name = post.image_post
    response = edit_via_form(client, post.id, title="Changed", content="Changed")
    assert response.status_code == 302
    assert fresh_post(post.id).image_post == name
    assert [f.name for f in stored_images(app)] == [name]


def test_edit_removing_image_deletes_file(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """Ticking 'remove the image' clears the picture and deletes its file."""
    login(author)
    post = create_with_picture(client)
    assert 'name="remove_picture"' in client.get(f"/posts/{post.id}/edit").get_data(as_text=True)
    response = edit_via_form(client, post.id, title="Title", content="Content", remove_picture="y")
    assert response.status_code == 302
    assert fresh_post(post.id).image_post is None
    assert stored_images(app) == []


def test_edit_with_non_image_keeps_everything(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """A rejected replacement picture is 400 and neither the text nor the old picture change."""
    login(author)
    post = create_with_picture(client, title="Original", content="Original")
    name = post.image_post
    response = edit_via_form(
        client,
        post.id,
        title="Changed",
        content="Changed",
        picture=upload(b"GIF89a but not really", "fake.gif"),
    )
    assert response.status_code == 400
    unchanged = fresh_post(post.id)
    assert (unchanged.title, unchanged.content, unchanged.image_post) == (
        "Original",
        "Original",
        name,
    )
    assert [f.name for f in stored_images(app)] == [name]


# --- delete --------------------------------------------------------------------------------


def test_author_can_delete_post_and_its_image(
    app: Flask, client: FlaskClient, author: User, login: Any
) -> None:
    """Deleting removes the post and its picture, then goes home."""
    login(author)
    post_id = create_with_picture(client).id
    assert len(stored_images(app)) == 1
    response = client.post(f"/posts/{post_id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert fresh_post(post_id) is None
    assert stored_images(app) == []
    assert client.get(f"/posts/{post_id}").status_code == 404


def test_admin_can_delete_someone_elses_post(
    client: FlaskClient,
    author: User,
    make_user: Callable[..., User],
    make_post: Callable[..., Post],
    login: Any,
) -> None:
    """An administrator may delete any announcement."""
    post_id = make_post(author).id
    login(make_user("boss", is_admin=True))
    assert client.post(f"/posts/{post_id}/delete").status_code == 302
    assert fresh_post(post_id) is None


def test_other_user_cannot_delete(
    client: FlaskClient,
    author: User,
    make_user: Callable[..., User],
    make_post: Callable[..., Post],
    login: Any,
) -> None:
    """Someone else gets 403 and the post stays."""
    post = make_post(author, title="Stays")
    login(make_user("intruder", is_redmine_user=True, can_access_quality_control=True))
    assert client.post(f"/posts/{post.id}/delete").status_code == 403
    assert fresh_post(post.id).title == "Stays"


def test_delete_needs_post_method_and_login(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """GET cannot delete, anonymous users cannot delete, unknown ids are 404."""
    post = make_post(author)
    assert (
        client.post(f"/posts/{post.id}/delete", headers={"Accept": "application/json"}).status_code
        == 401
    )
    login(author)
    response = client.get(f"/posts/{post.id}/delete")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert client.post("/posts/777/delete").status_code == 404
    assert fresh_post(post.id) is not None


def test_cross_origin_delete_is_refused(
    client: FlaskClient, author: User, make_post: Callable[..., Post], login: Any
) -> None:
    """A foreign page cannot delete a post for a logged-in author."""
    post = make_post(author)
    login(author)
    response = client.post(f"/posts/{post.id}/delete", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert fresh_post(post.id) is not None
