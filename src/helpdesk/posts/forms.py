"""The announcement form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from helpdesk.core.forms import BaseForm

MAX_CONTENT_CHARS = 20_000


class PostForm(BaseForm):
    """Title, text and an optional image."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=100)])
    content = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=MAX_CONTENT_CHARS)])
    picture = FileField(_l("Image"))
    remove_picture = BooleanField(_l("Remove the image"))
