"""A randomised Redmine world for the differential test of REDMINE_READS=database: projects
public and private, archived, closed and with issue tracking off, a subproject; roles of every
issue visibility and with tracker limits, the Non member role changed too; groups and their
memberships, the Non-member group's own roles on a public project; several hundred issues,
private ones among them, with journals (private notes, custom fields only some roles see,
relations) and watchers.

What Redmine's REST API can make is made through it (users, groups, projects, memberships,
issues, journals, relations, watchers); roles, tracker limits and custom fields with one
`rails runner`; archiving, closing, module switches and the issues' people and statuses by SQL.
Everything the test needs is named rmreads<seed> and read back from the database, so a world is
built once per seed and Redmine version, kept as a mysqldump, and restored per run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

MARIADB = ["--host=127.0.0.1", "--port=3306", "--user=root"]
STATE = Path(os.environ.get("HELPDESK_REDMINE_STATE", "/var/tmp/helpdesk-redmine"))  # noqa: S108 (redmine.sh's)
USERS = 9  # rmreads<seed>_u1..: people with memberships, plus one without any
PROJECTS = 9
ISSUES = 240
WORDS = ["VPN", "printer", "portal", "Принтер", "сеть", "50%", "under_score", "mail", "disk"]


def dump_path(server: Any, seed: int) -> Path:
    """Where a seed's world is kept: by seed, this builder's source and the server's schema."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    [(migrations,)] = server.sql("SELECT COUNT(*) FROM schema_migrations")
    return STATE / f"rmreads_world_{seed}_{source}_{migrations}.sql"


def tool(name: str) -> str:
    """A MariaDB client program's full path."""
    path = shutil.which(name)
    assert path, f"{name} is not installed"
    return path


def database_name(server: Any) -> str:
    """The server's database."""
    return str(server.db_url.rsplit("/", 1)[1])


def restore_world(server: Any, seed: int) -> None:
    """Put the seed's world in the server's database: restored from its dump, built first when
    there is none (building takes a minute; a restore well under one)."""
    path = dump_path(server, seed)
    if not path.exists():
        build_world(server, seed)
        partial = path.with_suffix(".partial")
        with partial.open("w") as out:
            subprocess.run(
                [
                    tool("mysqldump"),
                    *MARIADB,
                    "--single-transaction",
                    "--skip-comments",
                    database_name(server),
                ],
                stdout=out,
                check=True,
                timeout=300,
            )
        partial.rename(path)  # and restored at once: every run compares a restored world
    with path.open() as dump:
        subprocess.run(
            [tool("mysql"), *MARIADB, database_name(server)], stdin=dump, check=True, timeout=300
        )


class Api:
    """Redmine's REST API as its administrator (acting as a user where Redmine checks who)."""

    def __init__(self, server: Any) -> None:
        self.url = server.url
        self.session = requests.Session()
        self.session.headers.update({"X-Redmine-API-Key": server.api_key})

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> dict[str, Any]:
        """One call; anything but a success fails the build with Redmine's answer."""
        response = self.session.request(
            method, self.url + path, json=body, headers=headers, timeout=60
        )
        if response.status_code >= 300:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content.strip() else {}


ROLES_SCRIPT = """
require "json"
plan = JSON.parse(%q(PLAN))
ids = {}
plan["roles"].each do |spec|
  role = Role.find_or_initialize_by(name: spec["name"])
  role.issues_visibility = spec["visibility"]
  role.permissions = spec["permissions"].map(&:to_sym)
  role.assignable = true
  role.set_permission_trackers(:view_issues, spec["trackers"] || :all)
  role.save!
  ids[spec["name"]] = role.id
end
builtin = Role.non_member
spec = plan["non_member"]
builtin.issues_visibility = spec["visibility"]
builtin.permissions = spec["permissions"].map(&:to_sym)
builtin.set_permission_trackers(:view_issues, spec["trackers"] || :all)
builtin.save!
ids["Non member"] = builtin.id
plan["fields"].each do |spec|
  field = IssueCustomField.find_or_initialize_by(name: spec["name"])
  field.field_format = "string"
  field.is_for_all = spec["for_all"]
  field.visible = spec["visible"]
  field.role_ids = spec["roles"].map { |name| ids[name] }
  field.tracker_ids = Tracker.pluck(:id)
  field.save!
  ids[spec["name"]] = field.id
end
ids["GroupNonMember"] = GroupNonMember.load_instance.id
puts JSON.generate(ids)
"""


def world_tag(seed: int) -> str:
    """The prefix of every name in a seed's world (several worlds may share a database)."""
    return f"rmreads{seed}"


READ = ["view_issues", "add_issues", "add_issue_notes", "edit_issues"]


def roles_plan(rng: random.Random, tag: str) -> dict[str, Any]:
    """Roles of each visibility, one limited to some trackers, one that sees no issues; the
    Non member role with a random visibility and maybe a tracker limit; two custom fields, one
    shown only to one role."""

    def extra() -> list[str]:
        return ["view_private_notes"] if rng.random() < 0.5 else []

    roles = [
        {"name": f"{tag}_all", "visibility": "all", "permissions": READ + extra()},
        {"name": f"{tag}_default", "visibility": "default", "permissions": READ + extra()},
        {"name": f"{tag}_own", "visibility": "own", "permissions": READ + extra()},
        {
            "name": f"{tag}_trackers",
            "visibility": rng.choice(["all", "default"]),
            "permissions": READ,
            "trackers": rng.sample([1, 2, 3], rng.choice([0, 1, 2])),
        },
        {"name": f"{tag}_blind", "visibility": "all", "permissions": ["add_issue_notes"]},
    ]
    non_member = {
        "visibility": rng.choice(["all", "default", "own"]),
        "permissions": READ if rng.random() < 0.8 else ["add_issue_notes"],
        "trackers": rng.sample([1, 2, 3], 2) if rng.random() < 0.4 else None,
    }
    fields = [
        {"name": f"{tag}_customer", "for_all": False, "visible": True, "roles": []},
        {"name": f"{tag}_secret", "for_all": True, "visible": False, "roles": [f"{tag}_all"]},
    ]
    return {"roles": roles, "non_member": non_member, "fields": fields}


def build_world(server: Any, seed: int) -> None:
    """Build the seed's world in the server (see the module's docstring)."""
    rng = random.Random(seed)
    tag = world_tag(seed)
    plan = roles_plan(rng, tag)
    ids = json.loads(server.rails(ROLES_SCRIPT.replace("PLAN", json.dumps(plan))).strip())
    server.sql("UPDATE projects SET status = 9")  # earlier worlds: hidden from everyone
    api = Api(server)
    role_ids = [ids[spec["name"]] for spec in plan["roles"]]
    customer, secret = ids[f"{tag}_customer"], ids[f"{tag}_secret"]

    users = []
    for n in range(1, USERS + 1):
        first = rng.choice(["Anna", "Boris", "Анна", "Vera", "Oleg"])
        body = {
            "login": f"{tag}_u{n}",
            "firstname": first,
            "lastname": f"Tester{n}",
            "mail": f"{tag}_u{n}@example.com",
            "password": "rmreads-password-1",
        }
        users.append(api.call("POST", "/users.json", {"user": body})["user"]["id"])
    admin = api.call(
        "POST",
        "/users.json",
        {
            "user": {
                "login": f"{tag}_admin",
                "firstname": "Root",
                "lastname": "Admin",
                "mail": f"{tag}_admin@example.com",
                "password": "rmreads-password-1",
                "admin": True,
            }
        },
    )["user"]["id"]
    groups = []
    for name in (f"{tag} group A", f"{tag} group B"):
        members = rng.sample(users[:-1], 3)
        group = {"name": name, "user_ids": members}
        groups.append(api.call("POST", "/groups.json", {"group": group})["group"]["id"])

    projects: list[dict[str, Any]] = []
    for n in range(1, PROJECTS + 1):
        body: dict[str, Any] = {
            "name": f"{tag} Project {n}" if n % 3 else f"{tag} проект {n}",
            "identifier": f"{tag}-p{n}",
            "is_public": rng.random() < 0.5,
            "tracker_ids": sorted(rng.sample([1, 2, 3], rng.choice([1, 2, 3]))),
            "issue_custom_field_ids": [customer] if rng.random() < 0.6 else [],
        }
        if n == PROJECTS and projects:
            body["parent_id"] = projects[0]["id"]  # a subproject of the first
        created = api.call("POST", "/projects.json", {"project": body})["project"]
        projects.append({**body, "id": created["id"]})
        people = rng.sample(users[:-1], rng.randint(2, 5))  # the last user belongs nowhere
        for user in people:
            membership = {"user_id": user, "role_ids": [rng.choice(role_ids)]}
            if rng.random() < 0.2:
                membership["role_ids"].append(rng.choice(role_ids))
            api.call(
                "POST", f"/projects/{created['id']}/memberships.json", {"membership": membership}
            )
        if rng.random() < 0.4:
            membership = {"user_id": rng.choice(groups), "role_ids": [rng.choice(role_ids)]}
            api.call(
                "POST", f"/projects/{created['id']}/memberships.json", {"membership": membership}
            )

    issues: list[int] = []
    for n in range(ISSUES):
        project = rng.choice(projects)
        fields: dict[str, Any] = {
            "project_id": project["id"],
            "tracker_id": rng.choice(project["tracker_ids"]),
            "subject": " ".join(rng.sample(WORDS, rng.randint(1, 3))) + f" #{n}",
            "priority_id": rng.randint(1, 5),
            "is_private": rng.random() < 0.25,
        }
        if rng.random() < 0.5:
            start = date(2026, 1, 1) + timedelta(days=rng.randint(0, 300))
            fields["start_date"] = start.isoformat()
            fields["due_date"] = (start + timedelta(days=rng.randint(0, 30))).isoformat()
        values = []
        if customer in project["issue_custom_field_ids"] and rng.random() < 0.6:
            values.append({"id": customer, "value": rng.choice(["ACME", "Рога и копыта"])})
        if rng.random() < 0.5:
            values.append({"id": secret, "value": f"secret {n}"})
        if values:
            fields["custom_fields"] = values
        issues.append(api.call("POST", "/issues.json", {"issue": fields})["issue"]["id"])

    for issue in rng.sample(issues, 60):
        change: dict[str, Any] = {"notes": rng.choice(["Looked at it", "Смотрю", ""])}
        roll = rng.random()
        if roll < 0.3:
            change["private_notes"] = True
            change["notes"] = "private: " + change["notes"]
        elif roll < 0.6:
            change["custom_fields"] = [{"id": secret, "value": f"changed {issue}"}]
        elif roll < 0.8:
            change["priority_id"] = rng.randint(1, 5)
        api.call("PUT", f"/issues/{issue}.json", {"issue": change})
    for issue in rng.sample(issues, 20):
        other = rng.choice(issues)
        if other != issue:
            relation = {"issue_to_id": other, "relation_type": "relates"}
            with contextlib.suppress(AssertionError):  # already related the other way round
                api.call("POST", f"/issues/{issue}/relations.json", {"relation": relation})
    for issue in rng.sample(issues, 40):
        api.call("POST", f"/issues/{issue}/watchers.json", {"user_id": rng.choice(users)})

    # what REST cannot say: whose the issues are, where they stand, what became of projects
    statuses = [row[0] for row in server.sql("SELECT id FROM issue_statuses")]
    closed = {row[0] for row in server.sql("SELECT id FROM issue_statuses WHERE is_closed = 1")}
    people = [*users, *groups, admin]
    changes = []
    for issue in issues:
        status = rng.choice(statuses)
        when = datetime(2026, 11, 1) + timedelta(minutes=rng.randint(0, 50_000))
        changes.append(
            {
                "author": rng.choice([*users, admin]),
                "assignee": rng.choice(people) if rng.random() < 0.7 else None,
                "status": status,
                "closed_on": when if status in closed else None,
                "updated": when + timedelta(minutes=rng.randint(0, 600)),
                "ratio": rng.choice([0, 10, 50, 100]),
                "id": issue,
            }
        )
    engine = create_engine(server.db_url)
    with engine.begin() as connection:  # one statement, all issues
        connection.execute(
            text(
                """UPDATE issues SET author_id = :author, assigned_to_id = :assignee,
                status_id = :status, closed_on = :closed_on, updated_on = :updated,
                done_ratio = :ratio WHERE id = :id"""
            ),
            changes,
        )
    engine.dispose()
    archived, closed_project, module_off, public_one = (
        projects[1]["id"],
        projects[2]["id"],
        projects[3]["id"],
        next((p["id"] for p in projects[4:] if p["is_public"]), projects[4]["id"]),
    )
    server.sql("UPDATE projects SET status = 9 WHERE id = :id", id=archived)
    server.sql("UPDATE projects SET status = 5 WHERE id = :id", id=closed_project)
    server.sql(
        "DELETE FROM enabled_modules WHERE project_id = :id AND name = 'issue_tracking'",
        id=module_off,
    )
    server.sql("UPDATE projects SET is_public = 1 WHERE id = :id", id=public_one)
    server.sql(
        """INSERT INTO members (user_id, project_id, created_on, mail_notification)
        VALUES (:group, :project, NOW(), 0)""",
        group=ids["GroupNonMember"],
        project=public_one,
    )
    server.sql(
        """INSERT INTO member_roles (member_id, role_id) SELECT id, :role FROM members
        WHERE user_id = :group AND project_id = :project""",
        role=rng.choice(role_ids),
        group=ids["GroupNonMember"],
        project=public_one,
    )
