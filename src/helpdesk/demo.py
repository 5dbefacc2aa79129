"""Demo data for a first run: three users, announcements, projects and tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from helpdesk.core.models import SiteSetting, utcnow
from helpdesk.extensions import db
from helpdesk.posts.models import Post
from helpdesk.tasks.demo import load_demo_tasks
from helpdesk.users import service
from helpdesk.users.models import User

DEMO_USERS: tuple[dict[str, Any], ...] = (
    {
        "username": "admin",
        "email": "admin@example.com",
        "full_name": "Администратор",
        "department": "IT",
        "position": "System administrator",
        "is_admin": True,
        "is_redmine_user": True,
    },
    {
        "username": "alice",
        "email": "alice@example.com",
        "full_name": "Alice Ivanova",
        "department": "Support",
        "position": "Support engineer",
        "office": "Moscow",
        "is_redmine_user": True,
    },
    {
        "username": "bob",
        "email": "bob@example.com",
        "full_name": "Bob Petrov",
        "department": "Development",
        "position": "Developer",
        "office": "Saint Petersburg",
        "is_redmine_user": True,
    },
)

DEMO_POSTS = (
    (
        "admin",
        "Добро пожаловать в Helpdesk",
        "Here you see your tasks, move them on the board and get told the moment they change.\n"
        "Здесь вы видите свои задачи и сразу узнаёте об их изменениях.",
    ),
    (
        "alice",
        "Support rota for the holidays",
        "Support is staffed every day from 9:00 to 18:00 Moscow time. "
        "Urgent issues outside those hours: call the duty phone.",
    ),
    (
        "bob",
        "Release 2.4 on Friday",
        "The release is planned for Friday at 19:00. "
        "Expect a short downtime of the reporting module.",
    ),
)


def load_demo_data(password: str) -> None:
    """Create the demo users and posts that are missing; the caller commits."""
    users: dict[str, User] = {}
    created = False
    for spec in DEMO_USERS:
        username = spec["username"]
        existing = db.session.scalar(select(User).where(User.username == username))
        created = created or existing is None
        users[username] = existing or service.create_user(
            username,
            spec["email"],
            password,
            **{k: v for k, v in spec.items() if k not in {"username", "email"}},
        )
    if db.session.scalar(select(Post.id).limit(1)) is None:
        now = utcnow()
        for age, (author, title, content) in enumerate(DEMO_POSTS):
            db.session.add(
                Post(
                    title=title,
                    content=content,
                    author=users[author],
                    date_posted=now - timedelta(hours=age),
                )
            )
    load_demo_tasks(users)
    if created:  # existing users keep their password, so the hint keeps the one they were given
        SiteSetting.put("demo_password", password)
    db.session.flush()
