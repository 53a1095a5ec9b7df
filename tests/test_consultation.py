"""The consultation list through the API: needs, items moving forward with their audit
trail, merging duplicates, and households' support (once, withdrawable, counted exactly)."""

from __future__ import annotations

import asyncio
from typing import Any

from service.demo import ensure_demo
from service.keys import settings_key, store_key
from tests.community import resident
from tests.conftest import START, Api

NEEDS = "/api/v1/needs"
ITEMS = "/api/v1/items"


async def _need(api: Api, text: str, **fields: Any) -> dict[str, Any]:
    status, need = await api.post(NEEDS, json={"text": text, **fields})
    assert status == 201, need
    return dict(need)


async def _item(api: Api, title: str, **fields: Any) -> dict[str, Any]:
    status, item = await api.post(ITEMS, json={"title": title, **fields})
    assert status == 201, item
    return dict(item)


async def test_consultation_need_records_who_raised_it_and_how(api: Api) -> None:
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "+8613800138000"))
    need = await _need(api, "活动室冬天太冷", category="facility", building="3", resident_id=rid)
    assert need["via"] == "organiser" and need["actor"] == "王组织"
    assert need["resident_id"] == rid and need["unit"] == "3-2-1501"
    assert need["category"] == "facility" and need["item_id"] is None
    by_unit = await _need(api, "孩子放学没人管", unit="3-2-1501", request_key="k1")
    again = await _need(api, "孩子放学没人管", unit="3-2-1501", request_key="k1")
    assert again["id"] == by_unit["id"] and by_unit["household_id"] == need["household_id"]
    status, page = await api.get(NEEDS)
    assert status == 200 and page["total"] == 2


async def test_consultation_bad_need_names_the_field(api: Api) -> None:
    status, body = await api.post(NEEDS, json={"text": "x", "category": "weather"})
    assert status == 400 and "category" in body["error"]["fields"]
    status, body = await api.post(NEEDS, json={"text": "x", "unit": "99-9"})
    assert status == 400 and body["error"]["code"] == "unknown_unit"
    status, body = await api.post(NEEDS, json={"text": "   "})
    assert status == 400 and "text" in body["error"]["fields"]


async def test_consultation_item_moves_forward_only_with_an_audit_trail(api: Api) -> None:
    first = await _need(api, "活动室冬天太冷")
    dup = await _need(api, "冬天活动室要取暖")
    item = await _item(api, "活动室冬季取暖", need_ids=[first["id"]], review_on="2026-12-20")
    assert item["status"] == "collected" and item["code"] == f"A{item['id']}"
    path = f"{ITEMS}/{item['id']}"
    status, merged = await api.post(f"{path}/needs", json={"need_ids": [dup["id"]]})
    assert status == 200 and merged["need_count"] == 2
    status, body = await api.post(f"{path}/move", json={"status": "decided"})
    assert status == 400 and body["error"]["fields"] == {
        "decision": "a decided item needs a decision"
    }
    status, moved = await api.post(
        f"{path}/move", json={"status": "discussing", "reason": "板凳会"}
    )
    assert status == 200 and moved["status"] == "discussing"
    status, decided = await api.post(
        f"{path}/move",
        json={
            "status": "decided",
            "decision": "accepted",
            "outcome": "12月起开暖气",
            "reason": "多数赞成",
        },
    )
    assert status == 200 and decided["decision"] == "accepted"
    assert decided["outcome"] == "12月起开暖气" and decided["published_at"] is None
    status, body = await api.post(f"{path}/move", json={"status": "discussing"})
    assert status == 409 and body["error"]["code"] == "item_moves_forward_only"
    status, full = await api.get(path)
    steps = [(s["action"], s["from_status"], s["to_status"]) for s in full["steps"]]
    assert steps == [
        ("created", None, "collected"),
        ("need_merged", None, None),
        ("need_merged", None, None),
        ("status", "collected", "discussing"),
        ("status", "discussing", "decided"),
    ]
    assert all(s["actor"] == "王组织" for s in full["steps"])
    assert (full["steps"][4]["decision"], full["steps"][4]["reason"]) == ("accepted", "多数赞成")
    assert [n["text"] for n in full["needs"]] == ["活动室冬天太冷", "冬天活动室要取暖"]


async def test_consultation_rejected_item_is_not_carried_out(api: Api) -> None:
    item = await _item(api, "小区养鸡")
    path = f"{ITEMS}/{item['id']}/move"
    await api.post(path, json={"status": "decided", "decision": "rejected"})
    status, body = await api.post(path, json={"status": "in_progress"})
    assert status == 409 and body["error"]["code"] == "item_not_accepted"


async def test_consultation_need_merged_elsewhere_conflicts(api: Api) -> None:
    need = await _need(api, "路灯坏了")
    await _item(api, "修路灯", need_ids=[need["id"]])
    status, body = await api.post(ITEMS, json={"title": "换路灯", "need_ids": [need["id"]]})
    assert status == 409 and body["error"]["code"] == "need_merged_elsewhere"
    status, page = await api.get(ITEMS)
    assert page["total"] == 1  # nothing half written


async def test_consultation_support_once_and_withdraw(api: Api) -> None:
    rid = await resident(api, "张伟", "3-2-1501")
    spouse = await resident(api, "李娜", "3-2-1501")
    item = await _item(api, "四点半课堂", support_threshold=2)
    path = f"{ITEMS}/{item['id']}"
    status, first = await api.post(f"{path}/support", json={"resident_id": rid})
    assert status == 200 and first["changed"] and first["support_count"] == 1
    status, twice = await api.post(f"{path}/support", json={"resident_id": spouse})
    assert not twice["changed"] and twice["support_count"] == 1  # one household, once
    status, got = await api.get(path)
    assert got["support_count"] == 1 and got["support_threshold"] == 2
    assert got["ready_for_meeting"] is False
    status, gone = await api.post(f"{path}/withdraw", json={"resident_id": rid})
    assert gone["changed"] and gone["support_count"] == 0
    status, again = await api.post(f"{path}/withdraw", json={"resident_id": rid})
    assert not again["changed"] and again["support_count"] == 0


async def test_consultation_200_households_support_and_withdraw_at_once(api: Api) -> None:
    status, _ = await api.post(
        "/api/v1/residents/import",
        data="name,unit\n" + "".join(f"住户{i},9-{i}\n" for i in range(200)),
        headers={"Content-Type": "text/csv"},
    )
    assert status == 200
    _, page = await api.get("/api/v1/households", params={"limit": "500"})
    households = [h["id"] for h in page["items"]]
    assert len(households) == 200
    item = await _item(api, "四点半课堂", support_threshold=150)
    path = f"{ITEMS}/{item['id']}"

    async def support(household: int) -> None:
        status, body = await api.post(f"{path}/support", json={"household_id": household})
        assert status == 200, body

    async def withdraw(household: int) -> None:
        status, body = await api.post(f"{path}/withdraw", json={"household_id": household})
        assert status == 200, body

    # Everyone supports at once, each twice; then every third withdraws while the rest
    # support again.
    await asyncio.gather(*(support(h) for h in households for _ in range(2)))
    _, got = await api.get(path)
    assert got["support_count"] == 200 and got["ready_for_meeting"]
    leaving = households[::3]
    await asyncio.gather(
        *(withdraw(h) for h in leaving), *(support(h) for h in households if h not in leaving)
    )
    _, got = await api.get(path)
    assert got["support_count"] == 200 - len(leaving)


async def test_consultation_demo_has_the_communitys_items_on_a_bench_meeting(api: Api) -> None:
    app = api.client.app
    for _ in range(2):  # a second run adds nothing
        await ensure_demo(app[store_key], app[settings_key], now=START)
    _, page = await api.get(ITEMS)
    assert [i["title"] for i in page["items"]] == ["活动室冬季取暖", "四点半课堂"]
    assert [i["need_count"] for i in page["items"]] == [3, 2]
    assert all(i["status"] == "discussing" and i["support_count"] > 0 for i in page["items"])
    _, events = await api.get("/api/v1/events", params={"limit": "50"})
    [bench] = [e for e in events["items"] if e["kind"] == "meeting"]
    _, meeting = await api.get(f"/api/v1/events/{bench['id']}/agenda")
    assert [e["title"] for e in meeting["agenda"]] == ["活动室冬季取暖", "四点半课堂"]
    _, needs = await api.get(NEEDS, params={"unmerged": "true"})
    assert needs["total"] == 1  # the broken street lamp, still to be sorted
