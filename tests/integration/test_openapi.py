"""The OpenAPI document: served to anyone, valid OpenAPI 3.1, covering every JSON route of the
API, built from the models the views validate with; the browsable page over it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from helpdesk.core.api import parse_body
from helpdesk.core.openapi import PATH_PART, operation_of
from helpdesk.tasks.schemas import TaskCreateIn, WatcherIn


def test_document_is_served_without_login_and_is_valid_openapi_3_1(client: FlaskClient) -> None:
    response = client.get("/tasks/api/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie"


# Routes whose success is never JSON (a page, a redirect, a file), each with why; their errors
# still answer JSON clients with the documented Error. Every other route must be documented.
HTML_ONLY = {
    "posts.home": "the announcements page",
    "posts.post": "an announcement's page",
    "posts.new_post": "the announcement form: a page, then a redirect",
    "posts.edit_post": "the announcement form: a page, then a redirect",
    "posts.remove_post": "a form post that redirects",
    "admin.projects GET": "the projects page (POST is the JSON twin)",
    "admin.project GET": "a project's page (POST is the JSON twin)",
    "admin.roles GET": "the roles page (POST is the JSON twin)",
    "admin.workflow GET": "a workflow's page (POST is the JSON twin)",
    "admin.users": "the users page (POST /admin/users is the JSON twin)",
    "admin.new_user": "the add-user form",
    "users.login GET": "the sign-in page",
    "users.register GET": "the registration form",
    "users.change_password GET": "the password form",
    "users.forgot_password GET": "the reset request form",
    "users.reset_password GET": "the form a reset link opens",
    "users.user_posts": "a profile page",
    "tokens.tokens": "the tokens page",
    "i18n.set_language": "the language switch: a redirect",
    "notification_pages.notifications_page": "the notifications page (/api/notifications is JSON)",
    "notification_pages.read": "a form post that redirects",
    "notification_pages.read_all": "a form post that redirects",
    "notification_pages.preferences": "a page and its form (/api/notifications/preferences)",
    "tasks.task_page": "a task's page (GET /tasks/api/task/<id> is JSON)",
    "tasks.new_task": "the new-task form (POST /tasks/api/task is JSON)",
    "tasks.kanban": "the board page",
    "tasks.comment": "a form post that redirects (the API has its own)",
    "tasks.change_status": "a form post that redirects (the API has its own)",
    "task_files.upload": "a form post that redirects (the API has its own)",
    "task_files.delete": "a form post that redirects (the API has its own)",
    "task_files.download": "the file itself",
    "task_filters.save_from_page": "a form post that redirects (/tasks/api/filters is JSON)",
    "task_filters.delete_from_page": "a form post that redirects",
    "apidocs.docs_page": "the reference page",
    "apidocs.openapi_json": "the document itself",
    "pwa.manifest": "the web app manifest (application/manifest+json, for browsers)",
    "pwa.service_worker": "JavaScript",
    "static": "static files",
    "core.uploaded_image": "an image",
}


def html_only(endpoint: str, method: str) -> bool:
    """Whether this endpoint and method is one of HTML_ONLY's."""
    return endpoint in HTML_ONLY or f"{endpoint} {method}" in HTML_ONLY


def test_every_json_route_is_documented(app: Flask, client: FlaskClient) -> None:
    """Each route and method of the app is in the document, or HTML_ONLY says why not."""
    paths = client.get("/tasks/api/openapi.json").get_json()["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    missing = []
    for rule in app.url_map.iter_rules():
        path = PATH_PART.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            if not html_only(rule.endpoint, method) and (path, method.lower()) not in documented:
                missing.append((method, rule.rule, rule.endpoint))
    assert not missing, missing
    for extra in ("/tasks/my-tasks", "/users/login", "/health", "/health/ready", "/admin/metrics"):
        assert extra in paths
    assert "/tasks/api/task/{task_id}" in paths


def test_html_only_names_undocumented_routes_that_exist(app: Flask, client: FlaskClient) -> None:
    """No stale exclusion: each HTML_ONLY entry is a route, and not one the document has."""
    paths = client.get("/tasks/api/openapi.json").get_json()["paths"]
    routes = {
        (rule.endpoint, method): PATH_PART.sub(lambda m: "{" + m.group(2) + "}", rule.rule)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    for entry in HTML_ONLY:
        endpoint, _, method = entry.partition(" ")
        matching = [
            (m, path) for (e, m), path in routes.items() if e == endpoint and method in ("", m)
        ]
        assert matching, entry
        for m, path in matching:
            assert m.lower() not in paths.get(path, {}), (entry, m, path)


@pytest.mark.parametrize(
    ("path", "method", "body", "answer"),
    [
        ("/users/register", "post", "RegisterIn", "AccountOut"),
        ("/users/account", "post", "AccountIn", "AccountOut"),
        ("/users/password", "post", "PasswordChangeIn", "MessageOut"),
        ("/users/password/forgot", "post", "ForgotPasswordIn", "MessageOut"),
        ("/users/password/reset/{token}", "post", "ResetPasswordIn", "MessageOut"),
        ("/admin/users", "post", "NewUserIn", "AccountDoneOut"),
        ("/admin/users/{user_id}", "post", "PermissionsIn", "AccountDoneOut"),
        ("/admin/projects/{project_id}/members", "post", "MemberIn", "StructureDoneOut"),
        ("/admin/roles/{role_id}/workflow", "post", "WorkflowIn", "StructureDoneOut"),
    ],
)
def test_account_and_admin_routes_name_their_models(
    client: FlaskClient, path: str, method: str, body: str, answer: str
) -> None:
    operation = client.get("/tasks/api/openapi.json").get_json()["paths"][path][method]
    content = operation["requestBody"]["content"]["application/json"]["schema"]
    assert content == {"$ref": f"#/components/schemas/{body}"}
    success = next(status for status in operation["responses"] if status.startswith("2"))
    schema = operation["responses"][success]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/{answer}"}


def test_request_schemas_are_the_validating_models(client: FlaskClient) -> None:
    document = client.get("/tasks/api/openapi.json").get_json()
    create = document["paths"]["/tasks/api/task"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TaskCreateIn"}
    schema = document["components"]["schemas"]["TaskCreateIn"]
    assert set(schema["required"]) == {"subject", "project_id"}
    assert schema["properties"]["subject"]["maxLength"] == 255
    listed = document["paths"]["/tasks/api/tasks"]["get"]["parameters"]
    per_page = next(p for p in listed if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == 100
    answer = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert answer["properties"]["data"] == {"$ref": "#/components/schemas/TaskCreatedOut"}
    assert create["responses"]["201"]["links"]["GetTask"]["operationId"] == (
        "tasks_api_get_task_by_id"
    )
    assert create["security"] == [{"session": []}, {"bearer": []}]


def test_a_view_that_parses_another_model_than_declared_is_refused(app: Flask) -> None:
    """The declaration is the one place: a view parsing anything else fails loudly."""
    declared = operation_of(app.view_functions["tasks_api.create_task"], "POST")
    assert declared is not None
    assert declared.body is TaskCreateIn
    with app.test_request_context("/tasks/api/task", method="POST", json={"user_id": 1}) as context:
        context.request.url_rule = next(
            r for r in app.url_map.iter_rules() if r.endpoint == "tasks_api.create_task"
        )
        with pytest.raises(RuntimeError, match="declared otherwise"):
            parse_body(WatcherIn)


def test_reference_page_boots_the_vendored_swagger_ui_and_tokens_page_links_it(
    client: FlaskClient, login, make_user
) -> None:
    page = client.get("/tasks/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "js/api_docs.js" in html
    assert "<script>" not in html  # no inline script: the CSP allows none
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        with client.get(f"/static/vendor/swagger-ui/{name}") as vendored:
            assert vendored.status_code == 200
    login(make_user(is_redmine_user=True))
    assert "/tasks/api/docs" in client.get("/users/tokens").get_data(as_text=True)


def test_account_answers_keep_their_shapes(client: FlaskClient, login, make_user) -> None:
    """Built through AccountOut/MessageOut, the answers are still the seed's: no message when
    the profile is only read, and the profile's keys as User.to_dict has them."""
    user = make_user()
    login(user)
    read = client.get("/users/account", headers={"Accept": "application/json"}).get_json()
    assert set(read) == {"success", "data"}
    assert read["data"] == user.to_dict()
    out = client.post("/users/logout", headers={"Accept": "application/json"}).get_json()
    assert set(out) == {"success", "message"}
