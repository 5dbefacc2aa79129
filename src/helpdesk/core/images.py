"""Uploaded images: verified with Pillow, re-encoded, resized and stored under a random name."""

from __future__ import annotations

import io
import secrets
import warnings
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
IMAGE_FOLDERS = frozenset({"avatars", "posts"})


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message is safe to show the user."""


def _open_verified(data: bytes) -> Image.Image:
    """Open an image only after Pillow has verified it and its pixel count is within limits."""
    limit = current_app.config["MAX_IMAGE_PIXELS"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise ImageRejected(_("Only JPEG, PNG, GIF and WebP images are accepted."))
                if probe.width * probe.height > limit:
                    raise ImageRejected(_("The image has too many pixels."))
                probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejected(_("The image has too many pixels.")) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageRejected(_("The file is not a valid image.")) from error
    return image


def encode_image(upload: FileStorage, max_side: int) -> tuple[bytes, str]:
    """Re-encode an upload (dropping metadata) no larger than max_side; returns bytes and suffix."""
    image = _open_verified(upload.read())
    image = ImageOps.exif_transpose(image)
    image.thumbnail((max_side, max_side))
    has_alpha = image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info)
    out = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), ".png"
    image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), ".jpg"


def image_folder(kind: str) -> Path:
    """Where images of one kind are kept (avatars, posts)."""
    if kind not in IMAGE_FOLDERS:
        raise ValueError(kind)
    folder = Path(current_app.config["UPLOAD_FOLDER"]) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def store_image(upload: FileStorage, kind: str, max_side: int) -> str:
    """Verify, re-encode and save an upload; returns the new file's random name."""
    data, suffix = encode_image(upload, max_side)
    name = secrets.token_hex(8) + suffix
    (image_folder(kind) / name).write_bytes(data)
    return name


def delete_image(kind: str, name: str | None) -> None:
    """Remove a stored image when its owner replaces or deletes it."""
    if name:
        (image_folder(kind) / Path(name).name).unlink(missing_ok=True)
