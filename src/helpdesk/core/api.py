"""The JSON API's plumbing: the seed's envelope, validated bodies and query strings, dates."""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any, TypeVar

import pydantic_core
from flask import Flask, Response, g, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError

from helpdesk.core.errors import APIException
from helpdesk.core.openapi import check_declared

M = TypeVar("M", bound=BaseModel)


COMPACT = {"separators": (",", ":")}  # what DefaultJSONProvider.response asks dumps for


class FastJSON(DefaultJSONProvider):
    """Flask's JSON written by pydantic-core, which the schemas already use, and faster than the
    standard library. Keys keep the order the code gave them and text stays UTF-8 (also on the
    standard library's path); dates and times come out in ISO 8601 (the API formats its own
    with iso()); other types as Flask would."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Compact JSON from pydantic-core (what jsonify asks for outside debug mode); other
        options (indented in debug mode) go to the standard library."""
        if kwargs and kwargs != COMPACT:
            return super().dumps(obj, **kwargs)
        return pydantic_core.to_json(obj, fallback=self.default).decode()


def register_json(app: Flask) -> None:
    """Answer JSON through FastJSON."""
    app.json = FastJSON(app)


def envelope(
    data: Any = None, message: str | None = None, status: int = 200, **extra: Any
) -> Response:
    """The seed's success document with the time the request took (extra keys at the top)."""
    body: dict[str, Any] = {"success": True}
    if message is not None:
        body["message"] = message
    body["data"] = data
    body.update(extra)
    body["execution_time"] = round(
        time.perf_counter() - g.get("start_time", time.perf_counter()), 4
    )
    response = jsonify(body)
    response.status_code = status
    return response


def parse_body(model: type[M]) -> M:
    """Validate the JSON body: 415 if it is not JSON, 400 if malformed, 422 if fields are wrong."""
    check_declared(model, "body")
    if not request.is_json:
        raise APIException(_("Send a JSON body with Content-Type: application/json."), 415)
    try:
        return model.model_validate_json(request.get_data() or b"")
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise APIException(_("The request body is not valid JSON."), 400) from error
        raise APIException(
            _("Some fields are invalid."), 422, {"errors": errors_by_field(error)}
        ) from error


def parse_form(model: type[M], data: dict[str, Any]) -> M:
    """Validate fields sent as a form (text: numbers and dates are read from it); 422 if fields
    are wrong."""
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as error:
        raise APIException(
            _("Some fields are invalid."), 422, {"errors": errors_by_field(error)}
        ) from error


def parse_args(model: type[M]) -> M:
    """Validate query parameters; 400 names the offending parameter."""
    check_declared(model, "query")
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise APIException(
            _("Invalid query parameters."), 400, {"errors": errors_by_field(error)}
        ) from error


def _message(item: Any) -> str:
    """A pydantic error in the user's language; our own validators' messages are translated."""
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "value_error":
        return str(item["msg"]).removeprefix("Value error, ")
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        kind = "missing"
    messages = {
        "missing": lambda: _("This field is required."),
        "int_type": lambda: _("Must be a whole number."),
        "int_parsing": lambda: _("Must be a whole number."),
        "int_from_float": lambda: _("Must be a whole number."),
        "float_type": lambda: _("Must be a number."),
        "float_parsing": lambda: _("Must be a number."),
        "bool_type": lambda: _("Must be true or false."),
        "bool_parsing": lambda: _("Must be true or false."),
        "string_type": lambda: _("Must be text."),
        "date_type": lambda: _("Use a date like 2024-01-31."),
        "date_parsing": lambda: _("Use a date like 2024-01-31."),
        "date_from_datetime_parsing": lambda: _("Use a date like 2024-01-31."),
        "date_from_datetime_inexact": lambda: _("Use a date like 2024-01-31."),
        "list_type": lambda: _("Must be a list."),
        "model_type": lambda: _("Must be an object."),
        "model_attributes_type": lambda: _("Must be an object."),
        "dict_type": lambda: _("Must be an object."),
        "greater_than": lambda: _("Must be greater than %(limit)s.", limit=ctx.get("gt")),
        "greater_than_equal": lambda: _("Must be at least %(limit)s.", limit=ctx.get("ge")),
        "less_than_equal": lambda: _("Must be at most %(limit)s.", limit=ctx.get("le")),
        "string_too_long": lambda: _(
            "Use at most %(count)s characters.", count=ctx.get("max_length")
        ),
        "too_long": lambda: _("Send at most %(count)s items.", count=ctx.get("max_length")),
        "too_short": lambda: _("Send at least %(count)s items.", count=ctx.get("min_length")),
        "literal_error": lambda: _("Use one of: %(values)s.", values=ctx.get("expected")),
        "extra_forbidden": lambda: _("There is no such field."),
    }
    return str(messages[kind]()) if kind in messages else str(item["msg"])


def errors_by_field(error: ValidationError) -> dict[str, list[str]]:
    """Pydantic errors keyed by field path ("custom_fields.0.id"); model-level ones by prefix."""
    fields: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"] if not _is_type_tag(part)) or "body"
        message = _message(item)
        if item["type"] == "value_error" and location == "body" and ": " in message:
            prefix, _sep, rest = message.partition(": ")
            if prefix.isidentifier():
                location, message = prefix, rest
        if message not in fields.get(location, []):
            fields.setdefault(location, []).append(message)
    return fields


def _is_type_tag(part: Any) -> bool:
    """Union members add their type to an error's location ("assigned_to.literal[...]")."""
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "float", "bool"})


def iso(value: date | datetime | None) -> str | None:
    """ISO text for a date, or a UTC timestamp with Z for a datetime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    return value.isoformat()
