"""Files on tasks through the API and the task page (local backend): upload, list, download,
preview, delete; and every bad upload refused with nothing written, on disk or in the database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from task_api_support import World, assert_error, build_world, journals_of

from conftest import csrf_token_from
from helpdesk.config import ConfigurationError
from helpdesk.tasks.files import check_attachment_size, clean_filename
from helpdesk.tasks.models import Attachment, Journal, JournalDetail
from helpers import FORM, HTML, JSON, count_rows, image_bytes


@pytest.fixture
def world(make_user) -> World:
    return build_world(make_user)


@pytest.fixture
def stored(app) -> Path:
    """The attachments folder."""
    return Path(app.config["UPLOAD_FOLDER"]) / "attachments"


def on_disk(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def post_files(client, task_id: int, *files: tuple[bytes, str], notes: str | None = None):
    data: dict = {"files": [(io.BytesIO(body), name) for body, name in files]}
    if notes is not None:
        data["notes"] = notes
    return client.post(
        f"/tasks/api/task/{task_id}/attachments",
        data=data,
        content_type="multipart/form-data",
        headers=JSON,
    )


def nothing_written(stored: Path) -> None:
    assert count_rows(Attachment) == 0
    assert count_rows(Journal) == 0
    assert count_rows(JournalDetail) == 0
    assert on_disk(stored) == []


def test_upload_list_download_and_delete(client, login, world: World, stored: Path):
    login(world.users["alice"])
    task = world.tasks["login"]
    png = image_bytes("PNG")
    response = post_files(
        client, task, (png, "screen shot.png"), (b"log line 1\nline 2\n", "app.log"), notes="See"
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()["data"]
    names = [(a["filename"], a["content_type"], a["size"]) for a in body["attachments"]]
    assert names == [("screen shot.png", "image/png", len(png)), ("app.log", "text/plain", 18)]
    assert body["journal"]["notes"] == "See"
    ids = [a["id"] for a in body["attachments"]]
    assert [(d["property"], d["new_value"]) for d in body["journal"]["details"]] == [
        (f"attachment_{ids[0]}", "screen shot.png"),
        (f"attachment_{ids[1]}", "app.log"),
    ]
    assert len(on_disk(stored)) == 2

    listed = client.get(f"/tasks/api/task/{task}/attachments", headers=JSON).get_json()["data"]
    assert [a["id"] for a in listed] == ids
    assert listed[0]["author_name"] == "Alice Smith"

    image = client.get(listed[0]["url"])
    assert image.status_code == 200
    assert image.data == png
    assert image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline;")
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in image.headers["Content-Security-Policy"]
    with client.head(listed[0]["url"]) as head:  # unread, the file is closed with the response
        assert head.status_code == 200
    with client.get(listed[0]["url"] + "?download=1") as forced:
        assert forced.headers["Content-Disposition"].startswith("attachment;")
    text = client.get(listed[1]["url"])
    assert text.data == b"log line 1\nline 2\n"
    assert text.headers["Content-Disposition"] == (
        "attachment; filename=\"app.log\"; filename*=UTF-8''app.log"
    )

    deleted = client.delete(f"/tasks/api/task/{task}/attachments/{ids[0]}", headers=JSON)
    assert deleted.status_code == 200, deleted.get_data(as_text=True)
    assert len(on_disk(stored)) == 1
    assert client.get(listed[0]["url"]).status_code == 404
    history = journals_of(task)
    assert history[-1]["details"] == [(f"attachment_{ids[0]}", "screen shot.png", None)]


def test_other_peoples_tasks_and_files_are_not_found(client, login, world: World, stored):
    login(world.users["alice"])
    mine = post_files(client, world.tasks["login"], (b"secret", "a.txt")).get_json()["data"]
    file_id = mine["attachments"][0]["id"]
    hidden = world.tasks["hidden"]  # infra: alice is no member
    assert_error(post_files(client, hidden, (b"x", "x.txt")), 404)
    assert_error(client.get(f"/tasks/api/task/{hidden}/attachments", headers=JSON), 404)
    # the same file named under another task is not found either
    other = world.tasks["report"]
    assert client.get(f"/tasks/{other}/files/{file_id}").status_code == 404
    client.post("/users/logout", headers=JSON)
    login(world.users["dave"])
    assert client.get(f"/tasks/{world.tasks['login']}/files/{file_id}").status_code == 404
    delete = client.delete(f"/tasks/api/task/{world.tasks['login']}/attachments/{file_id}")
    assert_error(delete, 404)
    assert len(on_disk(stored)) == 1


def test_only_the_author_or_an_admin_deletes(client, app, login, world: World, stored):
    from task_api_support import as_user

    alice = as_user(app, login, world.users["alice"])
    task = world.tasks["login"]
    body = post_files(alice, task, (b"notes", "n.txt")).get_json()["data"]
    file_id = body["attachments"][0]["id"]
    bob = as_user(app, login, world.users["bob"])  # a member of the project, not the author
    assert_error(bob.delete(f"/tasks/api/task/{task}/attachments/{file_id}", headers=JSON), 403)
    assert len(on_disk(stored)) == 1
    admin = as_user(app, login, world.users["admin"])
    response = admin.delete(f"/tasks/api/task/{task}/attachments/{file_id}", headers=JSON)
    assert response.status_code == 200
    assert on_disk(stored) == []


@pytest.mark.parametrize(
    ("files", "status", "field"),
    [
        ([(b"<html><script>alert(1)</script></html>", "shot.png")], 422, "files"),  # fake image
        ([(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png")], 422, "files"),  # broken image
        ([(b"GIF89a<script>alert(1)</script>", "x.gif")], 422, "files"),
        ([(b"", "empty.txt")], 422, "files"),
        ([(b"ok", "fine.txt"), (b"<svg/>", "x.jpg")], 422, "files"),  # one bad: none kept
        ([], 422, "files"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    client, login, world: World, stored, files, status, field
):
    login(world.users["alice"])
    response = post_files(client, world.tasks["login"], *files)
    body = assert_error(response, status)
    assert field in body["errors"]
    nothing_written(stored)


def test_a_file_over_the_limit_is_refused_with_413(client, app, login, world: World, stored):
    app.config["MAX_ATTACHMENT_SIZE"] = 1000
    login(world.users["alice"])
    response = post_files(client, world.tasks["login"], (b"x" * 500, "a.txt"), (b"y" * 1001, "b"))
    body = assert_error(response, 413)
    assert "1000 B" in body["errors"]["files"][0]
    nothing_written(stored)
    app.config["MAX_CONTENT_LENGTH"] = 2000  # the whole request too large: Werkzeug's 413
    assert_error(post_files(client, world.tasks["login"], (b"z" * 3000, "c.txt")), 413)
    nothing_written(stored)


def test_a_body_that_is_not_multipart_is_refused(client, login, world: World, stored):
    login(world.users["alice"])
    url = f"/tasks/api/task/{world.tasks['login']}/attachments"
    assert_error(client.post(url, json={"files": ["x"]}, headers=JSON), 415)
    long_notes = post_files(client, world.tasks["login"], (b"a", "a.txt"), notes="n" * 70_000)
    assert "notes" in assert_error(long_notes, 422)["errors"]
    nothing_written(stored)


def test_a_failed_commit_leaves_no_file(client, app, login, world: World, stored, monkeypatch):
    """A file written for a transaction that rolls back is removed (tasks/files.py)."""
    from helpdesk.tasks import attachment_views

    def failing_commit() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(attachment_views, "commit", failing_commit)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(world.users["alice"])
    response = post_files(client, world.tasks["login"], (b"abc", "a.txt"))
    assert response.status_code == 500
    nothing_written(stored)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("..", "file"),
        ("", "file"),
        ("report\u202egpj.exe", "reportgpj.exe"),  # no right-to-left override
        ("снимок экрана.png", "снимок экрана.png"),
        ('a<b>:"c|?*.txt', "abc.txt"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_names_are_cleaned(given: str, kept: str):
    assert clean_filename(given) == kept


def test_path_traversal_names_stay_inside_the_folder(client, login, world: World, stored, app):
    login(world.users["alice"])
    body = post_files(client, world.tasks["login"], (b"data", "../../../../evil.txt"))
    assert body.status_code == 201
    assert body.get_json()["data"]["attachments"][0]["filename"] == "evil.txt"
    uploads = Path(app.config["UPLOAD_FOLDER"])
    assert [p.parent for p in uploads.rglob("*") if p.is_file()] == [stored]
    assert not (uploads.parent / "evil.txt").exists()


def test_a_russian_name_is_offered_as_written_and_in_ascii(client, login, world: World):
    login(world.users["alice"])
    body = post_files(client, world.tasks["login"], (b"data", "отчёт за май.txt"))
    url = body.get_json()["data"]["attachments"][0]["url"]
    served = client.get(url)
    assert served.data == b"data"
    assert served.headers["Content-Disposition"] == (
        'attachment; filename="file.txt"; '
        "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82%20%D0%B7%D0%B0%20%D0%BC%D0%B0%D0%B9.txt"
    )


def test_html_and_svg_are_served_as_downloads_of_bytes(client, login, world: World):
    login(world.users["alice"])
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    html = b"<html><body><script>alert(1)</script></body></html>"
    body = post_files(client, world.tasks["login"], (svg, "pic.svg"), (html, "page.html"))
    assert body.status_code == 201, body.get_data(as_text=True)
    for item in body.get_json()["data"]["attachments"]:
        served = client.get(item["url"])
        assert served.data in (svg, html)
        assert served.mimetype == "application/octet-stream", item
        assert served.headers["Content-Disposition"].startswith("attachment;")
        assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_the_task_page_lists_previews_and_uploads_with_a_comment(client, login, world: World):
    login(world.users["alice"])
    task = world.tasks["login"]
    token = csrf_token_from(client, f"/tasks/{task}")
    png = image_bytes("PNG")
    response = client.post(
        f"/tasks/{task}/files",
        data={
            "csrf_token": token,
            "notes": "**Screenshot** attached",
            "files": [(io.BytesIO(png), "shot.png"), (io.BytesIO(b"a,b\n"), "data.csv")],
        },
        content_type="multipart/form-data",
        headers=FORM,
    )
    assert response.status_code == 302
    page = client.get(f"/tasks/{task}", headers=HTML).get_data(as_text=True)
    assert "Files attached" in page
    assert 'class="files-preview' in page
    assert "File added: shot.png" in page
    assert "File added: data.csv" in page
    assert "<strong>Screenshot</strong> attached" in page
    assert 'id="files-drop"' in page


def test_the_task_page_refuses_a_bad_file_with_a_message(client, login, world: World, stored):
    login(world.users["alice"])
    task = world.tasks["login"]
    token = csrf_token_from(client, f"/tasks/{task}")
    response = client.post(
        f"/tasks/{task}/files",
        data={"csrf_token": token, "files": [(io.BytesIO(b"not a picture"), "x.png")]},
        content_type="multipart/form-data",
        headers=FORM,
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "x.png: The file is not a valid image." in response.get_data(as_text=True)
    nothing_written(stored)


def test_the_size_limit_must_fit_in_a_request():
    check_attachment_size({"MAX_ATTACHMENT_SIZE": 100, "MAX_CONTENT_LENGTH": 100})
    with pytest.raises(ConfigurationError, match="MAX_CONTENT_LENGTH"):
        check_attachment_size({"MAX_ATTACHMENT_SIZE": 101, "MAX_CONTENT_LENGTH": 100})
    with pytest.raises(ConfigurationError, match="positive"):
        check_attachment_size({"MAX_ATTACHMENT_SIZE": 0, "MAX_CONTENT_LENGTH": 100})


def test_the_tasks_people_hear_of_files_as_of_a_comment(client, app, login, world: World):
    from task_api_support import as_user

    bob = as_user(app, login, world.users["bob"])  # alice is the assignee of "login"
    response = post_files(bob, world.tasks["login"], (image_bytes("PNG"), "error.png"))
    assert response.status_code == 201
    login(world.users["alice"])
    listed = client.get("/tasks/api/notifications", headers=JSON).get_json()["data"]
    assert [(n["type"], n["message"]) for n in listed["notifications"]] == [
        ("comment", "Bob Jones: error.png")
    ]


def test_the_start_stops_when_a_file_could_not_fit_in_a_request(tmp_path, monkeypatch):
    from helpdesk import create_app

    monkeypatch.setenv("HELPDESK_INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="MAX_ATTACHMENT_SIZE"):
        create_app(
            "testing",
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}",
            MAX_CONTENT_LENGTH=1024,
            MAX_ATTACHMENT_SIZE=2048,
        )


def test_the_new_task_page_creates_a_task_with_its_files(client, login, world: World, stored):
    from helpdesk.tasks.models import Task

    login(world.users["alice"])
    token = csrf_token_from(client, "/tasks/new")
    tasks_before = count_rows(Task)
    form = {
        "csrf_token": token,
        "project_id": str(world.projects["web"]),
        "subject": "Screen goes dark",
        "files": [(io.BytesIO(image_bytes("PNG")), "dark.png"), (io.BytesIO(b"log"), "x.log")],
    }
    response = client.post(
        "/tasks/new", data=form, content_type="multipart/form-data", headers=FORM
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    task_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    assert count_rows(Task) == tasks_before + 1
    page = client.get(f"/tasks/{task_id}", headers=HTML).get_data(as_text=True)
    assert 'class="files-preview' in page
    assert "dark.png" in page
    assert "x.log" in page
    assert len(on_disk(stored)) == 2

    bad = {**form, "csrf_token": token, "subject": "Must not exist"}
    bad["files"] = [(io.BytesIO(b"ok"), "fine.txt"), (io.BytesIO(b"<svg/>"), "x.jpg")]
    refused = client.post("/tasks/new", data=bad, content_type="multipart/form-data", headers=FORM)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "x.jpg: The file is not a valid image." in text
    assert "Choose the files again" in text
    assert count_rows(Task) == tasks_before + 1
    assert len(on_disk(stored)) == 2  # the good file of the refused form was not kept


def test_a_failed_create_leaves_no_file(client, app, login, world: World, stored, monkeypatch):
    """The task and its files are one transaction: a commit that fails keeps neither."""
    from helpdesk.tasks import api

    def failing_commit() -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(api, "commit", failing_commit)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    login(world.users["alice"])
    response = client.post(
        "/tasks/api/task",
        data={
            "project_id": str(world.projects["web"]),
            "subject": "Lost",
            "files": [(io.BytesIO(b"abc"), "a.txt")],
        },
        content_type="multipart/form-data",
        headers=JSON,
    )
    assert response.status_code == 500
    assert on_disk(stored) == []
    assert count_rows(Attachment) == 0
