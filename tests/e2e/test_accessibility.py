"""axe-core (WCAG 2.1 A and AA rules) on every page of the helpdesk, in Russian and English, on
a desktop and a phone screen: the suite fails on any serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_live_board import browser, sign_in  # noqa: F401 (browser is a fixture)

from conftest import demo_copy
from helpers import free_port, helpdesk_serving

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
LOCALES = {"en": "en-US", "ru": "ru-RU"}
SIGNED_OUT = ["/users/login", "/users/register", "/users/password/forgot"]
SIGNED_IN = [
    "/",
    "/posts/1",
    "/posts/new",
    "/tasks/my-tasks",
    "/tasks/kanban",
    "/tasks/new",
    "/tasks/1",
    "/notifications",
    "/notifications/preferences",
    "/users/account",
    "/users/password",
    "/users/tokens",
    "/users/profile/alice",
    "/admin/users",
    "/admin/users/new",
    "/admin/projects",
    "/admin/projects/1",
    "/admin/roles",
    "/admin/roles/1/workflow",
    "/admin/health",
]
SEVERE = {"serious", "critical"}


@pytest.fixture(scope="module")
def site(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One demo server for every page (mail set up, so the forgot-password page is there)."""
    port = free_port()
    env = {
        **demo_copy(demo_template, tmp_path_factory.mktemp("a11y")),
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": "1",
        "MAIL_USE_TLS": "false",
        "MAIL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    with helpdesk_serving(env, port=port) as (url, _process):
        yield url


def violations(page: Any) -> list[str]:
    """The page's serious and critical axe findings, one line each."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
           .then(result => result.violations.map(v => ({
               id: v.id, impact: v.impact,
               targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
               summary: v.nodes[0] ? v.nodes[0].failureSummary : ''})))"""
    )
    return [
        f"{item['id']} ({item['impact']}): {item['targets']} {item['summary'][:200]}"
        for item in found
        if item["impact"] in SEVERE
    ]


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("language", sorted(LOCALES))
def test_no_page_has_a_serious_accessibility_violation(
    site: str,
    browser: Any,  # noqa: F811 (the fixture imported above)
    language: str,
    size: str,
) -> None:
    # axe is injected as a script of its own, which the pages' content security policy refuses
    context = browser.new_context(locale=LOCALES[language], viewport=SIZES[size], bypass_csp=True)
    page = context.new_page()
    found: dict[str, list[str]] = {}
    for path in SIGNED_OUT:
        assert page.goto(f"{site}{path}").ok, path  # an error page would pass unseen
        found[path] = violations(page)
    errors: list[str] = []
    sign_in(page, site, "admin", errors)
    for path in SIGNED_IN:
        assert page.goto(f"{site}{path}").ok, path
        page.wait_for_load_state("networkidle")
        found[path] = violations(page)
    context.close()
    report = {path: lines for path, lines in found.items() if lines}
    assert report == {}, "\n".join(
        f"{path}: {line}" for path, lines in report.items() for line in lines
    )


def test_a_card_moves_by_keyboard_and_the_move_is_announced(
    site: str,
    browser: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    page = browser.new_context(locale="en-US", viewport=SIZES["desktop"]).new_page()
    errors: list[str] = []
    sign_in(page, site, "bob", errors)
    page.goto(f"{site}/tasks/kanban")
    page.select_option("select[name=project]", label="Web Portal")
    page.wait_for_load_state("networkidle")
    card = page.locator('.kanban-cards[data-status-id="1"] .kanban-card').first
    task_id = card.get_attribute("data-task-id")
    menu = card.locator("select")
    assert menu.get_attribute("aria-label") == f"Move task #{task_id} to another status"
    menu.focus()
    menu.select_option(label="In Progress")  # what arrow keys and Enter do in a native select
    page.wait_for_function(
        "id => document.getElementById('kanban-announcer').textContent"
        " === `Task #${id} moved to In Progress.`",
        arg=task_id,
    )
    moved = f'.kanban-cards[data-status-id="2"] .kanban-card[data-task-id="{task_id}"]'
    assert page.locator(moved).count() == 1
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator(moved).count() == 1  # saved, not only shown
    assert errors == []
