"""Forms of the project, member and role administration pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, Regexp

from helpdesk.core.forms import BaseForm


class ProjectForm(BaseForm):
    """A project's identifier (for URLs and filters), name and description."""

    identifier = StringField(
        _l("Identifier"),
        validators=[
            InputRequired(),
            Length(max=100),
            Regexp(
                r"^[a-z][a-z0-9_-]*$",
                message=_l("Use lower-case letters, digits, dash or underscore, from a letter on."),
            ),
        ],
    )
    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=255)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10_000)])


class ProjectEditForm(BaseForm):
    """A project's name and description (the identifier stays)."""

    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=255)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=10_000)])


class MemberForm(BaseForm):
    """Add a member by username, with a role."""

    username = StringField(_l("Username"), validators=[InputRequired(), Length(max=60)])
    role_id = IntegerField(
        _l("Role"), validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)]
    )


class RoleChoiceForm(BaseForm):
    """Give a member another role."""

    role_id = IntegerField(
        _l("Role"), validators=[InputRequired(), NumberRange(min=1, max=2**31 - 1)]
    )


class RoleForm(BaseForm):
    """A new role."""

    name = StringField(_l("Name"), validators=[InputRequired(), Length(max=60)])
    can_be_assigned = BooleanField(_l("Tasks can be assigned to it"), default=True)


class CsrfOnlyForm(BaseForm):
    """Nothing but the CSRF check, for pages whose fields are read otherwise."""
