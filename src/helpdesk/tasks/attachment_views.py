"""Files on tasks: the task page's upload and delete forms, the download route and the API."""

from __future__ import annotations

import itertools
import unicodedata
from urllib.parse import quote

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as Redirect

from helpdesk.core.api import envelope
from helpdesk.core.decorators import redmine_user_required
from helpdesk.core.errors import APIException
from helpdesk.core.events import commit, rollback
from helpdesk.core.openapi import MULTIPART, documented
from helpdesk.tasks import attachments, files
from helpdesk.tasks.api import handle_task_error
from helpdesk.tasks.backends.base import (
    AttachmentContent,
    StreamedBytes,
    TaskError,
    TaskValidationError,
)
from helpdesk.tasks.schemas import (
    AttachmentOut,
    FileDeletedOut,
    FilesAddedOut,
    FilesIn,
    attachment_doc,
    attachment_out,
    journal_out,
)
from helpdesk.tasks.views import require_task_access, task_error_page

NOTES_LENGTH = 65_535

bp = Blueprint("task_files", __name__, url_prefix="/tasks")
bp.before_request(require_task_access)
bp.register_error_handler(TaskError, task_error_page)
api = Blueprint("task_files_api", __name__, url_prefix="/tasks/api")
api.before_request(redmine_user_required(lambda: None))
api.register_error_handler(TaskError, handle_task_error)


def posted_notes() -> str:
    """The optional notes sent with files; 422 past the length a comment may have."""
    notes = (request.form.get("notes") or "").strip()
    if len(notes) > NOTES_LENGTH:
        message = _("Use at most %(count)s characters.", count=NOTES_LENGTH)
        raise TaskValidationError(_("Some fields are invalid."), errors={"notes": [message]})
    return notes


# -- the task page ---------------------------------------------------------------------------


@bp.post("/<int:task_id>/files")
def upload(task_id: int) -> Redirect:
    """Attach the files dropped or chosen on the task page, with an optional comment."""
    try:
        attachments.add_files(current_user, task_id, request.files.getlist("files"), posted_notes())
        commit()
        flash(_("Files attached"), "success")
    except TaskError as error:
        rollback()
        flash(error.message, "danger")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.post("/<int:task_id>/files/<int:attachment_id>/delete")
def delete(task_id: int, attachment_id: int) -> Redirect:
    """Remove a file from the task page."""
    try:
        attachments.delete_file(current_user, task_id, attachment_id)
        commit()
        flash(_("File deleted"), "success")
    except TaskError as error:
        rollback()
        flash(error.message, "danger")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.get("/<int:task_id>/files/<int:attachment_id>")
def download(task_id: int, attachment_id: int) -> Response:
    """A file of a task the user can see: a verified raster image inline (unless ?download),
    anything else as a download, never as a page of ours."""
    content = attachments.open_file(current_user, task_id, attachment_id)
    return file_response(content, inline_wanted=not request.args.get("download"))


def file_response(content: AttachmentContent, inline_wanted: bool) -> Response:
    """The response for a file: Content-Disposition inline only for a verified raster image
    (Redmine's claimed images are verified here, from bytes read up to MAX_ATTACHMENT_SIZE),
    nosniff, and a sandbox that runs nothing."""
    info, chunks = content.info, content.chunks
    inline = None
    if inline_wanted:
        if info.verified_image:
            inline = files.inline_type(info)
        elif info.content_type in files.RASTER_TYPES.values():
            data, chunks = read_up_to(chunks, int(current_app.config["MAX_ATTACHMENT_SIZE"]))
            inline = files.inline_type(info, data) if data is not None else None
    disposition = "inline" if inline else "attachment"
    fallback = ascii_name(info.filename)
    response = Response(chunks, mimetype=inline or files.download_type(info))
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(info.filename)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def ascii_name(filename: str) -> str:
    """The name for clients that do not read filename* (RFC 6266): letters without their
    accents, other characters dropped, "file" for a name that had only those."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = plain.replace('"', "").replace("\\", "")
    stem, dot, suffix = plain.rpartition(".")
    if not plain.strip(". ") or (dot and not stem.strip()):
        return f"file.{suffix}" if dot and suffix else "file"
    return plain


def read_up_to(chunks: StreamedBytes, limit: int) -> tuple[bytes | None, StreamedBytes]:
    """The whole file if it is at most limit bytes (None when longer), and the bytes to send."""
    held: list[bytes] = []
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, StreamedBytes(itertools.chain(held, chunks), chunks.close)
    data = b"".join(held)
    return data, StreamedBytes(iter([data]), chunks.close)


# -- the API ---------------------------------------------------------------------------------


@api.route("/task/<int:task_id>/attachments", methods=["GET", "POST"])
@documented("A task's files, oldest first", method="GET", response=list[AttachmentOut])
@documented(
    "Attach files to a task",
    method="POST",
    body=FilesIn,
    body_type=MULTIPART,
    response=FilesAddedOut,
    status=201,
)
def task_attachments(task_id: int) -> Response:
    """GET: a task's files, oldest first. POST: attach files (multipart/form-data: one or more
    `files`, optional `notes`); 201 with the history entry and the files. One rule for both, so
    an id beyond the database's integers is a 404 for either method."""
    if request.method == "GET":
        files_of = attachments.task_files(current_user, task_id)
        return envelope([attachment_doc(a) for a in files_of])
    if request.mimetype != "multipart/form-data":
        raise APIException(_("Send the files as multipart/form-data."), 415)
    journal, added = attachments.add_files(
        current_user, task_id, request.files.getlist("files"), posted_notes()
    )
    commit()
    body = FilesAddedOut(
        journal=journal_out(journal), attachments=[attachment_out(a) for a in added]
    )
    return envelope(body.model_dump(), _("Files attached"), 201)


@api.delete("/task/<int:task_id>/attachments/<int:attachment_id>")
@documented("Remove a file from a task", response=FileDeletedOut)
def delete_file(task_id: int, attachment_id: int) -> Response:
    """Remove a file (its author or an administrator; Redmine: whom its roles allow)."""
    attachments.delete_file(current_user, task_id, attachment_id)
    commit()
    deleted = FileDeletedOut(id=attachment_id, task_id=task_id)
    return envelope(deleted.model_dump(), _("File deleted"))
