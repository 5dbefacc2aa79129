"""The `helpdesk` command: Flask's own plus serve, worker, demo, create-admin, vapid."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import CursorResult, func, select

from helpdesk import create_app
from helpdesk.config import ConfigurationError
from helpdesk.demo import DEMO_LANGUAGES
from helpdesk.extensions import db


def _create_app(*_: Any) -> Flask:
    """Factory for FlaskGroup; the environment chooses the configuration, and a definite
    misconfiguration stops the command with its one sentence."""
    try:
        return create_app()
    except ConfigurationError as error:
        raise click.ClickException(str(error)) from None


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """Helpdesk management commands."""


@main.command()
@click.option("--host", default=lambda: os.environ.get("HOST", "127.0.0.1"), show_default="HOST")
@click.option(
    "--port",
    default=lambda: int(os.environ.get("PORT", "5000")),
    type=int,
    show_default="PORT or 5000",
)
@with_appcontext
def serve(host: str, port: int) -> None:
    """Serve the helpdesk: gunicorn in production (see server.py), Werkzeug's threaded server
    otherwise."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["ENV_NAME"] == "production":
        from helpdesk import server

        server.serve(app, host, port)
        return
    from werkzeug.serving import run_simple

    from helpdesk.worker import start_embedded

    start_embedded(app)
    click.echo(f"Helpdesk on http://{host}:{port}")
    run_simple(host, port, app, threaded=True)


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option(
    "--language",
    type=click.Choice(DEMO_LANGUAGES),
    envvar="HELPDESK_DEMO_LANGUAGE",
    help="The demo content's language (default: the install's BABEL_DEFAULT_LOCALE).",
)
@with_appcontext
def demo(if_empty: bool, language: str | None) -> None:
    """Load demo users (admin, alice, bob), announcements, projects and tasks."""
    from helpdesk.demo import demo_language, load_demo_data
    from helpdesk.users.models import User

    if current_app.config["TASK_BACKEND"] == "redmine":  # they would act as Redmine's own admin
        click.echo(
            "TASK_BACKEND=redmine: no demo users, people sign in with their Redmine accounts "
            "(AUTH_PROVIDERS=local,redmine); `helpdesk create-admin` adds a local administrator."
        )
        return
    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("Users exist already; demo data not loaded.")
        return
    password = os.environ.get("HELPDESK_DEMO_PASSWORD") or "demo"
    language = language or demo_language(current_app.config["BABEL_DEFAULT_LOCALE"])
    load_demo_data(password, language)
    db.session.commit()
    click.echo(
        f"Demo data loaded ({language}): users admin, alice, bob with password {password!r}."
    )


@main.command("create-admin")
@click.argument("username")
@click.argument("email")
@click.password_option()
@with_appcontext
def create_admin(username: str, email: str, password: str) -> None:
    """Create an administrator account (or make an existing user an administrator)."""
    from helpdesk.users import service

    user = service.find_by_login(username)
    if user is None:
        problem = service.password_problem(password, username)
        if problem:
            raise click.BadParameter(problem, param_hint="password")
        user = service.create_user(username, email, password, is_redmine_user=True)
    else:
        click.echo(f"{user.username} exists; the password was left unchanged.")
    user.is_admin = True
    db.session.commit()
    click.echo(f"{user.username} is an administrator.")


@main.command()
@click.option(
    "--email", default="", help="Contact for push services (VAPID `sub`), e.g. admin@example.com."
)
@click.option(
    "--force", is_flag=True, help="Replace existing keys; every browser must subscribe again."
)
@with_appcontext
def vapid(email: str, force: bool) -> None:
    """Create the VAPID key pair for browser push in the instance folder (unless configured)."""
    from sqlalchemy import update

    from helpdesk.notifications import webpush
    from helpdesk.notifications.models import PushSubscription

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    subject = webpush.claim_subject(email) if email else ""
    if email and not subject:
        raise click.BadParameter("give an e-mail address or an https:// URL", param_hint="--email")
    if webpush.configured_private_key(app):
        click.echo("VAPID keys come from the configuration (VAPID_PRIVATE_KEY); nothing written.")
        return
    path = webpush.key_file(app)
    existing = webpush.load_vapid_keys(app) if path.exists() else None
    if path.exists() and existing is None and not force:
        raise click.ClickException(f"{path} cannot be read; use --force to replace it.")
    if existing is not None and not force:
        if subject:
            webpush.write_key_file(
                path, webpush.VapidKeys(existing.public_key, existing.private_key, subject)
            )
            click.echo(f"Contact e-mail updated in {path}.")
        else:
            click.echo(f"VAPID keys exist in {path}; use --force to replace them.")
        click.echo(f"Public key: {existing.public_key}")
        return
    keys = webpush.generate_vapid_keys(subject or (existing.claim_email if existing else ""))
    replacing = path.exists()
    webpush.write_key_file(path, keys)
    if replacing:
        retired = cast(
            "CursorResult[Any]",
            db.session.execute(
                update(PushSubscription)
                .where(PushSubscription.is_active.is_(True))
                .values(is_active=False)
            ),
        ).rowcount
        db.session.commit()
        click.echo(f"Replaced the keys; {retired} browser subscriptions must subscribe again.")
    click.echo(f"VAPID keys written to {path} (readable by the owner only).")
    click.echo(f"Public key: {keys.public_key}")
    if not keys.claim_email and not webpush.claim_subject(
        app.config.get("MAIL_DEFAULT_SENDER") or ""
    ):
        click.echo("Set VAPID_CLAIM_EMAIL or run `helpdesk vapid --email you@example.com`.")


@main.command()
@click.option("--once", is_flag=True, help="Run every job once and exit (for cron or a check).")
@with_appcontext
def worker(once: bool) -> None:
    """Run the periodic jobs (mail, presence) in this process; set JOBS_EMBEDDED=false for the
    web servers when you do."""
    from helpdesk.worker import run_all_once, run_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if once:
        outcomes = run_all_once(app)
        for name, outcome in outcomes.items():
            click.echo(f"{name}: {outcome}")
        if "failed" in outcomes.values():
            raise SystemExit(1)
        return
    click.echo("Helpdesk worker running its jobs; Ctrl+C stops it.")
    run_worker(app)


@main.command()
@click.argument("destination", type=click.Path(path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    help="With a folder as DESTINATION: keep only its newest KEEP backups.",
)
@click.option(
    "--timeout",
    default=3600,
    show_default=True,
    help="Seconds pg_dump may take before it is stopped.",
)
@with_appcontext
def backup(destination: Path, keep: int | None, timeout: int) -> None:
    """Write the database and the uploaded files to DESTINATION, a .tar file or a folder (then
    named by the date)."""
    from helpdesk.backups.service import BackupError, create_backup, prune

    if keep and not destination.is_dir():
        raise click.BadParameter("--keep needs a folder as DESTINATION", param_hint="--keep")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        written = create_backup(app, destination, timeout)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backup written to {written}.")
    for removed in prune(destination, keep) if keep else []:
        click.echo(f"Removed the older backup {removed}.")


@main.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace what the database holds; files in the upload folder are moved aside.",
)
@click.option(
    "--timeout",
    default=3600,
    show_default=True,
    help="Seconds pg_restore may take before it is stopped.",
)
@with_appcontext
def restore(source: Path, force: bool, timeout: int) -> None:
    """Restore a backup written by `helpdesk backup` into an empty database and upload folder."""
    from helpdesk.backups.service import BackupError, restore_backup

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        manifest = restore_backup(app, source, force, timeout)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Restored the backup of {manifest.created_at} ({manifest.files} uploaded files). "
        "Run `helpdesk db upgrade` if this helpdesk is newer than the one that wrote it, "
        "then restart its processes."
    )
