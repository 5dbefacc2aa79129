"""Redmine's REST API over one pooled requests Session: timeouts on every call, retries for
reads only, acting as a user, each answer's shape checked (answers.py), and the one mapping of
Redmine's answers to the backend's errors.

Keys travel only in request headers; nothing here logs a header, a key or a password.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar, overload

import requests
from flask_babel import gettext as _
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from urllib3.util.retry import Retry

from helpdesk.integrations.redmine.answers import Upload, UploadAnswer, User, UserAnswer, parse
from helpdesk.tasks.backends.base import (
    BackendUnavailable,
    TaskConflict,
    TaskError,
    TaskForbidden,
    TaskNotFound,
    TaskValidationError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

POOL_SIZE = 20  # connections kept per process (requests' default of 10 queues under gevent)

# Redmine's 422 answers are full sentences ("Assignee is invalid"); their first words name the
# field, in the language of the user acted as (English for the switch-user calls we make).
FIELD_PREFIXES = (
    ("Project", "project_id"),
    ("Tracker", "tracker_id"),
    ("Status", "status_id"),
    ("Priority", "priority_id"),
    ("Assignee", "assigned_to_id"),
    ("Subject", "subject"),
    ("Description", "description"),
    ("Start date", "start_date"),
    ("Due date", "due_date"),
    ("Estimated time", "estimated_hours"),
    ("Parent task", "parent_issue_id"),
)


def unavailable(status_code: int) -> BackendUnavailable:
    """The one answer for a Redmine that cannot be used: 503 when it cannot be reached (a
    timeout, a refused connection), 502 when it answered badly (5xx, not JSON)."""
    error = BackendUnavailable(_("Redmine is unavailable. Try again later."))
    error.status_code = status_code
    return error


class NotLinked(TaskForbidden):
    """The helpdesk user is no Redmine user (Redmine answered 412 to the switch-user login)."""


def not_linked() -> NotLinked:
    """The answer for a helpdesk user Redmine does not know."""
    return NotLinked(
        _("Your account is not linked to a Redmine user. Ask an administrator to link it.")
    )


def errors_by_field(messages: list[str]) -> dict[str, list[str]]:
    """Redmine's 422 sentences grouped by the field they start with; the rest under "base"."""
    errors: dict[str, list[str]] = {}
    for message in messages:
        key = next(
            (field for prefix, field in FIELD_PREFIXES if message.startswith(prefix + " ")),
            "base",
        )
        errors.setdefault(key, []).append(message)
    return errors


def error_for(response: requests.Response) -> TaskError:
    """The backend error for a Redmine answer that is not a success."""
    status = response.status_code
    if status == 412:
        return not_linked()
    if status in (401, 403):
        return TaskForbidden(_("Redmine does not allow this."))
    if status == 404:
        return TaskNotFound(_("Not found in Redmine."))
    if status == 409:
        return TaskConflict(_("Someone else changed this task. Reload and try again."))
    if status == 422:
        try:
            messages = response.json().get("errors") or []
        except (ValueError, AttributeError):
            messages = []
        if not isinstance(messages, list):
            messages = [str(messages)]
        return TaskValidationError(
            _("Some fields are invalid."), errors=errors_by_field([str(m) for m in messages])
        )
    if status >= 500 or status < 400:  # a redirect is not an API answer (a proxy's login page)
        return unavailable(502)
    return TaskValidationError(_("Redmine refused the request."), errors={"base": [str(status)]})


def mounted_session(retries: Retry | int) -> requests.Session:
    """A Session whose adapters keep POOL_SIZE connections and retry as given."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE, max_retries=retries)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"Accept": "application/json", "User-Agent": "helpdesk"})
    return session


class RedmineClient:
    """One Redmine server, reached with the administrator's key or a user's own key."""

    def __init__(self, url: str, api_key: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        read_retries = Retry(  # a read is safe to repeat: a dropped connection or a 502-504 again
            total=2,
            connect=2,
            read=1,
            status=2,
            backoff_factor=0.1,
            status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self.reads = mounted_session(read_retries)
        self.writes = mounted_session(0)  # a write is never repeated: it may have been done
        self.down = False  # whether the last call could not reach Redmine (logged once)

    def __repr__(self) -> str:
        """The server only: a repr must never show the key."""
        return f"RedmineClient({self.url!r})"

    def close(self) -> None:
        """Give back the pooled connections (a script or a test done with Redmine)."""
        self.reads.close()
        self.writes.close()

    def headers(self, as_login: str | None, api_key: str | None) -> dict[str, str]:
        """Authentication: a user's own key as themselves, else the admin key, switched to the
        login when one is given."""
        if api_key:
            return {"X-Redmine-API-Key": api_key}
        headers = {"X-Redmine-API-Key": self.api_key}
        if as_login:
            headers["X-Redmine-Switch-User"] = as_login
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        auth: AuthBase | None = None,
        data: bytes | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One call with the timeouts; transport failures become BackendUnavailable (503)."""
        session = self.reads if method == "GET" else self.writes
        try:
            response = session.request(
                method,
                self.url + path,
                params=params,
                json=json,
                data=data,
                headers=headers,
                auth=auth,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,
                stream=stream,
            )
        except requests.RequestException as error:
            if not self.down:
                self.down = True
                log.warning(
                    "Redmine at %s cannot be reached (%s); the helpdesk answers 503 for tasks "
                    "until it can",
                    self.url,
                    type(error).__name__,
                )
            raise unavailable(503) from error
        if self.down:
            self.down = False
            log.warning("Redmine at %s answers again", self.url)
        return response

    def checked(self, response: requests.Response, method: str, path: str) -> requests.Response:
        """The response if it succeeded, else its error (5xx logged, without headers)."""
        if 200 <= response.status_code < 300:
            return response
        if response.status_code >= 500:
            log.warning("Redmine %s %s answered %d", method, path, response.status_code)
        raise error_for(response)

    def parsed(self, response: requests.Response, shape: type[T], method: str, path: str) -> T:
        """The answer's body as the shape it must have (answers.py); a body that is not JSON,
        lacks a key or has a wrong type is a malformed answer: 502, logged without the body."""
        try:
            return parse(shape, response.content)
        except ValueError as error:
            log.warning("Redmine %s %s answered a malformed body (%s)", method, path, error)
            raise unavailable(502) from None

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        shape: type[T],
        as_login: str | None = None,
        api_key: str | None = None,
    ) -> T:
        """GET an answer of the given shape (path like "/issues/7.json"), retried on transport
        failures."""
        headers = self.headers(as_login, api_key)
        response = self.request("GET", path, params=params, headers=headers)
        return self.parsed(self.checked(response, "GET", path), shape, "GET", path)

    def put(
        self, path: str, json: Any, *, as_login: str | None = None, api_key: str | None = None
    ) -> None:
        """PUT a JSON body (Redmine answers 204 with nothing); never retried."""
        headers = self.headers(as_login, api_key)
        self.checked(self.request("PUT", path, json=json, headers=headers), "PUT", path)

    @overload
    def post(
        self,
        path: str,
        json: Any,
        *,
        shape: type[T],
        as_login: str | None = None,
        api_key: str | None = None,
    ) -> T: ...

    @overload
    def post(
        self,
        path: str,
        json: Any,
        *,
        shape: None = None,
        as_login: str | None = None,
        api_key: str | None = None,
    ) -> None: ...

    def post(
        self,
        path: str,
        json: Any,
        *,
        shape: type[T] | None = None,
        as_login: str | None = None,
        api_key: str | None = None,
    ) -> T | None:
        """POST a JSON body; the created object's answer in the given shape (None without one:
        the answer is not read); never retried."""
        headers = self.headers(as_login, api_key)
        response = self.checked(
            self.request("POST", path, json=json, headers=headers), "POST", path
        )
        return None if shape is None else self.parsed(response, shape, "POST", path)

    def upload(
        self,
        data: bytes,
        filename: str,
        *,
        as_login: str | None = None,
        api_key: str | None = None,
    ) -> Upload:
        """POST a file's bytes to /uploads.json; the upload, whose token attaches it to an issue
        (one never attached is removed with DELETE /attachments/<id>.json); never retried."""
        path = "/uploads.json"
        headers = {**self.headers(as_login, api_key), "Content-Type": "application/octet-stream"}
        response = self.request(
            "POST", path, params={"filename": filename}, data=data, headers=headers
        )
        answer = self.parsed(self.checked(response, "POST", path), UploadAnswer, "POST", path)
        return answer["upload"]

    def delete(self, path: str, *, as_login: str | None = None, api_key: str | None = None) -> None:
        """DELETE a resource (Redmine answers 204); never retried."""
        headers = self.headers(as_login, api_key)
        self.checked(self.request("DELETE", path, headers=headers), "DELETE", path)

    def download(
        self, path: str, *, as_login: str | None = None, api_key: str | None = None
    ) -> requests.Response:
        """GET a file as a stream (the caller closes the response): Redmine checks who may
        read it."""
        headers = self.headers(as_login, api_key)
        response = self.request("GET", path, headers=headers, stream=True)
        if not 200 <= response.status_code < 300:
            response.content  # noqa: B018 -- read the short error body: the connection goes back
        return self.checked(response, "GET", path)

    def current_user(self, login: str, password: str) -> User | None:
        """The Redmine user a login and password belong to (GET /users/current.json with basic
        auth), or None when Redmine refuses them; BackendUnavailable when it cannot answer."""
        path = "/users/current.json"
        # UTF-8, as browsers send it and Redmine reads it (requests' default for text is Latin-1,
        # which cannot carry a Cyrillic password)
        credentials = HTTPBasicAuth(login.encode("utf-8"), password.encode("utf-8"))
        response = self.request("GET", path, auth=credentials)
        if response.status_code == 401:
            return None
        return self.parsed(self.checked(response, "GET", path), UserAnswer, "GET", path)["user"]
