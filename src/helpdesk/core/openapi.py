"""The OpenAPI 3.1 document of the JSON routes, built from the pydantic models that validate their
input and build their answers, so the document cannot drift from what the API does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Flask, current_app, request
from pydantic import BaseModel, ConfigDict, TypeAdapter
from werkzeug.routing import Rule

Access = Literal["public", "session", "token", "admin"]
F = TypeVar("F", bound=Callable[..., Any])

REF = "#/components/schemas/{model}"
JSON = "application/json"
MULTIPART = "multipart/form-data"
PATH_PART = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")

# What may answer an operation besides its success: by what it reads and who may call it
STATUS_TEXT = {
    400: "Malformed request: bad JSON, bad query parameters (`errors` names them)",
    401: "Not signed in",
    403: "Not allowed: no task access, not an administrator, a cross-origin browser request",
    404: "Not found, or not visible to this user",
    409: "Conflict with the current state",
    413: "Body too large",
    415: "The body is not of the content type the operation reads",
    422: "Field values refused: `errors` by field",
    429: "Too many attempts (Retry-After)",
    502: "The task backend (Redmine) answered with an error",
    503: "A service the helpdesk relies on is briefly unreachable (Retry-After)",
}


class ErrorOut(BaseModel):
    """Every error's JSON document: success false and a message; most carry status_code, and
    refused fields come in `errors` (other keys, such as `allowed_statuses`, may follow)."""

    model_config = ConfigDict(extra="allow", title="Error")

    success: Literal[False]
    message: str
    status_code: int | None = None
    error: str | None = None
    errors: dict[str, list[str]] | None = None


@dataclass(frozen=True)
class Operation:
    """One method of one route: its models, its success status and who may call it."""

    summary: str
    response: Any = None  # the type of the envelope's data (or of the whole body, unenveloped)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    also: tuple[int, ...] = ()  # other successes and errors particular to this operation
    access: Access = "token"
    enveloped: bool = True
    body_type: str = JSON
    form_body: type[BaseModel] | None = None  # the same operation as multipart/form-data too
    response_type: str = JSON
    tag: str = "tasks"
    extra_responses: dict[int, Any] = field(default_factory=dict)  # status -> body type
    # operations a client may call next with values of the answer: name -> (endpoint,
    # {parameter: runtime expression}); fuzzers follow them (create, then read, then change)
    links: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


OPERATIONS: dict[Callable[..., Any], dict[str, Operation]] = {}


def documented(summary: str, *, method: str = "", **details: Any) -> Callable[[F], F]:
    """Declare a view's request and response models once (for one method, or for all of the
    route's): the document is built from this, and parse_body/parse_args check against it."""

    def register(view: F) -> F:
        OPERATIONS.setdefault(view, {})[method.upper()] = Operation(summary, **details)
        return view

    return register


def operation_of(view: Callable[..., Any] | None, method: str) -> Operation | None:
    """The declaration for a view and method, if there is one."""
    declared = OPERATIONS.get(view) if view is not None else None
    if not declared:
        return None
    return declared.get(method) or declared.get("")


def check_declared(model: type[BaseModel], part: Literal["body", "query"]) -> None:
    """A view parses with the model its declaration names: the document says what is checked."""
    view = current_app.view_functions.get(request.endpoint or "")
    operation = operation_of(view, request.method)
    if operation is not None and getattr(operation, part) not in (None, model):
        raise RuntimeError(f"{request.endpoint} parses {model.__name__}, declared otherwise")


class Components:
    """The schemas the document refers to, by name, from pydantic's own JSON Schema."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def schema(self, kind: Any, mode: Literal["validation", "serialization"]) -> dict[str, Any]:
        """A type's schema; a model becomes a component referred to by name."""
        schema = TypeAdapter(kind).json_schema(mode=mode, ref_template=REF)
        for name, definition in schema.pop("$defs", {}).items():
            self.add(name, definition)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            self.add(kind.__name__, schema)
            return {"$ref": REF.format(model=kind.__name__)}
        return schema

    def add(self, name: str, schema: dict[str, Any]) -> None:
        """Keep one schema per name; two different ones under one name would be a bug."""
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are called {name}")


def path_of(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """An OpenAPI path for a Werkzeug rule, and its path parameters."""
    parameters = []
    for match in PATH_PART.finditer(rule.rule):
        converter, name = match.group(1), match.group(2)
        schema = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return PATH_PART.sub(lambda m: "{" + m.group(2) + "}", rule.rule), parameters


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema: a query string cannot carry null, absent means the default."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    if not options:
        return rest
    return {**rest, **options[0]} if len(options) == 1 else {**rest, "anyOf": options}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as query parameters."""
    schema = model.model_json_schema(mode="validation", ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": without_null(definition),
        }
        for name, definition in schema.get("properties", {}).items()
    ]


def enveloped(data: dict[str, Any]) -> dict[str, Any]:
    """The seed's success envelope around an answer's data."""
    return {
        "type": "object",
        "properties": {
            "success": {"const": True},
            "message": {"type": "string"},
            "data": data,
            "execution_time": {"type": "number"},
        },
        "required": ["success", "data", "execution_time"],
    }


def error_statuses(operation: Operation, has_path_ids: bool) -> set[int]:
    """The errors any operation of this kind may answer."""
    statuses = {503}
    if operation.access != "public":
        statuses |= {401, 403}
    if operation.tag == "tasks":
        statuses |= {502}  # Redmine behind the task API
    if has_path_ids:
        statuses.add(404)
    if operation.query is not None:
        statuses.add(400)
    if operation.body is not None:
        statuses |= {400, 413, 415, 422}
    return statuses


SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "public": [],
    "session": [{"session": []}],
    "admin": [{"session": []}],
    "token": [{"session": []}, {"bearer": []}],
}


def operation_document(
    operation: Operation, name: str, parameters: list[dict[str, Any]], components: Components
) -> dict[str, Any]:
    """One operation of the document."""
    answer: dict[str, Any] = {"type": "string"}
    if operation.response_type == JSON:
        data = components.schema(operation.response, "serialization")
        answer = enveloped(data) if operation.enveloped else data
    responses: dict[str, Any] = {
        str(operation.status): {
            "description": "Success",
            "content": {operation.response_type: {"schema": answer}},
        }
    }
    if operation.links:
        responses[str(operation.status)]["links"] = {
            link: {"operationId": operation_id(endpoint), "parameters": parameters}
            for link, (endpoint, parameters) in operation.links.items()
        }
    for status, kind in operation.extra_responses.items():
        schema = components.schema(kind, "serialization")
        responses[str(status)] = {
            "description": STATUS_TEXT.get(status, "Success"),
            "content": {JSON: {"schema": schema}},
        }
    error = components.schema(ErrorOut, "serialization")
    errors = error_statuses(operation, bool(parameters)) | set(operation.also)
    for status in sorted(errors - {operation.status, *operation.extra_responses}):
        described = STATUS_TEXT.get(status, "Success" if status < 400 else "Error")
        content = {"schema": answer if status < 400 else error}
        responses[str(status)] = {"description": described, "content": {JSON: content}}
    document: dict[str, Any] = {
        "operationId": name,
        "summary": operation.summary,
        "tags": [operation.tag],
        "security": SECURITY[operation.access],
        "responses": responses,
    }
    if operation.query is not None:
        parameters = [*parameters, *query_parameters(operation.query)]
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        body = components.schema(operation.body, "validation")
        content = {operation.body_type: {"schema": body}}
        if operation.form_body is not None:
            content[MULTIPART] = {"schema": components.schema(operation.form_body, "validation")}
        document["requestBody"] = {"required": True, "content": content}
    return document


def operation_id(endpoint: str) -> str:
    """An operation's id: its endpoint's name (the first of its methods and rules)."""
    return endpoint.replace(".", "_")


def openapi_document(app: Flask) -> dict[str, Any]:
    """The whole document, from the declarations of the app's routes."""
    components = Components()
    components.add("Error", ErrorOut.model_json_schema(mode="serialization", ref_template=REF))
    paths: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions.get(rule.endpoint)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = operation_of(view, method)
            if operation is None:
                continue
            path, parameters = path_of(rule)
            name = operation_id(rule.endpoint)
            if name in names:  # a view with several methods, or several rules
                name = f"{name}_{method.lower()}"
            while name in names:
                name += "_again"
            names.add(name)
            paths.setdefault(path, {})[method.lower()] = operation_document(
                operation, name, parameters, components
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Helpdesk API",
            "version": "1",
            "description": "The helpdesk's JSON API; docs/API.md explains it in prose.",
        },
        "paths": paths,
        "components": {
            "schemas": {"Error": components.schemas.pop("Error"), **components.schemas},
            "securitySchemes": {
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": app.config.get("SESSION_COOKIE_NAME", "session"),
                    "description": "The session cookie of POST /users/login",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A personal token (hd_…) made at /users/tokens",
                },
            },
        },
    }
