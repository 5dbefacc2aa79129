"""Account forms; each validates its own fields and names the offending one."""

from __future__ import annotations

from functools import cache
from typing import Any
from zoneinfo import available_timezones

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from helpdesk.core.forms import BaseForm
from helpdesk.users import service

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms < 3.3 takes (value, label) tuples, deprecated from 3.3 on
    SelectChoice = None

USERNAME_RULES = [
    Length(min=3, max=60),  # the longest Redmine login
    Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Use letters, digits, dot, dash or underscore only.")),
]


def choice(value: str, label: Any) -> Any:
    """A select option in the form this WTForms version expects."""
    return SelectChoice(value, label) if SelectChoice else (value, label)


PHONE_RULES = [
    Optional(),
    Length(max=30),
    Regexp(r"^[0-9+()\- .]*$", message=_l("Use digits, spaces and + - ( ) only.")),
]


def strong_password(form: BaseForm, field: Any) -> None:
    """Reject passwords that are short, too long for bcrypt, numeric only or common."""
    username_field = getattr(form, "username", None)
    if username_field is not None:
        username = username_field.data
    else:  # a form about an account other than (or without) the signed-in user's names it
        username = getattr(form, "account_username", None) or current_user.username
    problem = service.password_problem(field.data or "", username)
    if problem:
        raise ValidationError(problem)


class LoginForm(BaseForm):
    """Sign in with username or e-mail."""

    username = StringField(_l("Username or e-mail"), validators=[InputRequired(), Length(max=120)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=128)])
    remember = BooleanField(_l("Remember me"))


class RegistrationForm(BaseForm):
    """A new local account; whether its username or e-mail is taken is the view's one question
    (users/views.py register), answered alike for both."""

    username = StringField(_l("Username"), validators=[InputRequired(), *USERNAME_RULES])
    email = StringField(_l("E-mail"), validators=[InputRequired(), Length(max=120), Email()])
    password = PasswordField(_l("Password"), validators=[InputRequired(), strong_password])
    confirm_password = PasswordField(
        _l("Confirm password"),
        validators=[InputRequired(), EqualTo("password", message=_l("Passwords do not match."))],
    )
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=255)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])
    position = StringField(_l("Position"), validators=[Optional(), Length(max=120)])


class AccountForm(BaseForm):
    """The user's own profile; fields left out of a request keep their current value."""

    username = StringField(_l("Username"), validators=[DataRequired(), *USERNAME_RULES])
    email = StringField(_l("E-mail"), validators=[DataRequired(), Length(max=120), Email()])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=255)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])
    position = StringField(_l("Position"), validators=[Optional(), Length(max=120)])
    office = StringField(_l("Office"), validators=[Optional(), Length(max=120)])
    phone = StringField(_l("Phone"), validators=PHONE_RULES)
    language = SelectField(
        _l("Language"),
        choices=[
            choice("", _l("Browser default")),
            choice("ru", "Русский"),
            choice("en", "English"),
        ],
        validate_choice=True,
    )
    timezone = SelectField(_l("Time zone"), validate_choice=True)
    picture = FileField(_l("Profile picture"))

    def __init__(self, user: Any, **kwargs: Any):
        super().__init__(obj=user, **kwargs)
        self._user = user
        if self.language.data is None:
            self.language.data = ""
        company = current_app.config["DISPLAY_TIMEZONE"]
        default = choice("", _l("The company's (%(zone)s)", zone=company))
        self.timezone.choices = [default, *((zone, zone) for zone in time_zones())]
        if self.timezone.data is None:
            self.timezone.data = ""

    def validate_username(self, field: Any) -> None:
        """Another user's username cannot be taken over."""
        if service.username_taken(field.data, exclude_id=self._user.id):
            raise ValidationError(_l("This username is already taken."))

    def validate_email(self, field: Any) -> None:
        """Another user's e-mail cannot be taken over."""
        if service.email_taken(field.data, exclude_id=self._user.id):
            raise ValidationError(_l("This e-mail is already registered."))


@cache
def time_zones() -> list[str]:
    """The IANA time zones a user may choose, read once."""
    return sorted(available_timezones())


class NewPasswordForm(BaseForm):
    """A new password, typed twice."""

    new_password = PasswordField(_l("New password"), validators=[InputRequired(), strong_password])
    confirm_password = PasswordField(
        _l("Confirm new password"),
        validators=[
            InputRequired(),
            EqualTo("new_password", message=_l("Passwords do not match.")),
        ],
    )


class PasswordChangeForm(NewPasswordForm):
    """Change one's own password; every other session of the user ends."""

    current_password = PasswordField(_l("Current password"), validators=[InputRequired()])


class PermissionsForm(BaseForm):
    """An admin sets a user's permission flags."""

    is_admin = BooleanField(_l("Administrator"))
    is_redmine_user = BooleanField(_l("Task user"))
    can_access_quality_control = BooleanField(_l("Quality control"))
    can_access_contact_center_moscow = BooleanField(_l("Contact center (Moscow)"))
    can_post_announcements = BooleanField(_l("Announcements"))


class ForgotPasswordForm(BaseForm):
    """Ask for a password reset link by username or e-mail."""

    login = StringField(_l("Username or e-mail"), validators=[InputRequired(), Length(max=120)])


class ResetPasswordForm(NewPasswordForm):
    """Choose a new password through a reset link."""

    def __init__(self, user: Any, **kwargs: Any):
        """The user whose name the strength check compares against."""
        super().__init__(**kwargs)
        self.account_username = user.username


class NewUserForm(BaseForm):
    """An administrator adds an account; where it signs in decides whether it has a password
    here (the choices are the configured AUTH_PROVIDERS, set by the view)."""

    username = StringField(_l("Username"), validators=[InputRequired(), *USERNAME_RULES])
    email = StringField(_l("E-mail"), validators=[InputRequired(), Length(max=120), Email()])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=255)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])
    position = StringField(_l("Position"), validators=[Optional(), Length(max=120)])
    auth_source = SelectField(_l("Signs in with"), validate_choice=True)
    send_link = BooleanField(_l("E-mail a link to choose a password (instead of a temporary one)"))
