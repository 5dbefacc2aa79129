"""The OpenAPI document: served to anyone, valid OpenAPI 3.1, covering every JSON route of the
API, built from the models the views validate with; the browsable page over it."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from helpdesk.core.api import parse_body
from helpdesk.core.openapi import operation_of
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


def test_every_json_route_of_the_api_is_documented(app: Flask, client: FlaskClient) -> None:
    paths = client.get("/tasks/api/openapi.json").get_json()["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/tasks/api/") or rule.endpoint.startswith("apidocs."):
            continue
        path = rule.rule.replace("<int:", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, (path, method)
    for extra in ("/tasks/my-tasks", "/users/login", "/health", "/health/ready", "/admin/metrics"):
        assert extra in paths


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
