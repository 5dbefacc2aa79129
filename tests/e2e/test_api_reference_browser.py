"""In a real browser: the API tokens page links to the API reference, whose vendored Swagger UI
renders every operation of the OpenAPI document under the site's CSP (no console errors), and
its "Try it out" calls the API with the page's session."""

from __future__ import annotations

from typing import Any

import pytest
from test_live_board import browser, signed_in_page  # noqa: F401 (browser: fixture)

from helpers import helpdesk_serving

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out


def test_the_reference_renders_the_document_and_calls_the_api(
    demo_site: dict[str, str],
    browser: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    with helpdesk_serving(demo_site) as (url, _process):
        errors: list[str] = []
        page = signed_in_page(browser, url, "bob", errors)
        page.goto(f"{url}/users/tokens")
        page.get_by_role("link", name="API reference").click()
        page.wait_for_url(f"{url}/tasks/api/docs")
        page.wait_for_selector("#api-reference .opblock")
        operations = page.locator("#api-reference .opblock").count()
        document = page.request.get(f"{url}/tasks/api/openapi.json").json()
        assert operations == sum(len(methods) for methods in document["paths"].values())

        statuses = page.locator("#operations-tasks-tasks_api_lookup_statuses")
        statuses.locator(".opblock-summary").click()
        statuses.get_by_role("button", name="Try it out").click()
        statuses.get_by_role("button", name="Execute").click()
        answer = statuses.locator(".live-responses-table tbody td.response-col_status").first
        answer.wait_for()
        assert answer.inner_text().strip() == "200"
        assert errors == []
