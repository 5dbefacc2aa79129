"""Files through the helpdesk's routes on a real Redmine: uploaded as the user, downloaded through
the helpdesk as the user (Redmine checks who may read it), an image Redmine merely claims shown
inline only once its bytes verify, and text shown as Redmine's formatting allows."""

from __future__ import annotations

import io

import pytest

from contract_world import World, redmine_world
from helpdesk.extensions import db
from helpers import HTML, JSON, image_bytes

pytestmark = pytest.mark.redmine


@pytest.fixture
def world(make_user, request) -> World:
    return redmine_world(make_user, request)


def sign_in(app, login, world: World, name: str):
    from sqlalchemy import select

    from helpdesk.users.models import User

    other = app.test_client()
    user = db.session.scalar(select(User).where(User.username == name))
    login(user, the_client=other)
    return other


def test_upload_download_and_preview_through_the_helpdesk(app, login, world: World):
    task = world.create("alice", "P1", "Redmine files")
    alice = sign_in(app, login, world, "alice")
    png = image_bytes("PNG")
    response = alice.post(
        f"/tasks/api/task/{task.id}/attachments",
        data={"files": [(io.BytesIO(png), "shot.png"), (io.BytesIO(b"a;b\n"), "t.csv")]},
        content_type="multipart/form-data",
        headers=JSON,
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    shot, table = response.get_json()["data"]["attachments"]
    image = alice.get(shot["url"])
    assert image.status_code == 200
    assert image.data == png
    assert image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline;")  # verified as served
    text = alice.get(table["url"])
    assert text.data == b"a;b\n"
    assert text.headers["Content-Disposition"].startswith("attachment;")
    dave = sign_in(app, login, world, "dave")
    assert dave.get(shot["url"]).status_code == 404
    page = alice.get(f"/tasks/{task.id}", headers=HTML).get_data(as_text=True)
    assert "File added: shot.png" in page
    assert 'class="files-preview' in page


def test_a_file_redmine_calls_an_image_is_verified_before_it_is_shown(app, login, world: World):
    task = world.create("alice", "P1", "Claimed image")
    backend = world.backend
    fake = b"<html><script>alert(1)</script></html>"
    token = backend.client.upload(fake, "cat.png", as_login=world.actors["alice"].login)["token"]
    upload = {"token": token, "filename": "cat.png", "content_type": "image/png"}
    backend.client.put(
        f"/issues/{task.id}.json",
        {"issue": {"uploads": [upload]}},
        as_login=world.actors["alice"].login,
    )
    with app.test_request_context():
        backend.forget(task.id)  # written behind the helpdesk's back: what the change feed does
    alice = sign_in(app, login, world, "alice")
    [listed] = alice.get(f"/tasks/api/task/{task.id}/attachments", headers=JSON).get_json()["data"]
    assert listed["content_type"] == "image/png"  # what Redmine says
    served = alice.get(listed["url"])
    assert served.data == fake
    assert served.mimetype == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_textile_text_is_shown_as_typed(app, login, world: World):
    task = world.create("alice", "P1", "Formatted", description="*strong* and https://a.example")
    alice = sign_in(app, login, world, "alice")
    page = alice.get(f"/tasks/{task.id}", headers=HTML).get_data(as_text=True)
    assert "<em>strong</em>" in page
    app.config["REDMINE_TEXT_FORMATTING"] = "textile"
    page = alice.get(f"/tasks/{task.id}", headers=HTML).get_data(as_text=True)
    assert '<p class="text-pre-line">*strong* and https://a.example</p>' in page


def test_a_file_over_redmines_own_limit_is_refused_by_field(app, login, world: World, request):
    server = request.getfixturevalue("redmine_server")
    server.rails('Setting.attachment_max_size = "1"')  # kilobytes
    try:
        task = world.create("alice", "P1", "Small files only")
        alice = sign_in(app, login, world, "alice")
        response = alice.post(
            f"/tasks/api/task/{task.id}/attachments",
            data={"files": [(io.BytesIO(b"x" * 2048), "big.txt")]},
            content_type="multipart/form-data",
            headers=JSON,
        )
        assert response.status_code == 422, response.get_data(as_text=True)
        body = response.get_json()
        assert body["message"] == "Redmine refused big.txt."
        assert body["errors"]["files"]
        listed = alice.get(f"/tasks/api/task/{task.id}/attachments", headers=JSON).get_json()
        assert listed["data"] == []
    finally:
        server.rails('Setting.attachment_max_size = "5120"')
