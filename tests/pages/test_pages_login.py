"""The login wall, through a real browser."""

from __future__ import annotations

import pytest


@pytest.mark.usefixtures("transactional_db")
def test_a_browser_logs_in_and_sees_the_overview(page):
    assert page.locator("h1").first.inner_text() == "Overview"
    assert page.script_errors == []


@pytest.mark.usefixtures("transactional_db")
def test_a_page_without_login_redirects_to_the_login_form(browser, live_server_url):
    context = browser.new_context(base_url=live_server_url)
    tab = context.new_page()
    tab.goto("/")
    assert tab.url.startswith(f"{live_server_url}/login/")
    assert tab.locator("input[name=password]").count() == 1
    context.close()
