"""The console's message log: filters by channel and status, a failed message's attempts
and error, and the retry button, after which the worker sends it."""

from __future__ import annotations

from typing import Any

from service.core.webhook_rules import new_secret
from tests.community import EVENTS, eventually, hooks_on, published_event, resident, settled
from tests.conftest import Api, MakeApi
from tests.console import ConsoleClient
from tests.fakes.webhook_receiver import WebhookReceiver

SECRET = new_secret()


def webhook_settings() -> dict[str, Any]:
    """A real webhook channel to the local receiver; one quick retry, then failed."""
    return hooks_on(**{"delivery.retry_schedule_s": [0.0]})


async def signed_in(api: Api) -> ConsoleClient:
    browser = ConsoleClient(api.client)
    page = await browser.sign_in_token(api.token or "")
    assert page.url.startswith("/console"), page.text
    return browser


async def failed_webhook_message(api: Api, hook: WebhookReceiver) -> tuple[int, int]:
    """(event, message id) of an invitation the receiver refused until it gave up."""
    body = {
        "name": "张伟",
        "unit": "1-1-101",
        "contacts": [{"channel": "webhook", "address": hook.url, "signing_secret": SECRET}],
    }
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201, created
    await resident(api, "李娜", "1-1-102", ("sms", "13900139000"))
    event_id = await published_event(api)
    hook.script(503, times=2)
    await api.post(f"{EVENTS}/{event_id}/send")
    done = await settled(api, event_id, total=2)
    [failed] = [m for m in done["messages"]["items"] if m["channel"] == "webhook"]
    assert failed["status"] == "failed", failed
    return event_id, int(failed["id"])


async def test_console_messages_log_filters_shows_attempts_and_retries(
    make_api: MakeApi,
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**webhook_settings())
        console = await signed_in(api)
        event_id, message_id = await failed_webhook_message(api, hook)

        page = await console.get("/console/messages")
        assert page.status == 200 and page.has("共 2 条")
        page = await console.get("/console/messages?channel=webhook&status=failed")
        assert f"message-{message_id}" in page.text and page.has("共 1 条")
        page = await console.get("/console/messages?channel=sms&status=failed")
        assert page.by_id("none") == "没有符合条件的消息。"
        page = await console.get(f"/console/messages?event_id={event_id}&status=delivered&lang=en")
        assert page.has("1–1 of 1") and f"message-{message_id}" not in page.text
        page = await console.get("/console/messages?status=lost&lang=zh-CN")
        assert page.status == 400

        page = await console.get(f"/console/messages/{message_id}")
        assert page.by_id("status") == "失败"
        assert page.by_id("last-error") and "503" in (page.by_id("last-error") or "")
        assert page.text.count("503") >= 2  # each attempt's error in the attempts table
        assert 'id="retry"' in page.text

        page = await console.post(f"/console/messages/{message_id}/retry", {})
        assert page.status == 200 and page.flash == "已重新排队，稍后发出。"
        await hook.wait_for(1)
        page = await eventually(
            lambda: console.get(f"/console/messages/{message_id}"),
            lambda page: page.by_id("status") in ("已发送", "已送达"),
            "sent",
        )
        assert 'id="retry"' not in page.text

        # A message that is not failed cannot be retried: a 409 page, not a 500.
        page = await console.post(f"/console/messages/{message_id}/retry", {})
        assert page.status == 409


async def test_console_messages_unknown_message_is_404(console: ConsoleClient) -> None:
    page = await console.get("/console/messages/12345")
    assert page.status == 404
    page = await console.post("/console/messages/12345/retry", {})
    assert page.status == 404


async def test_console_messages_bad_filter_shows_the_page_with_the_error_beside_it(
    console: ConsoleClient,
) -> None:
    page = await console.get("/console/messages?event_id=abc&status=lost")
    assert page.status == 400
    assert 'action="/console/messages"' in page.text  # the console's page, filters and all
    assert page.error_for("event_id") and page.error_for("status")
    assert 'id="messages"' not in page.text
