"""The organiser's consultation pages: a need typed in for a household, made into an item,
another merged into it, put on a meeting's agenda, the roster printed, ticks entered, the
meeting closed and the outcome published; the CSV export."""

from __future__ import annotations

import re

from tests.community import (
    EVENTS,
    answer,
    code_of,
    eventually,
    outbox_files,
    published_event,
    resident,
)
from tests.conftest import Api
from tests.console import ConsoleClient, plain

CJK = re.compile(r"[\u4e00-\u9fff]")


def plain_text(html: str) -> str:
    """What a reader sees, less data: the community's and the organiser's names, and the
    language switch (中文 names itself)."""
    return plain(html).replace("学府雍景湾", "").replace("王组织", "").replace("中文", "")


TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}


async def test_console_consultation_whole_loop(console: ConsoleClient, api: Api) -> None:
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "+8613800138001"))
    other = await resident(api, "李娜", "3-2-1502", ("sms", "+8613800138002"))
    page = await console.post(
        "/console/consultation/needs", {"text": "活动室冬天太冷", "unit": "3-2-1501"}
    )
    assert page.status == 200 and page.flash == "已登记需求。"
    _, needs = await api.get("/api/v1/needs")
    [first] = needs["items"]
    assert first["via"] == "organiser" and first["unit"] == "3-2-1501"
    page = await console.post(
        "/console/consultation/items", [("need_id", str(first["id"])), ("title", "活动室冬季取暖")]
    )
    assert page.flash == "已新建议题。" and page.has("活动室冬季取暖")
    item_id = int(page.url.rsplit("/", 1)[1])
    await api.post("/api/v1/needs", json={"text": "冬天要暖气", "resident_id": other})
    _, needs = await api.get("/api/v1/needs", params={"unmerged": "true"})
    [second] = needs["items"]
    page = await console.post(
        "/console/consultation/items", [("need_id", str(second["id"])), ("item_id", str(item_id))]
    )
    assert page.flash == "已并入议题。" and page.has("冬天要暖气")

    meeting = await published_event(api, kind="meeting", title="板凳会", **TODAY)
    page = await console.get(f"/console/events/{meeting}/meeting")
    assert page.status == 200 and page.has("A1 活动室冬季取暖")
    page = await console.post(
        f"/console/events/{meeting}/meeting/agenda", {"item_id": str(item_id)}
    )
    assert page.flash == "已保存议题。"
    page = await console.post(f"/console/events/{meeting}/meeting/invite-first", {})
    assert page.flash == "已邀请 2 位提出人和支持者。"
    await answer(api, meeting, rid, "yes")
    code = await code_of(api, meeting, rid)
    roster = await console.get(f"/console/events/{meeting}/roster")
    assert roster.status == 200 and code is not None and roster.has(code)
    assert roster.has("张*") and "张伟" not in roster.text and "@page { size: A4" in roster.text
    page = await console.post(
        f"/console/events/{meeting}/meeting/ticks", {"entries": f"{code}\n3-2-1502"}
    )
    assert page.flash == "新签到 2 户，已签到 0 户。"
    page = await console.post(
        f"/console/events/{meeting}/meeting/close",
        {
            f"decision_{item_id}": "accepted",
            f"outcome_{item_id}": "12月起开暖气",
            "minutes": "大家同意",
        },
    )
    assert page.flash == "会议已结束。" and page.has("会议已结束，到会 2 人。")

    page = await console.post("/console/consultation/publish", {"item_id": str(item_id)})
    assert page.flash == "已公示 1 个议题，发出 2 条通知。"
    texts = await eventually(
        lambda: _texts(api),
        lambda found: sum("outcome_notice" in t for t in found) == 2,
        "two outcome notices",
    )
    assert any("12月起开暖气" in t and "张伟" in t for t in texts)

    status, csv_text = await api.get("/api/v1/items.csv")
    assert status == 200 and csv_text.startswith("\ufeff编号,标题,状态")
    assert "A1,活动室冬季取暖,已决定,,0,10,2,同意,12月起开暖气" in csv_text
    page = await console.get("/console/consultation")
    assert 'href="/console/consultation.csv"' in page.text
    from_console = await console.get("/console/consultation.csv")
    assert from_console.status == 200 and from_console.text == csv_text


async def _texts(api: Api) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in outbox_files(api, "sms")]


async def test_console_consultation_bad_input_is_a_page_not_a_500(console: ConsoleClient) -> None:
    page = await console.post("/console/consultation/needs", {"text": "x", "unit": "99-9"})
    assert page.status == 400 and page.has("no household")
    page = await console.post("/console/consultation/items", {"title": ""})
    assert page.status == 400
    page = await console.get(f"{EVENTS.replace('/api/v1', '/console')}/99/meeting")
    assert page.status == 404


async def test_console_consultation_review_date_reminds_the_organiser(
    console: ConsoleClient, api: Api
) -> None:
    await api.post("/api/v1/items", json={"title": "路灯维修", "review_on": "2026-11-28"})
    await api.post("/api/v1/items", json={"title": "加装电梯", "review_on": "2026-12-20"})
    page = await console.get("/console/consultation")
    assert page.status == 200
    reviews = page.by_id("reviews")
    assert reviews is not None and "到了复查日期的议题" in reviews
    assert "A1 路灯维修" in page.text and "2026-11-28" in page.text
    due = page.text.split('id="reviews"')[1].split("</section>")[0]
    assert "路灯维修" in due and "加装电梯" not in due


async def test_console_consultation_pages_speak_one_language(
    console: ConsoleClient, api: Api
) -> None:
    rid = await resident(api, "Alex Chen", "3-2-1501")
    _, need = await api.post("/api/v1/needs", json={"text": "Too cold", "resident_id": rid})
    _, item = await api.post("/api/v1/items", json={"title": "Heating", "need_ids": [need["id"]]})
    await api.post(
        f"/api/v1/items/{item['id']}/move",
        json={"status": "decided", "decision": "accepted", "outcome": "From December"},
    )
    meeting = await published_event(api, kind="meeting", title="Bench meeting", **TODAY)
    paths = (
        "/console/consultation",
        f"/console/consultation/items/{item['id']}",
        f"/console/events/{meeting}/meeting",
        f"/console/events/{meeting}/roster",
    )
    for path in paths:
        english = await console.get(f"{path}?lang=en")
        assert english.status == 200
        shown = plain_text(english.text)
        assert not CJK.search(shown), (path, CJK.findall(shown))
        chinese = await console.get(f"{path}?lang=zh-CN")
        for raw in ("need_merged", "in_progress", "organiser", "api"):
            assert raw not in plain_text(chinese.text).split(), (path, raw)
