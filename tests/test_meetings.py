"""Meetings of the consultation list: the agenda in every invitation, raisers and
supporters invited first, the printed roster and its paper ticks (no double count with the
tablet), closing with decisions, and outcomes told back once per person, ever."""

from __future__ import annotations

from typing import Any

from tests.community import (
    EVENTS,
    SECRET,
    answer,
    code_of,
    door,
    eventually,
    hooks_on,
    outbox_files,
    published_event,
    resident,
    room,
    subscribe,
)
from tests.conftest import Api, MakeApi
from tests.fakes.webhook_receiver import WebhookReceiver

ITEMS = "/api/v1/items"
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}


async def _meeting(api: Api, **fields: Any) -> int:
    return await published_event(api, kind="meeting", title="板凳会", **{**TODAY, **fields})


async def _item(api: Api, title: str, **fields: Any) -> dict[str, Any]:
    status, item = await api.post(ITEMS, json={"title": title, **fields})
    assert status == 201, item
    return dict(item)


def _texts(api: Api, channel: str) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in outbox_files(api, channel)]


async def test_meetings_invitation_lists_the_agenda_and_supporters_come_first(api: Api) -> None:
    raiser = await resident(api, "张伟", "3-2-1501", ("sms", "+8613800138001"))
    fan = await resident(api, "Alex Chen", "3-2-1502", ("email", "alex@example.org"), language="en")
    other = await resident(api, "李娜", "3-2-1503", ("sms", "+8613800138003"))
    status, need = await api.post("/api/v1/needs", json={"text": "冬天太冷", "resident_id": raiser})
    warm = await _item(api, "活动室冬季取暖", need_ids=[need["id"]])
    kids = await _item(api, "四点半课堂")
    await api.post(f"{ITEMS}/{kids['id']}/support", json={"resident_id": fan})
    meeting = await _meeting(api)
    status, agenda = await api.put(
        f"{EVENTS}/{meeting}/agenda", json={"item_ids": [warm["id"], kids["id"]]}
    )
    assert status == 200, agenda
    assert [(e["code"], e["status"]) for e in agenda["agenda"]] == [
        (warm["code"], "discussing"),
        (kids["code"], "discussing"),
    ]
    status, report = await api.post(f"{EVENTS}/{meeting}/invite-first")
    assert status == 200 and report["invited"] == 2, report  # not 李娜 yet
    status, report = await api.post(f"{EVENTS}/{meeting}/send")
    assert report["invited"] == 1 and report["already_invited"] == 2, report
    sms = await eventually(lambda: _aw(_texts(api, "sms")), lambda t: len(t) == 2, "2 SMS")
    for text in sms:
        assert f"议题：{warm['code']} 活动室冬季取暖；{kids['code']} 四点半课堂" in text
    [mail] = await eventually(lambda: _aw(_texts(api, "email")), lambda t: len(t) == 1, "mail")
    assert f"- {kids['code']} 四点半课堂" in mail and "Agenda:" in mail
    del other


async def _aw(value: list[str]) -> list[str]:
    return value


async def test_meetings_paper_ticks_count_once_beside_the_tablet(api: Api) -> None:
    room_id = await room(api)
    meeting = await _meeting(api, room_id=room_id, max_party_size=4)
    people = [
        await resident(api, f"居民{i}", f"5-1-{100 + i}", ("sms", f"+86138001381{i:02d}"))
        for i in range(4)
    ]
    await api.post(f"{EVENTS}/{meeting}/send")
    await answer(api, meeting, people[0], "yes", 2)
    await answer(api, meeting, people[1], "yes")
    tablet_code = await code_of(api, meeting, people[1])
    paper_code = await code_of(api, meeting, people[0])
    assert tablet_code and paper_code
    gate = await door(api, room_id)
    status, body = await gate.post("/api/v1/checkins", json={"code": tablet_code})
    assert status == 201, body

    status, roster = await api.get(f"{EVENTS}/{meeting}/roster")
    assert status == 200 and [r["unit"] for r in roster] == [f"5-1-{100 + i}" for i in range(4)]
    assert roster[0]["name"] == "居*" and roster[0]["party_size"] == 2
    assert roster[0]["code"] == paper_code and not roster[0]["checked_in"]
    assert roster[1]["checked_in"] and roster[1]["via"] == "api"  # the door's token
    assert "+86" not in str(roster)

    ticks = [paper_code, tablet_code, "5-1-102", "9-9-999"]
    status, report = await api.post(f"{EVENTS}/{meeting}/ticks", json={"entries": ticks})
    assert status == 200, report
    assert report == {"checked_in": 2, "already": 1, "unknown": ["9-9-999"]}
    status, again = await api.post(f"{EVENTS}/{meeting}/ticks", json={"entries": ticks})
    assert again == {"checked_in": 0, "already": 3, "unknown": ["9-9-999"]}
    _, roster = await api.get(f"{EVENTS}/{meeting}/roster")
    assert [r["via"] for r in roster] == ["paper", "api", "paper", None]

    status, closed = await api.post(f"{EVENTS}/{meeting}/close", json={"minutes": "到会踊跃"})
    assert status == 200 and closed["attendees"] == 4  # 2 + 1 + 1, nobody twice
    status, body = await api.post(f"{EVENTS}/{meeting}/close", json={})
    assert status == 409 and body["error"]["code"] == "meeting_closed"


async def test_meetings_close_decides_and_publishing_tells_each_person_once(api: Api) -> None:
    raiser = await resident(api, "张伟", "3-2-1501", ("sms", "+8613800138001"))
    same_home = await resident(api, "张丽", "3-2-1501", ("sms", "+8613800138002"))
    fan = await resident(api, "Alex Chen", "3-2-1502", ("sms", "+8613800138004"), language="en")
    status, need = await api.post("/api/v1/needs", json={"text": "冬天太冷", "resident_id": raiser})
    warm = await _item(api, "活动室冬季取暖", need_ids=[need["id"]])
    idle = await _item(api, "小区养鸡")
    for rid in (raiser, fan):
        await api.post(f"{ITEMS}/{warm['id']}/support", json={"resident_id": rid})
    await api.post(f"{ITEMS}/{idle['id']}/support", json={"resident_id": same_home})
    meeting = await _meeting(api)
    await api.put(f"{EVENTS}/{meeting}/agenda", json={"item_ids": [warm["id"], idle["id"]]})

    status, closed = await api.post(
        f"{EVENTS}/{meeting}/close",
        json={
            "minutes": "一致同意取暖",
            "decisions": [
                {"item_id": warm["id"], "decision": "accepted", "outcome": "12月起开暖气"},
            ],
        },
    )
    assert status == 200, closed
    assert [e["decision"] for e in closed["agenda"]] == ["accepted", None]
    _, got = await api.get(f"{ITEMS}/{warm['id']}")
    assert got["status"] == "decided" and got["outcome"] == "12月起开暖气"
    assert got["published_at"] is None
    assert _texts(api, "sms") == []  # saved, not published: nobody is told

    status, body = await api.post(f"{ITEMS}/publish", json={"item_ids": [idle["id"]]})
    assert status == 409 and body["error"]["code"] == "item_not_decided"

    status, report = await api.post(f"{ITEMS}/publish", json={"item_ids": [warm["id"]]})
    assert status == 200 and report["notices"] == 2, report  # the raiser once, the fan
    status, report = await api.post(f"{ITEMS}/publish", json={"item_ids": [warm["id"]]})
    assert report["notices"] == 0 and report["already_told"] == 2
    texts = await eventually(lambda: _aw(_texts(api, "sms")), lambda t: len(t) == 2, "2 SMS")
    assert sum("Kind: outcome_notice" in t for t in texts) == 2
    [zh] = [t for t in texts if "张伟" in t]
    assert "活动室冬季取暖" in zh and "同意" in zh and "12月起开暖气" in zh and "/board" in zh
    [en] = [t for t in texts if "Alex Chen" in t]
    assert "was accepted" in en
    _, got = await api.get(f"{ITEMS}/{warm['id']}")
    assert got["published_outcome"] == "12月起开暖气"
    assert [s["action"] for s in got["steps"]][-2:] == ["published", "published"]


async def test_meetings_webhooks_tell_integrators_of_needs_items_and_publishing(
    make_api: MakeApi,
) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        rid = await resident(api, "张伟", "3-2-1501")
        await subscribe(api, hook.url, "need.created", "item.changed", "item.published")
        status, need = await api.post(
            "/api/v1/needs", json={"text": "冬天太冷", "resident_id": rid}
        )
        assert status == 201
        warm = await _item(api, "活动室冬季取暖", need_ids=[need["id"]])
        await api.post(f"{ITEMS}/{warm['id']}/support", json={"resident_id": rid})
        await api.post(
            f"{ITEMS}/{warm['id']}/move",
            json={"status": "decided", "decision": "accepted", "outcome": "开暖气"},
        )
        await api.post(f"{ITEMS}/publish", json={"item_ids": [warm["id"]]})
        await hook.wait_for(5)
        bodies = [d.body for d in hook.deliveries]
        assert all(d.valid for d in hook.deliveries)
        assert [b["type"] for b in bodies] == [
            "need.created",
            "item.changed",
            "item.changed",
            "item.changed",
            "item.published",
        ]
        assert bodies[0]["data"]["need_id"] == need["id"]
        assert [b["data"]["action"] for b in bodies[1:4]] == ["created", "supported", "status"]
        assert bodies[2]["data"]["support_count"] == 1
        assert bodies[4]["data"] == {
            "item_id": warm["id"],
            "code": warm["code"],
            "status": "decided",
            "decision": "accepted",
            "at": "2026-11-28T02:00:00Z",
        }
        raw = " ".join(r.raw.decode() for r in hook.requests)
        for personal in ("张伟", "3-2-1501", "冬天太冷"):
            assert personal not in raw
