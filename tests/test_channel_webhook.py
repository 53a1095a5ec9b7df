"""The webhook channel against a real receiver on 127.0.0.1: Standard Webhooks signatures,
status mapping, and the SSRF guard."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from channels.base import OutboundMessage, Outcome, PermanentFailure, TemporaryFailure
from channels.ssrf import GuardedResolver
from channels.webhook import WebhookChannel, WebhookChannelSettings
from service.core.errors import SettingsError
from service.core.ssrf import DestinationRefusedError, parse_networks, refusal
from service.core.webhook_rules import is_valid_secret, new_secret, sign, signature_header, verify
from tests.community import EVENTS, PATIENCE_S, hooks_on, published_event
from tests.conftest import MakeApi
from tests.fakes.webhook_receiver import WebhookReceiver

NOW = 1_800_000_000.0
SECRET = new_secret()
LOOPBACK = ("127.0.0.0/8",)

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _settings(allow: tuple[str, ...] = LOOPBACK, timeout_s: float = 5.0) -> WebhookChannelSettings:
    return WebhookChannelSettings(enabled=True, timeout_s=timeout_s, allow_private=allow)


def _message(
    url: str, *, secrets: tuple[str, ...] = (SECRET,), msg_id: str = "msg_1", payload: object = None
) -> OutboundMessage:
    return OutboundMessage(
        id=msg_id,
        channel="webhook",
        address=url,
        kind="event_published",
        language="zh",
        subject="",
        text=json.dumps(
            payload if payload is not None else {"type": "event.published", "id": 7},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
        secrets=secrets,
    )


@pytest.fixture
async def hook() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(SECRET, clock=lambda: NOW) as receiver:
        yield receiver


@pytest.fixture
async def channel() -> AsyncIterator[WebhookChannel]:
    ch = WebhookChannel(_settings(), clock=lambda: NOW)
    await ch.start()
    yield ch
    await ch.close()


def test_webhook_sign_reproduces_the_standard_webhooks_vector() -> None:
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TS),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10)
    assert not verify(VECTOR_SECRET, headers, b'{"test": 2432232315}', now=VECTOR_TS)
    assert not verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)
    assert not verify(new_secret(), headers, VECTOR_BODY, now=VECTOR_TS)


def test_webhook_secrets_are_well_formed() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and is_valid_secret(secret)
    assert secret != new_secret()
    assert is_valid_secret(VECTOR_SECRET)
    assert not is_valid_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")  # prefix missing
    assert not is_valid_secret("whsec_c2hvcnQ=")  # 5 bytes
    assert not is_valid_secret("whsec_not base64!")


def test_webhook_verify_accepts_any_of_several_signatures() -> None:
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], "msg_2", 100, b"{}")
    assert len(header.split(" ")) == 2
    headers = {"Webhook-Id": "msg_2", "Webhook-Timestamp": "100", "Webhook-Signature": header}
    assert verify(old, headers, b"{}", now=100)
    assert verify([new_secret(), new], headers, b"{}", now=100)
    assert not verify(new_secret(), headers, b"{}", now=100)


async def test_webhook_send_delivers_a_signed_payload(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    payload = {"type": "event.published", "title": "中秋游园会", "id": 7}
    receipt = await channel.send(_message(hook.url, payload=payload))
    assert receipt.outcome is Outcome.DELIVERED
    assert receipt.provider_id == "msg_1"
    [delivery] = hook.deliveries
    assert delivery.valid
    assert delivery.body == payload
    assert delivery.timestamp == int(NOW)
    [request] = hook.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Linli-Webhooks/1"
    # Serialised once, compact and as UTF-8 (not \\u escapes): what was signed is what went.
    assert request.raw == json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def test_webhook_id_is_stable_across_attempts(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    hook.script(500)
    message = _message(hook.url, msg_id="msg_retry")
    with pytest.raises(TemporaryFailure):
        await channel.send(message)
    await channel.send(message)
    await channel.send(message)
    assert [r.id for r in hook.requests] == ["msg_retry"] * 3
    assert len(hook.deliveries) == 1
    assert hook.duplicates == 1


async def test_webhook_two_secrets_give_two_valid_signatures(channel: WebhookChannel) -> None:
    old, new = new_secret(), new_secret()
    async with WebhookReceiver(old, clock=lambda: NOW) as old_only:
        await channel.send(_message(old_only.url, secrets=(new, old)))
        [request] = old_only.requests
    signatures = request.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    for secret, signature in zip((new, old), signatures, strict=True):
        headers = {**request.headers, "webhook-signature": signature}
        assert verify(secret, headers, request.raw, now=NOW)
    assert old_only.deliveries[0].valid


async def test_webhook_without_secret_is_refused(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    with pytest.raises(PermanentFailure, match="no signing secret"):
        await channel.send(_message(hook.url, secrets=()))
    assert hook.requests == []


@pytest.mark.parametrize(
    ("status", "gone"),
    [(410, True), (400, False), (404, False), (422, False)],
)
async def test_webhook_client_errors_are_permanent(
    hook: WebhookReceiver, channel: WebhookChannel, status: int, gone: bool
) -> None:
    hook.script(status)
    with pytest.raises(PermanentFailure) as failure:
        await channel.send(_message(hook.url))
    assert failure.value.address_gone is gone
    assert str(status) in failure.value.reason


async def test_webhook_redirect_is_not_followed(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    hook.script(302, location="/elsewhere")
    with pytest.raises(PermanentFailure, match="redirect not followed") as failure:
        await channel.send(_message(hook.url))
    assert not failure.value.address_gone
    assert [r.path for r in hook.requests] == ["/hook"]


async def test_webhook_429_honours_retry_after_seconds(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    hook.script(429, retry_after="7")
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(_message(hook.url))
    assert failure.value.retry_after == 7


async def test_webhook_503_honours_retry_after_date(
    hook: WebhookReceiver, channel: WebhookChannel
) -> None:
    later = datetime.fromtimestamp(NOW + 120, UTC)
    hook.script(503, retry_after=format_datetime(later, usegmt=True))
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(_message(hook.url))
    assert failure.value.retry_after == pytest.approx(120)


async def test_webhook_500_is_temporary(hook: WebhookReceiver, channel: WebhookChannel) -> None:
    hook.script(500)
    with pytest.raises(TemporaryFailure) as failure:
        await channel.send(_message(hook.url))
    assert failure.value.retry_after is None
    assert hook.deliveries == []


async def test_webhook_timeout_is_temporary(hook: WebhookReceiver) -> None:
    hook.delay(3.0)
    channel = WebhookChannel(_settings(timeout_s=0.3), clock=lambda: NOW)
    try:
        with pytest.raises(TemporaryFailure, match="timed out"):
            await channel.send(_message(hook.url))
    finally:
        await channel.close()


async def test_webhook_connection_refused_is_temporary(channel: WebhookChannel) -> None:
    async with WebhookReceiver(SECRET) as gone:
        url = gone.url
    with pytest.raises(TemporaryFailure, match="cannot connect"):
        await channel.send(_message(url))


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.1",
        "169.254.169.254",
        "[::1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "2130706433",
        "0x7f.0.0.1",
        "0x7f.1",
        "localhost",
        "127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "100.64.0.1",
    ],
)
async def test_webhook_private_destinations_are_refused(hook: WebhookReceiver, host: str) -> None:
    channel = WebhookChannel(_settings(allow=()), clock=lambda: NOW)
    try:
        with pytest.raises(PermanentFailure, match="is not allowed: private address") as failure:
            await channel.send(_message(f"http://{host}:{hook.port}/hook"))
    finally:
        await channel.close()
    assert not failure.value.address_gone
    # Refused before connecting: the receiver on 127.0.0.1 saw nothing.
    assert hook.requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "example.com"])
async def test_webhook_other_schemes_are_refused(channel: WebhookChannel, url: str) -> None:
    with pytest.raises(PermanentFailure, match="not allowed"):
        await channel.send(_message(url))


async def test_webhook_allow_list_admits_loopback_by_name(hook: WebhookReceiver) -> None:
    channel = WebhookChannel(_settings(allow=("127.0.0.0/8", "::1/128")), clock=lambda: NOW)
    try:
        receipt = await channel.send(_message(f"http://localhost:{hook.port}/hook"))
    finally:
        await channel.close()
    assert receipt.outcome is Outcome.DELIVERED
    assert hook.deliveries[0].valid


async def test_webhook_guarded_resolver_returns_only_checked_addresses() -> None:
    resolver = GuardedResolver(parse_networks(["127.0.0.0/8", "::1"]))
    results = await resolver.resolve("localhost", 80)
    assert results and all(r["host"] in ("127.0.0.1", "::1") for r in results)
    with pytest.raises(DestinationRefusedError):
        await GuardedResolver().resolve("localhost", 80)


def test_webhook_refusal_judges_embedded_ipv4() -> None:
    from ipaddress import ip_address

    allow = parse_networks(["10.0.0.0/8"])
    assert refusal(ip_address("::ffff:10.1.2.3"), allow) is None
    assert refusal(ip_address("::ffff:127.0.0.1"), allow) == "private address"
    assert refusal(ip_address("2002:7f00:1::"), ()) == "private address"  # 6to4 of 127.0.0.1
    assert refusal(ip_address("64:ff9b::a9fe:a9fe"), ()) == "private address"  # NAT64
    assert refusal(ip_address("93.184.215.14"), ()) is None
    assert refusal(ip_address("2606:4700::1111"), ()) is None


def test_webhook_bad_allow_list_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match=r"channels\.webhook\.allow_private"):
        WebhookChannel(_settings(allow=("10.0.0.0/8", "intranet")))


async def test_a_residents_webhook_payload_is_a_standard_webhooks_envelope(
    make_api: MakeApi,
) -> None:
    async with WebhookReceiver(SECRET) as receiver:
        api = await make_api(**hooks_on())
        status, created = await api.post(
            "/api/v1/residents",
            json={
                "name": "李娜",
                "unit": "1-1-102",
                "contacts": [
                    {"channel": "webhook", "address": receiver.url, "signing_secret": SECRET}
                ],
            },
        )
        assert status == 201, created
        event_id = await published_event(api)
        status, _ = await api.post(f"{EVENTS}/{event_id}/send")
        assert status in (200, 202)
        await receiver.wait_for(1, within_s=PATIENCE_S)
    [delivery] = receiver.deliveries
    assert delivery.valid
    # Like the subscriptions' payloads: type, when it happened (UTC), and the data.
    assert list(delivery.body) == ["type", "timestamp", "data"]
    assert delivery.body["type"] == "invitation.created"
    assert delivery.body["timestamp"] == "2026-11-28T02:00:00Z"
    assert delivery.body["data"]["event"]["id"] == event_id
