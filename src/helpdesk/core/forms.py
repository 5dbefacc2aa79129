"""A form base that takes form posts and JSON bodies alike, with CSRF only where it protects."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict, MultiDict

from helpdesk.core.errors import APIException
from helpdesk.core.security import ORIGIN_CHECKED_ONLY, is_browser_request


def json_formdata() -> ImmutableMultiDict[str, Any]:
    """A JSON object as form data: scalars become strings, anything nested is refused by name."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise APIException(_("The request body must be a JSON object."), 400)
    items: list[tuple[str, str]] = []
    for name, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool):
            items.append((name, "y" if value else ""))
        elif isinstance(value, str | int | float):
            items.append((name, str(value)))
        else:
            raise APIException(
                _("Field %(name)s must be a string, number or boolean.", name=name),
                422,
                {"errors": {name: [_("Must be a string, number or boolean.")]}},
            )
    return ImmutableMultiDict(items)


class BaseForm(FlaskForm):
    """Every form of the helpdesk: CSRF-protected in browsers, JSON-capable for API clients."""

    class Meta(FlaskForm.Meta):
        @property
        def csrf(self) -> bool:
            """Browser forms need the token; JSON, scripts and the forms of signed-out visitors
            are covered by the origin guard."""
            enabled = bool(current_app.config.get("WTF_CSRF_ENABLED", True))
            if request.endpoint in ORIGIN_CHECKED_ONLY:
                return False
            return enabled and is_browser_request() and not request.is_json

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            """Read the form body, or the JSON body converted field by field."""
            if formdata is None or hasattr(formdata, "getlist"):
                return formdata
            if request.method not in {"POST", "PUT", "PATCH", "DELETE"}:
                return None
            if request.is_json:
                return json_formdata()
            if request.files:
                return CombinedMultiDict((request.files, request.form))
            return request.form if request.form else MultiDict()

    def errors_by_field(self) -> dict[str, list[str]]:
        """Validation errors keyed by field name, as JSON clients receive them."""
        return {
            name: [str(message) for message in messages] for name, messages in self.errors.items()
        }
