"""Reminders and nudges: who gets them, that each fires exactly once whatever restarts and
clock changes happen, per-event offsets through the API; and the promotion notice."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.core.errors import ValidationError
from service.core.models import EventKind
from service.domain import events, reminders
from service.keys import delivery_key, store_key
from tests.community import EVENTS, eventually, published_event, resident
from tests.conftest import Api, MakeApi, PinnedClock

# The events below start at 09:00 Shanghai time on 5 December.
STARTS = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
# Apps whose own scheduler looks once, at start-up: the tests run it by hand with tick().
BY_HAND: dict[str, Any] = {"delivery.reminder_interval_s": 3600.0}


async def tick(api: Api, clock: PinnedClock) -> int:
    """One run of the scheduler, exactly as the delivery process runs it."""
    app = api.client.app
    return await reminders.fire_due(app[store_key], app[delivery_key].ready(), now=clock())


async def messages(api: Api, event_id: int, kind: str = "reminder") -> list[dict[str, Any]]:
    """The event's messages of one kind (reminders include nudges), as the API lists them."""
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries", params={"limit": "500"})
    assert status == 200, body
    return [m for m in body["messages"]["items"] if m["kind"] == kind]


async def sent_to(api: Api, event_id: int) -> Counter[int]:
    """Reminder messages (nudges included) of the event, counted per resident."""
    return Counter(m["resident_id"] for m in await messages(api, event_id))


async def texts_to(api: Api, event_id: int, resident_id: int) -> list[str]:
    return [
        m["body_text"] for m in await messages(api, event_id) if m["resident_id"] == resident_id
    ]


async def reminded(api: Api, event_id: int, total: int) -> Counter[int]:
    """The counts once `total` reminders exist (the background scheduler's work)."""
    return await eventually(
        lambda: sent_to(api, event_id),
        lambda counts: sum(counts.values()) >= total,
        f"{total} reminders",
    )


async def answered(api: Api, event_id: int, answers: dict[int, str]) -> None:
    for resident_id, what in answers.items():
        status, body = await api.post(
            f"{EVENTS}/{event_id}/answers", json={"resident_id": resident_id, "answer": what}
        )
        assert status == 200, body


async def community(api: Api, count: int) -> list[int]:
    return [
        await resident(api, f"Neighbour {i}", f"2-1-{100 + i}", ("sms", f"1390013{i:04d}"))
        for i in range(count)
    ]


async def sent_event(api: Api, **fields: Any) -> int:
    event_id = await published_event(api, **fields)
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200, report
    return event_id


async def one_going(make_api: MakeApi) -> tuple[Api, int, int]:
    """An app run by hand, one resident, and an event without a nudge they said yes to."""
    api = await make_api(**BY_HAND)
    (going,) = await community(api, 1)
    event_id = await sent_event(api, nudge_hours=None)
    await answered(api, event_id, {going: "yes"})
    return api, going, event_id


async def test_reminders_go_to_yes_at_24_and_2_hours_once_each(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    going, not_going, unsure, silent = await community(api, 4)
    event_id = await sent_event(api, nudge_hours=None)
    await answered(api, event_id, {going: "yes", not_going: "no", unsure: "maybe"})

    assert await tick(api, clock) == 0  # a week ahead: nothing due
    clock.now = STARTS - timedelta(hours=23)
    assert await tick(api, clock) == 1
    for _ in range(3):
        assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}

    clock.now = STARTS - timedelta(hours=1, minutes=30)
    assert await tick(api, clock) == 1
    for _ in range(3):
        assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 2}
    assert silent not in await sent_to(api, event_id)
    assert all("提醒" in text for text in await texts_to(api, event_id, going))


async def test_the_background_scheduler_sends_reminders_through_the_worker(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**{"delivery.reminder_interval_s": 0.02})
    (going,) = await community(api, 1)
    event_id = await sent_event(api)
    await answered(api, event_id, {going: "yes"})
    clock.now = STARTS - timedelta(hours=23)
    assert await reminded(api, event_id, 1) == {going: 1}
    await eventually(
        lambda: messages(api, event_id),
        lambda found: {m["status"] for m in found} <= {"sent", "delivered"},
        "sent",
    )
    await asyncio.sleep(0.1)  # many more runs of the scheduler
    assert await sent_to(api, event_id) == {going: 1}


async def test_a_second_app_on_the_same_database_sends_nothing_again(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    first = await make_api(**BY_HAND)
    going, also_going = await community(first, 2)
    event_id = await sent_event(first, nudge_hours=None)
    await answered(first, event_id, {going: "yes", also_going: "yes"})
    clock.now = STARTS - timedelta(hours=23)
    assert await tick(first, clock) == 1

    second = await make_api(**BY_HAND)  # a restart, or a second worker
    assert await tick(second, clock) == 0
    assert await sent_to(second, event_id) == {going: 1, also_going: 1}


async def test_a_clock_set_back_and_forward_sends_nothing_again(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api, going, event_id = await one_going(make_api)
    clock.now = STARTS - timedelta(hours=23)
    assert await tick(api, clock) == 1

    clock.now = STARTS - timedelta(days=3)
    assert await tick(api, clock) == 0
    clock.now = STARTS - timedelta(hours=22)
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}


async def test_a_run_that_stopped_before_recording_queues_nothing_twice(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    people = await community(api, 5)
    event_id = await sent_event(api, nudge_hours=None)
    await answered(api, event_id, dict.fromkeys(people, "yes"))
    clock.now = STARTS - timedelta(hours=23)
    app = api.client.app
    store, composer = app[store_key], app[delivery_key].ready()

    # Two runs at once, two recipients a batch: both queue, only one records.
    runs = await asyncio.gather(
        reminders.fire_due(store, composer, now=clock(), batch=2),
        reminders.fire_due(store, composer, now=clock(), batch=2),
    )
    assert sorted(runs) == [0, 1]
    assert await sent_to(api, event_id) == dict.fromkeys(people, 1)

    # A crash after the messages were queued but before the record was written.
    await store.write(lambda tx: tx.execute("DELETE FROM reminders_fired"))
    assert await tick(api, clock) == 1
    assert await sent_to(api, event_id) == dict.fromkeys(people, 1)


async def test_nothing_fires_once_the_event_has_started(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    going, silent = await community(api, 2)
    event_id = await sent_event(api, nudge_hours=None)
    await answered(api, event_id, {going: "yes"})
    clock.now = STARTS + timedelta(minutes=1)
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {}
    # Looking after the start records nothing: set back, the 2 h reminder still fires …
    clock.now = STARTS - timedelta(hours=1)
    assert await tick(api, clock) == 1
    # … and, past the start again, nothing more.
    clock.now = STARTS + timedelta(hours=1)
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}
    assert silent not in await sent_to(api, event_id)


async def test_a_nudge_at_48_hours_goes_only_to_those_who_have_not_answered(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    going, not_going, unsure = await community(api, 3)
    silent = await resident(api, "Quiet Lee", "2-1-200", ("sms", "13900139999"), language="en")
    event_id = await sent_event(api)
    await answered(api, event_id, {going: "yes", not_going: "no", unsure: "maybe"})

    clock.now = STARTS - timedelta(hours=47)
    assert await tick(api, clock) == 1
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {silent: 1}
    [nudge] = await texts_to(api, event_id, silent)
    assert "haven't answered" in nudge and '"A1 1" yes' in nudge and "/r/" in nudge

    clock.now = STARTS - timedelta(hours=23)  # the 24 h reminder: to yes only
    assert await tick(api, clock) == 1
    assert await sent_to(api, event_id) == {silent: 1, going: 1}


async def test_offsets_already_past_when_an_event_is_published_are_skipped(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    going, silent = await community(api, 2)
    soon = clock.now + timedelta(hours=3)  # published 3 h before its start
    event_id = await sent_event(
        api,
        starts_at=soon.isoformat(),
        ends_at=(soon + timedelta(hours=2)).isoformat(),
    )
    await answered(api, event_id, {going: "yes"})
    await tick(api, clock)
    assert await sent_to(api, event_id) == {}  # no 24 h reminder, no 48 h nudge

    clock.advance(hours=1, minutes=30)
    assert await tick(api, clock) == 1
    assert await sent_to(api, event_id) == {going: 1}
    assert silent not in await sent_to(api, event_id)


async def test_a_scheduler_that_was_down_sends_only_the_reminder_now_due(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api, going, event_id = await one_going(make_api)
    clock.now = STARTS - timedelta(hours=1)  # both the 24 h and the 2 h reminder are due
    assert await tick(api, clock) == 1
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}
    # The 24 h reminder was spent with the 2 h one: a clock set back never sends it after.
    clock.now = STARTS - timedelta(hours=23)
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}


async def test_no_nudge_once_the_answer_deadline_has_passed(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    (silent,) = await community(api, 1)
    # Answers close 49 h before the start, an hour before the 48 h nudge is due.
    event_id = await sent_event(api, rsvp_deadline="2026-12-03T08:00")
    clock.now = STARTS - timedelta(hours=47)
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {}

    # A deadline moved later lets the nudge go after all, and it expires at the deadline.
    status, body = await api.patch(
        f"{EVENTS}/{event_id}", json={"rsvp_deadline": "2026-12-04T20:00"}
    )
    assert status == 200, body
    assert await tick(api, clock) == 1
    assert await sent_to(api, event_id) == {silent: 1}
    [nudge] = await messages(api, event_id)
    assert datetime.fromisoformat(nudge["expires_at"]) == datetime(2026, 12, 4, 12, tzinfo=UTC)


async def test_a_moved_event_is_reminded_again_before_its_new_start(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api, going, event_id = await one_going(make_api)
    clock.now = STARTS - timedelta(hours=23)
    assert await tick(api, clock) == 1

    # Half an hour later: the 24 h reminder just sent is not repeated.
    path = f"{EVENTS}/{event_id}"
    status, body = await api.patch(
        path, json={"starts_at": "2026-12-05T09:30", "ends_at": "2026-12-05T12:30"}
    )
    assert status == 200, body
    assert await tick(api, clock) == 0
    assert await sent_to(api, event_id) == {going: 1}

    # A week later: both reminders again, each once, before the new start.
    status, body = await api.patch(
        path, json={"starts_at": "2026-12-12T09:00", "ends_at": "2026-12-12T12:00"}
    )
    assert status == 200, body
    assert await tick(api, clock) == 0
    later = STARTS + timedelta(days=7)
    for hours, total in ((23, 2), (1, 3)):
        clock.now = later - timedelta(hours=hours)
        assert await tick(api, clock) == 1
        assert await tick(api, clock) == 0
        assert await sent_to(api, event_id) == {going: total}


async def test_per_event_offsets_through_the_api(make_api: MakeApi, clock: PinnedClock) -> None:
    api = await make_api(**BY_HAND)
    going, silent = await community(api, 2)
    status, event = await api.post(
        EVENTS,
        json={
            "kind": "meeting",
            "title": "院会",
            "starts_at": "2026-12-05T09:00",
            "ends_at": "2026-12-05T10:00",
        },
    )
    assert status == 201 and (event["reminder_hours"], event["nudge_hours"]) == ([24, 2], 48)
    path = f"{EVENTS}/{event['id']}"
    status, event = await api.patch(path, json={"reminder_hours": [6, 72, 6], "nudge_hours": None})
    assert status == 200, event
    assert (event["reminder_hours"], event["nudge_hours"]) == ([72, 6], None)
    status, event = await api.patch(path, json={"title": "院会（板凳会）"})
    assert (event["reminder_hours"], event["nudge_hours"]) == ([72, 6], None)
    status, event = await api.patch(path, json={"nudge_hours": 12})
    assert (event["reminder_hours"], event["nudge_hours"]) == ([72, 6], 12)
    _, shown = await api.get(path)
    assert (shown["reminder_hours"], shown["nudge_hours"]) == ([72, 6], 12)

    await api.post(f"{path}/publish")
    await api.post(f"{path}/send")
    await answered(api, event["id"], {going: "yes"})
    clock.now = STARTS - timedelta(hours=71)
    assert await tick(api, clock) == 1
    clock.now = STARTS - timedelta(hours=23)  # 24 h is no longer one of this event's
    assert await tick(api, clock) == 0
    clock.now = STARTS - timedelta(hours=11)
    assert await tick(api, clock) == 1  # the nudge, at 12 h
    assert await sent_to(api, event["id"]) == {going: 1, silent: 1}

    status, off = await api.patch(path, json={"reminder_hours": []})
    assert status == 200 and off["reminder_hours"] == []
    clock.now = STARTS - timedelta(hours=5)
    assert await tick(api, clock) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reminder_hours": [0]}, "reminder_hours"),
        ({"reminder_hours": [-2]}, "reminder_hours"),
        ({"reminder_hours": [721]}, "reminder_hours"),
        ({"reminder_hours": list(range(1, 12))}, "reminder_hours"),
        ({"reminder_hours": ["soon"]}, "reminder_hours"),
        ({"reminder_hours": None}, "reminder_hours"),
        ({"nudge_hours": 0}, "nudge_hours"),
        ({"nudge_hours": 24 * 31}, "nudge_hours"),
    ],
)
async def test_bad_offsets_are_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    event = {
        "kind": "meeting",
        "title": "院会",
        "starts_at": "2026-12-05T09:00",
        "ends_at": "2026-12-05T10:00",
    }
    status, created = await api.post(EVENTS, json=event | body)
    assert status == 400, created
    assert any(name.split(".")[0] == field for name in created["error"]["fields"]), created
    status, created = await api.post(EVENTS, json=event)
    status, patched = await api.patch(f"{EVENTS}/{created['id']}", json=body)
    assert status == 400, patched
    assert any(name.split(".")[0] == field for name in patched["error"]["fields"]), patched


async def test_the_domain_refuses_bad_offsets_naming_the_field(api: Api) -> None:
    store = api.client.app[store_key]
    base = events.EventInput(
        kind=EventKind.MEETING,
        title="院会",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=1),
    )
    for bad in (
        {"reminder_hours": (0,)},
        {"reminder_hours": tuple(range(1, 12))},
        {"nudge_hours": 721},
    ):
        with pytest.raises(ValidationError) as caught:
            await events.create_event(store, events.EventInput(**(vars(base) | bad)), now=STARTS)
        assert set(caught.value.fields) == {next(iter(bad))}


async def test_promotion_notice_says_the_party_is_confirmed(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**BY_HAND)
    first, waiting = await community(api, 2)
    english = await resident(api, "Alex", "2-1-300", ("sms", "13900138888"), language="en")
    event_id = await sent_event(api, capacity=3, max_party_size=3)
    for resident_id, size in ((first, 3), (waiting, 2), (english, 1)):
        status, body = await api.post(
            f"{EVENTS}/{event_id}/answers",
            json={"resident_id": resident_id, "answer": "yes", "party_size": size},
        )
        assert status == 200, body
    await answered(api, event_id, {first: "no"})  # both waiting parties move up

    notices = {
        m["resident_id"]: m["body_text"] for m in await messages(api, event_id, "waitlist_offer")
    }
    assert set(notices) == {waiting, english}, notices
    assert "一行2人已确认参加" in notices[waiting]
    assert "you are now confirmed" in notices[english] and "/r/" in notices[english]
