"""Files people attach to tasks: what an upload is (a clean name, its size, a content type read
from its bytes) and, for the local store, where its bytes live and when they go.

Nothing the client says about a file is believed: its name is cleaned of folders and control
characters (and only shown, never used on disk), its type is sniffed from the bytes, and a file
that claims to be an image is verified by Pillow (core/images.py) before it may be shown inline.
The local store keeps each file under UPLOAD_FOLDER/attachments by a random name; a file written
for a transaction that does not commit is removed, and a deleted one goes only once the deletion
has committed.
"""

from __future__ import annotations

import secrets
import unicodedata
from pathlib import Path
from typing import Any

import puremagic
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.datastructures import FileStorage

from helpdesk.config import ConfigurationError
from helpdesk.core.images import ImageRejected, verified_image_format
from helpdesk.extensions import db
from helpdesk.tasks.backends.base import (
    AttachmentInfo,
    NewFile,
    StreamedBytes,
    TaskError,
    TaskValidationError,
)

FOLDER = "attachments"  # under UPLOAD_FOLDER; never one of the public image folders
MAX_FILES = 20  # files in one upload
CHUNK = 64 * 1024
NAME_LENGTH = 255
FORBIDDEN_IN_NAMES = frozenset('<>:"|?*')
RASTER_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
RASTER_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp"})
# Types a browser would run or render as a document of our origin: always served as bytes
SCRIPTABLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
    }
)
WRITTEN = "files_written"  # session.info: paths written in this transaction
DOOMED = "files_doomed"  # session.info: paths to remove once this transaction commits


class FileTooLarge(TaskError):
    """A file over MAX_ATTACHMENT_SIZE."""

    status_code = 413


def check_attachment_size(config: dict[str, Any]) -> None:
    """Stop start-up when MAX_ATTACHMENT_SIZE cannot be met: a file must fit in a request."""
    size, request = int(config["MAX_ATTACHMENT_SIZE"]), config.get("MAX_CONTENT_LENGTH")
    if size < 1:
        raise ConfigurationError("MAX_ATTACHMENT_SIZE must be a positive number of bytes.")
    if request is not None and size > int(request):
        raise ConfigurationError(
            f"MAX_ATTACHMENT_SIZE ({size}) is larger than MAX_CONTENT_LENGTH ({request}), the "
            "largest request the helpdesk reads: lower it, or raise MAX_CONTENT_LENGTH."
        )


def clean_filename(name: str | None) -> str:
    """The name to show and to offer on download: its last path part only (no folders, so no
    ../), without control or direction-changing characters or those Windows refuses, at most
    255 characters with its extension kept; "file" when nothing is left."""
    text = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace()
        or (unicodedata.category(char)[0] != "C" and char not in FORBIDDEN_IN_NAMES)
    )
    text = " ".join(text.split()).strip(" .")
    if not text:
        return "file"
    if len(text) > NAME_LENGTH:
        stem, dot, suffix = text.rpartition(".")
        if dot and stem and len(suffix) < 16:
            return stem[: NAME_LENGTH - len(suffix) - 1].rstrip(" .") + "." + suffix
        return text[:NAME_LENGTH]
    return text


def sniffed_type(data: bytes) -> str:
    """The content type the bytes show (their signature), text/plain for UTF-8 text without
    NULs, else application/octet-stream; never what the client claimed."""
    try:
        found = str(puremagic.from_string(data, mime=True) or "")
    except (puremagic.PureError, ValueError):
        found = ""
    if found:
        return found
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return "text/plain"
    return "application/octet-stream"


def inspect(upload: FileStorage) -> NewFile:
    """One uploaded file as the backends take it; FileTooLarge or TaskValidationError (under
    "files") when it may not be attached. An image (by its bytes or its name) must verify."""
    limit = int(current_app.config["MAX_ATTACHMENT_SIZE"])
    filename = clean_filename(upload.filename)
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(
            _("%(name)s is larger than %(size)s.", name=filename, size=human_size(limit)),
            errors={"files": [_("Each file may be at most %(size)s.", size=human_size(limit))]},
        )
    if not data:
        raise rejected(_("%(name)s is empty.", name=filename))
    content_type = sniffed_type(data)
    claims_image = content_type in RASTER_TYPES.values() or (
        Path(filename).suffix.lower() in RASTER_SUFFIXES
    )
    if not claims_image:
        return NewFile(filename, content_type, data)
    try:
        image_format = verified_image_format(data)
    except ImageRejected as error:
        raise rejected(f"{filename}: {error}") from None
    return NewFile(filename, RASTER_TYPES[image_format], data, is_image=True)


def rejected(message: str) -> TaskValidationError:
    """The refusal of a file, under the "files" field."""
    return TaskValidationError(message, errors={"files": [message]})


def inspect_all(uploads: list[FileStorage]) -> list[NewFile]:
    """Every file of an upload checked before any is stored: all are attached, or none."""
    files = inspect_sent(uploads)
    if not files:
        raise rejected(_("Choose at least one file."))
    return files


def inspect_sent(uploads: list[FileStorage]) -> list[NewFile]:
    """The files sent, each checked (none is no error: a new task's files are optional)."""
    uploads = [upload for upload in uploads if upload.filename or upload.content_length]
    if len(uploads) > MAX_FILES:
        raise rejected(_("Attach at most %(count)d files at once.", count=MAX_FILES))
    return [inspect(upload) for upload in uploads]


def human_size(size: int) -> str:
    """A byte count as people read it (1.5 MB)."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def inline_type(info: AttachmentInfo, data: bytes | None = None) -> str | None:
    """The image type a file may be shown inline as: a raster image the helpdesk verified at
    upload, or whose bytes (given) verify now; None: served as a download."""
    if info.verified_image:
        return info.content_type if info.content_type in RASTER_TYPES.values() else None
    if data is None or info.content_type not in RASTER_TYPES.values():
        return None
    try:
        return RASTER_TYPES[verified_image_format(data)]
    except ImageRejected:
        return None


def download_type(info: AttachmentInfo) -> str:
    """The Content-Type of a file served as a download: its own, unless a browser would run it
    (HTML, SVG, XML, script) or it claims an image nobody verified (a file added in Redmine),
    then plain bytes."""
    content_type = info.content_type.split(";")[0].strip().lower()
    unverified_image = content_type in RASTER_TYPES.values() and not info.verified_image
    if not content_type or content_type in SCRIPTABLE_TYPES or "html" in content_type:
        return "application/octet-stream"
    return "application/octet-stream" if unverified_image else content_type


# -- the local store's files -------------------------------------------------------------------


def folder() -> Path:
    """UPLOAD_FOLDER/attachments, created on first use."""
    path = Path(current_app.config["UPLOAD_FOLDER"]) / FOLDER
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(stored_name: str) -> Path:
    """Where a stored file is: a name we made, never a path the client gave."""
    return folder() / Path(stored_name).name


def store(data: bytes) -> str:
    """Write a file under a new random name, removed again unless the transaction commits."""
    name = secrets.token_hex(16)
    target = stored_path(name)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    db.session.info.setdefault(WRITTEN, []).append(str(target))
    return name


def remove_after_commit(stored_name: str) -> None:
    """Remove a stored file once the deletion of its row has committed."""
    db.session.info.setdefault(DOOMED, []).append(str(stored_path(stored_name)))


def read_chunks(stored_name: str) -> StreamedBytes:
    """A stored file's bytes, a chunk at a time: opened now (the response streams it after the
    request's context has gone)."""
    handle = stored_path(stored_name).open("rb")
    return StreamedBytes(iter(lambda: handle.read(CHUNK), b""), handle.close)


def unlink_all(paths: list[str]) -> None:
    """Remove stored files (one already gone is no error)."""
    for path in paths:
        Path(path).unlink(missing_ok=True)


def after_commit(session: Session) -> None:
    """The transaction kept its new files; the files of its deletions go now."""
    session.info.pop(WRITTEN, None)
    doomed = session.info.pop(DOOMED, None)
    if doomed:
        unlink_all(doomed)


def after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ended without commit (rolled back, or closed) leaves no file of its
    own behind, and its deletions never happened."""
    if transaction.parent is not None:
        return
    session.info.pop(DOOMED, None)
    written = session.info.pop(WRITTEN, None)
    if written:
        unlink_all(written)


def register_files(app: Flask) -> None:
    """Check MAX_ATTACHMENT_SIZE and tie stored files to the database's transactions."""
    check_attachment_size(app.config)
    if not event.contains(Session, "after_commit", after_commit):
        event.listen(Session, "after_commit", after_commit)
        event.listen(Session, "after_transaction_end", after_transaction_end)
