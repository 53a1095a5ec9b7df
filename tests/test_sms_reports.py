"""SMS through a provider stand-in, and the provider's signed delivery reports: a message
moves forward only, whatever order reports arrive in."""

from __future__ import annotations

import time
from typing import Any

from tests.community import (
    EVENTS,
    assert_fell_back,
    eventually,
    published_event,
    resident,
    settled,
    sms_gateway_settings,
    twilio_settings,
    until,
)
from tests.conftest import Api, MakeApi
from tests.fakes.sms_gateway import FakeSmsGateway, android_event, android_signed
from tests.fakes.twilio import (
    AUTH_TOKEN,
    FakeTwilio,
    twilio_signed,
    twilio_status_callback_params,
)

SECRET = "gateway-webhook-signing-key"


async def gateway_api(make_api: MakeApi, gateway: FakeSmsGateway) -> Api:
    """An organiser's API on an app sending SMS through `gateway`, its reports signed."""
    return await make_api(
        **sms_gateway_settings(gateway),
        **{"channels.sms.provider": "android_gateway", "channels.sms.webhook_secret": SECRET},
    )


async def sms_then_email_event(api: Api) -> int:
    """A published event whose one resident has SMS first and email next."""
    await resident(api, "张伟", "1-1-101", ("sms", "13800138000"), ("email", "z@example.org"))
    return await published_event(api)


async def delivered_while_sending(api: Api, event_id: int) -> None:
    """Send the event's one SMS and, while the gateway is still answering our POST, have
    the phone report it delivered."""
    await api.post(f"{EVENTS}/{event_id}/send")
    await until(api, event_id, lambda c: c["sending"] == 1, "being sent")
    _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    [message] = body["messages"]["items"]
    assert message["status"] == "sending"
    payload = android_event("sms:delivered", message_id=message["uid"], phone_number="1")
    raw, headers = android_signed(payload, SECRET, int(time.time()))
    resp = await api.client.post("/hooks/sms/android", data=raw, headers=headers)
    assert resp.status == 204


async def test_android_gateway_sends_and_reports_move_messages_forward(make_api: MakeApi) -> None:
    async with FakeSmsGateway() as gateway:
        api = await gateway_api(make_api, gateway)
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=1)
        assert body["by_status"]["sent"] == 1
        message = body["messages"]["items"][0]
        [sent] = gateway.messages.values()
        assert sent["phoneNumbers"] == ["+8613800138000"]
        assert message["provider_id"] == message["uid"] == sent["id"]

        async def report(event: str, ts: int | None = None, secret: str = SECRET) -> int:
            payload = android_event(event, message_id=message["uid"], phone_number="+8613800138000")
            raw, headers = android_signed(payload, secret, ts or int(time.time()))
            resp = await api.client.post("/hooks/sms/android", data=raw, headers=headers)
            return resp.status

        assert await report("sms:delivered", secret="wrong") == 401
        assert await report("sms:delivered", ts=int(time.time()) - 3600) == 401
        assert await report("sms:delivered") == 204
        assert await report("sms:sent") == 204  # late and out of order: ignored
        assert await report("sms:failed") == 204  # after delivered: ignored
        _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
        assert body["messages"]["items"][0]["status"] == "delivered"
        resp = await api.client.post(
            "/hooks/sms/android",
            data=b"{}",
            headers=android_signed({"other": "body"}, SECRET, int(time.time()))[1],
        )
        assert resp.status == 401  # the signature covers the body actually sent
        raw, headers = android_signed({"event": "sms:sent"}, SECRET, int(time.time()))
        headers["X-Timestamp"] = "9" * 5000  # past int()'s digit limit: once a 500
        resp = await api.client.post("/hooks/sms/android", data=raw, headers=headers)
        assert resp.status == 401


async def test_twilio_status_callbacks_are_verified_behind_a_proxy(make_api: MakeApi) -> None:
    async with FakeTwilio() as twilio:
        api = await make_api(
            **twilio_settings(twilio), **{"server.public_url": "https://linli.example.org"}
        )
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=1)
        message = body["messages"]["items"][0]
        [created] = twilio.messages
        assert message["provider_id"] == created["sid"]
        assert created["status_callback"] == "https://linli.example.org/hooks/sms/twilio"

        host = f"{api.client.host}:{api.client.port}"
        params = twilio_status_callback_params(created["sid"], "delivered")
        # A proxy ended TLS: Twilio signed the https URL, we see http plus X-Forwarded-Proto
        # (and public_url is https too, so the scheme is https either way).
        signed = twilio_signed(f"https://{host}/hooks/sms/twilio", params, AUTH_TOKEN)
        plain = twilio_signed(f"http://{host}/hooks/sms/twilio", params, AUTH_TOKEN)
        resp = await api.client.post("/hooks/sms/twilio", data=params, headers=plain)
        assert resp.status == 401  # signed for another URL than the one Twilio called
        headers = {**signed, "X-Forwarded-Proto": "https"}
        resp = await api.client.post("/hooks/sms/twilio", data=params, headers=headers)
        assert resp.status == 204
        _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
        assert body["messages"]["items"][0]["status"] == "delivered"
        tampered = {**params, "MessageStatus": "failed"}
        resp = await api.client.post("/hooks/sms/twilio", data=tampered, headers=headers)
        assert resp.status == 401


async def test_an_android_report_that_beats_the_gateways_answer_is_applied(
    make_api: MakeApi,
) -> None:
    # The phone can report "delivered" before the gateway has answered our POST, while
    # the message is still being sent: such a report was dropped, and it stayed "sent".
    async with FakeSmsGateway() as gateway:
        api = await gateway_api(make_api, gateway)
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        event_id = await published_event(api)
        gateway.delay_s = 1.0
        await delivered_while_sending(api, event_id)
        body = await settled(api, event_id, total=1)
        assert body["messages"]["items"][0]["status"] == "delivered"


async def test_a_failed_report_falls_back_to_the_residents_next_channel(
    make_api: MakeApi,
) -> None:
    # The carrier gave up after the gateway took the message: a permanent failure told
    # late, so the next channel gets its chance, as when a send fails outright.
    async with FakeSmsGateway() as gateway:
        api = await gateway_api(make_api, gateway)
        event_id = await sms_then_email_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=1)
        [message] = body["messages"]["items"]
        assert message["status"] == "sent"

        payload = android_event(
            "sms:failed", message_id=message["uid"], phone_number="1", reason="RESULT_ERROR"
        )
        for _ in range(2):  # a repeated report falls back no more
            raw, headers = android_signed(payload, SECRET, int(time.time()))
            resp = await api.client.post("/hooks/sms/android", data=raw, headers=headers)
            assert resp.status == 204
        body = await settled(api, event_id, total=2)
        assert_fell_back(body, "sms", "failed", "email")  # email through the file channel
        assert body["messages"]["total"] == 2


async def test_a_failed_send_after_a_delivered_report_starts_no_fallback(
    make_api: MakeApi,
) -> None:
    # The phone reports "delivered" while our POST is still waiting, and the gateway then
    # answers with an error: the resident has the message, so no email follows it.
    async with FakeSmsGateway() as gateway:
        api = await gateway_api(make_api, gateway)
        event_id = await sms_then_email_event(api)
        gateway.delay_s = 1.0
        gateway.fail_next(400, message="Invalid phone number")
        await delivered_while_sending(api, event_id)

        async def deliveries() -> dict[str, Any]:
            _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
            return dict(body)

        body = await eventually(
            deliveries,
            lambda b: any(m["attempt_log"] for m in b["messages"]["items"]),
            "the send's answer recorded",
        )
        assert body["messages"]["total"] == 1, body["messages"]["items"]
        [message] = body["messages"]["items"]
        assert message["status"] == "delivered"
        assert message["attempt_log"][0]["outcome"] == "permanent"


async def twilio_report_status(
    api: Api, sid: str, url: str, *, shared_key: str | None = None, proto: str | None = None
) -> int:
    """The status answered to Twilio's "delivered" callback for `sid`, signed over `url`
    (HMAC-SHA256 with a `shared_key`), with X-Forwarded-Proto: `proto` if given."""
    params = twilio_status_callback_params(sid, "delivered")
    headers = twilio_signed(url, params, AUTH_TOKEN, shared_key=shared_key)
    if proto:
        headers["X-Forwarded-Proto"] = proto
    resp = await api.client.post("/hooks/sms/twilio", data=params, headers=headers)
    return resp.status


async def test_twilio_callbacks_pass_in_every_url_form_twilios_validator_accepts(
    make_api: MakeApi,
) -> None:
    # The app listens on a port of its own: Twilio may sign with that port or without it.
    # Behind a trusted proxy, its X-Forwarded-Proto says https; anyone else's does not.
    async with FakeTwilio() as twilio:
        api = await make_api(
            **twilio_settings(twilio),
            **{
                "server.trusted_proxies": ["127.0.0.1", "::1"],
                "channels.sms.twilio_shared_key": "shared-key-1",
            },
        )
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        body = await settled(api, event_id, total=1)
        sid = body["messages"]["items"][0]["provider_id"]
        host, port = api.client.host, api.client.port
        path = "/hooks/sms/twilio"

        assert await twilio_report_status(api, sid, f"http://{host}:{port}{path}") == 204
        assert await twilio_report_status(api, sid, f"http://{host}{path}") == 204
        assert await twilio_report_status(api, sid, f"http://{host}:{port + 1}{path}") == 401
        https = f"https://{host}{path}"
        assert await twilio_report_status(api, sid, https) == 401  # we were called on http
        assert await twilio_report_status(api, sid, https, proto="https") == 204
        assert (
            await twilio_report_status(api, sid, f"https://{host}:{port}{path}", proto="https")
            == 204
        )
        # HMAC-SHA256 with the Webhooks Rule's shared key, announced by its header.
        http = f"http://{host}{path}"
        assert await twilio_report_status(api, sid, http, shared_key="shared-key-1") == 204
        assert await twilio_report_status(api, sid, http, shared_key=AUTH_TOKEN) == 401

    async with FakeTwilio() as twilio:
        # Nobody trusted: X-Forwarded-Proto from the peer changes nothing.
        api = await make_api(**twilio_settings(twilio))
        host, port = api.client.host, api.client.port
        https = f"https://{host}:{port}/hooks/sms/twilio"
        assert await twilio_report_status(api, "SM0", https, proto="https") == 401
        # And without a shared key set, a SHA-256 signed callback is refused.
        http = f"http://{host}:{port}/hooks/sms/twilio"
        assert await twilio_report_status(api, "SM0", http, shared_key="shared-key-1") == 401
