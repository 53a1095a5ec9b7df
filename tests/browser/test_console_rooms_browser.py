"""Rooms and the message log in Chromium: the organiser edits a room's rule and a booking
that breaks it is refused beside the field; a failed message is retried from the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, expect

from service.app import create_app
from service.core.models import Role
from service.core.webhook_rules import new_secret
from service.domain import auth
from service.keys import store_key
from service.settings import load_settings
from tests.browser.conftest import PHONE, Live, LiveClient, _free_port, sign_in
from tests.community import published_event, resident, room, settled
from tests.conftest import START, Api, PinnedClock, base_overrides
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = new_secret()


async def test_console_rooms_browser_rule_edit_refuses_booking(
    signed_in_page: Page, live: Live
) -> None:
    page = signed_in_page
    room_id = await room(live.api)
    await resident(live.api, "张伟", "3-2-1501", ("sms", "13800138000"))
    await page.set_viewport_size(PHONE)
    await page.goto(f"{live.url}/console/rooms/{room_id}")
    await page.fill("#f-max_booking_minutes", "60")
    await page.click(f"form[action$='/rooms/{room_id}'] button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("规则已保存。")

    await page.goto(f"{live.url}/console/rooms/{room_id}/week?start=2026-11-30")
    await page.select_option("#f-resident_id", label="张伟 · 3-2-1501")
    await page.fill("#f-date", "2026-12-01")
    await page.fill("#f-start", "14:00")
    await page.fill("#f-end", "16:00")
    await page.click("#book button[type=submit]")
    await expect(page.locator("#err-end")).to_have_text("超过单次预约最长时长（60 分钟）。")
    # Within the rule it is booked and shows in the week.
    await page.fill("#f-end", "15:00")
    await page.click("#book button[type=submit]")
    await expect(page.locator("#flash")).to_have_text("已预约（1 次）。")
    await expect(page.locator("#week")).to_contain_text("14:00–15:00")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the week page is {width}px wide on a phone"


@pytest.fixture
async def hooked_live(tmp_path: Path) -> AsyncIterator[tuple[Live, WebhookReceiver]]:
    """A live server with a real webhook channel (one quick retry) and a local receiver."""
    port = _free_port()
    overrides = base_overrides(tmp_path, tmp_path / "linli.db")
    overrides.update(
        {
            "server.host": "127.0.0.1",
            "server.port": port,
            "channels.webhook.enabled": True,
            "channels.webhook.allow_private": ["127.0.0.0/8"],
            "delivery.jitter": 0.0,
            "delivery.retry_schedule_s": [0.0],
        }
    )
    app = create_app(load_settings(overrides=overrides), clock=PinnedClock())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    _, token = await auth.issue_token(app[store_key], role=Role.ORGANISER, name="王组织", now=START)
    try:
        async with WebhookReceiver(SECRET) as hook, aiohttp.ClientSession(base_url=url) as s:
            yield Live(url, Api(LiveClient(app, s), token)), hook
    finally:
        await runner.cleanup()


async def test_console_messages_browser_retry_a_failed_message(
    browser: Browser, hooked_live: tuple[Live, WebhookReceiver]
) -> None:
    live, hook = hooked_live
    api = live.api
    status, _ = await api.post(
        "/api/v1/residents",
        json={
            "name": "张伟",
            "unit": "1-1-101",
            "contacts": [{"channel": "webhook", "address": hook.url, "signing_secret": SECRET}],
        },
    )
    assert status == 201
    event_id = await published_event(api)
    hook.script(503, times=2)
    await api.post(f"/api/v1/events/{event_id}/send")
    done = await settled(api, event_id, total=1)
    [message] = done["messages"]["items"]
    assert message["status"] == "failed"

    context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        await sign_in(page, live)
        await page.goto(f"{live.url}/console/messages?status=failed")
        await page.click(f"#message-{message['id']} a")
        await expect(page.locator("#status")).to_have_text("失败")
        await expect(page.locator("#attempts")).to_contain_text("503")
        await page.click("#retry button")
        await expect(page.locator("#flash")).to_have_text("已重新排队，稍后发出。")
        await hook.wait_for(1)
        # The page does not update itself: reload until the worker's send shows.
        for _ in range(50):
            await page.reload()
            if (await page.locator("#status").inner_text()) in ("已发送", "已送达"):
                break
            await page.wait_for_timeout(100)
        await expect(page.locator("#status")).to_have_text("已送达")
        await expect(page.locator("#retry")).to_have_count(0)
    finally:
        await context.close()
