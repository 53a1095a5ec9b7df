"""The console in Chromium: signing in with a password, and the dashboard on a phone."""

from __future__ import annotations

from playwright.async_api import Browser, Page

from service.core.models import Role
from service.domain import console_auth
from service.keys import store_key
from tests.browser.conftest import PHONE, Live
from tests.conftest import START


async def test_console_password_sign_in_in_chromium(browser: Browser, live: Live) -> None:
    app = live.api.client.app
    await console_auth.set_password(
        app[store_key], login="wang", password="a long password", name="王组织",
        role=Role.ORGANISER, now=START,
    )  # fmt: skip
    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{live.url}/console")
    await page.wait_for_url(f"{live.url}/console/sign-in?next=/console")
    await page.fill("#f-login", "wang")
    await page.fill("#f-password", "wrong password")
    await page.click("#sign-in")
    assert await page.text_content("#err-_form") == "用户名或密码不正确。"
    await page.fill("#f-password", "a long password")
    await page.click("#sign-in")
    await page.wait_for_url(f"{live.url}/console")
    assert await page.text_content("h1") == "概览"
    # Nothing sticks out sideways on a 375 px phone.
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await context.close()


async def test_console_signed_in_page_fixture(signed_in_page: Page, live: Live) -> None:
    await signed_in_page.click("text=English")
    await signed_in_page.wait_for_url(f"{live.url}/console?lang=en")
    assert await signed_in_page.text_content("h1") == "Dashboard"
