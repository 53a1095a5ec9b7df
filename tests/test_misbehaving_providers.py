"""Providers that answer oddly, as an audit against stand-ins found them answering: an
absurd Retry-After, a 2xx whose body breaks off or is not JSON, an error code of the
wrong type. Each channel still says what happened, in the terms the worker plans with."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from aiohttp import web

from channels.base import (
    MAX_WAIT_S,
    Channel,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    TemporaryFailure,
)
from channels.sms import SmsChannelSettings, TwilioSms
from channels.telegram import TelegramChannel, TelegramChannelSettings
from channels.webhook import WebhookChannel, WebhookChannelSettings
from service.core.webhook_rules import new_secret
from tests.fakes.server import FakeHttpServer

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = "123456:ABC-token_for-tests"


class Misbehaving(FakeHttpServer):
    """Answers every request with whatever `answer` is set to."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: Answer | None = None
        self.requests = 0

    def _routes(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.read()
        assert self.answer is not None
        return await self.answer(request)


C = TypeVar("C", bound=Channel)


@contextlib.asynccontextmanager
async def opened(channel: C) -> AsyncIterator[C]:
    await channel.start()
    try:
        yield channel
    finally:
        await channel.close()


@pytest.fixture
async def provider() -> AsyncIterator[Misbehaving]:
    async with Misbehaving() as server:
        yield server


def _message(address: str, **kw: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "id": "msg_1",
        "channel": "webhook",
        "address": address,
        "kind": "invitation",
        "language": "en",
        "subject": "",
        "text": '{"type": "invitation"}',
        "secrets": (new_secret(),),
        **kw,
    }
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def _status(status: int, headers: dict[str, str] | None = None, body: str = "") -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, text=body)

    return answer


def test_a_providers_advised_wait_is_kept_within_a_day() -> None:
    assert TemporaryFailure("x", retry_after=7).retry_after == 7
    for absurd in (99_999_999_999_999.0, 1e300, math.inf):
        assert TemporaryFailure("x", retry_after=absurd).retry_after == MAX_WAIT_S
    for meaningless in (-5.0, math.nan):
        assert TemporaryFailure("x", retry_after=meaningless).retry_after is None


@pytest.mark.parametrize("status", [429, 503])
async def test_webhook_absurd_retry_after_is_a_day(provider: Misbehaving, status: int) -> None:
    # Once an OverflowError planning the retry, which lost the whole batch of results.
    provider.answer = _status(status, {"Retry-After": "99999999999999"})
    async with opened(
        WebhookChannel(WebhookChannelSettings(enabled=True, allow_private=("127.0.0.0/8",)))
    ) as channel:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(_message(f"{provider.url}/hook"))
    assert failure.value.retry_after == MAX_WAIT_S


async def test_webhook_2xx_whose_body_breaks_off_is_delivered(provider: Misbehaving) -> None:
    async def partial(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Length": "100"})
        await response.prepare(request)
        await response.write(b"ok")
        assert request.transport is not None
        request.transport.close()  # a reset after the status line
        return response

    provider.answer = partial
    async with opened(
        WebhookChannel(
            WebhookChannelSettings(enabled=True, allow_private=("127.0.0.0/8",), timeout_s=2)
        )
    ) as channel:
        receipt = await channel.send(_message(f"{provider.url}/hook"))
    # Once a TemporaryFailure: the receiver got the message again, then email too.
    assert receipt.outcome == Outcome.DELIVERED and provider.requests == 1


@pytest.mark.parametrize("body", ["<html>ok</html>", "{not json", "x" * 200_000])
async def test_telegram_2xx_with_an_unreadable_body_is_sent(
    provider: Misbehaving, body: str
) -> None:
    provider.answer = _status(200, {"Content-Type": "application/json"}, body)
    settings = TelegramChannelSettings(enabled=True, bot_token=TOKEN, api_url=provider.url)
    async with opened(TelegramChannel(settings)) as channel:
        receipt = await channel.send(_message("42", channel="telegram", text="hi"))
    # Once a permanent "Telegram sendMessage 200", then a fallback: the resident got both.
    assert receipt.outcome == Outcome.SENT and receipt.provider_id is None


async def test_telegram_429_without_parameters_honours_the_retry_after_header(
    provider: Misbehaving,
) -> None:
    provider.answer = _status(429, {"Retry-After": "8"})
    settings = TelegramChannelSettings(enabled=True, bot_token=TOKEN, api_url=provider.url)
    async with opened(TelegramChannel(settings)) as channel:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(_message("42", channel="telegram", text="hi"))
    assert failure.value.retry_after == 8


@pytest.mark.parametrize("code", ["[21211]", '{"n": 21211}', '"21211"', "true"])
async def test_twilio_error_code_of_another_type_is_a_plain_permanent_failure(
    provider: Misbehaving, code: str
) -> None:
    # A list once raised TypeError ("unhashable") inside the channel: retried four times.
    body = '{"code": ' + code + ', "message": "The To number is not valid"}'
    provider.answer = _status(400, {"Content-Type": "application/json"}, body)
    settings = SmsChannelSettings(
        enabled=True,
        provider="twilio",
        url=provider.url,
        account_sid="AC" + "0" * 32,
        auth_token="t" * 32,
        from_number="+8613800000000",
    )
    async with opened(TwilioSms(settings)) as channel:
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(_message("+8613800138000", channel="sms", text="hi"))
    assert not failure.value.address_gone and "HTTP 400" in failure.value.reason
