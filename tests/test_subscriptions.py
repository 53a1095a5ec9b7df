"""Integrators' subscriptions against a real Standard Webhooks receiver: the secret shown
once, refused types and destinations, signed rsvp.changed / waitlist.promoted /
event.updated deliveries with ids and states only, 410 disabling the endpoint, deletion."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from service.core.webhook_rules import new_secret
from tests.community import (
    EVENTS,
    SECRET,
    SUBSCRIPTIONS,
    answer,
    eventually,
    hooks_on,
    published_event,
    resident,
    subscribe,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.webhook_receiver import WebhookReceiver

PHONE = "+8613812345678"
EMAIL = "zhang.wei@example.org"


async def got_to(api: Api, path: str, check: Callable[[Any], bool]) -> Any:
    """GET `path` until `check` holds for its body."""

    async def body() -> Any:
        status, found = await api.get(path)
        assert status == 200, found
        return found

    return await eventually(body, check, f"{path} got there")


async def integration_messages(api: Api, event_id: int) -> list[dict[str, Any]]:
    _, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
    return [m for m in body["messages"]["items"] if m["kind"] == "integration"]


async def all_sent(api: Api, event_id: int) -> list[dict[str, Any]]:
    """The event's integration messages once none is queued or sending any more."""
    return await eventually(
        lambda: integration_messages(api, event_id),
        lambda messages: all(m["status"] not in ("queued", "sending") for m in messages),
        "integration messages settled",
    )


def types_of(hook: WebhookReceiver) -> list[str]:
    return sorted(d.body["type"] for d in hook.deliveries)


async def test_subscriptions_show_the_secret_only_when_created(api: Api, admin: Api) -> None:
    body = {"url": "https://203.0.113.7/hook", "event_types": ["rsvp.changed"]}
    status, created = await api.post(SUBSCRIPTIONS, json=body)
    # 203.0.113.0/24 is a documentation network: not public, so not reachable either.
    assert (status, created["error"]["code"]) == (400, "url_not_allowed")

    body = {
        "url": "https://8.8.8.8/linli",
        "event_types": ["rsvp.changed", "event.updated", "rsvp.changed"],
        "description": "居委会群机器人",
    }
    status, created = await api.post(SUBSCRIPTIONS, json=body)
    assert status == 201, created
    assert created["signing_secret"].startswith("whsec_")
    assert created["event_types"] == ["event.updated", "rsvp.changed"]
    assert created["disabled_at"] is None

    status, one = await admin.get(f"{SUBSCRIPTIONS}/{created['id']}")
    assert status == 200
    assert one["signing_secret"] is None
    assert one["description"] == "居委会群机器人"
    status, listed = await admin.get(SUBSCRIPTIONS)
    assert listed["total"] == 1
    assert created["signing_secret"] not in json.dumps(listed)

    status, rotated = await api.patch(
        f"{SUBSCRIPTIONS}/{created['id']}", json={"rotate_secret": True}
    )
    assert status == 200, rotated
    assert rotated["signing_secret"].startswith("whsec_")
    assert rotated["signing_secret"] != created["signing_secret"]
    status, renamed = await api.patch(f"{SUBSCRIPTIONS}/{created['id']}", json={"description": ""})
    assert (status, renamed["signing_secret"], renamed["description"]) == (200, None, "")

    status, _ = await api.delete(f"{SUBSCRIPTIONS}/{created['id']}")
    assert status == 204
    status, gone = await api.get(f"{SUBSCRIPTIONS}/{created['id']}")
    assert (status, gone["error"]["code"]) == (404, "subscription_not_found")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_types": ["rsvp.changed", "rsvp.deleted"]}, "event_types.1"),
        ({"event_types": []}, "event_types"),
        ({"signing_secret": "whsec_tooshort"}, "signing_secret"),
        ({"url": "ftp://8.8.8.8/hook"}, "url"),
        ({"url": "https://user:pw@8.8.8.8/hook"}, "url"),
        ({"description": "a\nb"}, "description"),
    ],
)
async def test_subscriptions_refuse_bad_fields(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = {"url": "https://8.8.8.8/hook", "event_types": ["rsvp.changed"], **change}
    status, refused = await api.post(SUBSCRIPTIONS, json=body)
    assert status == 400, refused
    assert field in refused["error"]["fields"]
    _, listed = await api.get(SUBSCRIPTIONS)
    assert listed["total"] == 0


async def test_subscriptions_refuse_private_urls_unless_allow_listed(
    api: Api, make_api: MakeApi
) -> None:
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.1.20/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ):
        body = {"url": url, "event_types": ["rsvp.changed"]}
        status, refused = await api.post(SUBSCRIPTIONS, json=body)
        assert (status, refused["error"]["code"]) == (400, "url_not_allowed"), url
        assert "url" in refused["error"]["fields"]

    allowed = await make_api(**{"channels.webhook.allow_private": ["192.168.1.0/24"]})
    body = {"url": "http://192.168.1.20/hook", "event_types": ["rsvp.changed"]}
    status, created = await allowed.post(SUBSCRIPTIONS, json=body)
    assert status == 201, created
    status, refused = await allowed.post(
        SUBSCRIPTIONS, json={**body, "url": "http://10.1.2.3/hook"}
    )
    assert (status, refused["error"]["code"]) == (400, "url_not_allowed")


async def test_subscriptions_an_answer_sends_a_signed_rsvp_changed_with_ids_only(
    make_api: MakeApi,
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on(**{"delivery.retry_schedule_s": [0.0]}))
        person = await resident(api, "张伟", "3-2-1501", ("sms", PHONE), ("email", EMAIL))
        event_id = await published_event(api, max_party_size=4)
        await subscribe(api, hook.url, "rsvp.changed")
        hook.script(500)  # the first try fails; the retry carries the same webhook-id

        await answer(api, event_id, person, "yes", size=2)
        await hook.wait_for(1)

        [delivery] = hook.deliveries
        assert delivery.valid
        assert delivery.body["type"] == "rsvp.changed"
        assert delivery.body["timestamp"].endswith("Z")
        data = delivery.body["data"]
        assert data["event_id"] == event_id
        assert data["resident_id"] == person
        assert (data["answer"], data["previous"], data["party_size"]) == ("yes", "pending", 2)
        assert data["via"] == "organiser"
        assert isinstance(data["invitation_id"], int)
        [first_try, retry] = hook.requests
        assert first_try.status == 500 and first_try.id == retry.id == delivery.id
        raw = retry.raw.decode()
        for personal in ("张伟", "3-2-1501", PHONE, "13812345678", EMAIL, "王组织"):
            assert personal not in raw

        [message] = await all_sent(api, event_id)
        assert message["uid"] == delivery.id
        assert (message["channel"], message["status"], message["attempts"]) == (
            "webhook",
            "delivered",
            2,
        )
        assert message["subscription_id"] is not None and message["contact_id"] is None

        # The same answer again changes nothing, so integrators hear nothing.
        await answer(api, event_id, person, "yes", size=2)
        await answer(api, event_id, person, "no")
        await hook.wait_for(2)
        assert [d.body["data"]["answer"] for d in hook.deliveries] == ["yes", "no"]
        assert len(await all_sent(api, event_id)) == 2


async def test_subscriptions_get_only_the_types_they_asked_for(make_api: MakeApi) -> None:
    answers_secret, promotions_secret = new_secret(), new_secret()
    async with (
        WebhookReceiver(answers_secret) as answers,
        WebhookReceiver(promotions_secret) as promotions,
    ):
        api = await make_api(**hooks_on())
        first = await resident(api, "李娜", "1-1-101")
        second = await resident(api, "王芳", "1-1-102")
        event_id = await published_event(api, capacity=1)
        await subscribe(api, answers.url, "rsvp.changed", secret=answers_secret)
        await subscribe(api, promotions.url, "waitlist.promoted", secret=promotions_secret)

        await answer(api, event_id, first, "yes")
        await answer(api, event_id, second, "yes")  # full: waitlisted
        await answer(api, event_id, first, "no")  # frees the seat: the second moves up
        await all_sent(api, event_id)

        assert types_of(answers) == ["rsvp.changed"] * 4
        changes = [
            (d.body["data"]["resident_id"], d.body["data"]["previous"], d.body["data"]["answer"])
            for d in answers.deliveries
        ]
        assert sorted(changes) == sorted(
            [
                (first, "pending", "yes"),
                (second, "pending", "waitlisted"),
                (first, "yes", "no"),
                (second, "waitlisted", "yes"),
            ]
        )
        [promoted] = promotions.deliveries
        assert promoted.valid
        assert promoted.body["type"] == "waitlist.promoted"
        assert promoted.body["data"]["resident_id"] == second
        assert promoted.body["data"]["event_id"] == event_id
        assert all(d.valid for d in answers.deliveries)


async def test_subscriptions_event_changes_send_event_updated(make_api: MakeApi) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        await subscribe(api, hook.url, "event.updated", "waitlist.promoted")
        body = {
            "kind": "meeting",
            "title": "板凳会",
            "starts_at": "2026-12-05T19:00",
            "ends_at": "2026-12-05T20:30",
            "capacity": 1,
        }
        status, event = await api.post(EVENTS, json=body)
        assert status == 201
        event_id = event["id"]
        # A draft's edits concern nobody outside yet.
        status, _ = await api.patch(f"{EVENTS}/{event_id}", json={"title": "院会"})
        assert status == 200
        status, _ = await api.post(f"{EVENTS}/{event_id}/publish")
        assert status == 200
        await hook.wait_for(1)
        published = hook.deliveries[0].body
        assert published["type"] == "event.updated"
        assert published["data"] == {
            "event_id": event_id,
            "status": "published",
            "sequence": 0,
            "starts_at": "2026-12-05T11:00:00Z",
            "ends_at": "2026-12-05T12:30:00Z",
            "capacity": 1,
        }

        first = await resident(api, "李娜", "1-1-101")
        second = await resident(api, "王芳", "1-1-102")
        await answer(api, event_id, first, "yes")
        await answer(api, event_id, second, "yes")
        # More seats: the change is told, and so is the promotion it causes.
        status, _ = await api.patch(
            f"{EVENTS}/{event_id}", json={"capacity": 2, "starts_at": "2026-12-05T19:30"}
        )
        assert status == 200
        await hook.wait_for(3)
        later = sorted((d.body for d in hook.deliveries[1:]), key=lambda b: str(b["type"]))
        assert [b["type"] for b in later] == ["event.updated", "waitlist.promoted"]
        assert later[0]["data"]["capacity"] == 2
        assert later[0]["data"]["starts_at"] == "2026-12-05T11:30:00Z"
        assert later[0]["data"]["sequence"] >= 1
        assert later[1]["data"]["resident_id"] == second

        status, _ = await api.post(f"{EVENTS}/{event_id}/cancel")
        assert status == 200
        await hook.wait_for(4)
        assert hook.deliveries[3].body["data"]["status"] == "cancelled"
        # Cancelling again changes nothing, and tells nothing.
        status, _ = await api.post(f"{EVENTS}/{event_id}/cancel")
        assert status == 200
        assert len(await all_sent(api, event_id)) == 4
        assert all(d.valid for d in hook.deliveries)


async def test_subscriptions_a_gone_endpoint_is_disabled(make_api: MakeApi) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        person = await resident(api, "张伟", "3-2-1501")
        event_id = await published_event(api)
        sub_id = await subscribe(api, hook.url, "rsvp.changed")
        hook.script(410)

        await answer(api, event_id, person, "yes")
        gone = await got_to(
            api, f"{SUBSCRIPTIONS}/{sub_id}", lambda s: s["disabled_at"] is not None
        )
        assert "410" in gone["disabled_reason"]
        [message] = await all_sent(api, event_id)
        assert message["status"] == "failed"

        # Disabled: nothing more is queued for it.
        await answer(api, event_id, person, "no")
        assert len(await integration_messages(api, event_id)) == 1

        status, enabled = await api.patch(f"{SUBSCRIPTIONS}/{sub_id}", json={"enabled": True})
        assert (status, enabled["disabled_at"]) == (200, None)
        await answer(api, event_id, person, "maybe")
        await hook.wait_for(1)
        assert hook.deliveries[0].body["data"]["answer"] == "maybe"


async def test_subscriptions_deleted_take_their_messages_with_them(
    make_api: MakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on(**{"delivery.retry_schedule_s": [3600.0]}))
        person = await resident(api, "张伟", "3-2-1501")
        event_id = await published_event(api)
        sub_id = await subscribe(api, hook.url, "rsvp.changed")

        # A message waiting for its retry goes with its subscription.
        hook.script(503)
        await answer(api, event_id, person, "yes")
        await hook.wait_for(1, requests=True)
        await got_to(
            api,
            f"{EVENTS}/{event_id}/deliveries",
            lambda b: (
                [m["attempts"] for m in b["messages"]["items"]] == [1]
                and b["messages"]["items"][0]["status"] == "queued"
            ),
        )
        status, _ = await api.delete(f"{SUBSCRIPTIONS}/{sub_id}")
        assert status == 204
        assert await integration_messages(api, event_id) == []

        # So does one being sent at that moment, and the worker carries on.
        sub_id = await subscribe(api, hook.url, "rsvp.changed")
        hook.delay(0.5)
        with caplog.at_level(logging.ERROR, logger="linli.worker"):
            await answer(api, event_id, person, "no")
            await got_to(
                api,
                f"{EVENTS}/{event_id}/deliveries",
                lambda b: any(m["status"] == "sending" for m in b["messages"]["items"]),
            )
            status, _ = await api.delete(f"{SUBSCRIPTIONS}/{sub_id}")
            assert status == 204
            await hook.wait_for(1)
            await subscribe(api, hook.url, "rsvp.changed")
            await answer(api, event_id, person, "maybe")
            await hook.wait_for(2)
            [message] = await all_sent(api, event_id)
        assert message["status"] == "delivered"
        assert [d.body["data"]["answer"] for d in hook.deliveries] == ["no", "maybe"]
        assert [
            r for r in caplog.records if r.name == "linli.worker" and r.levelno >= logging.ERROR
        ] == []


async def test_subscriptions_a_rotated_secret_signs_beside_the_new_one_for_a_day(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    async with WebhookReceiver(SECRET) as old_only:
        api = await make_api(**hooks_on())
        person = await resident(api, "张伟", "3-2-1501", ("sms", PHONE))
        event_id = await published_event(api)
        subscription = await subscribe(api, old_only.url, "rsvp.changed")
        status, rotated = await api.patch(
            f"{SUBSCRIPTIONS}/{subscription}", json={"rotate_secret": True}
        )
        assert status == 200, rotated

        await answer(api, event_id, person, "yes")
        await old_only.wait_for(1)
        # The receiver still on the old secret verifies; both signatures are in the header.
        assert old_only.deliveries[0].valid
        assert len(old_only.deliveries[0].signature.split()) == 2

        clock.advance(hours=25)
        await answer(api, event_id, person, "no")
        await old_only.wait_for(2)
        # A day on, only the new secret signs: a receiver that never switched refuses it.
        assert not old_only.deliveries[1].valid
        assert len(old_only.deliveries[1].signature.split()) == 1
