"""The declared shapes of the account routes' JSON: sign-in and personal tokens (their forms
validate the input; these models describe it for the API document and build the answers)."""

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
