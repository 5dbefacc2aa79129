"""`helpdesk backup` and `helpdesk restore`, as an operator runs them: a backup of a helpdesk in
use, restored into an empty database and upload folder, serves the same tasks, notifications and
files; on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import inspect, text

from conftest import HELPDESK, require_service
from helpdesk.backups.service import BackupError, create_backup, prune, restore_backup
from helpdesk.extensions import db
from helpers import (
    JSON,
    helpdesk_serving,
    image_bytes,
    open_task_assigned_to,
    own_id,
    scratch_postgres,
    signed_in,
    user_named,
)


def helpdesk(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """A `helpdesk` command on the site of env, its output kept."""
    return subprocess.run(
        [HELPDESK, *arguments], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@contextmanager
def empty_site(kind: str, folder: Path, template: dict[str, str]) -> Iterator[dict[str, str]]:
    """The environment of a helpdesk with an empty database and no uploads."""
    env = {**template, "HELPDESK_INSTANCE_PATH": str(folder / "instance")}
    env["UPLOAD_FOLDER"] = str(folder / "uploads")
    if kind == "sqlite":
        env.pop("DATABASE_URL", None)  # the instance folder's helpdesk.db
        yield env
        return
    with scratch_postgres(f"operators_ops_backup_{folder.name}") as url:
        yield {**env, "DATABASE_URL": url}


def what_bob_sees(url: str) -> dict[str, Any]:
    """bob's tasks, notifications and avatar, as the API and the upload route serve them."""
    bob = signed_in(url, "bob")
    bob_id = own_id(url, bob)
    tasks = bob.get(
        f"{url}/tasks/api/tasks", params={"assigned_to": bob_id, "per_page": 100}, timeout=10
    ).json()["data"]["tasks"]
    notes = bob.get(f"{url}/tasks/api/notifications", params={"limit": 100}, timeout=10)
    account = bob.get(f"{url}/users/account", headers=JSON, timeout=10).json()["data"]
    avatar = bob.get(f"{url}/uploads/avatars/{account['image_file']}", timeout=10)
    assert avatar.status_code == 200
    return {
        "tasks": sorted((t["id"], t["subject"], t["status_id"]) for t in tasks),
        "notifications": notes.json()["data"]["notifications"],
        "avatar": avatar.content,
    }


def use_the_site(url: str) -> None:
    """bob uploads an avatar; alice moves one of his tasks, which notifies him."""
    bob = signed_in(url, "bob")
    picture = {"picture": ("me.png", image_bytes(size=(300, 200)), "image/png")}
    response = bob.post(f"{url}/users/account", files=picture, headers=JSON, timeout=30)
    assert response.status_code == 200, response.text
    alice = signed_in(url, "alice")
    task = open_task_assigned_to(url, alice, own_id(url, bob))
    target = 3 if task["status_id"] != 3 else 2
    moved = alice.put(
        f"{url}/tasks/api/task/{task['id']}/status", json={"status_id": target}, timeout=10
    )
    assert moved.status_code == 200, moved.text


@pytest.fixture(params=["sqlite", "postgresql"])
def source(
    request: pytest.FixtureRequest, demo_site: dict[str, str]
) -> Iterator[tuple[str, dict[str, str]]]:
    """A demo helpdesk of the kind (PostgreSQL: a copy of the demo database)."""
    if request.param == "sqlite":
        yield "sqlite", demo_site
        return
    if shutil.which("pg_dump") is None:
        require_service("PostgreSQL's client tools", "pg_dump is not installed")
    demo_postgres = request.getfixturevalue("demo_postgres")
    url = demo_postgres.copy("operators_ops_backup_source")
    yield "postgresql", {**demo_site, "DATABASE_URL": url}
    demo_postgres.drop(url)


@pytest.mark.servers  # `helpdesk serve` processes, on SQLite and on a PostgreSQL of their own
def test_a_restored_backup_serves_the_same_tasks_notifications_and_files(
    source: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    kind, env = source
    with helpdesk_serving(env) as (url, _process):
        use_the_site(url)
        before = what_bob_sees(url)
    assert before["notifications"], "alice's change notified bob"
    backups = tmp_path / "backups"
    backups.mkdir()
    written = helpdesk(env, "backup", str(backups))
    assert written.returncode == 0, written.stderr
    (archive,) = backups.iterdir()
    assert archive.name.startswith("helpdesk-")
    assert archive.suffix == ".tar"
    assert archive.stat().st_mode & 0o077 == 0  # password hashes: the owner's alone

    target_folder = tmp_path / "target"
    with empty_site(kind, target_folder, env) as target:
        restored = helpdesk(target, "restore", str(archive))
        assert restored.returncode == 0, restored.stderr
        assert "1 uploaded files" in restored.stdout

        again = helpdesk(target, "restore", str(archive))
        assert again.returncode == 1
        assert "The database already has" in again.stderr
        assert "--force" in again.stderr
        assert "Traceback" not in again.stderr

        with helpdesk_serving(target) as (restored_url, _process):
            assert what_bob_sees(restored_url) == before


def test_restore_refuses_what_is_not_a_backup_of_its_database_kind(
    app: Flask, tmp_path: Path
) -> None:
    """Clear errors, checked before anything is written: a missing file, a file that is no
    backup, a backup of the other database kind, and a database that holds tables already."""
    uploads = Path(app.config["UPLOAD_FOLDER"])
    with pytest.raises(BackupError, match="does not exist"):
        restore_backup(app, tmp_path / "nowhere.tar", force=False, timeout=60)
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello", encoding="utf-8")
    with pytest.raises(BackupError, match="is not a helpdesk backup"):
        restore_backup(app, not_a_backup, force=False, timeout=60)

    if db.engine.dialect.name == "postgresql" and shutil.which("pg_dump") is None:
        require_service("PostgreSQL's client tools", "pg_dump is not installed")
    archive = create_backup(app, tmp_path / "site.tar", timeout=60)
    with tarfile.open(archive) as opened:
        manifest = json.loads(opened.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest["database"] == db.engine.dialect.name
    other = "sqlite" if manifest["database"] == "postgresql" else "postgresql"
    relabelled = tmp_path / "relabelled.tar"
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "database": other}))
    with tarfile.open(relabelled, "w") as written:
        written.add(tmp_path / "manifest.json", "manifest.json")
    with pytest.raises(BackupError, match=f"holds a {other} database"):
        restore_backup(app, relabelled, force=False, timeout=60)

    with pytest.raises(BackupError, match=r"The database already has \d+ tables"):
        restore_backup(app, archive, force=False, timeout=60)
    assert not uploads.exists()


def test_keep_removes_only_the_oldest_archives_the_command_wrote(tmp_path: Path) -> None:
    names = [f"helpdesk-2026120{day}T023000Z.tar" for day in (1, 2, 3)]
    for name in [*names, "notes.tar", "helpdesk-config.ini"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert prune(tmp_path, keep=2) == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*names[1:], "notes.tar", "helpdesk-config.ini"]
    )
    assert prune(tmp_path, keep=5) == []


def test_force_replaces_the_database_and_keeps_the_replaced_files_aside(
    app: Flask, make_user: Any, tmp_path: Path
) -> None:
    if db.engine.dialect.name == "postgresql" and shutil.which("pg_dump") is None:
        require_service("PostgreSQL's client tools", "pg_dump is not installed")
    make_user("kept")
    uploads = Path(app.config["UPLOAD_FOLDER"])
    (uploads / "avatars").mkdir(parents=True)
    (uploads / "avatars" / "kept.png").write_bytes(b"kept")
    archive = create_backup(app, tmp_path / "site.tar", timeout=60)
    make_user("after_the_backup")
    (uploads / "avatars" / "later.png").write_bytes(b"later")

    manifest = restore_backup(app, archive, force=True, timeout=60)

    assert manifest.files == 1
    assert user_named("kept") is not None
    assert user_named("after_the_backup") is None
    assert sorted(p.name for p in (uploads / "avatars").iterdir()) == ["kept.png"]
    (aside,) = uploads.parent.glob(f"{uploads.name}.before-restore-*")
    assert sorted(p.name for p in (aside / "avatars").iterdir()) == ["kept.png", "later.png"]


def test_force_leaves_no_table_the_backup_did_not_have(
    app: Flask, make_user: Any, tmp_path: Path
) -> None:
    """A backup restored over a database a later migration changed is the backup, whole."""
    if db.engine.dialect.name == "postgresql" and shutil.which("pg_dump") is None:
        require_service("PostgreSQL's client tools", "pg_dump is not installed")
    make_user("kept")
    archive = create_backup(app, tmp_path / "site.tar", timeout=60)
    db.session.execute(text("CREATE TABLE added_after_the_backup (id integer PRIMARY KEY)"))
    db.session.commit()

    restore_backup(app, archive, force=True, timeout=60)

    assert "added_after_the_backup" not in inspect(db.engine).get_table_names()
    assert user_named("kept") is not None


def test_a_restore_that_fails_half_way_changes_nothing(
    app: Flask, postgresql_only: None, make_user: Any, tmp_path: Path
) -> None:
    """On PostgreSQL (SQLite's restore is one file copied into place)."""
    if shutil.which("pg_dump") is None:
        require_service("PostgreSQL's client tools", "pg_dump is not installed")
    make_user("kept")
    archive = create_backup(app, tmp_path / "site.tar", timeout=60)
    make_user("after_the_backup")
    # a type in the way of one of the backup's tables: the restore fails once it reaches it
    db.session.execute(text("ALTER TABLE site_settings RENAME TO site_settings_renamed"))
    db.session.execute(text("CREATE TYPE site_settings AS (value integer)"))
    db.session.commit()

    with pytest.raises(BackupError, match="psql failed"):
        restore_backup(app, archive, force=True, timeout=60)

    assert user_named("after_the_backup") is not None
    assert "site_settings_renamed" in inspect(db.engine).get_table_names()
    db.session.rollback()
    db.session.execute(text("DROP TYPE site_settings"))
    db.session.execute(text("ALTER TABLE site_settings_renamed RENAME TO site_settings"))
    db.session.commit()
