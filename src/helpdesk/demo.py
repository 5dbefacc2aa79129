"""Demo data for a first run: three users, announcements, projects and tasks, in the language of
the install (English or Russian), so an English helpdesk shows no Russian names unless chosen."""

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

DEMO_LANGUAGES = ("en", "ru")  # the languages demo content is written in

# username -> its account; the profile texts are per language (PROFILES)
ACCOUNTS: dict[str, dict[str, Any]] = {
    "admin": {"email": "admin@example.com", "is_admin": True, "is_redmine_user": True},
    "alice": {"email": "alice@example.com", "is_redmine_user": True},
    "bob": {"email": "bob@example.com", "is_redmine_user": True},
}
PROFILE_FIELDS = ("full_name", "department", "position", "office")
PROFILES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "admin": ("Administrator", "IT", "System administrator", ""),
        "alice": ("Alice Ivanova", "Support", "Support engineer", "Moscow"),
        "bob": ("Bob Petrov", "Development", "Developer", "Saint Petersburg"),
    },
    "ru": {
        "admin": ("Администратор", "ИТ", "Системный администратор", ""),
        "alice": ("Алиса Иванова", "Поддержка", "Инженер поддержки", "Москва"),
        "bob": ("Борис Петров", "Разработка", "Разработчик", "Санкт-Петербург"),
    },
}
POSTS: dict[str, tuple[tuple[str, str, str], ...]] = {  # (author, title, content), newest first
    "en": (
        (
            "admin",
            "Welcome to the Helpdesk",
            "Here you see your tasks, move them on the board and get told the moment they change.",
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
    ),
    "ru": (
        (
            "admin",
            "Добро пожаловать в Helpdesk",
            "Здесь вы видите свои задачи, двигаете их по доске и сразу узнаёте об их изменениях.",
        ),
        (
            "alice",
            "Дежурства поддержки в праздники",
            "Поддержка работает каждый день с 9:00 до 18:00 по московскому времени. "
            "Срочные вопросы в другое время: звоните на дежурный телефон.",
        ),
        (
            "bob",
            "Релиз 2.4 в пятницу",
            "Релиз запланирован на пятницу, 19:00. Модуль отчётов будет недолго недоступен.",
        ),
    ),
}


def demo_language(language: str) -> str:
    """The demo content's language for an install's language: its own, else English."""
    return language if language in DEMO_LANGUAGES else "en"


def load_demo_data(password: str, language: str = "en") -> None:
    """Create the demo users and posts that are missing, written in language (one of
    DEMO_LANGUAGES); the caller commits."""
    users: dict[str, User] = {}
    created = False
    for username, account in ACCOUNTS.items():
        existing = db.session.scalar(select(User).where(User.username == username))
        created = created or existing is None
        profile = dict(zip(PROFILE_FIELDS, PROFILES[language][username], strict=True))
        users[username] = existing or service.create_user(
            username,
            account["email"],
            password,
            **{k: v for k, v in account.items() if k != "email"},
            **{k: v for k, v in profile.items() if v},
        )
    if db.session.scalar(select(Post.id).limit(1)) is None:
        now = utcnow()
        for age, (author, title, content) in enumerate(POSTS[language]):
            db.session.add(
                Post(
                    title=title,
                    content=content,
                    author=users[author],
                    date_posted=now - timedelta(hours=age),
                )
            )
    load_demo_tasks(users, language)
    if created:  # existing users keep their password, so the hint keeps the one they were given
        SiteSetting.put("demo_password", password)
    db.session.flush()
