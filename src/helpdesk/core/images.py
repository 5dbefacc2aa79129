"""Uploaded images: verified with Pillow, re-encoded, resized and stored under a random name."""

from __future__ import annotations

import io
import secrets
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.datastructures import FileStorage

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "GIF", "WEBP"})
IMAGE_FOLDERS = frozenset({"avatars", "posts"})
DECODE_WAIT_SECONDS = 10  # an upload waits this long for a decoding slot, then is refused


class DecodingSlots:
    """At most IMAGE_DECODE_CONCURRENCY images decoded at once in a process: a decoded image
    takes its pixels' worth of memory, so a burst of uploads must not take them all at once."""

    def __init__(self) -> None:
        """No semaphore until the first upload says how many slots the app wants."""
        self.lock = threading.Lock()
        self.slots: threading.BoundedSemaphore | None = None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot while decoding; ImageRejected if none frees up in time."""
        with self.lock:
            if self.slots is None:
                count = max(1, int(current_app.config["IMAGE_DECODE_CONCURRENCY"]))
                self.slots = threading.BoundedSemaphore(count)
            slots = self.slots
        if not slots.acquire(timeout=DECODE_WAIT_SECONDS):
            raise ImageRejected(_("The server is busy with other images. Please try again."))
        try:
            yield
        finally:
            slots.release()


decoding = DecodingSlots()


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message is safe to show the user."""


def _open_verified(data: bytes, draft_side: int = 0) -> Image.Image:
    """Open an image only after Pillow has verified it and its pixel count (read from its
    header, before any decoding) is within limits."""
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
            if draft_side:  # a JPEG decodes at 1/2, 1/4 or 1/8 scale when that is enough
                image.draft("RGB", (draft_side, draft_side))
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
    data = upload.read()
    with decoding.slot():
        return _reencode(_open_verified(data, max_side), max_side)


def _reencode(image: Image.Image, max_side: int) -> tuple[bytes, str]:
    """The decoded image, turned upright, shrunk and written as PNG (transparency) or JPEG."""
    image = ImageOps.exif_transpose(image)
    image.thumbnail((max_side, max_side))
    has_alpha = image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info)
    out = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(out, format="PNG", optimize=True)
        return out.getvalue(), ".png"
    image.convert("RGB").save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue(), ".jpg"


def verified_image_format(data: bytes) -> str:
    """The format (JPEG, PNG, GIF, WEBP) of bytes Pillow has verified and decoded, its pixel
    count checked from the header first; ImageRejected otherwise. The bytes are kept as they
    are (an attachment is the sender's file, not a re-encoding)."""
    with decoding.slot():
        image = _open_verified(data)
    try:
        return str(image.format)
    finally:
        image.close()


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
