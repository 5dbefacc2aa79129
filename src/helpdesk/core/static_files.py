"""Static files addressed by their content, so browsers and nginx may keep them for a year and a
release still reaches every browser at once."""

from __future__ import annotations

import functools
import hashlib
import os

from flask import Flask, Response, current_app, request, url_for
from werkzeug.security import safe_join

VERSION_ARG = "v"  # the query argument versioned_url adds
YEAR = 365 * 24 * 3600


def register_static_versions(app: Flask) -> None:
    """Templates name static files with `static_url`; browsers keep what such an address names."""
    app.add_template_global(static_url)
    app.after_request(keep_versioned_file)


def static_url(filename: str) -> str:
    """The file's address with `?v=<digest of the file>`: a changed file gets a new address.
    Worked out once per process (files change with a release, which restarts the processes);
    in debug on every use, so an edited file shows at once."""
    if current_app.debug:
        return versioned_url(filename)
    known: dict[tuple[str, str], str] = current_app.extensions.setdefault("static_urls", {})
    key = (request.script_root, filename)
    if key not in known:
        known[key] = versioned_url(filename)
    return known[key]


def versioned_url(filename: str) -> str:
    """url_for's address of the file, with its version when the file exists."""
    version = content_version(filename)
    if version is None:
        return url_for("static", filename=filename)
    return url_for("static", filename=filename, v=version)


def content_version(filename: str) -> str | None:
    """The digest of a static file as it is now, or None when there is no such file."""
    path = safe_join(str(current_app.static_folder), filename)
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return file_digest(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def file_digest(path: str, mtime_ns: int, size: int) -> str:
    """Read each file once per change (its time and size are part of the cache's key)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def keep_versioned_file(response: Response) -> Response:
    """A file asked for by its current digest never changes under that address: cache it for a
    year; any other address of it keeps the usual revalidation."""
    if request.endpoint != "static" or response.status_code != 200:
        return response
    asked = request.args.get(VERSION_ARG)
    filename = (request.view_args or {}).get("filename", "")
    if asked and asked == content_version(filename):
        response.cache_control.no_cache = None
        response.cache_control.public = True
        response.cache_control.max_age = YEAR
        response.cache_control.immutable = True
    return response
