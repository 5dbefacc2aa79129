"""`pip install .` gives a working helpdesk away from the checkout: the wheel, built from the
sources as git keeps them (no compiled catalogs), carries the templates, static files, compiled
translations and migrations, and its `helpdesk` command migrates a database and serves pages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
import requests

from helpers import free_port, wait_until_up

pytestmark = pytest.mark.servers

REPOSITORY = Path(__file__).resolve().parents[2]


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command, failing the test with its output when it fails."""
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_migrates_and_serves_outside_the_repository(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(REPOSITORY / name, sources / name)
    shutil.copytree(
        REPOSITORY / "src",
        sources / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.egg-info"),
    )
    # without build isolation: the build tools of this environment, nothing downloaded
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(sources)],
        cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("helpdesk-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for packaged in (
        "helpdesk/templates/base.html",
        "helpdesk/static/sw.js",
        "helpdesk/translations/ru/LC_MESSAGES/messages.mo",
        "helpdesk/migrations/alembic.ini",
        "helpdesk/migrations/env.py",
    ):
        assert packaged in names
    assert any(name.startswith("helpdesk/migrations/versions/") for name in names)
    assert not any("__pycache__" in name for name in names)

    # a fresh environment whose dependencies are this one's (a .pth line), with the wheel
    # installed into it: its own helpdesk comes first on the path
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            cwd=tmp_path,
        ).strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)],
        cwd=tmp_path,
    )  # fmt: skip
    located = run([str(python), "-c", "import helpdesk; print(helpdesk.__file__)"], cwd=tmp_path)
    assert Path(located.strip()).is_relative_to(venv)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"HELPDESK_INSTANCE_PATH", "DATABASE_URL", "TEST_DATABASE_URL", "HELPDESK_CONFIG"}
    }
    env.update(
        HELPDESK_ENV="production",
        SECRET_KEY="wheel-test-secret-0123456789abcdef",
        SESSION_COOKIE_SECURE="false",
        WEB_CONCURRENCY="1",
        LOG_REQUESTS="false",
    )
    helpdesk = str(venv / "bin" / "helpdesk")
    run([helpdesk, "db", "upgrade"], cwd=elsewhere, env=env)
    instance = venv / "var" / "helpdesk-instance"  # Flask's default for an installed package
    assert (instance / "helpdesk.db").is_file()

    port = free_port()
    server = subprocess.Popen(
        [helpdesk, "serve", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url)
        login = requests.get(f"{url}/users/login", headers={"Accept-Language": "ru"}, timeout=10)
        assert login.status_code == 200
        assert "Войти" in login.text  # the compiled Russian catalog
        css = requests.get(f"{url}/static/css/app.css", timeout=10)
        assert css.status_code == 200
        assert css.content == (REPOSITORY / "src/helpdesk/static/css/app.css").read_bytes()
    finally:
        server.terminate()
        server.wait(timeout=20)
