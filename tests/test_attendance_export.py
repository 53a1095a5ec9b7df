"""The attendance CSV as an organiser opens it: the door's check-in time, the path each
answer came by and the no-shows, in the organiser's language; and a no that brings nobody."""

from __future__ import annotations

import csv
import io
import re

from tests.community import EVENTS, answer, code_of, invited, resident, submit
from tests.conftest import Api, PinnedClock
from tests.console import ConsoleClient

# The pinned clock is 10:00 in Shanghai: this event is today.
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}


def _rows(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


async def _api_csv(api: Api, event_id: int, **params: str) -> list[list[str]]:
    async with api.client.get(
        f"{EVENTS}/{event_id}/attendance.csv",
        params=params,
        headers={"Authorization": f"Bearer {api.token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
        return _rows(await resp.read())


async def _console_csv(console: ConsoleClient, event_id: int) -> list[list[str]]:
    async with console.client.get(f"/console/events/{event_id}/attendance.csv") as resp:
        assert resp.status == 200
        return _rows(await resp.read())


def _by_name(rows: list[list[str]]) -> dict[str, dict[str, str]]:
    heading = rows[0]
    return {row[0]: dict(zip(heading, row, strict=True)) for row in rows[1:]}


async def test_attendance_csv_has_the_door_the_path_and_the_no_shows(
    api: Api, console: ConsoleClient, clock: PinnedClock
) -> None:
    event_id, [zhang], [page] = await invited(api, **TODAY)
    status, _ = await submit(api, page, answer="yes", party_size="2")  # by the link
    assert status == 200
    wang = await resident(api, "王芳", "1-1-2", ("sms", "+8613800000002"))
    li = await resident(api, "李娜", "1-1-3", ("sms", "+8613800000003"))
    await answer(api, event_id, wang, "yes")  # taken by phone; she never comes
    await answer(api, event_id, li, "no")
    code = await code_of(api, event_id, zhang)
    clock.advance(hours=4, minutes=5)  # 14:05 local: 张伟 arrives
    status, came = await api.post("/api/v1/checkins", json={"code": code})
    assert status == 201, came

    # While the event runs nobody is a no-show yet.
    before = _by_name(await _api_csv(api, event_id))
    assert before["张伟"]["签到时间"] == "2026-11-28 14:05"
    assert before["张伟"]["回复渠道"] == "链接"
    assert before["王芳"]["回复渠道"] == "组织者代录"
    assert all(row["爽约"] == "" for row in before.values())

    clock.advance(hours=3)  # 17:05: the event is over
    rows = await _api_csv(api, event_id, lang="en")
    assert rows[0] == [
        "Name",
        "Unit",
        "Answer",
        "Party",
        "Waitlist place",
        "Answered at",
        "Answered through",
        "Checked in at",
        "No-show",
    ]
    after = _by_name(rows)
    assert (after["张伟"]["Answer"], after["张伟"]["Party"]) == ("yes", "2")
    assert after["张伟"]["Checked in at"] == "2026-11-28 14:05"
    assert after["张伟"]["No-show"] == ""
    assert after["王芳"]["No-show"] == "did not come"
    assert after["王芳"]["Answered through"] == "organiser"
    # A no is not missed by anyone, and brings no party.
    assert (after["李娜"]["Answer"], after["李娜"]["Party"], after["李娜"]["No-show"]) == (
        "no",
        "",
        "",
    )

    # The attendance page says so too, beside the check-in time it shows for the others.
    page = await console.get(f"/console/events/{event_id}/attendance?lang=zh-CN")
    rows = re.findall(r"<tr data-answer[^>]*>(.*?)</tr>", page.text, re.S)
    assert any("王芳" in r and "<td>未到</td>" in r for r in rows), rows
    assert any("张伟" in r and "<td>11-28 14:05</td>" in r for r in rows), rows

    # The console's CSV follows the console's language, not the community's.
    assert (await console.get("/console?lang=en")).status == 200
    english = await _console_csv(console, event_id)
    assert english[0][0] == "Name" and _by_name(english)["王芳"]["No-show"] == "did not come"
    assert (await console.get("/console?lang=zh-CN")).status == 200
    chinese = await _console_csv(console, event_id)
    assert chinese[0][:3] == ["姓名", "房号", "回复"]
    assert _by_name(chinese)["王芳"]["爽约"] == "未到"


async def test_attendance_csv_refuses_an_unknown_language(api: Api) -> None:
    event_id, _, _ = await invited(api, settle=False)
    status, body = await api.get(f"{EVENTS}/{event_id}/attendance.csv", params={"lang": "fr"})
    assert status == 400 and "lang" in str(body["error"]), body


async def test_attendance_a_no_after_a_yes_for_two_has_no_party(
    api: Api, console: ConsoleClient
) -> None:
    event_id, [zhang], [page] = await invited(api)
    assert (await submit(api, page, answer="yes", party_size="2"))[0] == 200
    assert (await submit(api, page, answer="no", party_size="2"))[0] == 200

    # The organiser's table: 不参加 with an empty party cell.
    seen = await console.get(f"/console/events/{event_id}/attendance")
    row = re.search(r'<tr data-answer="no"[^>]*>(.*?)</tr>', seen.text, re.S)
    assert row and "不参加" in row.group(1)
    assert '<td class="num"></td>' in row.group(1)
    csv_row = _by_name(await _api_csv(api, event_id))["张伟"]
    assert (csv_row["回复"], csv_row["人数"]) == ("不参加", "")

    # The resident's own page offers one person again, not the old two.
    async with api.client.get(page) as resp:
        html = await resp.text()
    assert re.search(r'<option value="1" selected>', html), html
    assert '<option value="2" selected>' not in html

    # A yes without a size afterwards is the resident alone.
    status, body = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": zhang, "answer": "yes"}
    )
    assert status == 200 and body["invitation"]["party_size"] == 1, body
