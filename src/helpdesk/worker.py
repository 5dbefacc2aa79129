"""The periodic jobs, declared once, run by `helpdesk worker` or inside `helpdesk serve`.

Every run takes the job's lock first (core/locks.py), so however many processes schedule the
jobs, one job never runs twice at the same time.
"""

from __future__ import annotations

import importlib
import logging
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from helpdesk.core.locks import try_lock
from helpdesk.extensions import db

log = logging.getLogger(__name__)

Outcome = Literal["ran", "skipped", "failed"]


@dataclass(frozen=True)
class Job:
    """A function run every `interval_key` seconds, or once a day at the hour `daily_at_key`
    names (config keys, so deployments can tune them)."""

    name: str
    target: str  # "module:function", imported at run time so declaring the list imports nothing
    interval_key: str = ""
    lease_seconds: int = 300
    daily_at_key: str = ""
    backend_interval_keys: tuple[tuple[str, str], ...] = ()  # (TASK_BACKEND, its interval key)

    def interval(self, config: Mapping[str, Any]) -> float:
        """Seconds between runs: the configured backend's own setting if it has one."""
        key = dict(self.backend_interval_keys).get(config["TASK_BACKEND"], self.interval_key)
        return float(config[key])

    def function(self) -> Callable[[], Any]:
        """The callable the target names."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


JOBS: tuple[Job, ...] = (
    Job("send_due_mail", "helpdesk.notifications.mail:send_due_mail", "MAIL_QUEUE_INTERVAL"),
    Job("expire_presence", "helpdesk.users.presence:expire_presence", "PRESENCE_INTERVAL"),
    Job(
        "follow_changes",
        "helpdesk.tasks.feed:follow_changes",
        "CHANGE_FEED_INTERVAL",
        backend_interval_keys=(("redmine", "REDMINE_POLL_SECONDS"),),
    ),
    Job("check_services", "helpdesk.health.service:record_checks", "HEALTH_CHECK_INTERVAL"),
    Job(
        "sync_erp_profiles",
        "helpdesk.integrations.erp:sync_profiles",
        lease_seconds=3600,
        daily_at_key="ERP_SYNC_HOUR",
    ),
    Job("expire_sessions", "helpdesk.core.sessions:expire_sessions", "SESSION_CLEANUP_INTERVAL"),
)


def run_job(app: Flask, job: Job) -> Outcome:
    """Run one job in its own app context unless another process holds its lock; a failure is
    logged and the next run tries again."""
    with app.app_context():
        try:
            with try_lock(app, job.name, job.lease_seconds) as taken:
                if not taken:
                    log.info("job %s is running elsewhere; skipped", job.name)
                    return "skipped"
                job.function()()
                return "ran"
        except Exception:
            log.exception("job %s failed", job.name)
            return "failed"
        finally:
            db.session.remove()


def build_scheduler(app: Flask, scheduler_class: type[BaseScheduler]) -> BaseScheduler:
    """A scheduler with every job, each due at once and then on its interval, or daily at its
    hour; a run that is late is merged with the next, never stacked."""
    scheduler = scheduler_class(
        timezone=app.config["SCHEDULER_TIMEZONE"],
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    for job in JOBS:
        if job.daily_at_key:
            trigger: dict[str, Any] = {"trigger": "cron", "hour": app.config[job.daily_at_key]}
        else:
            trigger = {
                "trigger": "interval",
                "seconds": job.interval(app.config),
                "next_run_time": datetime.now(UTC),
            }
        scheduler.add_job(run_job, args=(app, job), id=job.name, **trigger)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return scheduler


def start_embedded(app: Flask) -> BaseScheduler | None:
    """Run the jobs in a thread of this server process, unless a separate worker runs them."""
    if not app.config["JOBS_EMBEDDED"]:
        return None
    scheduler = build_scheduler(app, BackgroundScheduler)
    scheduler.start()
    return scheduler


def run_worker(app: Flask) -> None:
    """Run the jobs in the foreground until interrupted or told to stop (SIGTERM: systemd's and
    docker's stop), letting a job that is running finish first."""
    scheduler = build_scheduler(app, BlockingScheduler)
    signal.signal(signal.SIGTERM, stop_worker)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=True)
        log.info("worker stopped")


def stop_worker(_signum: int, _frame: object) -> None:
    """SIGTERM ends the scheduler's loop as Ctrl+C does."""
    raise SystemExit(0)


def run_all_once(app: Flask) -> dict[str, Outcome]:
    """Every job once, in order (for cron and for checking a deployment)."""
    return {job.name: run_job(app, job) for job in JOBS}
