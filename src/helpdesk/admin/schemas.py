"""The declared shapes of the administration routes' JSON (their forms validate the input;
these models describe it for the API document and build the answers)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from helpdesk.users.schemas import Email, Username, UserOut

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Description = Annotated[str | None, StringConstraints(max_length=10_000)]


class PermissionsIn(BaseModel):
    """POST /admin/users/<id> as JSON: only the flags sent change (true or false)."""

    is_admin: bool | None = None
    is_redmine_user: bool | None = None
    can_access_quality_control: bool | None = None
    can_access_contact_center_moscow: bool | None = None
    can_post_announcements: bool | None = None


class NewUserIn(PermissionsIn):
    """POST /admin/users as JSON: the account, where it signs in, and its permission flags."""

    username: Username
    email: Email
    auth_source: Annotated[str, StringConstraints(min_length=1)]  # one of AUTH_PROVIDERS
    full_name: Annotated[str | None, StringConstraints(max_length=255)] = None
    department: Annotated[str | None, StringConstraints(max_length=120)] = None
    position: Annotated[str | None, StringConstraints(max_length=120)] = None
    send_link: bool = False


class PasswordResetIn(BaseModel):
    """POST /admin/users/<id>/password as JSON: e-mail a link instead of a temporary password."""

    send_link: bool = False


class AccountDoneOut(BaseModel):
    """An administrator's change to an account (data: the account; null once deleted); a new
    temporary password comes once, only when one was made."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    message: str
    data: UserOut | None
    temporary_password: str | None = None

    def answer(self) -> dict[str, object]:
        """The JSON document: temporary_password only when there is one."""
        return self.model_dump(exclude_unset=True)


class ProjectIn(BaseModel):
    """POST /admin/projects as JSON."""

    identifier: Annotated[
        str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_-]*$")
    ]
    name: Name
    description: Description = None


class ProjectEditIn(BaseModel):
    """POST /admin/projects/<id> as JSON: a new name and description."""

    name: Name
    description: Description = None


class RoleChoiceIn(BaseModel):
    """POST /admin/projects/<id>/members/<user_id> as JSON: the member's new role."""

    role_id: Annotated[int, Field(ge=1, le=2**31 - 1)]


class MemberIn(RoleChoiceIn):
    """POST /admin/projects/<id>/members as JSON: who joins, with which role."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class RoleIn(BaseModel):
    """POST /admin/roles as JSON."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    can_be_assigned: bool = True


class WorkflowIn(BaseModel):
    """POST /admin/roles/<id>/workflow as JSON: every allowed [from, to] status move (none:
    any move)."""

    transitions: list[tuple[int, int]]


class AdminProjectOut(BaseModel):
    """A project as JSON clients get it."""

    model_config = ConfigDict(extra="forbid")

    id: int
    identifier: str
    name: str
    description: str | None


class MembershipOut(BaseModel):
    """A membership: the user and their role in the project."""

    model_config = ConfigDict(extra="forbid")

    user_id: int
    role_id: int


class RoleOut(BaseModel):
    """A new role."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    can_be_assigned: bool


class WorkflowOut(BaseModel):
    """A role's saved workflow: its allowed [from, to] moves, sorted."""

    model_config = ConfigDict(extra="forbid")

    role_id: int
    transitions: list[tuple[int, int]]


class StructureDoneOut(BaseModel):
    """A change to projects, members, roles or workflows: what it made (null when removed)."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    message: str
    data: AdminProjectOut | MembershipOut | RoleOut | WorkflowOut | None
