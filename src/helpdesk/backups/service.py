"""Write and restore backup archives.

An archive is a tar file holding manifest.json, the database (PostgreSQL: pg_dump's custom format;
SQLite: a copy made through SQLite's online backup API, consistent while the helpdesk writes) and
the files under UPLOAD_FOLDER. A restore goes into an empty database and an empty upload folder
unless forced, and checks everything before it writes anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from flask import Flask
from psycopg.conninfo import make_conninfo
from sqlalchemy import URL, inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from helpdesk.extensions import db

FORMAT = 1
MANIFEST = "manifest.json"
UPLOADS = "uploads"
DATABASE_FILES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite3"}
ARCHIVE_PREFIX = "helpdesk-"
ARCHIVE_SUFFIX = ".tar"
CONNECT_TIMEOUT_SECONDS = "10"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds, written first so a restore can check it before anything else."""

    format: int
    created_at: str
    database: str  # the SQLAlchemy dialect: postgresql | sqlite
    revision: str  # the migration the database was at
    helpdesk: str  # the version that wrote it
    files: int  # uploaded files in the archive


def archive_name(now: datetime) -> str:
    """A sortable name for a backup written into a folder."""
    return f"{ARCHIVE_PREFIX}{now:%Y%m%dT%H%M%SZ}{ARCHIVE_SUFFIX}"


def create_backup(app: Flask, destination: Path, timeout: float) -> Path:
    """Write an archive of the database and the uploads to destination (a file, or a folder to
    put a dated file in); a failed backup leaves no archive behind."""
    url = database_url(app)
    now = datetime.now(UTC)
    target = destination / archive_name(now) if destination.is_dir() else destination
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder.")
    uploads = Path(app.config["UPLOAD_FOLDER"])
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".helpdesk-backup-") as work:
        dump = Path(work) / DATABASE_FILES[url.get_backend_name()]
        if url.get_backend_name() == "postgresql":
            run_tool(
                ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}"],
                timeout,
                url,
            )
        else:
            copy_sqlite(sqlite_path(url), dump)
        files = (
            sorted(path for path in uploads.rglob("*") if path.is_file())
            if uploads.is_dir()
            else []
        )
        manifest = Manifest(
            FORMAT,
            now.isoformat(),
            url.get_backend_name(),
            current_revision(),
            own_version(),
            len(files),
        )
        (Path(work) / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
        partial = Path(work) / "archive.tar"
        with tarfile.open(partial, "w") as archive:
            archive.add(Path(work) / MANIFEST, MANIFEST)
            archive.add(dump, dump.name)
            for path in files:
                archive.add(path, f"{UPLOADS}/{path.relative_to(uploads).as_posix()}")
        partial.chmod(0o600)  # it holds every account's password hash
        partial.replace(target)
    return target


def prune(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` archives this command wrote into folder."""
    archives = sorted(folder.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}"))
    removed = archives[: max(len(archives) - keep, 0)]
    for path in removed:
        path.unlink()
    return removed


def restore_backup(app: Flask, source: Path, force: bool, timeout: float) -> Manifest:
    """Put an archive's database and uploads in place. Refuses, before writing anything, an
    archive of another database kind and, unless forced, a database or upload folder that
    holds something already."""
    url = database_url(app)
    uploads = Path(app.config["UPLOAD_FOLDER"])
    manifest = read_manifest(source)
    if manifest.database != url.get_backend_name():
        raise BackupError(
            f"{source} holds a {manifest.database} database, but DATABASE_URL names a "
            f"{url.get_backend_name()} one: restore it into a {manifest.database} database."
        )
    if not force:
        refuse_unless_empty(uploads)
    uploads.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads.parent, prefix=".helpdesk-restore-") as work:
        try:
            with tarfile.open(source) as archive:
                archive.extractall(work, filter="data")  # no path leaves work, no device files
        except tarfile.TarError as error:
            raise BackupError(f"{source} cannot be unpacked: {error}") from None
        dump = Path(work) / DATABASE_FILES[manifest.database]
        if not dump.is_file():
            raise BackupError(f"{source} has no {dump.name}: it is not a complete backup.")
        db.session.remove()
        db.engine.dispose()
        if manifest.database == "postgresql":
            restore_postgresql(url, dump, replace=force, timeout=timeout)
        else:
            copy_sqlite(dump, sqlite_path(url))
        put_uploads_in_place(Path(work) / UPLOADS, uploads)
    return manifest


def refuse_unless_empty(uploads: Path) -> None:
    """The database has no tables and the upload folder no files, or say which does."""
    tables = inspect(db.engine).get_table_names()
    db.engine.dispose()
    if tables:
        raise BackupError(
            f"The database already has {len(tables)} tables: restore into an empty database, "
            "or give --force to replace what it holds."
        )
    if uploads.is_dir() and any(path.is_file() for path in uploads.rglob("*")):
        raise BackupError(
            f"{uploads} already holds files: restore into an empty upload folder, "
            "or give --force to replace them."
        )


def put_uploads_in_place(restored: Path, uploads: Path) -> None:
    """Make the archive's files the upload folder; files that were there are kept aside, in a
    folder named after the moment, rather than deleted."""
    if uploads.exists() and any(uploads.iterdir()):
        uploads.rename(
            uploads.with_name(f"{uploads.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        )
    elif uploads.exists():
        uploads.rmdir()
    if restored.is_dir():
        restored.rename(uploads)
    else:
        uploads.mkdir()


def read_manifest(source: Path) -> Manifest:
    """The archive's manifest, or why the file is not an archive this helpdesk can restore."""
    try:
        with tarfile.open(source) as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            fields: dict[str, Any] = json.loads(member.read())
    except FileNotFoundError:
        raise BackupError(f"{source} does not exist.") from None
    except (tarfile.TarError, KeyError, ValueError):
        raise BackupError(f"{source} is not a helpdesk backup (no readable {MANIFEST}).") from None
    if fields.get("format") != FORMAT:
        raise BackupError(
            f"{source} is a backup of format {fields.get('format')!r}; "
            f"this helpdesk reads format {FORMAT}."
        )
    try:
        return Manifest(**fields)
    except TypeError:
        raise BackupError(f"{source} has a damaged {MANIFEST}.") from None


def database_url(app: Flask) -> URL:
    """The helpdesk's database URL, if it is one a backup can be made of."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() not in DATABASE_FILES:
        raise BackupError(
            f"Backups are made of PostgreSQL and SQLite databases, not {url.get_backend_name()}."
        )
    if url.get_backend_name() == "sqlite" and url.database in {None, "", ":memory:"}:
        raise BackupError("The database is in memory: there is nothing to back up.")
    return url


def sqlite_path(url: URL) -> Path:
    """The file of a SQLite URL."""
    return Path(str(url.database))


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy a SQLite database page by page through the online backup API: a consistent copy
    even while another process writes, which a file copy is not."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist.")
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()


# Run first, in the restore's transaction, when a restore replaces a database: pg_restore's
# --clean drops only what the dump holds, and would leave a later migration's tables behind.
DROP_EVERY_TABLE = """
DO $$
DECLARE name text;
BEGIN
    FOR name IN SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
                WHERE schemaname = current_schema() LOOP
        EXECUTE 'DROP TABLE IF EXISTS ' || name || ' CASCADE';
    END LOOP;
END $$;
"""


def restore_postgresql(url: URL, dump: Path, replace: bool, timeout: float) -> None:
    """Turn the dump into SQL and run it with psql in one transaction: a restore that fails
    half-way leaves the database as it was."""
    script = dump.with_suffix(".sql")
    run_tool(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--clean",
            "--if-exists",
            f"--file={script}",
            str(dump),
        ],
        timeout,
    )
    first = ["--command", DROP_EVERY_TABLE] if replace else []
    run_tool(
        [
            "psql",
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            "--single-transaction",
            *first,
            f"--file={script}",
        ],
        timeout,
        url,
    )


def run_tool(command: list[str], timeout: float, url: URL | None = None) -> None:
    """Run one of PostgreSQL's client tools, on the database of url if given; the password goes
    in the environment, never on the command line, where every user of the machine could read
    it."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": CONNECT_TIMEOUT_SECONDS}
    tool = shutil.which(command[0])
    if tool is None:
        raise BackupError(
            f"{command[0]} is not installed (Debian: apt-get install postgresql-client)."
        )
    arguments = [tool, *command[1:]]
    if url is not None:
        connect = url.translate_connect_args(username="user", database="dbname")
        password = connect.pop("password", None)
        options = {key: str(value) for key, value in connect.items()}
        for key, value in url.query.items():  # sslmode and the like; a repeated one: its last
            options[key] = value if isinstance(value, str) else value[-1]
        arguments.append(f"--dbname={make_conninfo(**options)}")
        if password:
            env["PGPASSWORD"] = str(password)
    try:
        finished = subprocess.run(  # noqa: S603 (a fixed tool; the arguments are ours)
            arguments, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{command[0]} took longer than {timeout:g} s and was stopped.") from None
    if finished.returncode != 0:
        raise BackupError(f"{command[0]} failed: {finished.stderr.strip()}")


def current_revision() -> str:
    """The migration the database is at ("" before the first)."""
    try:
        with db.engine.connect() as connection:
            return str(connection.scalar(text("SELECT version_num FROM alembic_version")) or "")
    except SQLAlchemyError:  # no table yet: a database never migrated
        return ""
    finally:
        db.engine.dispose()


def own_version() -> str:
    """The installed helpdesk's version."""
    try:
        return version("helpdesk")
    except PackageNotFoundError:
        return "unknown"
