"""Sending events through the outbox with the file channel: invitations, idempotence,
audiences, suppression, updates, previews, template overrides, quiet hours, expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from service.core.models import MessageKind
from service.domain.sending import notify_event, send_event
from service.keys import delivery_key, store_key
from tests.community import (
    EVENTS,
    outbox_files,
    published_event,
    resident,
    room,
    settled,
    sms_gateway_settings,
    until,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.sms_gateway import FakeSmsGateway


async def test_send_invites_everyone_once_and_the_file_channel_delivers(api: Api) -> None:
    await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    await resident(api, "Alice", "1-1-102", ("email", "alice@example.org"), language="en")
    await resident(
        api, "李娜", "1-1-103", ("webhook", "http://127.0.0.1:9/hook"), ("sms", "13900139000")
    )
    event_id = await published_event(api)

    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, report
    assert report["invited"] == 3 and report["queued"] == 3
    assert report["by_channel"] == {"email": 1, "sms": 1, "webhook": 1}

    body = await settled(api, event_id, total=3)
    assert body["by_status"]["delivered"] == 3
    assert body["by_channel"] == {
        "email": {"delivered": 1},
        "sms": {"delivered": 1},
        "webhook": {"delivered": 1},
    }
    sms = outbox_files(api, "sms")
    assert len(sms) == 1
    text = sms[0].read_text(encoding="utf-8")
    assert "To: +8613800138000" in text and "跳蚤市场" in text and "/r/" in text
    email = outbox_files(api, "email")[0].read_text(encoding="utf-8")
    assert "Flea" in email or "跳蚤市场" in email
    assert "Language: en" in email
    # Each message records its attempt, and its file is named by the message id.
    message = body["messages"]["items"][0]
    assert message["attempts"] == 1 and message["attempt_log"][0]["outcome"] == "delivered"

    status, again = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200
    assert again["invited"] == 0 and again["already_invited"] == 3 and again["queued"] == 0
    await resident(api, "王芳", "2-1-101", ("sms", "13700137000"))
    status, more = await api.post(f"{EVENTS}/{event_id}/send")
    assert more["invited"] == 1 and more["already_invited"] == 3
    await settled(api, event_id, total=4)
    assert len(outbox_files(api, "sms")) == 2


async def test_send_reaches_only_the_tagged_audience_and_reports_the_unreachable(api: Api) -> None:
    await resident(api, "志愿者甲", "1-1-101", ("sms", "13800138001"), tags=["volunteer"])
    await resident(api, "邻居乙", "1-1-102", ("sms", "13800138002"))
    await resident(api, "志愿者丙", "1-1-103", tags=["volunteer"])  # no contact at all
    out = await resident(api, "志愿者丁", "1-1-104", ("sms", "13800138004"), tags=["volunteer"])
    status, contacts = await api.get(f"/api/v1/residents/{out}/contacts")
    await api.patch(
        f"/api/v1/residents/{out}/contacts/{contacts['items'][0]['id']}", json={"opted_out": True}
    )
    event_id = await published_event(
        api, kind="volunteer", title="志愿服务日", audience_tags=["volunteer"]
    )

    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, report
    assert report["invited"] == 3
    assert (report["queued"], report["suppressed"], report["unreachable"]) == (1, 1, 1)
    body = await settled(api, event_id, total=2)
    assert body["by_status"]["suppressed"] == 1 and body["by_status"]["delivered"] == 1
    assert all("13800138002" not in p.read_text(encoding="utf-8") for p in outbox_files(api, "sms"))


async def test_send_refuses_a_draft_and_unknown_events(api: Api) -> None:
    status, draft = await api.post(
        EVENTS,
        json={
            "kind": "meeting",
            "title": "板凳会",
            "starts_at": "2026-12-06T19:00",
            "ends_at": "2026-12-06T20:00",
        },
    )
    status, body = await api.post(f"{EVENTS}/{draft['id']}/send")
    assert status == 409 and body["error"]["code"] == "event_not_published"
    status, body = await api.post(f"{EVENTS}/99999/send")
    assert status == 404 and body["error"]["code"] == "event_not_found"


async def test_notify_updates_and_cancellations(api: Api) -> None:
    await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    await resident(api, "李娜", "1-1-102", ("sms", "13900139000"))
    event_id = await published_event(api)
    await api.post(f"{EVENTS}/{event_id}/send")
    await settled(api, event_id, total=2)

    status, body = await api.post(f"{EVENTS}/{event_id}/notify", json={"kind": "cancellation"})
    assert status == 409 and body["error"]["code"] == "event_not_cancelled"
    status, report = await api.post(
        f"{EVENTS}/{event_id}/notify",
        json={"kind": "update", "note": "改到地下车库入口", "urgent": True},
    )
    assert status == 200 and report["queued"] == 2 and report["kind"] == "update"
    status, report = await api.post(
        f"{EVENTS}/{event_id}/notify", json={"kind": "update", "audience": "yes"}
    )
    assert status == 200 and report["invited"] == 0  # nobody has answered yes yet
    await settled(api, event_id, total=4)
    texts = [p.read_text(encoding="utf-8") for p in outbox_files(api, "sms")]
    assert sum("改到地下车库入口" in t for t in texts) == 2

    await api.post(f"{EVENTS}/{event_id}/cancel")
    status, report = await api.post(f"{EVENTS}/{event_id}/notify", json={"kind": "cancellation"})
    assert status == 200 and report["queued"] == 2
    status, body = await api.post(f"{EVENTS}/{event_id}/notify", json={"kind": "invitation"})
    assert status == 400 and "kind" in body["error"]["fields"]


async def test_a_reminder_preview_shows_the_residents_answer_and_door_code(api: Api) -> None:
    rid = await resident(api, "Bob", "1-1-102", ("sms", "13800138000"), language="en")
    event_id = await published_event(api, max_party_size=4)
    status, _ = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200
    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": rid, "answer": "yes", "party_size": 3}
    )
    assert status == 200, body
    row = await api.client.app[store_key].reader.fetchone(
        "SELECT code FROM checkin_codes WHERE invitation_id = ?", (body["invitation"]["id"],)
    )
    assert row is not None
    code = row[0]
    params = {"resident_id": str(rid), "channel": "sms", "kind": "reminder"}
    status, shown = await api.get(f"{EVENTS}/{event_id}/preview", params=params)
    # Once it showed the wording for someone who had not answered.
    assert status == 200 and f"Check-in code {code}" in shown["text"], shown["text"]
    # The invitation itself is previewed as it went out, before any answer.
    params["kind"] = "invitation"
    status, shown = await api.get(f"{EVENTS}/{event_id}/preview", params=params)
    assert status == 200 and code not in shown["text"]


async def test_preview_renders_without_sending_and_counts_sms_segments(api: Api) -> None:
    rid = await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    en = await resident(api, "Bob", "1-1-102", ("email", "bob@example.org"), language="en")
    event_id = await published_event(api)
    status, shown = await api.get(
        f"{EVENTS}/{event_id}/preview", params={"resident_id": str(rid), "channel": "sms"}
    )
    assert status == 200, shown
    assert shown["address"] == "+8613800138000" and "跳蚤市场" in shown["text"]
    assert shown["sms"]["encoding"] == "UCS-2"
    assert shown["sms"]["segments"] == (
        1 if shown["sms"]["characters"] <= 70 else -(-shown["sms"]["characters"] // 67)
    )
    status, shown = await api.get(
        f"{EVENTS}/{event_id}/preview", params={"resident_id": str(en), "channel": "email"}
    )
    assert status == 200 and shown["language"] == "en" and shown["html"] and shown["subject"]
    assert "BEGIN:VCALENDAR" in shown["extra"]["ics"] and "/u/" in shown["extra"]["unsubscribe_url"]
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    assert sum(body["by_status"].values()) == 0  # a preview sends nothing
    status, body = await api.get(
        f"{EVENTS}/{event_id}/preview", params={"resident_id": "999", "channel": "sms"}
    )
    assert status == 404 and body["error"]["code"] == "resident_not_found"
    status, body = await api.get(
        f"{EVENTS}/{event_id}/preview", params={"resident_id": str(rid), "channel": "fax"}
    )
    assert status == 400 and "channel" in body["error"]["fields"]


async def test_an_override_failing_on_a_residents_values_names_them_and_costs_no_answer(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    amy = await resident(api, "Amy", "1-1-101", ("sms", "13800138000"), language="en")
    bart = await resident(api, "Bartholomew", "1-1-102", ("sms", "13800138001"), language="en")
    event_id = await published_event(api)
    # Fine for the check's sample resident; a division by zero for a 3-letter name.
    source = "{% block text %}{{ 10 // ((resident.name|length) - 3) }}{% endblock %}"
    for kind in ("invitation", "rsvp_confirmation"):
        status, body = await api.put(
            f"{EVENTS}/{event_id}/templates/{kind}/sms/en", json={"source": source}
        )
        assert status == 200, body

    status, body = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 400 and body["error"]["code"] == "template_error"
    assert f"for resident {amy}" in body["error"]["message"]
    _, deliveries = await api.get(f"{EVENTS}/{event_id}/deliveries")
    assert deliveries["messages"]["total"] == 0

    # An answer stands though its confirmation cannot be rendered.
    for rid in (amy, bart):
        status, body = await api.post(
            f"{EVENTS}/{event_id}/answers", json={"resident_id": rid, "answer": "yes"}
        )
        assert status == 200, body
    _, listed = await api.get(f"{EVENTS}/{event_id}/attendance")
    assert {i["resident_id"]: i["answer"] for i in listed["items"]} == {amy: "yes", bart: "yes"}
    _, deliveries = await api.get(f"{EVENTS}/{event_id}/deliveries")
    assert [m["resident_id"] for m in deliveries["messages"]["items"]] == [bart]
    assert f"for resident {amy}" in caplog.text


async def test_template_overrides_are_checked_then_used(api: Api) -> None:
    rid = await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    event_id = await published_event(api)
    path = f"{EVENTS}/{event_id}/templates/invitation/sms/zh-CN"
    status, body = await api.put(
        path, json={"source": "{% block text %}\n{{ event.title \n{% endblock %}"}
    )
    assert status == 400 and body["error"]["code"] == "template_syntax"
    assert "line" in body["error"]["message"]
    status, body = await api.put(path, json={"source": "{% block text %}{{ nope }}{% endblock %}"})
    assert status == 400 and "nope" in body["error"]["message"]
    status, body = await api.put(
        path, json={"source": "{% block text %}{{ 'a' * 50000000 }}{% endblock %}"}
    )
    assert status == 400 and body["error"]["code"] == "template_too_costly"

    source = (
        "{% block text %}【{{ community.name }}】{{ resident.name }}，{{ event.title }}见！"
        "{{ links.rsvp }}{% endblock %}"
    )
    status, saved = await api.put(path, json={"source": source})
    assert status == 200, saved
    status, listed = await api.get(f"{EVENTS}/{event_id}/templates")
    assert [t["kind"] for t in listed["items"]] == ["invitation"]
    status, shown = await api.get(f"{EVENTS}/{event_id}/preview", params={"resident_id": str(rid)})
    assert shown["text"].startswith("【") and "张伟，跳蚤市场见！" in shown["text"]
    await api.post(f"{EVENTS}/{event_id}/send")
    await settled(api, event_id, total=1)
    assert "张伟，跳蚤市场见！" in outbox_files(api, "sms")[0].read_text(encoding="utf-8")
    status, _ = await api.delete(path)
    assert status == 204
    status, body = await api.delete(path)
    assert status == 404 and body["error"]["code"] == "template_not_found"
    status, body = await api.put(
        f"{EVENTS}/{event_id}/templates/invitation/fax/zh-CN", json={"source": "x"}
    )
    assert status == 404


async def test_quiet_hours_hold_sms_until_morning_unless_urgent(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    clock.now = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    async with FakeSmsGateway() as gateway:
        api = await make_api(**sms_gateway_settings(gateway))
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        await resident(api, "Alice", "1-1-102", ("email", "alice@example.org"))
        event_id = await published_event(api)
        await api.post(f"{EVENTS}/{event_id}/send")
        await until(api, event_id, lambda c: c["delivered"] == 1, "delivered the email")
        await asyncio.sleep(0.1)  # the worker has looked at the SMS again meanwhile
        _, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
        by_channel = {m["channel"]: m for m in body["messages"]["items"]}
        assert by_channel["email"]["status"] == "delivered"
        assert by_channel["sms"]["status"] == "queued"
        assert by_channel["sms"]["send_after"] == "2026-11-29T08:00:00+08:00"
        assert gateway.messages == {}

        _, report = await api.post(
            f"{EVENTS}/{event_id}/notify",
            json={"kind": "update", "urgent": True, "note": "雨天改期"},
        )
        assert report["queued"] == 2
        await until(api, event_id, lambda c: c["sent"] == 1, "sent the urgent SMS")
        [urgent] = gateway.messages.values()
        assert "雨天改期" in urgent["textMessage"]["text"]

        clock.now = datetime(2026, 11, 29, 0, 1, tzinfo=UTC)  # 08:01 local: the invitation goes
        await settled(api, event_id, total=4)
        assert len(gateway.messages) == 2


async def test_the_file_stand_in_ignores_quiet_hours(api: Api, clock: PinnedClock) -> None:
    clock.now = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 22:00: it wakes nobody
    await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    event_id = await published_event(api)
    await api.post(f"{EVENTS}/{event_id}/send")
    await settled(api, event_id, total=1)
    assert len(outbox_files(api, "sms")) == 1


async def test_messages_expire_when_the_event_has_started(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    clock.now = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 22:00: the SMS waits for 08:00
    async with FakeSmsGateway() as gateway:
        api = await make_api(**sms_gateway_settings(gateway))
        await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
        event_id = await published_event(
            api, starts_at="2026-11-29T07:00", ends_at="2026-11-29T09:00"
        )
        await api.post(f"{EVENTS}/{event_id}/send")
        clock.now = datetime(2026, 11, 29, 0, 30, tzinfo=UTC)  # 08:30, after the start
        body = await settled(api, event_id, total=1)
        assert body["by_status"]["expired"] == 1
        assert gateway.messages == {}
        message_id = body["messages"]["items"][0]["id"]
        status, retried = await api.post(f"/api/v1/messages/{message_id}/retry")
        assert status == 200 and retried["status"] in ("queued", "sending", "sent")
        await until(api, event_id, lambda c: c["sent"] == 1, "sent the retried message")
        assert len(gateway.messages) == 1
        status, body = await api.post(f"/api/v1/messages/{message_id}/retry")
        assert status == 409 and body["error"]["code"] == "message_not_retryable"
        status, _ = await api.post("/api/v1/messages/99999/retry")
        assert status == 404


async def test_one_click_unsubscribe(api: Api) -> None:
    rid = await resident(api, "Alice", "1-1-102", ("email", "alice@example.org"), language="en")
    event_id = await published_event(api)
    _, shown = await api.get(
        f"{EVENTS}/{event_id}/preview", params={"resident_id": str(rid), "channel": "email"}
    )
    url = shown["extra"]["unsubscribe_url"]
    path = url[url.index("/u/") :]
    client = api.client
    page = await client.get(path)
    assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    html = await page.text()
    assert "a***@example.org" in html and "alice@example.org" not in html
    _, contacts = await api.get(f"/api/v1/residents/{rid}/contacts")
    assert contacts["items"][0]["opted_out"] is False  # a GET changes nothing

    done = await client.post(
        path,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert done.status == 200
    _, contacts = await api.get(f"/api/v1/residents/{rid}/contacts")
    assert contacts["items"][0]["opted_out"] is True
    again = await client.post(path, data="List-Unsubscribe=One-Click")
    assert again.status == 200

    forged = await client.post(path[:-3] + "AAA")
    assert forged.status == 404
    _status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert report["suppressed"] == 1 and report["queued"] == 0


async def test_an_events_channels_limit_where_its_messages_go(api: Api) -> None:
    sms_only = await resident(api, "短信甲", "1-1-101", ("sms", "13800138001"))
    both = await resident(
        api, "两者乙", "1-1-102", ("sms", "13800138002"), ("email", "yi@example.com")
    )
    email_only = await resident(api, "邮件丙", "1-1-103", ("email", "bing@example.com"))
    status, refused = await api.post(
        EVENTS, json={"kind": "meeting", "title": "院会", "starts_at": "2026-12-05T09:00",
                      "ends_at": "2026-12-05T10:00", "channels": ["email", "fax"]},
    )  # fmt: skip
    assert status == 400 and "channels.1" in refused["error"]["fields"]
    event_id = await published_event(api, title="院会", channels=["email", "email"])
    status, event = await api.get(f"{EVENTS}/{event_id}")
    assert event["channels"] == ["email"]

    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, report
    assert (report["invited"], report["queued"], report["unreachable"]) == (3, 2, 1)
    body = await settled(api, event_id, total=2)
    assert body["by_channel"] == {"email": {"delivered": 2}}
    to = {m["resident_id"]: m["channel"] for m in body["messages"]["items"]}
    assert to == {both: "email", email_only: "email"} and sms_only not in to
    assert outbox_files(api, "sms") == []

    status, event = await api.patch(f"{EVENTS}/{event_id}", json={"channels": []})
    assert status == 200 and event["channels"] == []


async def test_sends_of_many_batches_count_and_queue_every_one(api: Api) -> None:
    # A bulk send writes each batch while it composes the next: with batches of 2, every
    # count of the report and every row must still come out whole.
    ids = [
        await resident(api, f"居民{n}", f"1-1-{n:03d}", ("sms", f"1380013{n:04d}"))
        for n in range(7)
    ]
    await resident(api, "无联系", "1-1-900")  # unreachable
    event_id = await published_event(api)
    store = api.client.app[store_key]
    composer = api.client.app[delivery_key].ready()
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    # Eight invited before (one of them unreachable); a second send in batches of 2 must
    # count them and invite only the two who came since.
    await send_event(store, composer, event_id, now=now, batch=500)
    await resident(api, "后来者", "2-1-101", ("sms", "13700137000"))
    await resident(api, "又一位", "2-1-102", ("email", "late@example.org"))

    report = await send_event(store, composer, event_id, now=now, batch=2)
    assert (report.invited, report.already_invited, report.queued) == (2, 8, 2)
    assert report.by_channel == {"email": 1, "sms": 1}

    notified = await notify_event(
        store,
        composer,
        event_id,
        kind=MessageKind.UPDATE,
        audience="invited",
        note="改到下午",
        urgent=False,
        now=now,
        batch=3,
    )
    assert (notified.invited, notified.queued, notified.unreachable) == (10, 9, 1)
    rows = await store.fetchall(
        "SELECT resident_id, count(*) AS n FROM messages WHERE event_id = ? AND kind = 'update'"
        " GROUP BY resident_id",
        (event_id,),
    )
    assert len(rows) == 9 and all(row["n"] == 1 for row in rows)
    assert {row["resident_id"] for row in rows} >= set(ids)


async def test_a_booking_confirmation_preview_needs_an_event_with_a_room(api: Api) -> None:
    # Without a room it said "your room is booked" for a booking that does not exist.
    rid = await resident(api, "张伟", "1-1-101", ("sms", "13800138000"))
    query = {"resident_id": str(rid), "kind": "booking_confirmation"}
    roomless = await published_event(api)
    status, body = await api.get(f"{EVENTS}/{roomless}/preview", params=query)
    assert status == 400 and body["error"]["code"] == "event_has_no_room"
    assert "kind" in body["error"]["fields"]
    hall = await published_event(api, room_id=await room(api, "多功能厅"))
    status, body = await api.get(f"{EVENTS}/{hall}/preview", params=query)
    assert status == 200, body
    assert "多功能厅" in body["text"]
