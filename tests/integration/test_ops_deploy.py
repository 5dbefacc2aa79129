"""The production layout of deploy/, started as it is: Debian's nginx with the site file in front of
two `helpdesk serve` processes (the systemd units' command lines) on PostgreSQL and Redis, and two
workers. Only ports, paths and a few test settings differ from what the files say."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio

from conftest import DEMO_PASSWORD, HELPDESK, DemoPostgres, require_service
from helpdesk.config import Config
from helpers import free_port, open_task_assigned_to, own_id, wait_until_up
from smtp_server import self_signed_certificate, smtp_server

pytestmark = pytest.mark.servers

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
STATIC = Path(__file__).resolve().parents[2] / "src" / "helpdesk" / "static"
INSTALLED = "/opt/helpdesk/venv/bin/helpdesk"
REDIS_URL = "redis://127.0.0.1:6379/0"
LOGIN_LIMIT = 3  # attempts per minute by one address on one account, in this test


def unit(name: str) -> configparser.ConfigParser:
    """A systemd unit file of deploy/systemd, read as the ini file it is."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name, encoding="utf-8")
    return parser


def exec_start(name: str, instance: str = "") -> list[str]:
    """A unit's ExecStart as a command line of this install (the venv's `helpdesk`)."""
    line = unit(name)["Service"]["ExecStart"]
    assert line.startswith(INSTALLED)
    return shlex.split(line.replace(INSTALLED, HELPDESK).replace("%i", instance))


def env_file() -> dict[str, str]:
    """The example environment file's settings."""
    values = {}
    for line in (DEPLOY / "helpdesk.env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def replaced(text: str, old: str, new: str) -> str:
    """text with old replaced, which must be there (the site file changed otherwise)."""
    assert old in text, f"the nginx site no longer says {old!r}"
    return text.replace(old, new)


@dataclass
class Site:
    """The running layout: nginx's address, the two web processes, the workers, the logs."""

    url: str
    http_url: str
    ca_file: str
    web: dict[int, subprocess.Popen[bytes]]
    workers: list[subprocess.Popen[bytes]]
    folder: Path
    mail: Any
    stopped: list[int] = field(default_factory=list)

    def session(self) -> requests.Session:
        """A client of the site through nginx, trusting its test certificate."""
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would win over verify
        session.verify = self.ca_file
        return session

    def sign_in(self, username: str, url: str | None = None) -> requests.Session:
        """A session signed in as a demo user, through nginx or straight to one process."""
        session = self.session()
        response = session.post(
            f"{url or self.url}/users/login",
            json={"username": username, "password": DEMO_PASSWORD},
            timeout=15,
        )
        assert response.status_code == 200, response.text
        return session

    def access_log(self) -> str:
        """What nginx logged for the site so far."""
        return (self.folder / "helpdesk.access.log").read_text(encoding="utf-8")


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own (so it can be killed with its children), logging to
    a file."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def nginx_config(folder: Path, ports: dict[str, int], cert: Path, key: Path) -> Path:
    """The deploy site on test ports and paths, inside a main configuration of the test's own
    (nginx in the foreground, its files in folder)."""
    site = (DEPLOY / "nginx" / "helpdesk.conf").read_text(encoding="utf-8")
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{ports['http']};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{ports['https']} ssl http2;"),
        ("server 127.0.0.1:8001", f"server 127.0.0.1:{ports['a']}"),
        ("server 127.0.0.1:8002", f"server 127.0.0.1:{ports['b']}"),
        ("/opt/helpdesk/static/", f"{STATIC}/"),
        ("/etc/ssl/helpdesk/fullchain.pem", str(cert)),
        ("/etc/ssl/helpdesk/privkey.pem", str(key)),
        ("/var/log/nginx/helpdesk.access.log", str(folder / "helpdesk.access.log")),
    ):
        site = replaced(site, old, new)
    (folder / "helpdesk.conf").write_text(site, encoding="utf-8")
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
{temp}
    uwsgi_temp_path {folder / "uwsgi"};
    scgi_temp_path {folder / "scgi"};
    include {folder / "helpdesk.conf"};
}}
"""
    path = folder / "nginx.conf"
    path.write_text(main, encoding="utf-8")
    return path


def wait_for_nginx(url: str, ca_file: str, process: subprocess.Popen[bytes]) -> None:
    """Until nginx answers through to the app."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "nginx stopped"
        try:
            if requests.get(f"{url}/healthz", verify=ca_file, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("nginx did not answer")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_postgres: DemoPostgres) -> Iterator[Site]:
    """Everything started on a copy of the demo data; everything still running stopped at the
    end."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        require_service("nginx", "Debian's nginx is not installed (apt-get install nginx)")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as error:
        require_service("Redis", str(error))
    folder = tmp_path_factory.mktemp("ops-deploy")
    cert, key = self_signed_certificate(folder)
    ports = {name: free_port() for name in ("a", "b", "http", "https")}
    tag = uuid.uuid4().hex[:12]
    database = demo_postgres.copy("operators_ops_deploy")
    with smtp_server() as mail:
        env = {
            **{k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"},
            **env_file(),
            "SECRET_KEY": f"ops-deploy-test-{tag}-0123456789",
            "DATABASE_URL": database,
            "HELPDESK_INSTANCE_PATH": str(folder / "instance"),
            "UPLOAD_FOLDER": str(folder / "uploads"),
            "HELPDESK_DEMO_PASSWORD": DEMO_PASSWORD,
            # the test's own names on the shared Redis
            "SOCKETIO_CHANNEL": f"ops-deploy-{tag}",
            "CACHE_KEY_PREFIX": f"ops-deploy-{tag}:",
            # a client of the test talks to one process straight, over plain HTTP
            "SESSION_COOKIE_SECURE": "false",
            "REMEMBER_COOKIE_SECURE": "false",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail.port),
            "MAIL_USE_TLS": "false",
            "MAIL_QUEUE_INTERVAL": "1",
            "MAIL_BASE_URL": f"https://127.0.0.1:{ports['https']}",
            "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute",
            "LOG_REQUESTS": "false",
        }
        processes: list[subprocess.Popen[bytes]] = []
        try:
            migrate = exec_start("helpdesk-migrate.service")  # at the head already: a no-op
            subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=180)
            web = {
                port: start(
                    exec_start("helpdesk-web@.service", str(port)), env, folder / f"{n}.log"
                )
                for n, port in (("web-a", ports["a"]), ("web-b", ports["b"]))
            }
            processes += web.values()
            workers = [
                start(exec_start("helpdesk-worker.service"), env, folder / f"worker-{n}.log")
                for n in (1, 2)
            ]
            processes += workers
            conf = nginx_config(folder, ports, cert, key)
            proxy = start([nginx, "-p", str(folder), "-c", str(conf)], env, folder / "nginx.out")
            processes.append(proxy)
            for port in web:
                wait_until_up(f"http://127.0.0.1:{port}")
            url = f"https://127.0.0.1:{ports['https']}"
            wait_for_nginx(url, str(cert), proxy)
            yield Site(
                url, f"http://127.0.0.1:{ports['http']}", str(cert), web, workers, folder, mail
            )
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            demo_postgres.drop(database)


def test_nginx_serves_the_static_files_and_the_service_worker_with_cache_headers(
    site: Site,
) -> None:
    client = site.session()
    css = client.get(f"{site.url}/static/css/app.css", timeout=10)
    assert css.status_code == 200
    assert css.content == (STATIC / "css" / "app.css").read_bytes()
    assert css.headers["Cache-Control"] == "public, max-age=3600"
    assert "Content-Security-Policy" not in css.headers  # nginx's own, not the app's
    page = client.get(f"{site.url}/users/login", timeout=10).text
    versioned = re.search(r'href="(/static/css/app\.css\?v=\w+)"', page)
    assert versioned, "the page names its stylesheet by version"
    kept = client.get(f"{site.url}{versioned.group(1)}", timeout=10)
    assert kept.content == css.content
    assert kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    worker = client.get(f"{site.url}/sw.js", timeout=10)
    assert worker.status_code == 200
    assert worker.content == (STATIC / "sw.js").read_bytes()
    assert worker.headers["Cache-Control"] == "no-cache"
    assert worker.headers["Service-Worker-Allowed"] == "/"
    assert "javascript" in worker.headers["Content-Type"]
    plain = requests.get(f"{site.http_url}/tasks/my-tasks", allow_redirects=False, timeout=10)
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")


def test_the_request_id_nginx_gives_a_request_is_the_one_the_app_answers_with(
    site: Site,
) -> None:
    response = site.session().get(f"{site.url}/health", timeout=10)
    assert response.status_code == 200
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id
    assert "Content-Security-Policy" in response.headers  # the app's answer, through nginx
    deadline = time.monotonic() + 5  # nginx writes the line once the answer has gone
    while f"rid={request_id}" not in site.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = [line for line in site.access_log().splitlines() if f"rid={request_id}" in line]
    assert len(logged) == 1
    assert re.search(r"upstream=127\.0\.0\.1:(\d+)$", logged[0]).group(1) in map(str, site.web)


def test_nginx_refuses_a_body_larger_than_the_app_accepts(site: Site) -> None:
    conf = (DEPLOY / "nginx" / "helpdesk.conf").read_text(encoding="utf-8")
    (megabytes,) = re.findall(r"client_max_body_size (\d+)m;", conf)
    assert int(megabytes) * 1024 * 1024 == Config.MAX_CONTENT_LENGTH
    too_big = b"x" * (Config.MAX_CONTENT_LENGTH + 1)
    response = site.session().post(f"{site.url}/users/login", data=too_big, timeout=30)
    assert response.status_code == 413
    assert response.headers["Server"].startswith("nginx")


def test_a_forged_forwarded_for_does_not_escape_the_login_rate_limit(site: Site) -> None:
    """Each attempt claims another client address; nginx replaces the claim with the address
    it sees, so the attempts count as one address's wherever they are served."""
    client = site.session()
    account = f"ops-nobody-{uuid.uuid4().hex[:8]}"
    statuses = []
    for attempt in range(LOGIN_LIMIT + 1):
        response = client.post(
            f"{site.url}/users/login",
            json={"username": account, "password": "wrong password"},
            headers={"X-Forwarded-For": f"203.0.113.{attempt + 1}"},
            timeout=15,
        )
        statuses.append(response.status_code)
    assert statuses == [401] * LOGIN_LIMIT + [429]


def established_to(port: int) -> set[int]:
    """The local ports of open TCP connections on loopback to a port (nginx's to a web
    process)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                remote_port = int(fields[2].rsplit(":", 1)[1], 16)
                if remote_port == port and fields[3] == "01":  # ESTABLISHED
                    found.add(local_port)
    return found


def test_plain_requests_reuse_nginx_s_connections_to_the_web_processes(site: Site) -> None:
    """The site's upstream keepalive: twenty requests through nginx travel on a few upstream
    connections kept open between them, not on twenty new ones."""
    client = site.session()
    used: set[tuple[int, int]] = set()
    for _ in range(20):
        assert client.get(f"{site.url}/users/login", timeout=10).status_code == 200
        used |= {(port, local) for port in site.web for local in established_to(port)}
    assert 1 <= len(used) <= 4, f"upstream connections used for 20 requests: {sorted(used)}"


class Page:
    """A page's socket through nginx, reconnecting as the browser's does, recording what it
    hears."""

    def __init__(self, site: Site, http: requests.Session) -> None:
        self.notified: list[int] = []
        self.connects = 0
        self.changed = threading.Condition()
        self.socket = socketio.Client(reconnection=True, reconnection_delay=0.2, http_session=http)
        self.socket.on("new_notification", self.hear, namespace="/notifications")
        self.socket.on("connect", self.connected, namespace="/notifications")
        self.socket.connect(
            site.url, namespaces=["/notifications"], transports=["websocket"], wait_timeout=10
        )

    def hear(self, data: dict[str, Any]) -> None:
        """A notification arrived."""
        with self.changed:
            self.notified.append(int(data["issue_id"]))
            self.changed.notify_all()

    def connected(self) -> None:
        """The socket (re)connected."""
        with self.changed:
            self.connects += 1
            self.changed.notify_all()

    def wait(self, condition: Any, seconds: float = 15) -> bool:
        """Whether condition() came true within seconds."""
        with self.changed:
            return self.changed.wait_for(condition, seconds)


def change_status(session: requests.Session, url: str, task: dict[str, Any]) -> str:
    """Move the task to another open status, with a comment of its own; returns the comment."""
    target = 3 if task["status_id"] != 3 else 2
    comment = f"ops-change-{uuid.uuid4().hex}"
    response = session.put(
        f"{url}/tasks/api/task/{task['id']}/status",
        json={"status_id": target, "comment": comment},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    task["status_id"] = target
    return comment


def mails_saying(site: Site, comment: str) -> int:
    """How many e-mails to bob quote the comment."""
    return sum(
        comment in mail.get_body(("plain",)).get_content()
        for mail in site.mail.inbox.to("bob@example.com")
    )


def test_a_page_through_nginx_hears_changes_made_on_either_process_and_survives_a_crash(
    site: Site,
) -> None:
    """bob's page is connected through nginx to one process; alice works on the other one.
    Then bob's process is killed: his page reconnects through nginx to the survivor, and what
    was said while it was away is in the notifications API. The two workers e-mail each
    change once."""
    bob = site.sign_in("bob")
    bob_id = own_id(site.url, bob)
    page = Page(site, bob)
    try:
        # nginx lets its idle upstream connections (the sign-in's) go after 1 s: then only the
        # websocket is left open
        deadline = time.monotonic() + 10
        holders = [port for port in site.web if established_to(port)]
        while len(holders) != 1 and time.monotonic() < deadline:
            time.sleep(0.2)
            holders = [port for port in site.web if established_to(port)]
        assert len(holders) == 1, "bob's websocket reached one web process through nginx"
        (holder,) = holders
        (other,) = [port for port in site.web if port != holder]
        other_url = f"http://127.0.0.1:{other}"
        alice = site.sign_in("alice", other_url)
        first = open_task_assigned_to(other_url, alice, bob_id)
        comments = [change_status(alice, other_url, first)]
        assert page.wait(lambda: first["id"] in page.notified), "the other process's change"

        os.killpg(site.web[holder].pid, signal.SIGKILL)  # the process and its gunicorn worker
        site.web[holder].wait(timeout=10)
        comments.append(change_status(alice, other_url, first))  # while bob's page is away
        assert page.wait(lambda: page.connects >= 2), "the page reconnected through nginx"
        listed = bob.get(f"{site.url}/tasks/api/notifications", timeout=15).json()["data"]
        said = [(n["issue_id"], n["type"]) for n in listed["notifications"]]
        assert said[:2] == [(first["id"], "status_change")] * 2

        notified_before = len(page.notified)
        comments.append(change_status(alice, other_url, first))
        assert page.wait(lambda: len(page.notified) > notified_before), "live again"
    finally:
        page.socket.disconnect()

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(mails_saying(site, c) for c in comments):
        time.sleep(0.2)
    time.sleep(2.5)  # each worker has passed over the outbox twice more
    assert [mails_saying(site, comment) for comment in comments] == [1, 1, 1]
    assert all(worker.poll() is None for worker in site.workers), "both workers ran throughout"


def test_the_units_command_lines_stop_gracefully_and_pass_systemd_analyze(
    site: Site, tmp_path: Path
) -> None:
    """SIGTERM (systemd's and docker's stop) ends a worker and a web process cleanly."""
    for process in [*site.workers, *[p for p in site.web.values() if p.poll() is None]]:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        require_service("systemd-analyze", "systemd is not installed (apt-get install systemd)")
    for path in (DEPLOY / "systemd").iterdir():
        text = path.read_text(encoding="utf-8").replace(INSTALLED, HELPDESK)
        (tmp_path / path.name).write_text(text, encoding="utf-8")
    units = [str(tmp_path / p.name.replace("@.", "@8001.")) for p in (DEPLOY / "systemd").iterdir()]
    checked = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""
