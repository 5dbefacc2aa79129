"""The `helpdesk` command: Flask's commands (db, routes, shell) plus serve, demo, create-admin."""

from __future__ import annotations

import os
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select

from helpdesk import create_app
from helpdesk.extensions import db


def _create_app(*_: Any) -> Flask:
    """Factory for FlaskGroup; the environment chooses the configuration."""
    return create_app()


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
    """Serve the helpdesk: gunicorn in production, Werkzeug's threaded server otherwise."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["ENV_NAME"] == "production":
        from helpdesk.server import run_gunicorn

        run_gunicorn(app, host, port)
        return
    from werkzeug.serving import run_simple

    click.echo(f"Helpdesk on http://{host}:{port}")
    run_simple(host, port, app, threaded=True)


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@with_appcontext
def demo(if_empty: bool) -> None:
    """Load demo users (admin, alice, bob) and announcements."""
    from helpdesk.demo import load_demo_data
    from helpdesk.users.models import User

    if if_empty and db.session.scalar(select(func.count(User.id))):
        click.echo("Users exist already; demo data not loaded.")
        return
    password = os.environ.get("HELPDESK_DEMO_PASSWORD") or "demo"
    load_demo_data(password)
    db.session.commit()
    click.echo(f"Demo data loaded: users admin, alice, bob with password {password!r}.")


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
