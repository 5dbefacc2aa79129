"""Demo projects, memberships and a few hundred realistic tasks with history."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from helpdesk.core.models import utcnow
from helpdesk.extensions import db
from helpdesk.tasks.models import (
    Journal,
    JournalDetail,
    Member,
    Project,
    Role,
    Task,
    TaskPriority,
    TaskStatus,
    Tracker,
    Watcher,
)
from helpdesk.users.models import User

PROJECT_IDENTIFIERS = ("service-desk", "web-portal", "infrastructure")
# username -> {project identifier: role name}
MEMBERSHIPS = {
    "admin": {"service-desk": "Manager", "web-portal": "Manager", "infrastructure": "Manager"},
    "alice": {"service-desk": "Developer", "web-portal": "Developer"},
    "bob": {"web-portal": "Developer", "infrastructure": "Developer"},
}


@dataclass(frozen=True)
class DemoTexts:
    """The words of the demo tasks in one language; the same shapes in every language, so the
    tasks (drawn with one seed) are the same tasks whichever language they are written in."""

    projects: tuple[tuple[str, str], ...]  # (name, description), in PROJECT_IDENTIFIERS' order
    subjects: tuple[str, ...]  # each with a {thing}
    things: tuple[str, ...]
    notes: tuple[str, ...]
    description: str


TEXTS = {
    "en": DemoTexts(
        projects=(
            ("Service Desk", "Requests from staff: accounts, hardware, access."),
            ("Web Portal", "The customer portal and its API."),
            ("Infrastructure", "Servers, network, backups and monitoring."),
        ),
        subjects=(
            "Cannot log in to {thing}",
            "{thing} is slow in the morning",
            "Add export to {thing}",
            "{thing} shows a wrong total",
            "Access request for {thing}",
            "Upgrade {thing} to the new version",
            "{thing} error after the update",
            "Translate {thing} into Russian",
        ),
        things=(
            "the VPN",
            "the CRM",
            "the mail client",
            "the reporting module",
            "the printer on floor 3",
            "the payroll system",
            "the customer portal",
            "the wiki",
            "the build server",
            "the backup job",
            "the phone system",
            "the invoice PDF",
            "the mobile app",
            "the search page",
            "the HR portal",
        ),
        notes=(
            "Looking into it.",
            "Reproduced, the cause is the cache.",
            "Fixed on staging, please check.",
            "Waiting for the vendor.",
            "Done, closing.",
            "Can you send a screenshot?",
            "",
        ),
        description="Reported by phone. Steps and screenshots are in the attachment.",
    ),
    "ru": DemoTexts(
        projects=(
            ("Служба поддержки", "Заявки сотрудников: учётные записи, оборудование, доступы."),
            ("Веб-портал", "Клиентский портал и его API."),
            ("Инфраструктура", "Серверы, сеть, резервные копии и мониторинг."),
        ),
        subjects=(
            "{thing}: не удаётся войти",
            "{thing} медленно работает по утрам",
            "{thing}: добавить выгрузку",
            "{thing} показывает неверный итог",
            "{thing}: запрос доступа",
            "{thing}: обновить до новой версии",
            "{thing}: ошибка после обновления",
            "{thing}: перевести на английский",
        ),
        things=(
            "VPN",
            "CRM",
            "почтовый клиент",
            "модуль отчётов",
            "принтер на 3-м этаже",
            "система расчёта зарплаты",
            "клиентский портал",
            "вики",
            "сервер сборки",
            "резервное копирование",
            "телефония",
            "PDF-счёт",
            "мобильное приложение",
            "страница поиска",
            "HR-портал",
        ),
        notes=(
            "Разбираюсь.",
            "Воспроизвёл, причина в кэше.",
            "Исправлено на тестовом стенде, проверьте, пожалуйста.",
            "Ждём ответа поставщика.",
            "Готово, закрываю.",
            "Пришлите, пожалуйста, снимок экрана.",
            "",
        ),
        description="Сообщили по телефону. Шаги и снимки экрана во вложении.",
    ),
}
TASK_COUNT = 300


def _sentence(text: str) -> str:
    """Upper-case the first letter only, so "the VPN" keeps its capitals."""
    return text[:1].upper() + text[1:]


def load_demo_tasks(users: dict[str, User], language: str = "en") -> None:
    """Create the demo projects and tasks, written in language (a key of TEXTS), unless projects
    exist already; the caller commits."""
    if db.session.scalar(select(Project.id).limit(1)) is not None:
        return
    texts = TEXTS[language]
    rng = random.Random(7)  # noqa: S311 - repeatable demo data, not security
    projects = {}
    for identifier, (name, description) in zip(PROJECT_IDENTIFIERS, texts.projects, strict=True):
        projects[identifier] = Project(identifier=identifier, name=name, description=description)
        db.session.add(projects[identifier])
    db.session.flush()
    roles = {role.name: role.id for role in db.session.scalars(select(Role))}
    members: dict[str, list[User]] = {identifier: [] for identifier in projects}
    for username, memberships in MEMBERSHIPS.items():
        for identifier, role in memberships.items():
            db.session.add(
                Member(
                    project_id=projects[identifier].id,
                    user_id=users[username].id,
                    role_id=roles[role],
                )
            )
            members[identifier].append(users[username])
    statuses = list(db.session.scalars(select(TaskStatus).order_by(TaskStatus.position)))
    priorities = list(db.session.scalars(select(TaskPriority).order_by(TaskPriority.position)))
    trackers = list(db.session.scalars(select(Tracker)))
    now = utcnow()
    for _number in range(TASK_COUNT):
        identifier = rng.choice(list(projects))
        people = members[identifier]
        author = rng.choice(people)
        assignee = rng.choice([u for u in people if u.username != "admin"] or people)
        status = rng.choices(statuses, weights=[20, 20, 10, 6, 35, 9])[0]
        created = now - timedelta(days=rng.uniform(1, 120))
        task = Task(
            project_id=projects[identifier].id,
            tracker_id=rng.choice(trackers).id,
            status_id=status.id,
            priority_id=rng.choices(priorities, weights=[15, 50, 22, 9, 4])[0].id,
            author_id=author.id,
            assigned_to_id=assignee.id if rng.random() < 0.9 else None,
            subject=_sentence(rng.choice(texts.subjects).format(thing=rng.choice(texts.things))),
            description=texts.description,
            due_date=(created + timedelta(days=rng.randint(3, 60))).date()
            if rng.random() < 0.6
            else None,
            done_ratio=100 if status.is_closed else rng.choice([0, 0, 10, 30, 50, 80]),
            created_on=created,
            updated_on=created,
            closed_on=None,
        )
        db.session.add(task)
        db.session.flush()
        db.session.add(Watcher(task_id=task.id, user_id=author.id))
        if status.position > 1:
            changed = created + timedelta(hours=rng.uniform(1, 72))
            journal = Journal(
                task_id=task.id,
                user_id=assignee.id,
                notes=rng.choice(texts.notes),
                created_on=changed,
            )
            journal.details = [
                JournalDetail(
                    prop_key="status_id", old_value=str(statuses[0].id), new_value=str(status.id)
                )
            ]
            db.session.add(journal)
            task.updated_on = changed
            task.closed_on = changed if status.is_closed else None
    db.session.flush()
