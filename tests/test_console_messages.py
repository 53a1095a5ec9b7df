"""The console's message log: filters by channel and status, a failed message's attempts
and error, and the retry button, after which the worker sends it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

import pytest

from service.core.failures import explain
from service.core.webhook_rules import new_secret
from service.domain.dashboard import FAILING_RUN
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


class Resetter:
    """A TCP server on 127.0.0.1 that reads a request and resets the connection (RST),
    as a receiver crashing mid-request or a middlebox would."""

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._reset, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()

    @staticmethod
    async def _reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        # Linger on, timeout 0: close() sends RST rather than FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


async def test_a_connection_reset_reads_as_a_plain_sentence_in_both_languages(
    make_api: MakeApi,
) -> None:
    async with Resetter() as url:
        # One retry, far off: the pinned clock never reaches it, the first failure stays.
        api = await make_api(**hooks_on(**{"delivery.retry_schedule_s": [3600.0]}))
        console = await signed_in(api)
        contact = {"channel": "webhook", "address": url, "signing_secret": SECRET}
        body = {"name": "张伟", "unit": "1-1-101", "contacts": [contact]}
        status, created = await api.post("/api/v1/residents", json=body)
        assert status == 201, created
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")

        async def first() -> dict[str, Any]:
            _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
            return dict(body["messages"]["items"][0])

        message = await eventually(first, lambda m: bool(m["last_error"]), "failed once")

    technical = message["last_error"]
    assert message["last_error_code"] == "connection_reset", technical
    assert message["last_error_text"] == "对方中断了连接"  # the community's language
    assert message["attempt_log"][0]["error_text"] == "对方中断了连接"
    _, english = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"lang": "en"})
    said = english["messages"]["items"][0]
    assert said["last_error_text"] == "the receiver closed the connection"
    assert said["last_error"] == technical  # the technical reason stays, apart

    page = await console.get("/console/messages?lang=en")
    assert page.by_id(f"error-{message['id']}") == "the receiver closed the connection"
    page = await console.get(f"/console/messages/{message['id']}?lang=zh-CN")
    assert page.by_id("last-error") == "对方中断了连接"
    assert page.by_id("last-error-detail") == technical


@pytest.mark.parametrize(
    ("reason", "code", "english"),
    [
        ("ClientPayloadError", "connection_reset", "the receiver closed the connection"),
        ("invalid URL", "invalid_url", "the address is not a valid URL"),
        ("invalid URL: no host", "invalid_url", "the address is not a valid URL"),
        ("timed out after 5 s", "timeout", "the receiver did not answer in time"),
        ("HTTP 503", "receiver_error", "the receiver had a problem of its own (error 503)"),
        ("endpoint is gone (HTTP 410)", "gone", None),
        ("Telegram sendMessage 403: Forbidden: bot was blocked by the user", "blocked", None),
        ("twilio error 21610: Attempt to send to unsubscribed recipient", "unsubscribed", None),
        ("cannot connect to 127.0.0.1:9 (Connection refused)", "connection_refused", None),
        ("smtp 550: 5.1.1 no such user", "mail_refused", None),
        ("something new", "other", "the message could not be delivered"),
    ],
)
def test_stored_reasons_read_as_codes_with_sentences_in_both_languages(
    reason: str, code: str, english: str | None
) -> None:
    said = explain(reason, "en")
    assert said is not None and said.code == code
    if english is not None:
        assert said.text == english
    chinese = explain(reason, "zh-CN")
    assert chinese is not None and chinese.text and chinese.text != said.text


async def test_the_dashboard_names_a_failing_channel_in_plain_words(make_api: MakeApi) -> None:
    async with Resetter() as url:
        api = await make_api(**hooks_on(**{"delivery.retry_schedule_s": [3600.0]}))
        console = await signed_in(api)
        for n in range(FAILING_RUN):
            contact = {"channel": "webhook", "address": url, "signing_secret": SECRET}
            body = {"name": f"居民{n}", "unit": f"1-1-{n}01", "contacts": [contact]}
            status, created = await api.post("/api/v1/residents", json=body)
            assert status == 201, created
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")

        async def tried() -> int:
            _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
            return sum(1 for m in body["messages"]["items"] if m["last_error"])

        await eventually(tried, lambda n: n == FAILING_RUN, "all tried once")

    page = await console.get("/console?lang=en")
    assert page.by_id("failing-webhook") == (
        f"Channel webhook: the last {FAILING_RUN} attempts all failed:"
        " the receiver closed the connection"
    )
