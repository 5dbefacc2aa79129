"""Avatar upload on /users/account: verified, re-encoded, resized, randomly named, private."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from helpers import HTML, JSON, image_bytes, upload, user_row

ACCOUNT = "/users/account"
STORED_NAME = re.compile(r"^[0-9a-f]{16}\.(jpg|png)$")


@pytest.fixture
def alice(make_user, login):
    """Alice, signed in on the client."""
    user = make_user("alice", full_name="Alice Smith")
    login(user)
    return user


@pytest.fixture
def avatars(app) -> Path:
    """The folder avatars are stored in."""
    return Path(app.config["UPLOAD_FOLDER"]) / "avatars"


def stored_files(folder: Path) -> list[str]:
    """Names of the files in folder (none if it does not exist yet)."""
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


def post_picture(client, data: bytes, filename: str = "avatar.png", **fields):
    """Upload a picture as a multipart form, as the account page does, asking for JSON."""
    body = {"picture": upload(data, filename), **fields}
    return client.post(ACCOUNT, data=body, headers=JSON, content_type="multipart/form-data")


def test_png_is_re_encoded_resized_and_stored_under_a_random_name(app, client, alice, avatars):
    original = image_bytes(size=(600, 400))
    response = post_picture(client, original, "my photo.png")
    assert response.status_code == 200, response.get_data(as_text=True)
    name = user_row(alice.id)["image_file"]
    assert response.get_json()["data"]["image_file"] == name
    assert STORED_NAME.match(name)
    assert "photo" not in name
    assert stored_files(avatars) == [name]
    stored = (avatars / name).read_bytes()
    assert stored != original
    with Image.open(io.BytesIO(stored)) as image:
        assert max(image.size) <= app.config["AVATAR_SIZE"]
        assert image.size == (256, 171)  # the aspect ratio is kept
        assert image.format == "JPEG"


def test_small_image_is_not_enlarged(client, alice, avatars):
    assert post_picture(client, image_bytes(size=(40, 30))).status_code == 200
    name = user_row(alice.id)["image_file"]
    with Image.open(avatars / name) as image:
        assert image.size == (40, 30)


def test_transparent_png_stays_png_with_alpha(client, alice, avatars):
    data = image_bytes(size=(300, 300), mode="RGBA", color=(0, 0, 0, 0))
    assert post_picture(client, data).status_code == 200
    name = user_row(alice.id)["image_file"]
    assert name.endswith(".png")
    with Image.open(avatars / name) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == (256, 256)


def test_jpeg_metadata_is_dropped(client, alice, avatars):
    exif = Image.Exif()
    exif[0x010E] = "secret description"  # ImageDescription
    exif[0x013B] = "Photographer Name"  # Artist
    data = image_bytes(size=(500, 500), fmt="JPEG", exif=exif.tobytes())
    assert b"secret description" in data
    assert post_picture(client, data, "photo.jpg").status_code == 200
    stored = (avatars / user_row(alice.id)["image_file"]).read_bytes()
    assert b"secret description" not in stored
    assert b"Photographer Name" not in stored


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_other_accepted_formats(client, alice, fmt):
    data = image_bytes(size=(100, 100), mode="RGB", fmt=fmt)
    response = post_picture(client, data, f"a.{fmt.lower()}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert user_row(alice.id)["image_file"]


def test_a_path_in_the_filename_cannot_escape_the_folder(app, client, alice, avatars):
    response = post_picture(client, image_bytes(), "../../../evil.png")
    assert response.status_code == 200
    assert stored_files(avatars) == [user_row(alice.id)["image_file"]]
    assert not list(Path(app.config["UPLOAD_FOLDER"]).parent.glob("evil*"))


def test_uploading_the_same_image_twice_gives_two_names(client, alice):
    post_picture(client, image_bytes())
    first = user_row(alice.id)["image_file"]
    post_picture(client, image_bytes())
    assert user_row(alice.id)["image_file"] != first


def test_replacing_the_avatar_removes_the_old_file(client, alice, avatars):
    post_picture(client, image_bytes(color=(1, 2, 3)))
    first = user_row(alice.id)["image_file"]
    post_picture(client, image_bytes(color=(4, 5, 6)))
    second = user_row(alice.id)["image_file"]
    assert stored_files(avatars) == [second]
    assert not (avatars / first).exists()


def test_picture_and_fields_are_saved_together(client, alice):
    response = post_picture(client, image_bytes(), full_name="Alice Pictured")
    assert response.status_code == 200
    row = user_row(alice.id)
    assert row["full_name"] == "Alice Pictured"
    assert row["image_file"]


def test_avatar_is_served_to_signed_in_users(app, client, alice, avatars, make_user, login):
    post_picture(client, image_bytes())
    name = user_row(alice.id)["image_file"]
    colleague = app.test_client()
    login(make_user("bob"), the_client=colleague)
    with colleague.get(f"/uploads/avatars/{name}") as response:
        assert response.status_code == 200
        assert response.data == (avatars / name).read_bytes()
        assert response.mimetype == "image/jpeg"


def test_avatar_is_not_served_to_anonymous_clients(app, client, alice):
    post_picture(client, image_bytes())
    name = user_row(alice.id)["image_file"]
    anonymous = app.test_client()
    assert anonymous.get(f"/uploads/avatars/{name}", headers=JSON).status_code == 401
    assert anonymous.get(f"/uploads/avatars/{name}", headers=HTML).status_code == 302


def test_unknown_avatar_is_404(client, alice):
    assert client.get("/uploads/avatars/0123456789abcdef.jpg").status_code == 404


def test_account_page_shows_the_avatar(client, alice):
    post_picture(client, image_bytes())
    name = user_row(alice.id)["image_file"]
    page = client.get(ACCOUNT, headers=HTML).get_data(as_text=True)
    assert f"/uploads/avatars/{name}" in page


def text_file() -> bytes:
    """Plain text that claims to be a picture by its name."""
    return b"this is not an image at all\n" * 20


def truncated_png() -> bytes:
    """The first half of a real PNG."""
    data = image_bytes(size=(400, 400), color=(10, 200, 10))
    return data[: len(data) // 2]


def bomb_png() -> bytes:
    """A tiny file that decodes to 10000x10000 pixels, beyond MAX_IMAGE_PIXELS."""
    return image_bytes(size=(10_000, 10_000), mode="1", color=0)


def bmp_image() -> bytes:
    """A real image in a format we do not accept."""
    return image_bytes(size=(50, 50), fmt="BMP")


def html_as_gif() -> bytes:
    """Script dressed with a GIF signature."""
    return b"GIF89a<script>alert(1)</script>"


@pytest.mark.parametrize(
    "make_data",
    [text_file, truncated_png, bomb_png, bmp_image, html_as_gif, lambda: b""],
    ids=["text", "truncated", "bomb", "bmp", "fake-gif", "empty"],
)
def test_rejected_upload_is_400_and_changes_nothing(client, alice, avatars, make_data):
    post_picture(client, image_bytes())
    before = user_row(alice.id)
    files_before = stored_files(avatars)
    response = post_picture(client, make_data(), "avatar.png", full_name="Should Not Stick")
    assert response.status_code == 400, response.get_data(as_text=True)
    body = response.get_json()
    assert body["success"] is False
    assert body["message"]
    assert "picture" in body["errors"]
    assert user_row(alice.id) == before
    assert stored_files(avatars) == files_before


def test_bomb_is_rejected_by_the_configured_pixel_limit(app, client, alice, avatars):
    app.config["MAX_IMAGE_PIXELS"] = 100 * 100
    response = post_picture(client, image_bytes(size=(101, 100)))
    assert response.status_code == 400
    assert user_row(alice.id)["image_file"] is None
    assert stored_files(avatars) == []


def test_rejected_upload_from_a_form_re_renders_the_page_with_400(client, alice, avatars):
    body = {"picture": upload(text_file(), "cat.png")}
    response = client.post(ACCOUNT, data=body, headers=HTML, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "The file is not a valid image." in response.get_data(as_text=True)
    assert stored_files(avatars) == []


def test_upload_over_the_size_limit_is_413_and_changes_nothing(app, client, alice, avatars):
    app.config["MAX_CONTENT_LENGTH"] = 4096
    before = user_row(alice.id)
    data = image_bytes(size=(300, 300), mode="RGB", fmt="BMP")  # about 270 KB
    response = post_picture(client, data, "big.png", full_name="Too Big")
    assert response.status_code == 413
    assert response.get_json()["status_code"] == 413
    assert user_row(alice.id) == before
    assert stored_files(avatars) == []


def test_413_page_for_browsers(app, client, alice):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    body = {"picture": upload(b"x" * 5000, "big.png")}
    response = client.post(ACCOUNT, data=body, headers=HTML, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "text/html" in response.content_type


def test_invalid_fields_with_a_good_picture_store_no_file(client, make_user, alice, avatars):
    make_user("bob")
    before = user_row(alice.id)
    response = post_picture(client, image_bytes(), username="bob")
    assert response.status_code == 422
    assert user_row(alice.id) == before
    assert stored_files(avatars) == []


def test_post_without_a_picture_keeps_the_avatar(client, alice, avatars):
    post_picture(client, image_bytes())
    name = user_row(alice.id)["image_file"]
    response = client.post(ACCOUNT, json={"full_name": "Renamed"}, headers=JSON)
    assert response.status_code == 200
    assert user_row(alice.id)["image_file"] == name
    assert stored_files(avatars) == [name]
