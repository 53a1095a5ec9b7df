"""The answer model: one domain function for every path, capacity and the waitlist,
promotions, the deadline, idempotency, history, attendance and its CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from service.core.models import AnswerVia, RsvpState
from service.domain import rsvp
from service.keys import clock_key, delivery_key, store_key
from tests.community import EVENTS, attendance, invited, published_event, resident
from tests.conftest import Api, PinnedClock


async def answer(
    api: Api, event_id: int, resident_id: int, what: str, size: int | None = None, **kw: Any
) -> rsvp.AnswerOutcome:
    """The resident's own answer, as the link page gives it."""
    app = api.client.app
    return await rsvp.apply_answer(
        app[store_key],
        rsvp.AnswerRequest(
            event_id=event_id,
            resident_id=resident_id,
            answer=RsvpState(what),
            via=kw.pop("via", AnswerVia.LINK),
            party_size=size,
            **kw,
        ),
        now=app[clock_key](),
        after=app[delivery_key].followups().after_answer,
    )


async def test_500_concurrent_yes_fill_capacity_50_exactly_and_wait_in_order(api: Api) -> None:
    event_id, people, _ = await invited(api, 500, capacity=50, settle=False)

    outcomes = await asyncio.gather(*(answer(api, event_id, rid, "yes") for rid in people))

    states = [o.invitation.answer for o in outcomes]
    assert states.count(RsvpState.YES) == 50
    assert states.count(RsvpState.WAITLISTED) == 450
    body = await attendance(api, event_id)
    assert (body["yes"], body["waitlisted"], body["people_yes"]) == (50, 450, 50)
    # Waitlist places are 1..450 with no gaps or repeats, in the order the answers landed.
    places = sorted(i["waitlist_position"] for i in body["items"] if i["answer"] == "waitlisted")
    assert places == list(range(1, 451))
    landed = [o.invitation.resident_id for o in outcomes if o.invitation.answer == "waitlisted"]
    by_place = sorted(
        (i for i in body["items"] if i["answer"] == "waitlisted"),
        key=lambda i: i["waitlist_position"],
    )
    assert [i["resident_id"] for i in by_place] == landed


async def test_a_decline_promotes_the_first_waitlisted_party_that_fits(api: Api) -> None:
    event_id, (a, b, c, d), _ = await invited(api, 4, capacity=3, max_party_size=4)
    await answer(api, event_id, a, "yes", 2)
    await answer(api, event_id, b, "yes", 1)
    waiting_big = await answer(api, event_id, c, "yes", 3)
    waiting_small = await answer(api, event_id, d, "yes", 1)
    assert waiting_big.invitation.answer == waiting_small.invitation.answer == "waitlisted"

    # Two seats free: the party of 3 does not fit and keeps its place; the single moves up.
    outcome = await answer(api, event_id, a, "no")

    assert [p.resident_id for p in outcome.promoted] == [d]
    body = await attendance(api, event_id)
    by_resident = {i["resident_id"]: i for i in body["items"]}
    assert by_resident[d]["answer"] == "yes"
    assert by_resident[d]["history"][-1]["actor"] == "system"
    assert by_resident[c]["answer"] == "waitlisted" and by_resident[c]["waitlist_position"] == 1
    assert body["people_yes"] == 2

    # Raising the capacity moves the party of 3 up too.
    status, _ = await api.patch(f"{EVENTS}/{event_id}", json={"capacity": 5})
    assert status == 200
    body = await attendance(api, event_id)
    assert {i["resident_id"]: i["answer"] for i in body["items"]}[c] == "yes"
    assert (body["people_yes"], body["waitlisted"]) == (5, 0)


async def test_a_confirmed_party_cannot_grow_past_the_free_seats(api: Api) -> None:
    event_id, (a, b), _ = await invited(api, 2, capacity=3, max_party_size=5)
    await answer(api, event_id, a, "yes", 2)
    await answer(api, event_id, b, "yes", 1)

    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": a, "answer": "yes", "party_size": 3}
    )

    assert status == 409 and body["error"]["code"] == "not_enough_seats"
    assert (await attendance(api, event_id))["people_yes"] == 3


async def test_party_size_is_checked_against_the_event(api: Api) -> None:
    event_id, (a,), _ = await invited(api, 1, max_party_size=3)
    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": a, "answer": "yes", "party_size": 4}
    )
    assert status == 400 and body["error"]["code"] == "party_size_out_of_range"
    assert "party_size" in body["error"]["fields"]
    assert (await attendance(api, event_id))["pending"] == 1


async def test_after_the_deadline_residents_cannot_answer_but_organisers_can(
    api: Api, clock: PinnedClock
) -> None:
    event_id, (a,), _ = await invited(api, 1, rsvp_deadline="2026-12-01T20:00")
    clock.advance(days=4)  # 2026-12-02 10:00 in Shanghai

    try:
        await answer(api, event_id, a, "yes")
    except Exception as exc:  # the ConflictError the link page turns into "answers are closed"
        assert getattr(exc, "code", None) == "answers_closed"
    else:
        raise AssertionError("a late answer was taken")
    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": a, "answer": "yes"}
    )
    assert status == 200, body
    assert body["invitation"]["answer"] == "yes"
    [change] = (
        body["invitation"]["history"] or (await attendance(api, event_id))["items"][0]["history"]
    )
    assert change["via"] == "organiser" and change["actor"] == "organiser:王组织"


async def test_a_repeated_request_key_changes_nothing(api: Api) -> None:
    event_id, (a,), _ = await invited(api, 1, capacity=10, max_party_size=4)
    first = await answer(api, event_id, a, "yes", 2, key="sms:SM123")
    again = await answer(api, event_id, a, "no", key="sms:SM123")

    assert first.changed and not again.changed and again.repeated
    body = await attendance(api, event_id)
    [item] = body["items"]
    assert (item["answer"], item["party_size"], len(item["history"])) == ("yes", 2, 1)


async def test_answers_keep_their_history_with_path_and_actor(api: Api) -> None:
    event_id, (a,), _ = await invited(api, 1, max_party_size=4)
    await answer(api, event_id, a, "maybe", via=AnswerVia.SMS)
    await answer(api, event_id, a, "yes", 3)
    await api.post(f"{EVENTS}/{event_id}/answers", json={"resident_id": a, "answer": "no"})

    [item] = (await attendance(api, event_id))["items"]
    assert [(h["answer"], h["party_size"], h["via"], h["actor"]) for h in item["history"]] == [
        ("maybe", 1, "sms", "resident"),
        ("yes", 3, "link", "resident"),
        ("no", 1, "organiser", "organiser:王组织"),  # a no brings nobody
    ]


async def test_an_organiser_answer_is_confirmed_to_the_resident(api: Api) -> None:
    event_id, (a,), _ = await invited(api, 1)
    status, _ = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": a, "answer": "yes"}
    )
    assert status == 200
    status, body = await api.get(f"{EVENTS}/{event_id}/deliveries")
    kinds = sorted(m["kind"] for m in body["messages"]["items"])
    assert kinds == ["invitation", "rsvp_confirmation"]


async def test_attendance_counts_and_csv_open_in_excel(api: Api) -> None:
    event_id, (a, b, c), _ = await invited(api, 3, capacity=2, max_party_size=3)
    await answer(api, event_id, a, "yes", 2)
    await answer(api, event_id, b, "yes")
    await answer(api, event_id, c, "no")

    body = await attendance(api, event_id)
    assert {k: body[k] for k in ("yes", "no", "maybe", "waitlisted", "pending", "invited")} == {
        "yes": 1,
        "no": 1,
        "maybe": 0,
        "waitlisted": 1,
        "pending": 0,
        "invited": 3,
    }
    resp = await api.client.get(
        f"{EVENTS}/{event_id}/attendance.csv", headers={"Authorization": f"Bearer {api.token}"}
    )
    raw = await resp.read()
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == [
        "姓名",
        "房号",
        "回复",
        "人数",
        "候补序号",
        "回复时间",
        "回复渠道",
        "签到时间",
        "爽约",
    ]
    assert sorted(r[2] for r in rows[1:]) == ["不参加", "候补", "参加"]
    assert next(r for r in rows[1:] if r[2] == "候补")[4] == "1"


async def test_unknown_event_and_uninvited_resident(api: Api) -> None:
    status, body = await api.get(f"{EVENTS}/999/attendance")
    assert status == 404 and body["error"]["code"] == "event_not_found"
    event_id, _, _ = await invited(api, 1)
    stranger = await resident(api, "路人", "9-9-999")
    try:
        await answer(api, event_id, stranger, "yes")
    except Exception as exc:
        assert getattr(exc, "code", None) == "invitation_not_found"
    else:
        raise AssertionError("an uninvited resident answered")


async def test_an_answer_taken_by_an_organiser_gives_its_waitlist_place(api: Api) -> None:
    people = [await resident(api, f"居民{i}", f"1-1-{100 + i}") for i in range(3)]
    event_id = await published_event(api, capacity=1)
    places = []
    for rid in people:
        status, body = await api.post(
            f"{EVENTS}/{event_id}/answers", json={"resident_id": rid, "answer": "yes"}
        )
        assert status == 200, body
        places.append((body["invitation"]["answer"], body["invitation"]["waitlist_position"]))
    assert places == [("yes", None), ("waitlisted", 1), ("waitlisted", 2)]
    _, listed = await api.get(f"{EVENTS}/{event_id}/attendance")
    shown = {i["resident_id"]: i["waitlist_position"] for i in listed["items"]}
    assert [shown[rid] for rid in people] == [None, 1, 2]
    # The resident's own answer (link, chat) comes out of the same function, placed alike.
    again = await answer(api, event_id, people[2], "yes")
    assert again.invitation.waitlist_position == 2
