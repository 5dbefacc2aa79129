"""In a real browser: an administrator adds an account and hands over its temporary password,
locks it (the person is refused at sign-in), adds a project with a member and ticks a role's
workflow; someone who forgot their password gets a link by e-mail (a real SMTP server) and
chooses a new one."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from test_live_board import browser, sign_in, signed_in_page  # noqa: F401 (browser: fixture)

from helpers import free_port, helpdesk_serving
from smtp_server import Server, smtp_server

pytestmark = pytest.mark.servers  # SQLite of their own: the PostgreSQL pass leaves them out

NEW_PASSWORD = "Fresh-password-77"


def fresh_page(browser: Any) -> Any:  # noqa: F811 (the fixture imported above)
    """A page of a new browser profile, signed in as nobody."""
    return browser.new_context(locale="en-US").new_page()


def wait_for_mail(server: Server, address: str) -> str:
    """The plain text of the first message to address, once it arrives."""
    deadline = time.monotonic() + 15
    while not server.inbox.to(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    (message,) = server.inbox.to(address)
    return message.get_body(("plain",)).get_content()


def test_an_admin_adds_then_locks_an_account_and_a_user_resets_a_forgotten_password(
    demo_site: dict[str, str],
    browser: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    port = free_port()
    with smtp_server() as mail:
        env = {
            **demo_site,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(mail.port),
            "MAIL_USE_TLS": "false",
            "MAIL_BASE_URL": f"http://127.0.0.1:{port}",
        }
        with helpdesk_serving(env, port=port) as (url, _process):
            errors: list[str] = []
            admin = signed_in_page(browser, url, "admin", errors)
            admin.goto(f"{url}/admin/users")
            admin.click("#add-user")
            admin.fill("#username", "newcomer")
            admin.fill("#email", "newcomer@example.com")
            admin.fill("#full_name", "New Comer")
            admin.check("#flag-is_redmine_user")
            admin.click("main button[type=submit]")
            shown = admin.inner_text("#temporary-password code").strip()
            assert len(shown) >= 16

            # signed out by the lock, its page's socket and the refused sign-in (403) log errors
            refused: list[str] = []
            newcomer = sign_in(fresh_page(browser), url, "newcomer", refused, password=shown)
            assert newcomer.url.endswith("/tasks/my-tasks")

            admin.on("dialog", lambda dialog: dialog.accept())
            row = admin.locator("tr", has_text="@newcomer")
            row.get_by_role("button", name="Lock").click()
            admin.wait_for_selector("tr:has-text('@newcomer') .user-locked")
            newcomer.reload()
            assert "/users/login" in newcomer.url  # signed out by the lock
            newcomer.fill("#username", "newcomer")
            newcomer.fill("#password", shown)
            newcomer.click("main button[type=submit]")
            assert "locked" in newcomer.inner_text("main")

            # a project with the new account as a member, and a role's workflow ticked
            admin.goto(f"{url}/admin/projects")
            admin.fill("#name", "Field Service")
            admin.fill("#identifier", "field-service")
            admin.click("main form button[type=submit]")
            admin.wait_for_selector("h1:has-text('Field Service')")
            admin.fill("#add-member #username", "bob")
            admin.select_option("#add-member #role_id", label="Developer")
            admin.click("#add-member button[type=submit]")
            admin.wait_for_selector("#members tr[data-user='bob']")
            admin.goto(f"{url}/admin/roles")
            admin.locator("#roles li", has_text="Reporter").get_by_role("link").click()
            admin.get_by_label("New → Closed").check()
            admin.click("main form button[type=submit]")
            assert admin.get_by_label("New → Closed").is_checked()

            forgetful = fresh_page(browser)
            forgetful.goto(f"{url}/users/login")
            forgetful.click("text=Forgot your password?")
            forgetful.fill("#login", "bob")
            forgetful.click("main button[type=submit]")
            assert "on its way" in forgetful.inner_text("main")
            text = wait_for_mail(mail, "bob@example.com")
            link = re.search(re.escape(url) + r"/users/password/reset/\S+", text)
            assert link, text
            forgetful.goto(link.group(0))
            forgetful.fill("#new_password", NEW_PASSWORD)
            forgetful.fill("#confirm_password", NEW_PASSWORD)
            forgetful.click("main button[type=submit]")
            sign_in(forgetful, url, "bob", errors, password=NEW_PASSWORD)
            assert forgetful.url.endswith("/tasks/my-tasks")
            assert errors == []
