"""Redmine's visibility rules over its own tables, implemented once and named as Redmine names
them (Redmine 5.0: Project.allowed_to_condition and Issue.visible_condition, User#allowed_to?,
User#project_ids_by_role, User#roles_for_project), so a read from the database shows a user
exactly what Redmine's REST API would show them.

A Principal is what those rules need to know of one user: their admin flag, groups, the roles
they hold by project (their own and their groups' memberships, which Redmine copies onto the
user), the Non-member group's roles on public projects and every role's permissions, issue
visibility and tracker limits. It is read with three small queries; the conditions are then SQL
over `issues` joined to `projects`, as Redmine builds them.

The helpdesk always acts as a signed-in Redmine user, so the builtin role that applies beside
their memberships is Non member (Redmine's Anonymous role only ever applies to nobody signed in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from sqlalchemy import Connection, and_, exists, false, literal, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from helpdesk.integrations.redmine.tables import (
    enabled_modules,
    groups_users,
    issues,
    member_roles,
    members,
    projects,
    roles,
    users,
)

PROJECT_ACTIVE, PROJECT_CLOSED, PROJECT_ARCHIVED = 1, 5, 9  # Project::STATUS_*
USER_ACTIVE = 1  # Principal::STATUS_ACTIVE
BUILTIN_NON_MEMBER = 1  # Role::BUILTIN_NON_MEMBER; 0 is a role given to members


@dataclass(frozen=True, slots=True)
class Permission:
    """What Redmine's access control says of a permission (lib/redmine/preparation.rb)."""

    module: str | None  # the project module that must be enabled
    read: bool  # allowed on closed projects too
    public: bool = False  # every role has it


PERMISSIONS = {
    "view_project": Permission(None, read=True, public=True),
    "view_issues": Permission("issue_tracking", read=True),
    "view_private_notes": Permission("issue_tracking", read=True),
}


class RubyYamlLoader(yaml.SafeLoader):
    """YAML as Rails writes it: Ruby's tagged hashes (HashWithIndifferentAccess) read as plain
    mappings, anything else tagged as plain data; nothing is ever instantiated."""


def plain_node(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    """A Ruby-tagged node as the plain mapping, list or string it holds."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


RubyYamlLoader.add_multi_constructor("!ruby/", plain_node)


def ruby_yaml(text: str | None) -> Any:
    """A YAML column of Redmine's (None when empty)."""
    return yaml.load(text, Loader=RubyYamlLoader) if text else None  # noqa: S506 (a SafeLoader)


@dataclass(frozen=True, slots=True)
class Role:
    """One of Redmine's roles, as its visibility rules read it."""

    id: int
    builtin: int
    permissions: frozenset[str]
    issues_visibility: str
    all_trackers: dict[str, str]  # permission -> "0" when limited to some trackers
    tracker_ids: dict[str, tuple[int, ...]]  # permission -> the trackers it is limited to

    @classmethod
    def of(cls, row: Any) -> Role:
        """A row of the roles table (parsed once per distinct text: YAML is slow to read)."""
        return parsed_role(
            row.id, row.builtin, row.permissions, row.issues_visibility, row.settings
        )

    @classmethod
    def parse(
        cls, id: int, builtin: Any, permissions: str | None, visibility: Any, text: str | None
    ) -> Role:
        """A role from its columns."""
        names = ruby_yaml(permissions) or []
        settings = ruby_yaml(text) or {}
        all_trackers = settings.get("permissions_all_trackers") or {}
        tracker_ids = settings.get("permissions_tracker_ids") or {}
        return cls(
            id=id,
            builtin=int(builtin or 0),
            permissions=frozenset(str(name).lstrip(":") for name in names),
            issues_visibility=str(visibility or ""),
            all_trackers={str(k): str(v) for k, v in all_trackers.items()},
            tracker_ids={
                str(k): tuple(int(str(t)) for t in as_list(v) if str(t).strip().isdigit())
                for k, v in tracker_ids.items()
            },
        )

    @property
    def member(self) -> bool:
        """Role#member?: a role given to members (not a builtin one)."""
        return self.builtin == 0

    def allowed_to(self, permission: str) -> bool:
        """Role#allowed_to?: granted, or public."""
        return permission in self.permissions or PERMISSIONS[permission].public

    def trackers_for(self, permission: str) -> tuple[int, ...] | None:
        """Role#permissions_tracker_ids for a permission limited to some trackers; None when
        Role#permissions_all_trackers? (the default)."""
        if self.all_trackers.get(permission, "") != "0":
            return None
        return self.tracker_ids.get(permission, ())


@lru_cache(maxsize=512)
def parsed_role(
    id: int, builtin: Any, permissions: str | None, visibility: Any, settings: str | None
) -> Role:
    """Role.parse, remembered by the role's stored text (so always the role as it is now)."""
    return Role.parse(id, builtin, permissions, visibility, settings)


def as_list(value: Any) -> list[Any]:
    """Ruby's Array(value)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(frozen=True, slots=True)
class ProjectFacts:
    """What User#allowed_to? reads of a project."""

    id: int
    status: int
    is_public: bool
    modules: frozenset[str]

    def allows_to(self, permission: str) -> bool:
        """Project#allows_to?: never when archived, only reading when closed, and only with
        the permission's module enabled."""
        rule = PERMISSIONS[permission]
        if self.status == PROJECT_ARCHIVED:
            return False
        if self.status != PROJECT_ACTIVE and not rule.read:
            return False
        return rule.module is None or rule.module in self.modules


@dataclass(frozen=True, slots=True)
class Principal:
    """A signed-in Redmine user as Redmine's visibility rules see them."""

    id: int
    admin: bool
    group_ids: tuple[int, ...]
    non_member_group_id: int | None
    roles: dict[int, Role]  # every role, by id
    own_roles: dict[int, tuple[int, ...]]  # project -> role ids of the user's own membership
    non_member_roles: dict[int, tuple[int, ...]]  # public project -> the Non-member group's roles
    project_ids_by_role: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def builtin_role(self) -> Role | None:
        """User#builtin_role: Non member, for anyone signed in."""
        return next((r for r in self.roles.values() if r.builtin == BUILTIN_NON_MEMBER), None)

    def roles_for_project(self, project: ProjectFacts) -> list[Role]:
        """User#roles_for_project: the membership's roles, else on a public project the
        Non-member group's roles there or the Non member role."""
        if project.status == PROJECT_ARCHIVED:
            return []
        if project.id in self.own_roles:
            return [self.roles[r] for r in self.own_roles[project.id] if r in self.roles]
        if project.is_public:
            if project.id in self.non_member_roles:
                return [self.roles[r] for r in self.non_member_roles[project.id] if r in self.roles]
            builtin = self.builtin_role
            return [builtin] if builtin else []
        return []

    def allowed_to(
        self,
        permission: str,
        project: ProjectFacts,
        rule: Callable[[Role], bool] | None = None,
    ) -> bool:
        """User#allowed_to? in a project (rule: the block some callers give)."""
        if not project.allows_to(permission):
            return False
        if self.admin:
            return True
        return any(
            (project.is_public or role.member)
            and role.allowed_to(permission)
            and (rule is None or rule(role))
            for role in self.roles_for_project(project)
        )

    def allowed_globally(self, permission: str) -> bool:
        """User#allowed_to? with global: true: any role of theirs, or Non member, has it."""
        if self.admin:
            return True
        held = {r for role_ids in self.own_roles.values() for r in role_ids}
        candidates = [self.roles[r] for r in held if r in self.roles]
        builtin = self.builtin_role
        return any(role.allowed_to(permission) for role in [*candidates, *filter(None, [builtin])])


def load_principal(connection: Connection, user_id: int) -> Principal | None:
    """The principal of an active Redmine user (None: no such user, locked, or not a user)."""
    user = connection.execute(
        select(users.c.id, users.c.admin, users.c.status, users.c.type).where(users.c.id == user_id)
    ).first()
    if user is None or user.type != "User" or int(user.status) != USER_ACTIVE:
        return None
    group_ids = tuple(
        sorted(
            connection.scalars(
                select(groups_users.c.group_id).where(groups_users.c.user_id == user_id)
            )
        )
    )
    non_member_group = connection.scalar(
        select(users.c.id).where(users.c.type == "GroupNonMember").order_by(users.c.id).limit(1)
    )
    rows = connection.execute(
        select(members.c.user_id, member_roles.c.role_id, members.c.project_id)
        .join(projects, projects.c.id == members.c.project_id)
        .join(member_roles, member_roles.c.member_id == members.c.id)
        .where(projects.c.status != PROJECT_ARCHIVED)
        .where(
            or_(
                members.c.user_id == user_id,
                and_(projects.c.is_public == true(), members.c.user_id == non_member_group),
            )
        )
        .order_by(member_roles.c.id)
    ).all()
    all_roles = {
        row.id: Role.of(row)
        for row in connection.execute(
            select(
                roles.c.id,
                roles.c.builtin,
                roles.c.permissions,
                roles.c.issues_visibility,
                roles.c.settings,
            )
        )
    }
    own: dict[int, list[int]] = {}
    non_member: dict[int, list[int]] = {}
    for row in rows:
        target = own if row.user_id == user_id else non_member
        held = target.setdefault(row.project_id, [])
        if row.role_id not in held:
            held.append(row.role_id)
    # the Non-member group's roles give way where the user is a member themselves
    granted = [*own.items(), *((p, r) for p, r in non_member.items() if p not in own)]
    by_role: dict[int, list[int]] = {}
    for project_id, role_ids in granted:
        for role_id in role_ids:
            by_role.setdefault(role_id, []).append(project_id)
    return Principal(
        id=int(user.id),
        admin=bool(user.admin),
        group_ids=group_ids,
        non_member_group_id=non_member_group,
        roles=all_roles,
        own_roles={p: tuple(r) for p, r in own.items()},
        non_member_roles={p: tuple(r) for p, r in non_member.items()},
        project_ids_by_role={
            role_id: tuple(dict.fromkeys(ids))
            for role_id, ids in by_role.items()
            if role_id in all_roles
        },
    )


def load_project(connection: Connection, project_id: int) -> ProjectFacts | None:
    """A project's status, publicity and enabled modules (None: no such project)."""
    row = connection.execute(
        select(projects.c.id, projects.c.status, projects.c.is_public).where(
            projects.c.id == project_id
        )
    ).first()
    if row is None:
        return None
    modules = connection.scalars(
        select(enabled_modules.c.name).where(enabled_modules.c.project_id == project_id)
    )
    return ProjectFacts(int(row.id), int(row.status), bool(row.is_public), frozenset(modules))


IssueRule = Callable[[Role], ColumnElement[bool]]


def allowed_to_condition(
    principal: Principal, permission: str, rule: IssueRule | None = None
) -> ColumnElement[bool]:
    """Project.allowed_to_condition: SQL over `projects` for where the principal holds the
    permission (rule: the block, a further condition per role)."""
    perm = PERMISSIONS[permission]
    if perm.read:
        base: ColumnElement[bool] = projects.c.status != PROJECT_ARCHIVED
    else:
        base = projects.c.status == PROJECT_ACTIVE
    if perm.module:
        base = and_(
            base,
            exists(
                select(literal(1)).where(
                    enabled_modules.c.project_id == projects.c.id,
                    enabled_modules.c.name == perm.module,
                )
            ),
        )
    if principal.admin:
        return base
    by_role: dict[int, ColumnElement[bool]] = {}
    builtin = principal.builtin_role
    if builtin is not None and builtin.allowed_to(permission):
        principal_ids = [p for p in (principal.id, principal.non_member_group_id) if p is not None]
        by_role[builtin.id] = and_(
            projects.c.is_public == true(),
            projects.c.id.not_in(
                select(members.c.project_id).where(members.c.user_id.in_(principal_ids))
            ),
        )
    for role_id, project_ids in principal.project_ids_by_role.items():
        role = principal.roles[role_id]
        if role.allowed_to(permission) and project_ids:
            by_role[role_id] = projects.c.id.in_(project_ids)
    if not by_role:
        return false()
    if rule is not None:
        by_role = {rid: and_(s, rule(principal.roles[rid])) for rid, s in by_role.items()}
    return and_(base, or_(*by_role.values()))


def issue_rule(principal: Principal) -> IssueRule:
    """The block of Issue.visible_condition: which issues a role shows in its projects."""
    people = [principal.id, *principal.group_ids]

    def rule(role: Role) -> ColumnElement[bool]:
        """A role's issues_visibility, then its tracker limit for view_issues."""
        condition: ColumnElement[bool]
        if role.issues_visibility == "all":
            condition = true()
        elif role.issues_visibility == "default":
            condition = or_(
                issues.c.is_private == false(),
                issues.c.author_id == principal.id,
                issues.c.assigned_to_id.in_(people),
            )
        elif role.issues_visibility == "own":
            condition = or_(issues.c.author_id == principal.id, issues.c.assigned_to_id.in_(people))
        else:
            condition = false()
        trackers = role.trackers_for("view_issues")
        if trackers is not None:
            condition = and_(condition, issues.c.tracker_id.in_(trackers)) if trackers else false()
        return condition

    return rule


def visible_condition(principal: Principal) -> ColumnElement[bool]:
    """Issue.visible_condition: SQL over `issues` joined to `projects` for the issues the
    principal may see."""
    return allowed_to_condition(principal, "view_issues", issue_rule(principal))


def visible_projects_condition(principal: Principal) -> ColumnElement[bool]:
    """Project.visible: the projects the principal may see (view_project is every role's)."""
    return allowed_to_condition(principal, "view_project")
