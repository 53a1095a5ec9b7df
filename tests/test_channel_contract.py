"""The contract every channel keeps, run against each one's local stand-in: a message goes
through; a temporary failure is temporary, with the provider's Retry-After when its
protocol has one; a permanent failure is permanent; no answer in time is temporary; an
answer that breaks off ends in a receipt or a failure, never another error; and no
failure reason carries a secret of the channel's declared secret fields.

A new channel is its module, its stand-in, and one entry in STANDS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Final

import pytest

from channels.base import (
    Channel,
    ChannelFailure,
    Context,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    Receipt,
    Registry,
    TemporaryFailure,
)
from channels.registry import CHANNELS, build_routes
from service.core.config import setting
from service.core.webhook_rules import new_secret
from tests.fakes.generic_sms import API_KEY, GenericEndpoint
from tests.fakes.group_bots import (
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    FEISHU_HOOK,
    FEISHU_SECRET,
    WECOM_KEY,
    FakeDingtalk,
    FakeFeishu,
    FakeGroupBot,
    FakeWecom,
)
from tests.fakes.server import FakeHttpServer, Misbehaviour
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.smtp import SmtpSink
from tests.fakes.telegram import FakeTelegram
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio
from tests.fakes.webhook_receiver import WebhookReceiver

# Short enough to keep the suite quick; the stalling stand-in answers only when stopped.
TIMEOUT_S = 0.5
WAIT_S = 7


@dataclass
class Stand:
    """A channel wired to its running stand-in, and the stand-in's switches."""

    channel: Channel
    table: Any  # the channel's settings table
    address: str
    temporary: Callable[[], None] | None = None  # the next send fails for now (WAIT_S)
    retry_after: float | None = None  # what `temporary` should carry
    permanent: Callable[[], None] | None = None
    misbehave: Callable[[Misbehaviour], None] | None = None
    secrets: tuple[str, ...] = ()  # extra secrets a message carries (webhook signing)


Standing = contextlib.AbstractAsyncContextManager[Stand]


@contextlib.asynccontextmanager
async def _email(tmp: Path) -> AsyncIterator[Stand]:
    login = ("linli", "smtp-secret-password")
    async with SmtpSink(credentials=login) as sink:
        table = replace(
            _table("email"), enabled=True, host=sink.host, port=sink.port, security="none"
        )
        table = replace(table, timeout_s=TIMEOUT_S, username=login[0], password=login[1])
        yield Stand(
            Channel_of(table, "email"),
            table,
            "ren@example.org",
            # SMTP has no Retry-After: a 4xx is temporary, and the worker's schedule decides.
            temporary=lambda: sink.fail_next(451),
            permanent=lambda: sink.fail_next(550),
            misbehave=sink.misbehave_next,
        )


def _http_stand(
    fake: FakeHttpServer, table: Any, name: str, address: str, **switches: Any
) -> Stand:
    return Stand(Channel_of(table, name), table, address, misbehave=fake.misbehave_next, **switches)


def _sms(table: Any, fake: FakeTwilio | FakeSmsGateway | GenericEndpoint) -> Stand:
    return _http_stand(
        fake,
        table,
        "sms",
        "+8613800138000",
        temporary=lambda: fake.fail_next(503, retry_after=WAIT_S),
        retry_after=WAIT_S,
        permanent=lambda: fake.fail_next(400),
    )


@contextlib.asynccontextmanager
async def _twilio(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeTwilio() as twilio:
        table = replace(_table("sms"), enabled=True, provider="twilio", url=twilio.url)
        table = replace(table, account_sid=twilio.account_sid, auth_token=twilio.auth_token)
        table = replace(table, from_number=FROM_NUMBER, timeout_s=TIMEOUT_S)
        yield _sms(table, twilio)


@contextlib.asynccontextmanager
async def _android(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeSmsGateway() as gateway:
        table = replace(_table("sms"), enabled=True, provider="android_gateway", url=gateway.url)
        table = replace(
            table, username=gateway.username, password=gateway.password, timeout_s=TIMEOUT_S
        )
        yield _sms(table, gateway)


@contextlib.asynccontextmanager
async def _generic(tmp: Path) -> AsyncIterator[Stand]:
    async with GenericEndpoint() as endpoint:
        table = replace(_table("sms"), enabled=True, provider="generic", url=endpoint.url)
        table = replace(table, api_key=API_KEY, timeout_s=TIMEOUT_S)
        yield _sms(table, endpoint)


@contextlib.asynccontextmanager
async def _telegram(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeTelegram() as bot:
        table = replace(_table("telegram"), enabled=True, bot_token=bot.token, api_url=bot.url)
        table = replace(table, webhook_secret="tg-webhook-secret", timeout_s=TIMEOUT_S)
        yield _http_stand(
            bot,
            table,
            "telegram",
            "42",
            temporary=lambda: bot.fail_next(429, retry_after=WAIT_S),
            retry_after=WAIT_S,
            permanent=lambda: bot.fail_next(400),
        )


@contextlib.asynccontextmanager
async def _webhook(tmp: Path) -> AsyncIterator[Stand]:
    secret = new_secret()
    async with WebhookReceiver(secret) as receiver:
        table = replace(
            _table("webhook"), enabled=True, allow_private=("127.0.0.0/8",), timeout_s=TIMEOUT_S
        )
        yield _http_stand(
            receiver,
            table,
            "webhook",
            receiver.url,
            temporary=lambda: receiver.script(503, retry_after=str(WAIT_S)),
            retry_after=WAIT_S,
            permanent=lambda: receiver.script(400),
            secrets=(secret,),
        )


@contextlib.asynccontextmanager
async def _file(tmp: Path) -> AsyncIterator[Stand]:
    # Local files: no provider to refuse, stall or break off.
    table = replace(_table("file"), enabled=True, path=str(tmp / "outbox"))
    yield Stand(Channel_of(table, "file"), table, "+8613800138000")


def _bot_stand(bot: FakeGroupBot, name: str, secrets: tuple[str, ...], refused: int) -> Stand:
    table = replace(_table(name), enabled=True, api_url=bot.url, timeout_s=TIMEOUT_S)
    channel = Channel_of(table, name)
    return _http_stand(
        bot,
        table,
        name,
        "group-1",
        temporary=lambda: bot.fail_next(bot.throttled),
        # The provider's throttling window, as its documentation gives it.
        retry_after=type(channel).codes.throttled_wait_s,  # type: ignore[attr-defined]
        permanent=lambda: bot.fail_next(refused),
        secrets=secrets,
    )


@contextlib.asynccontextmanager
async def _wecom(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeWecom() as bot:
        yield _bot_stand(bot, "wecom", (WECOM_KEY,), 93000)


@contextlib.asynccontextmanager
async def _dingtalk(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeDingtalk() as bot:
        yield _bot_stand(bot, "dingtalk", (DINGTALK_TOKEN, DINGTALK_SECRET), 310000)


@contextlib.asynccontextmanager
async def _feishu(tmp: Path) -> AsyncIterator[Stand]:
    async with FakeFeishu() as bot:
        yield _bot_stand(bot, "feishu", (FEISHU_HOOK, FEISHU_SECRET), 19021)


# Every registered channel (SMS once per provider), and how to stand it up.
STANDS: dict[str, Callable[[Path], Standing]] = {
    "email": _email,
    "sms-twilio": _twilio,
    "sms-android_gateway": _android,
    "sms-generic": _generic,
    "telegram": _telegram,
    "webhook": _webhook,
    "wecom": _wecom,
    "dingtalk": _dingtalk,
    "feishu": _feishu,
    "file": _file,
}


# The channels with a provider that can fail, stall or break off: every one but the file
# channel, which writes on this machine (parametrised apart, so no case is skipped).
PROVIDERS: Final = tuple(key for key in STANDS if key != "file")


def _table(name: str) -> Any:
    """The default settings table of the registered channel `name`."""
    return next(spec.settings for spec in CHANNELS if spec.name == name)()


def Channel_of(table: Any, name: str) -> Channel:
    """The channel built as the app builds it, from its table through the registry."""
    tables = SimpleNamespace(**{spec.name: _table(spec.name) for spec in CHANNELS})
    setattr(tables, name, table)
    return build_routes(tables, Context("学府雍景湾"))[name if name != "file" else "sms"].channel


@contextlib.asynccontextmanager
async def standing(key: str, tmp: Path) -> AsyncIterator[Stand]:
    async with STANDS[key](tmp) as stand:
        await stand.channel.start()
        try:
            yield stand
        finally:
            await stand.channel.close()


def _message(stand: Stand, channel: str) -> OutboundMessage:
    text = '{"type": "linli.test"}' if channel == "webhook" else "院会 7月3日 19:00"
    return OutboundMessage(
        id="msg_contract_1",
        channel=channel,
        address=stand.address,
        kind="invitation",
        language="zh-CN",
        subject="院会",
        text=text,
        secrets=stand.secrets,
    )


async def _send(stand: Stand, key: str) -> Receipt:
    return await stand.channel.send(_message(stand, key.partition("-")[0]))


def _no_secret_in(stand: Stand, failure: ChannelFailure) -> None:
    spec = next(s for s in CHANNELS if s.name == type(stand.channel).name)
    declared = [str(getattr(stand.table, name)) for name in spec.secret_fields]
    for secret in [*declared, *stand.secrets]:
        if len(secret) >= 4:
            assert secret not in failure.reason, f"{secret!r} in {failure.reason!r}"


def test_contract_covers_every_registered_channel() -> None:
    assert {key.partition("-")[0] for key in STANDS} == {spec.name for spec in CHANNELS}


@pytest.mark.parametrize("key", STANDS)
async def test_contract_success(key: str, tmp_path: Path) -> None:
    async with standing(key, tmp_path) as stand:
        receipt = await _send(stand, key)
    assert receipt.outcome in (Outcome.SENT, Outcome.DELIVERED)


@pytest.mark.parametrize("key", PROVIDERS)
async def test_contract_temporary_failure_honours_retry_after(key: str, tmp_path: Path) -> None:
    async with standing(key, tmp_path) as stand:
        assert stand.temporary is not None, key
        stand.temporary()
        with pytest.raises(TemporaryFailure) as failure:
            await _send(stand, key)
        # And the next attempt goes through.
        await _send(stand, key)
    assert failure.value.retry_after == stand.retry_after
    _no_secret_in(stand, failure.value)


@pytest.mark.parametrize("key", PROVIDERS)
async def test_contract_permanent_failure(key: str, tmp_path: Path) -> None:
    async with standing(key, tmp_path) as stand:
        assert stand.permanent is not None, key
        stand.permanent()
        with pytest.raises(PermanentFailure) as failure:
            await _send(stand, key)
    _no_secret_in(stand, failure.value)


@pytest.mark.parametrize("key", PROVIDERS)
async def test_contract_no_answer_in_time_is_temporary(key: str, tmp_path: Path) -> None:
    async with standing(key, tmp_path) as stand:
        assert stand.misbehave is not None, key
        stand.misbehave("stall")
        with pytest.raises(TemporaryFailure) as failure:
            await _send(stand, key)
    _no_secret_in(stand, failure.value)


@pytest.mark.parametrize("key", PROVIDERS)
async def test_contract_answer_that_breaks_off(key: str, tmp_path: Path) -> None:
    async with standing(key, tmp_path) as stand:
        assert stand.misbehave is not None, key
        stand.misbehave("break")
        try:
            receipt = await _send(stand, key)
        except ChannelFailure as failure:
            _no_secret_in(stand, failure)
        else:
            # Only a provider that had spoken (a 2xx status) may count it as taken.
            assert receipt.outcome in (Outcome.SENT, Outcome.DELIVERED)


# --- A channel the registry has never seen: the whole of it, to show what a new one is.


@dataclass(frozen=True)
class PigeonSettings:
    """[channels.pigeon]: a loft."""

    enabled: bool = setting(False)
    loft_key: str = setting("", secret=True)
    concurrency: int = setting(1)
    rate_per_s: float = setting(0.0)


class Pigeon(Channel):
    """Carries a message by bird; the address is the loft."""

    name = "pigeon"
    settings_class = PigeonSettings

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> Channel:
        return cls()

    async def send(self, message: OutboundMessage) -> Receipt:
        return Receipt(Outcome.DELIVERED, provider_id=message.id)


async def test_registry_takes_a_new_channel_and_refuses_a_second_of_a_name() -> None:
    registry = Registry()
    for spec in CHANNELS:
        registry.register(spec.channel)
    registry.register(Pigeon)
    assert registry["pigeon"].secret_fields == ("loft_key",)
    tables = SimpleNamespace(**{spec.name: spec.settings() for spec in registry.specs()})
    tables.pigeon = PigeonSettings(enabled=True)
    tables.file = replace(tables.file, enabled=False)
    routes = build_routes(tables, Context(), registry.specs())
    assert list(routes) == ["pigeon"]
    receipt = await routes["pigeon"].channel.send(
        OutboundMessage("m1", "pigeon", "loft 3", "invitation", "en", "", "hi")
    )
    assert receipt.provider_id == "m1"
    with pytest.raises(ValueError, match="pigeon"):
        registry.register(Pigeon)
