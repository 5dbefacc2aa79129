"""Production serving through gunicorn, configured from the environment.

WEB_WORKER=gevent (the default): one greenlet per connection, so one process holds thousands of
open pages' websockets (WEB_CONNECTIONS). gthread: one of WEB_THREADS threads per connection,
each open websocket holding one for as long as the page is open.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client at its first import

WORKER_CLASSES = ("gevent", "gthread")


class HelpdeskServer(BaseApplication):
    """Gunicorn building the app in each worker, from the same environment as `helpdesk serve`."""

    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Hand our options to gunicorn."""
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        """The worker's own app: its engine, locks and sockets are made after the fork (and,
        with gevent, after the patching), never shared with the master."""
        from helpdesk import create_app
        from helpdesk.worker import start_embedded

        app = create_app(MIGRATIONS_CLI=False)
        start_embedded(app)  # in every worker: the job locks let only one run each job
        app.wsgi_app = taking_turns(app.wsgi_app)  # type: ignore[method-assign]
        # what is loaded now lives as long as the worker: left out of the collector's full passes,
        # which otherwise walked it all in one long pause that every connection waited out
        gc.collect()
        gc.freeze()
        return app


def taking_turns(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Under gevent, yield to the other connections before each request: a keep-alive client
    whose next request is already waiting would otherwise be served on and on while the rest of
    the worker's connections wait. gevent.idle(), not sleep(0): that resumes before the loop
    polls the sockets, so requests that arrived meanwhile would still wait."""
    from helpdesk.core.concurrency import gevent_patched

    if not gevent_patched():
        return wsgi_app
    import gevent

    def turn(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        gevent.idle()
        return wsgi_app(environ, start_response)

    return turn


def worker_count(app: Flask) -> int:
    """WEB_CONCURRENCY processes on PostgreSQL with a Socket.IO message queue and the cache on
    Redis, else one: SQLite is the one-process database, a socket lives in one process, so only
    the queue carries events from the others, and only a shared cache tells every process that a
    signed-in user changed (a revoked right, a new password)."""
    from sqlalchemy.engine import make_url

    wanted = max(int(os.environ.get("WEB_CONCURRENCY", "2")), 1)
    if wanted == 1:
        return 1
    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "sqlite":
        log.warning("SQLite: serving with 1 process (WEB_CONCURRENCY=%d needs PostgreSQL)", wanted)
        return 1
    if not app.config["SOCKETIO_MESSAGE_QUEUE"]:
        log.warning("WEB_CONCURRENCY=%d needs SOCKETIO_MESSAGE_QUEUE; serving with 1", wanted)
        return 1
    if app.config.get("CACHE_TYPE") != "RedisCache":
        log.warning("WEB_CONCURRENCY=%d needs CACHE_TYPE=RedisCache; serving with 1", wanted)
        return 1
    return wanted


def worker_class() -> str:
    """The gunicorn worker class named by WEB_WORKER, gevent by default."""
    worker = os.environ.get("WEB_WORKER", "gevent")
    if worker not in WORKER_CLASSES:
        raise ValueError(f"WEB_WORKER must be one of {', '.join(WORKER_CLASSES)}, not {worker!r}")
    return worker


def serve(app: Flask, host: str, port: int) -> None:
    """Serve in production. Gunicorn's master starts in a fresh interpreter, in this same process
    (same pid), importing no more than gunicorn and this module: the gevent worker patches the
    standard library when it starts, and modules imported before that keep unpatched ssl and
    socket classes (urllib3, redis); and prometheus_client chooses at its first import whether
    figures go to the processes' shared directory, which must be named before then."""
    workers = worker_count(app)
    os.environ[MULTIPROC_ENV] = str(metrics_directory(app, port))
    os.execv(  # noqa: S606
        sys.executable,
        [sys.executable, "-m", "helpdesk.server", host, str(port), str(workers), worker_class()],
    )


def metrics_directory(app: Flask, port: int) -> Path:
    """Where the workers keep their figures: PROMETHEUS_MULTIPROC_DIR if set, else a folder of
    the instance for this port; emptied, since figures of processes gone would be added in."""
    configured = os.environ.get(MULTIPROC_ENV)
    folder = Path(configured) if configured else Path(app.instance_path) / "metrics" / str(port)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    return folder


def worker_exited(_server: Any, worker: Any) -> None:
    """Gunicorn's child_exit: a worker's open sockets leave the live figures with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def raise_fd_limit(wanted: int) -> None:
    """Every connection is a file descriptor: lift the soft limit towards wanted (workers
    inherit it), and say so when the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("open files limited to %d; fewer connections will be held", target)


SERVER_HEADER = "helpdesk"  # gunicorn's own says "gunicorn" to every client


def hide_server_software() -> None:
    """Answer with `Server: helpdesk` rather than gunicorn's name: gunicorn has no setting for
    its Server header and writes the module's SERVER into every response, so that is what is
    set (in the master, before the workers fork)."""
    import gunicorn.http.wsgi

    gunicorn.http.wsgi.SERVER = SERVER_HEADER


def run_gunicorn(host: str, port: int, workers: int, options: dict[str, Any]) -> None:
    """Run gunicorn in this process with the worker options given."""
    hide_server_software()
    HelpdeskServer(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            # each worker its own listening socket, among which the kernel spreads connections,
            # rather than one shared socket that whichever worker wakes first drains
            "reuse_port": workers > 1,
            **options,
            "accesslog": None,
            "timeout": 60,
            # open websockets never end by themselves; pages reconnect after a restart
            "graceful_timeout": 5,
            "child_exit": worker_exited,
        },
    ).run()


def main(argv: list[str]) -> None:
    """`python -m helpdesk.server HOST PORT WORKERS CLASS`, exec'd by serve()."""
    host, port, workers, kind = argv
    if kind == "gthread":
        threads = int(os.environ.get("WEB_THREADS", "100"))
        run_gunicorn(host, int(port), int(workers), {"worker_class": "gthread", "threads": threads})
        return
    connections = int(os.environ.get("WEB_CONNECTIONS", "10000"))
    raise_fd_limit(connections + 100)
    options: dict[str, Any] = {"worker_class": "gevent", "worker_connections": connections}
    run_gunicorn(host, int(port), int(workers), options)


if __name__ == "__main__":
    main(sys.argv[1:])
