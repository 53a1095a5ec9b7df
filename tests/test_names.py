"""Names people type (residents, unit labels, titles): each must have a character someone
can see, and the same name typed two ways (NFC/NFD, full-width digits) is one name."""

from __future__ import annotations

import unicodedata

import pytest

from tests.community import EVENTS, resident
from tests.conftest import Api
from tests.console import ConsoleClient

RESIDENTS = "/api/v1/residents"
HOUSEHOLDS = "/api/v1/households"
CSV = {"Content-Type": "text/csv"}
# Strings with no character anyone can see: a zero-width space, a byte order mark, a
# word joiner with a soft hyphen, an ideographic space, a Hangul filler.
INVISIBLE = ["\u200b", "\ufeff", "\u2060\u00ad", "\u3000 \u200b", "\u3164"]


@pytest.mark.parametrize("name", INVISIBLE)
async def test_a_name_with_no_visible_character_is_refused_everywhere(
    api: Api, console: ConsoleClient, name: str
) -> None:
    status, body = await api.post(RESIDENTS, json={"name": name, "unit": "1-1-101"})
    assert status == 400 and "name" in body["error"]["fields"], body
    rid = await resident(api, "张伟", "1-1-101")
    status, body = await api.patch(f"{RESIDENTS}/{rid}", json={"name": name})
    assert status == 400 and "name" in body["error"]["fields"], body
    status, report = await api.post(
        f"{RESIDENTS}/import", data=f"unit,name\n1-1-102,{name}\n".encode(), headers=CSV
    )
    assert status == 200 and report["created"] == 0, report
    assert "name" in report["errors"][0]["fields"], report
    page = await console.post("/console/residents/new", {"name": name, "unit": "1-1-103"})
    assert page.status == 400 and page.error_for("name"), page.text
    # The unit label, an event's title and a room's name are names too.
    status, body = await api.post(HOUSEHOLDS, json={"unit": name})
    assert status == 400 and "unit" in body["error"]["fields"], body
    status, body = await api.post(
        EVENTS,
        json={
            "kind": "meeting",
            "title": name,
            "starts_at": "2026-12-05T09:00",
            "ends_at": "2026-12-05T10:00",
        },
    )
    assert status == 400 and "title" in body["error"]["fields"], body
    status, body = await api.post("/api/v1/rooms", json={"name": name, "capacity": 5})
    assert status == 400 and "name" in body["error"]["fields"], body
    _, listed = await api.get(RESIDENTS)
    assert [r["name"] for r in listed["items"]] == ["张伟"]


async def test_a_name_in_nfc_or_nfd_is_one_resident(api: Api, console: ConsoleClient) -> None:
    nfc, nfd = unicodedata.normalize("NFC", "Zoë Ngô"), unicodedata.normalize("NFD", "Zoë Ngô")
    assert nfc != nfd
    rid = await resident(api, nfd, "1-1-101")
    status, created = await api.get(f"{RESIDENTS}/{rid}")
    assert created["name"] == nfc
    status, body = await api.post(RESIDENTS, json={"name": nfc, "unit": "1-1-101"})
    assert status == 409 and body["error"]["code"] == "resident_exists", body
    status, report = await api.post(
        f"{RESIDENTS}/import", data=f"unit,name\n1-1-101,{nfd}\n".encode(), headers=CSV
    )
    assert status == 200 and report["created"] == 0, report
    page = await console.post("/console/residents/new", {"name": nfd, "unit": "1-1-101"})
    assert page.status == 409, page.text
    status, found = await api.get(RESIDENTS, params={"q": nfd})
    assert [r["id"] for r in found["items"]] == [rid]


async def test_a_full_width_unit_label_is_the_same_household(api: Api) -> None:
    first = await resident(api, "张伟", "3-2-1501")
    second = await resident(api, "李娜", "３-２-１５０１")
    _, a = await api.get(f"{RESIDENTS}/{first}")
    _, b = await api.get(f"{RESIDENTS}/{second}")
    assert a["household_id"] == b["household_id"] and b["unit"] == "3-2-1501"
    status, body = await api.post(HOUSEHOLDS, json={"unit": "３－２－１５０１"})
    assert status == 409 and body["error"]["code"] == "household_exists", body
    status, report = await api.post(
        f"{RESIDENTS}/import", data="unit,name\n３-２-１５０１,王芳\n".encode(), headers=CSV
    )
    assert status == 200 and report["created"] == 1, report
    _, households = await api.get(HOUSEHOLDS)
    assert [h["unit"] for h in households["items"]] == ["3-2-1501"]
    _, found = await api.get(RESIDENTS, params={"unit": "３-２"})
    assert found["total"] == 3
