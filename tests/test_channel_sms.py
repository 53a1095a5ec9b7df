"""The SMS channel against local stand-ins of Twilio, android-sms-gateway and a generic
endpoint, and the pure callback helpers the web layer uses."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from channels.base import (
    AndroidEvent,
    DeliveryReport,
    OutboundMessage,
    Outcome,
    PermanentFailure,
    TemporaryFailure,
)
from channels.sms import (
    AndroidGatewaySms,
    GenericSms,
    SmsChannel,
    SmsChannelSettings,
    TwilioSms,
    android_message_id,
    sms_channel,
)
from channels.sms_callbacks import (
    android_report,
    parse_android_event,
    parse_twilio_status,
    public_url,
    twilio_algorithm,
    twilio_signature,
    verify_android,
    verify_twilio,
)
from service.core.errors import SettingsError
from service.core.extras import Extras
from tests.fakes.generic_sms import API_KEY, GenericEndpoint
from tests.fakes.sms_gateway import WEBHOOK_SECRET, FakeSmsGateway, android_event, android_signed
from tests.fakes.twilio import (
    FROM_NUMBER,
    FakeTwilio,
    twilio_signed,
    twilio_status_callback_params,
)

PHONE = "+8613800138000"
TEXT = "邻里活动：周六 10:00 包饺子，回复 1 参加"
NOW = 1_800_000_000.0


def sms(*, id: str = "msg-0001", to: str = PHONE, **extra: Any) -> OutboundMessage:
    return OutboundMessage(
        id=id,
        channel="sms",
        address=to,
        kind="invitation",
        language="zh",
        subject="",
        text=TEXT,
        extra=Extras(**extra),
    )


def twilio_settings(twilio: FakeTwilio, **changes: Any) -> SmsChannelSettings:
    base = SmsChannelSettings(
        enabled=True,
        provider="twilio",
        url=twilio.url,
        account_sid=twilio.account_sid,
        auth_token=twilio.auth_token,
        from_number=FROM_NUMBER,
    )
    return replace(base, **changes)


def gateway_settings(gateway: FakeSmsGateway, **changes: Any) -> SmsChannelSettings:
    base = SmsChannelSettings(
        enabled=True,
        provider="android_gateway",
        url=gateway.url,
        username=gateway.username,
        password=gateway.password,
    )
    return replace(base, **changes)


def generic_settings(endpoint: GenericEndpoint) -> SmsChannelSettings:
    return SmsChannelSettings(enabled=True, provider="generic", url=endpoint.url, api_key=API_KEY)


PROVIDERS = ("twilio", "android_gateway", "generic")
Fake = FakeTwilio | FakeSmsGateway | GenericEndpoint


@contextlib.asynccontextmanager
async def provider(name: str) -> AsyncIterator[tuple[Fake, SmsChannelSettings]]:
    """A running stand-in of provider `name`, and settings that reach it."""
    if name == "twilio":
        async with FakeTwilio() as twilio:
            yield twilio, twilio_settings(twilio)
    elif name == "android_gateway":
        async with FakeSmsGateway() as gateway:
            yield gateway, gateway_settings(gateway)
    else:
        async with GenericEndpoint() as endpoint:
            yield endpoint, generic_settings(endpoint)


# Settings that pass every check but are never sent with.
OFFLINE: dict[str, SmsChannelSettings] = {
    "twilio": SmsChannelSettings(
        provider="twilio",
        url="https://api.twilio.com",
        account_sid="AC1",
        auth_token="token",
        from_number=FROM_NUMBER,
    ),
    "android_gateway": SmsChannelSettings(
        provider="android_gateway", url="http://phone:8080", username="sms", password="pw"
    ),
    "generic": SmsChannelSettings(provider="generic", url="https://sms.example/send", api_key="k"),
}


@contextlib.asynccontextmanager
async def opened(settings: SmsChannelSettings, **kwargs: Any) -> AsyncIterator[SmsChannel]:
    channel = sms_channel(settings, **kwargs)
    await channel.start()
    try:
        yield channel
    finally:
        await channel.close()


# --- every provider ---


@pytest.mark.parametrize("name", PROVIDERS)
async def test_sms_429_is_temporary_with_retry_after(name: str) -> None:
    async with provider(name) as (fake, settings), opened(settings) as channel:
        fake.fail_next(429, retry_after=7)
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(sms())
        assert failure.value.retry_after == 7
        assert "429" in failure.value.reason


@pytest.mark.parametrize("name", PROVIDERS)
async def test_sms_connection_refused_is_temporary(name: str) -> None:
    async with provider(name) as (_, settings):
        pass  # stopped: its port now refuses connections
    async with opened(settings) as channel:
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(sms())
    assert "cannot connect" in failure.value.reason
    for key in SmsChannel.secret_fields:
        secret = getattr(settings, key)
        assert not secret or secret not in failure.value.reason


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("twilio", "url"),
        ("twilio", "account_sid"),
        ("twilio", "auth_token"),
        ("twilio", "from_number"),
        ("android_gateway", "url"),
        ("android_gateway", "username"),
        ("android_gateway", "password"),
        ("generic", "url"),
        ("generic", "api_key"),
    ],
)
def test_sms_missing_setting_is_named(name: str, key: str) -> None:
    blank: dict[str, Any] = {key: ""}
    with pytest.raises(SettingsError, match=rf"^channels\.sms\.{key}: "):
        sms_channel(replace(OFFLINE[name], **blank))


# --- Twilio ---


async def test_twilio_send_posts_form_with_basic_auth_and_returns_sid() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        receipt = await channel.send(sms(status_callback="https://linli.example/hooks/twilio"))

        [request] = twilio.requests
        assert request.path == f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"
        assert request.content_type == "application/x-www-form-urlencoded"
        assert request.auth == (twilio.account_sid, twilio.auth_token)
        assert request.form == {
            "To": PHONE,
            "From": FROM_NUMBER,
            "Body": TEXT,
            "StatusCallback": "https://linli.example/hooks/twilio",
        }
        [created] = twilio.messages
        assert receipt.outcome is Outcome.SENT
        assert receipt.provider_id is not None
        assert receipt.provider_id == created["sid"]
        assert receipt.provider_id.startswith("SM")


async def test_twilio_send_without_status_callback_omits_it() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        await channel.send(sms())
        assert "StatusCallback" not in twilio.requests[0].form


async def test_twilio_messaging_service_sid_replaces_from() -> None:
    service_sid = "MG" + "0" * 32
    async with FakeTwilio() as twilio:
        async with opened(twilio_settings(twilio, from_number=service_sid)) as channel:
            await channel.send(sms())
        form = twilio.requests[0].form
        assert form["MessagingServiceSid"] == service_sid
        assert "From" not in form


async def test_twilio_retry_after_as_http_date_counts_from_now() -> None:
    later = format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90), usegmt=True)
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio), clock=lambda: NOW) as ch:
        twilio.fail_next(503, retry_after=later)
        with pytest.raises(TemporaryFailure) as failure:
            await ch.send(sms())
        assert failure.value.retry_after == 90


async def test_twilio_500_is_temporary() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        twilio.fail_next(500)
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(sms())
        assert failure.value.retry_after is None


async def test_twilio_invalid_number_is_permanent_and_address_gone() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms(to="12345"))
        assert failure.value.address_gone
        assert "21211" in failure.value.reason
        assert "not a valid phone number" in failure.value.reason


async def test_twilio_unsubscribed_recipient_is_address_gone() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        twilio.unsubscribed.add(PHONE)
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms())
        assert failure.value.address_gone
        assert "21610" in failure.value.reason


async def test_twilio_other_refusal_is_permanent_for_this_message_only() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        twilio.fail_next(400, code=21408, message="Permission to send an SMS has not been enabled")
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms())
        assert not failure.value.address_gone
        assert "21408" in failure.value.reason


async def test_twilio_wrong_token_is_temporary_and_not_revealed() -> None:
    async with FakeTwilio() as twilio:
        wrong = "wrong-token-that-must-stay-secret"
        async with opened(twilio_settings(twilio, auth_token=wrong)) as channel:
            with pytest.raises(TemporaryFailure) as failure:
                await channel.send(sms())
        assert failure.value.reason == "provider refused our credentials (HTTP 401)"
        assert wrong not in failure.value.reason


async def test_twilio_secret_echoed_by_provider_is_scrubbed_from_reason() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio)) as channel:
        twilio.fail_next(400, code=21000, message=f"token {twilio.auth_token} is odd")
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms())
        assert twilio.auth_token not in failure.value.reason
        assert "***" in failure.value.reason


async def test_twilio_slow_answer_is_temporary() -> None:
    async with FakeTwilio() as twilio, opened(twilio_settings(twilio, timeout_s=0.2)) as ch:
        twilio.delay_s = 2
        with pytest.raises(TemporaryFailure) as failure:
            await ch.send(sms())
        assert "did not answer within 0.2 s" in failure.value.reason


# --- android-sms-gateway ---


async def test_android_send_posts_json_with_basic_auth_and_returns_id() -> None:
    async with FakeSmsGateway() as gateway, opened(gateway_settings(gateway)) as channel:
        receipt = await channel.send(sms(ttl_s=3600))

        [request] = gateway.requests
        assert request.path == "/message"
        assert request.auth == (gateway.username, gateway.password)
        assert request.body == {
            "id": "msg-0001",
            "textMessage": {"text": TEXT},
            "phoneNumbers": [PHONE],
            "withDeliveryReport": True,
            "ttl": 3600,
        }
        assert receipt.outcome is Outcome.SENT
        assert receipt.provider_id == "msg-0001"
        assert list(gateway.messages) == ["msg-0001"]


async def test_android_resend_uses_same_id_and_gateway_keeps_one_message() -> None:
    async with FakeSmsGateway() as gateway, opened(gateway_settings(gateway)) as channel:
        message = sms(id="0f8e2a8c-4cb1-4d4b-9a47-1f6a5d0c9e3b|attempt-long-id")
        first = await channel.send(message)
        # The gateway refuses the repeat (409): the first attempt got there, so it is sent.
        second = await channel.send(replace(message, attempt=2))

        ids = [request.body["id"] for request in gateway.requests]
        assert len(ids) == 2 and ids[0] == ids[1]
        assert len(ids[0]) <= 36
        assert list(gateway.messages) == [ids[0]]
        assert first.provider_id == second.provider_id == ids[0]


async def test_android_old_gateway_duplicate_500_counts_as_sent() -> None:
    async with FakeSmsGateway() as gateway, opened(gateway_settings(gateway)) as channel:
        gateway.fail_next(500, message="Message with the same ID already exists")
        receipt = await channel.send(sms())
        assert receipt.provider_id == "msg-0001"


async def test_android_500_is_temporary() -> None:
    async with FakeSmsGateway() as gateway, opened(gateway_settings(gateway)) as channel:
        gateway.fail_next(500, message="SIM 2 not found")
        with pytest.raises(TemporaryFailure) as failure:
            await channel.send(sms())
        assert "SIM 2 not found" in failure.value.reason


async def test_android_400_is_permanent_with_gateway_message() -> None:
    async with FakeSmsGateway() as gateway, opened(gateway_settings(gateway)) as channel:
        gateway.fail_next(400, message="Invalid phone number")
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms(to="12345"))
        assert "Invalid phone number" in failure.value.reason
        assert not failure.value.address_gone


async def test_android_wrong_password_is_temporary_and_not_revealed() -> None:
    async with FakeSmsGateway() as gateway:
        wrong = "wrong-password-that-must-stay-secret"
        async with opened(gateway_settings(gateway, password=wrong)) as channel:
            with pytest.raises(TemporaryFailure) as failure:
                await channel.send(sms())
        assert "credentials" in failure.value.reason
        assert wrong not in failure.value.reason
        assert gateway.messages == {}


def test_android_message_id_keeps_short_ids_and_derives_long_ones() -> None:
    assert android_message_id("msg-0001") == "msg-0001"
    long_id = "x" * 37
    derived = android_message_id(long_id)
    assert derived == android_message_id(long_id)
    assert len(derived) <= 36
    assert android_message_id("a|b") != "a|b"
    assert "|" not in android_message_id("a|b")


# --- generic ---


async def test_generic_send_posts_json_with_bearer_and_returns_id() -> None:
    async with GenericEndpoint() as endpoint, opened(generic_settings(endpoint)) as channel:
        receipt = await channel.send(sms())
        assert endpoint.requests == [
            (f"Bearer {API_KEY}", {"id": "msg-0001", "to": PHONE, "text": TEXT})
        ]
        assert receipt.provider_id == "gen-1"


@pytest.mark.parametrize(("status", "failure"), [(500, TemporaryFailure), (400, PermanentFailure)])
async def test_generic_failures(status: int, failure: type[Exception]) -> None:
    async with GenericEndpoint() as endpoint, opened(generic_settings(endpoint)) as channel:
        endpoint.fail_next(status)
        with pytest.raises(failure) as raised:
            await channel.send(sms())
        if isinstance(raised.value, TemporaryFailure):
            assert raised.value.retry_after is None


async def test_generic_secret_echoed_by_endpoint_is_scrubbed() -> None:
    async with GenericEndpoint() as endpoint, opened(generic_settings(endpoint)) as channel:
        endpoint.fail_next(400, body={"error": {"message": f"bad key Bearer {API_KEY}"}})
        with pytest.raises(PermanentFailure) as failure:
            await channel.send(sms())
        assert API_KEY not in failure.value.reason
        assert "bad key" in failure.value.reason


# --- factory ---


@pytest.mark.parametrize(
    ("name", "cls"),
    [("twilio", TwilioSms), ("android_gateway", AndroidGatewaySms), ("generic", GenericSms)],
)
def test_sms_channel_builds_provider(name: str, cls: type[SmsChannel]) -> None:
    channel = sms_channel(OFFLINE[name])
    assert type(channel) is cls
    assert channel.name == "sms"
    assert channel.rate_key(sms()) is None


def test_sms_channel_refuses_credentials_in_url() -> None:
    settings = replace(OFFLINE["android_gateway"], url="http://sms:pw@phone:8080")
    with pytest.raises(SettingsError, match=r"^channels\.sms\.url: "):
        sms_channel(settings)


# --- Twilio callbacks ---

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_signature_matches_documented_example() -> None:
    assert twilio_signature(DOC_URL, DOC_PARAMS, "12345") == DOC_SIGNATURE
    assert twilio_signature(DOC_URL, list(DOC_PARAMS.items()), "12345") == DOC_SIGNATURE


def test_verify_twilio_accepts_only_the_signed_request() -> None:
    assert verify_twilio(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, "12345")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, "54321")
    assert not verify_twilio(DOC_URL, DOC_PARAMS | {"Digits": "9"}, DOC_SIGNATURE, "12345")
    # A parameter Twilio added counts too: it cannot be dropped or slipped in.
    assert not verify_twilio(DOC_URL, DOC_PARAMS | {"New": "1"}, DOC_SIGNATURE, "12345")
    assert not verify_twilio(DOC_URL.replace("https", "http"), DOC_PARAMS, DOC_SIGNATURE, "12345")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, "", "12345")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, "签名", "12345")


def test_verify_twilio_accepts_default_port_either_way() -> None:
    with_port = DOC_URL.replace("mycompany.com", "mycompany.com:443")
    assert verify_twilio(with_port, DOC_PARAMS, DOC_SIGNATURE, "12345")
    signed_with_port = twilio_signature(with_port, DOC_PARAMS, "12345")
    assert verify_twilio(DOC_URL, DOC_PARAMS, signed_with_port, "12345")


# Twilio's documented example signed at https://mycompany.com:8443/… (fixed vectors).
PORT_URL = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
PORT_SIGNATURE = "SffuNP6bC3hHFCUbsco6GyaPyas="
# The same request under HMAC-SHA256 keyed "shared-key-1" (a Webhooks Rule's).
SHA256_SIGNATURE = "6pykgmH8AY7PALFZFzJzllKILCAVvdiP9lGT7j+SAuE="


def test_verify_twilio_accepts_what_twilios_validator_accepts_at_another_port() -> None:
    # Twilio may leave a non-standard port out of what it signs: requested at :8443, the
    # signature over the URL without the port passes, as with Twilio's RequestValidator.
    assert twilio_signature(PORT_URL, DOC_PARAMS, "12345") == PORT_SIGNATURE
    assert verify_twilio(PORT_URL, DOC_PARAMS, DOC_SIGNATURE, "12345")
    assert verify_twilio(PORT_URL, DOC_PARAMS, PORT_SIGNATURE, "12345")
    # No more: not a port other than the one requested, not the other scheme, and not
    # a URL without a port for a signature over a non-standard one.
    assert not verify_twilio(PORT_URL.replace("8443", "9443"), DOC_PARAMS, PORT_SIGNATURE, "12345")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, PORT_SIGNATURE, "12345")
    http = PORT_URL.replace("https:", "http:")
    assert not verify_twilio(http, DOC_PARAMS, PORT_SIGNATURE, "12345")
    assert not verify_twilio(http, DOC_PARAMS, DOC_SIGNATURE, "12345")
    http_default = twilio_signature("http://mycompany.com:80/h", DOC_PARAMS, "12345")
    assert verify_twilio("http://mycompany.com/h", DOC_PARAMS, http_default, "12345")
    assert not verify_twilio("https://mycompany.com/h", DOC_PARAMS, http_default, "12345")


def test_verify_twilio_hmac_sha256_with_a_shared_key() -> None:
    key = "shared-key-1"
    assert twilio_signature(DOC_URL, DOC_PARAMS, key, "HMAC_SHA256") == SHA256_SIGNATURE
    assert verify_twilio(DOC_URL, DOC_PARAMS, SHA256_SIGNATURE, key, "HMAC_SHA256")
    assert verify_twilio(PORT_URL, DOC_PARAMS, SHA256_SIGNATURE, key, "HMAC_SHA256")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, SHA256_SIGNATURE, key)  # SHA-1 expected
    assert not verify_twilio(DOC_URL, DOC_PARAMS, SHA256_SIGNATURE, "12345", "HMAC_SHA256")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, "12345", "HMAC_SHA256")
    assert not verify_twilio(DOC_URL, DOC_PARAMS, SHA256_SIGNATURE, key, "HMAC_MD5")
    assert twilio_algorithm(None) == "HMAC_SHA1"
    assert twilio_algorithm("key=rule-1,algorithm=HMAC_SHA256") == "HMAC_SHA256"
    assert twilio_algorithm("key=rule-1, algorithm=hmac_sha1") == "HMAC_SHA1"
    assert twilio_algorithm("key=rule-1,algorithm=HMAC_MD5") is None
    assert twilio_algorithm("garbage") is None


def test_verify_twilio_accepts_fake_status_callback() -> None:
    url = "https://linli.example/hooks/twilio?n=1"
    params = twilio_status_callback_params("SM123", "delivered")
    headers = twilio_signed(url, params, "token-abc")
    assert verify_twilio(url, params, headers["X-Twilio-Signature"], "token-abc")


def test_public_url_is_the_requested_one() -> None:
    assert public_url("https", "linli.example", "/hooks/twilio?a=1") == (
        "https://linli.example/hooks/twilio?a=1"
    )
    assert public_url("http", "linli.example:8080", "/h") == "http://linli.example:8080/h"


@pytest.mark.parametrize("status", ["queued", "sending", "accepted", "scheduled", "read"])
def test_parse_twilio_status_ignores_uninteresting(status: str) -> None:
    assert parse_twilio_status(twilio_status_callback_params("SM1", status)) is None


def test_parse_twilio_status_maps_final_statuses() -> None:
    def report(status: str, **kw: Any) -> DeliveryReport | None:
        return parse_twilio_status(twilio_status_callback_params("SM1", status, **kw))

    assert report("sent") == DeliveryReport("SM1", "sent", None)
    assert report("delivered") == DeliveryReport("SM1", "delivered", None)
    assert report("undelivered", error_code="30003") == DeliveryReport("SM1", "failed", "30003")
    assert report("failed") == DeliveryReport("SM1", "failed", "failed")


def test_parse_twilio_status_refuses_other_requests() -> None:
    with pytest.raises(ValueError):
        parse_twilio_status({"From": PHONE, "Body": "1"})


# --- android callbacks ---


def test_provider_failure_reasons_are_kept_short_and_on_one_line() -> None:
    long = "E" * 50_000 + "\n" + "F" * 50_000
    twilio = parse_twilio_status(twilio_status_callback_params("SM1", "failed", error_code=long))
    event = parse(android_event("sms:failed", message_id="m", phone_number=PHONE, reason=long))
    for report in (twilio, android_report(event)):
        assert report is not None and report.error is not None
        assert report.error == "E" * 200


def test_verify_android_good_bad_and_stale() -> None:
    event = android_event("sms:delivered", message_id="msg-0001", phone_number=PHONE)
    body, headers = android_signed(event, WEBHOOK_SECRET, int(NOW))
    sig, ts = headers["X-Signature"], headers["X-Timestamp"]

    assert verify_android(body, ts, sig, WEBHOOK_SECRET, now=NOW)
    assert verify_android(body, ts, sig.upper(), WEBHOOK_SECRET, now=NOW + 299)
    assert not verify_android(body + b" ", ts, sig, WEBHOOK_SECRET, now=NOW)
    assert not verify_android(body, ts, sig, "other-secret", now=NOW)
    assert not verify_android(body, str(int(NOW) + 1), sig, WEBHOOK_SECRET, now=NOW)
    assert not verify_android(body, ts, sig, WEBHOOK_SECRET, now=NOW + 301)
    assert not verify_android(body, ts, sig, WEBHOOK_SECRET, now=NOW - 301)
    assert not verify_android(body, "", sig, WEBHOOK_SECRET, now=NOW)
    assert not verify_android(body, "-1", sig, WEBHOOK_SECRET, now=NOW)
    assert not verify_android(body, "9" * 5000, sig, WEBHOOK_SECRET, now=NOW)
    assert not verify_android(body, ts, sig, "", now=NOW)
    assert not verify_android(body, ts, "", WEBHOOK_SECRET, now=NOW)


def parse(event: dict[str, Any]) -> AndroidEvent:
    return parse_android_event(json.dumps(event).encode())


def test_parse_android_received_sms() -> None:
    raw = android_event(
        "sms:received", message_id="abc", phone_number=PHONE, event_id="Ey6EC", text="1"
    )
    event = parse(raw)
    assert event.event == "sms:received"
    assert event.event_id == "Ey6EC"
    assert event.message_id == "abc"
    assert event.phone_number == PHONE
    assert event.text == "1"
    assert event.received_at == datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    assert event.device_id is not None
    assert android_report(event) is None


@pytest.mark.parametrize(
    ("name", "status"),
    [("sms:sent", "sent"), ("sms:delivered", "delivered"), ("sms:failed", "failed")],
)
def test_parse_android_delivery_events(name: str, status: str) -> None:
    reason = "RESULT_ERROR_NO_SERVICE" if name == "sms:failed" else None
    event = parse(android_event(name, message_id="msg-0001", phone_number=PHONE, reason=reason))
    assert event.text is None
    assert android_report(event) == DeliveryReport("msg-0001", status, reason)


def test_parse_android_unreadable_time_is_dropped_not_refused() -> None:
    raw = android_event("sms:received", message_id="a", phone_number=PHONE, text="1", at="soon")
    assert parse(raw).received_at is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        json.dumps({"event": "sms:sent", "payload": {}}).encode(),
        json.dumps({"event": "sms:sent", "id": "e1", "payload": []}).encode(),
        json.dumps({"event": "sms:sent", "id": "e1", "payload": {"phoneNumber": PHONE}}).encode(),
        json.dumps(
            {
                "event": "sms:received",
                "id": "e1",
                "payload": {"messageId": "a", "phoneNumber": PHONE},
            }
        ).encode(),
        json.dumps(
            {"event": "sms:sent", "id": "e1", "payload": {"messageId": 5, "phoneNumber": PHONE}}
        ).encode(),
        # JSON all the same, but no text can hold a lone surrogate, nor a parser nest so deep.
        b'{"event": "sms:sent", "id": "e1",'
        b' "payload": {"messageId": "\\ud800", "phoneNumber": "+8613800138000"}}',
        b'{"event": "sms:sent", "id": "e1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_parse_android_refuses_malformed(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_android_event(body)
