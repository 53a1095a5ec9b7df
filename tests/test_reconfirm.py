"""Reconfirmation: those coming are asked again N hours before the event, through the
outbox; whoever has not answered by the deadline is released (seats freed, the waitlist
moved up, both told) or flagged, once, whatever restarts or clock jumps follow; and the
attendance shows who reconfirmed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from service.domain import reconfirm
from service.keys import delivery_key, store_key
from tests.community import (
    EVENTS,
    SECRET,
    android_text,
    answer,
    attendance,
    eventually,
    hooks_on,
    invited,
    published_event,
    resident,
    settled,
    submit,
    subscribe,
)
from tests.conftest import GATEWAY_SECRET, Api, MakeApi, PinnedClock
from tests.console import ConsoleClient
from tests.fakes.webhook_receiver import WebhookReceiver

# The event of `invited` starts 2026-12-05 01:00 UTC; the clock starts 2026-11-28 02:00.
QUICK = {"delivery.reminder_interval_s": 0.05}


@pytest.fixture
async def hook() -> Any:
    async with WebhookReceiver(SECRET) as receiver:
        yield receiver


async def kinds(api: Api, event_id: int) -> Counter[str]:
    """How many messages of each kind the event has."""
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
    assert status == 200, body
    return Counter(m["kind"] for m in body["messages"]["items"])


async def by_resident(api: Api, event_id: int) -> dict[int, dict[str, Any]]:
    return {i["resident_id"]: i for i in (await attendance(api, event_id))["items"]}


async def ask_to_reconfirm(api: Api, event_id: int, unconfirmed: str) -> None:
    body = {"hours_before": 48, "deadline_hours_before": 24, "unconfirmed": unconfirmed}
    status, saved = await api.put(f"{EVENTS}/{event_id}/reconfirmation", json=body)
    assert status == 200 and saved == body, saved


async def test_reconfirm_release_frees_seats_promotes_the_waitlist_and_tells_both(
    make_api: MakeApi, clock: PinnedClock, hook: WebhookReceiver
) -> None:
    api = await make_api(**hooks_on(**QUICK))
    event = await invited(api, 3, capacity=2)
    await subscribe(api, hook.url, "rsvp.changed")
    first, second, third = event.residents
    for resident_id in event.residents:
        await answer(api, event.event_id, resident_id, "yes")
    assert (await by_resident(api, event.event_id))[third]["answer"] == "waitlisted"
    await ask_to_reconfirm(api, event.event_id, "release")

    clock.advance(days=5)  # 47 h before the start: the request goes
    await eventually(
        lambda: kinds(api, event.event_id), lambda k: k["reconfirm"] == 2, "asked the two"
    )
    # The first says yes again on their page; the second says nothing.
    status, _ = await submit(api, event.pages[0], answer="yes", party_size="1")
    assert status == 200
    items = await by_resident(api, event.event_id)
    assert items[first]["reconfirmed_at"] is not None
    assert items[second]["reconfirm_requested_at"] is not None
    assert items[second]["reconfirmed_at"] is None

    clock.advance(hours=24)  # 23 h before: past the deadline
    found = await eventually(
        lambda: kinds(api, event.event_id),
        lambda k: k["reconfirm_released"] == 1 and k["waitlist_offer"] == 1,
        "released the second and moved the third up",
    )
    items = await by_resident(api, event.event_id)
    assert (items[first]["answer"], items[first]["reconfirm_outcome"]) == ("yes", None)
    assert (items[second]["answer"], items[second]["reconfirm_outcome"]) == ("no", "released")
    assert items[third]["answer"] == "yes"
    assert found["reconfirm"] == 2
    # Integrators hear of the release as of any change of answer.
    await hook.wait_for(5)  # three answers (one waitlisted), the release, the move up
    changes = [(d.body["data"]["resident_id"], d.body["data"]["answer"], d.body["data"]["via"])
               for d in hook.deliveries]  # fmt: skip
    assert (second, "no", "system") in changes and (third, "yes", "system") in changes


async def test_reconfirm_flag_marks_and_each_stage_runs_once_across_restart_and_clock_jumps(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**QUICK)
    event = await invited(api, 2)
    first, second = event.residents
    for resident_id in event.residents:
        await answer(api, event.event_id, resident_id, "yes")
    await ask_to_reconfirm(api, event.event_id, "flag")
    clock.advance(days=5)
    await eventually(lambda: kinds(api, event.event_id), lambda k: k["reconfirm"] == 2, "asked")
    # The organiser takes the first's yes on the phone: that reconfirms too.
    await answer(api, event.event_id, first, "yes")
    clock.advance(hours=24)
    items = await eventually(
        lambda: by_resident(api, event.event_id),
        lambda i: i[second]["reconfirm_outcome"] == "flagged",
        "flagged the second",
    )
    assert items[second]["answer"] == "yes"  # flagged, not released
    assert items[first]["reconfirmed_at"] is not None
    before = await kinds(api, event.event_id)

    # A restart (a second app on the same database) and the clock set back, then on again.
    again = await make_api(**QUICK)
    store = again.client.app[store_key]
    followups = again.client.app[delivery_key].followups()
    for hours in (-30, -24, 0, 12):
        assert (
            await reconfirm.run_due(store, followups, now=clock.now + timedelta(hours=hours)) == 0
        )
    # (Reminders fire on their own schedule meanwhile: only reconfirmation's kinds count.)
    ours = ("reconfirm", "reconfirm_released", "waitlist_offer")
    after = await kinds(api, event.event_id)
    assert [after[k] for k in ours] == [before[k] for k in ours] == [2, 0, 0]


async def test_reconfirm_late_request_keeps_the_full_window(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api()
    event = await invited(api, 1)
    await answer(api, event.event_id, event.residents[0], "yes")
    await ask_to_reconfirm(api, event.event_id, "release")
    store = api.client.app[store_key]
    followups = api.client.app[delivery_key].followups()
    # The server was down: it wakes 10 h before the start, past the planned deadline.
    late = clock.now + timedelta(days=6, hours=15)

    assert await reconfirm.run_due(store, followups, now=late) == 1  # the request only
    assert await reconfirm.run_due(store, followups, now=late + timedelta(hours=1)) == 0
    [item] = (await attendance(api, event.event_id))["items"]
    assert item["answer"] == "yes" and item["reconfirm_outcome"] is None


async def test_reconfirm_settings_are_checked(api: Api) -> None:
    event = await invited(api, 1)
    path = f"{EVENTS}/{event.event_id}/reconfirmation"

    status, body = await api.get(path)
    assert status == 200 and body == {"rule": None}
    bad = {"hours_before": 24, "deadline_hours_before": 24, "unconfirmed": "release"}
    status, body = await api.put(path, json=bad)
    assert status == 400 and "deadline_hours_before" in body["error"]["fields"], body
    status, body = await api.put(path, json={**bad, "unconfirmed": "drop"})
    assert status == 400 and "unconfirmed" in body["error"]["fields"], body
    assert (await api.delete(path))[0] == 204
    assert (await api.get(f"{EVENTS}/999999/reconfirmation"))[0] == 404


async def test_reconfirm_shows_on_the_console_attendance(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**QUICK)
    event = await invited(api, 2)
    for resident_id in event.residents:
        await answer(api, event.event_id, resident_id, "yes")
    await ask_to_reconfirm(api, event.event_id, "release")
    clock.advance(days=5)
    await eventually(lambda: kinds(api, event.event_id), lambda k: k["reconfirm"] == 2, "asked")
    await answer(api, event.event_id, event.residents[0], "yes")
    browser = ConsoleClient(api.client)
    assert (await browser.sign_in_token(api.token or "")).url.startswith("/console")

    page = await browser.get(f"/console/events/{event.event_id}/attendance")

    assert page.status == 200
    assert page.has("参加 · 已再确认") and page.has("参加 · 尚未再确认"), page.text


async def test_reconfirm_bare_sms_reply_answers_the_newest_request(
    android: Api, clock: PinnedClock
) -> None:
    phone = "13800138000"
    resident_id = await resident(android, "张伟", "3-2-1501", ("sms", phone))
    first = await published_event(android, max_party_size=4)
    assert (await android.post(f"{EVENTS}/{first}/send"))[0] == 200
    second = await published_event(android, title="板凳会", starts_at="2026-12-06T09:00",
                                   ends_at="2026-12-06T11:00")  # fmt: skip
    assert (await android.post(f"{EVENTS}/{second}/send"))[0] == 200
    await answer(android, first, resident_id, "yes")
    await ask_to_reconfirm(android, first, "flag")
    clock.advance(days=5)
    store = android.client.app[store_key]
    followups = android.client.app[delivery_key].followups()
    assert await reconfirm.run_due(store, followups, now=clock.now) == 1
    await settled(android, first, total=3)  # invitation, confirmation, reconfirm request

    # "1" alone: the newest SMS asking for an answer is the first event's request, not
    # the second event's (older) invitation.
    assert await android_text(android, "1", phone=phone, secret=GATEWAY_SECRET) == 204

    [mine] = (await attendance(android, first))["items"]
    assert mine["reconfirmed_at"] is not None
    [other] = (await attendance(android, second))["items"]
    assert other["answer"] == "pending"
