"""The declared shapes of the account routes' JSON: sign-in, registration, profile, passwords and
personal tokens (their forms validate the input; these models describe it for the API document
and build the answers)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints


class LoginIn(BaseModel):
    """POST /users/login as JSON (or a form): username or e-mail, password, remember me."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    remember: bool = False


class LoginOut(BaseModel):
    """The seed's answer to a JSON sign-in."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    message: str
    redirect: str


class TokenIn(BaseModel):
    """POST /users/tokens as JSON: the new token's name."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)]


class TokenOut(BaseModel):
    """A new personal token, shown this once."""

    model_config = ConfigDict(extra="forbid")

    id: int
    name: str
    token: str


class TokenCreatedOut(BaseModel):
    """POST /users/tokens's JSON answer."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    data: TokenOut


Username = Annotated[
    str, StringConstraints(min_length=3, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")
]
Email = Annotated[str, StringConstraints(min_length=1, max_length=120)]
Password = Annotated[str, StringConstraints(min_length=1)]


class RegisterIn(BaseModel):
    """POST /users/register as JSON (or a form): a new local account."""

    username: Username
    email: Email
    password: Password
    confirm_password: Password
    full_name: Annotated[str | None, StringConstraints(max_length=255)] = None
    department: Annotated[str | None, StringConstraints(max_length=120)] = None
    position: Annotated[str | None, StringConstraints(max_length=120)] = None


class AccountIn(BaseModel):
    """POST /users/account as JSON (or a form, with a picture): fields left out keep their value."""

    username: Username | None = None
    email: Email | None = None
    full_name: Annotated[str | None, StringConstraints(max_length=255)] = None
    department: Annotated[str | None, StringConstraints(max_length=120)] = None
    position: Annotated[str | None, StringConstraints(max_length=120)] = None
    office: Annotated[str | None, StringConstraints(max_length=120)] = None
    phone: Annotated[str | None, StringConstraints(max_length=30)] = None
    language: Literal["", "ru", "en"] | None = None
    timezone: str | None = None  # an IANA zone, or "" for the company's


class PasswordChangeIn(BaseModel):
    """POST /users/password as JSON (or a form)."""

    current_password: Password
    new_password: Password
    confirm_password: Password


class ForgotPasswordIn(BaseModel):
    """POST /users/password/forgot as JSON (or a form)."""

    login: Annotated[str, StringConstraints(min_length=1, max_length=120)]


class ResetPasswordIn(BaseModel):
    """POST /users/password/reset/<token> as JSON (or a form)."""

    new_password: Password
    confirm_password: Password


class UserOut(BaseModel):
    """A profile as API clients see it (User.to_dict: never the password or the Redmine key)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    username: str
    email: str
    full_name: str | None
    department: str | None
    position: str | None
    office: str | None
    phone: str | None
    manager: str | None
    hire_date: str | None
    image_file: str | None
    language: str | None
    timezone: str | None
    is_admin: bool
    is_redmine_user: bool
    can_access_quality_control: bool
    can_access_contact_center_moscow: bool
    can_post_announcements: bool
    browser_notifications_enabled: bool
    notifications_widget_enabled: bool
    redmine_username: str | None
    has_redmine_api_key: bool
    auth_source: str
    locked: bool


class MessageOut(BaseModel):
    """A success that only says so: log out, passwords, token revoked."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    message: str


class AccountOut(BaseModel):
    """An account's profile (a message after a change; none when only read)."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]
    message: str | None = None
    data: UserOut

    def answer(self) -> dict[str, object]:
        """The JSON document: the message only when there is one, as the seed answers."""
        return self.model_dump(exclude_unset=True)
