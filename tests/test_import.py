"""CSV import of residents: good rows in, bad rows reported, re-imports change nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings, load_settings
from tests.conftest import Api, PinnedClock

IMPORT = "/api/v1/residents/import"
CSV = {"Content-Type": "text/csv"}
LIMIT = 65_536


@pytest.fixture
def settings(db_path: Path) -> Settings:
    """A small body limit, so the 413 test needs no megabyte upload."""
    return load_settings(
        overrides={
            "store.path": str(db_path),
            "server.access_log": False,
            "server.max_body_bytes": LIMIT,
        }
    )


GOOD_AND_BAD = (
    "unit,name,phone,email,language,tags,telegram\n"
    "3-2-1501,张伟,138 1234 5678,Zhang.Wei@Example.com,zh-CN,volunteer;building-3,\n"
    "3-2-1501,李娜,12345,,,,\n"
    "1-1-101,Tom Smith,+1 650 253 0000,,en,parent,123456\n"
    ",,,not-an-email,fr,,\n"
    "2-1-302,王芳,,wf@example.com,,长者 ; volunteer,\n"
)


async def _import(api: Api, text: str | bytes, **headers: str) -> tuple[int, Any]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return await api.post(IMPORT, data=data, headers={**CSV, **headers})


async def _residents(api: Api) -> list[dict[str, Any]]:
    status, page = await api.get("/api/v1/residents", params={"limit": "500"})
    assert status == 200
    return list(page["items"])


async def test_import_good_rows_and_reports_bad_ones(api: Api) -> None:
    status, report = await _import(api, GOOD_AND_BAD)
    assert status == 200, report
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 0, 0)
    assert report["skipped"] == 2
    assert [e["row"] for e in report["errors"]] == [3, 5]
    assert list(report["errors"][0]["fields"]) == ["phone"]
    assert "not a valid phone number" in report["errors"][0]["fields"]["phone"]
    assert set(report["errors"][1]["fields"]) == {"unit", "name", "email", "language"}
    assert "unit" in report["errors"][1]["message"]

    people = {r["name"]: r for r in await _residents(api)}
    assert set(people) == {"张伟", "Tom Smith", "王芳"}
    zhang = people["张伟"]
    assert zhang["unit"] == "3-2-1501" and zhang["language"] == "zh-CN"
    assert zhang["tags"] == ["building-3", "volunteer"]
    assert [(c["channel"], c["address"]) for c in zhang["contacts"]] == [
        ("sms", "+8613812345678"),
        ("email", "zhang.wei@example.com"),
    ]
    tom = people["Tom Smith"]
    assert tom["language"] == "en"
    assert [(c["channel"], c["address"]) for c in tom["contacts"]] == [
        ("sms", "+16502530000"),
        ("telegram", "123456"),
    ]
    assert people["王芳"]["tags"] == ["volunteer", "长者"]
    _, households = await api.get("/api/v1/households")
    assert sorted(h["unit"] for h in households["items"]) == ["1-1-101", "2-1-302", "3-2-1501"]


async def test_import_reimporting_the_same_file_changes_nothing(
    api: Api, clock: PinnedClock
) -> None:
    _, first = await _import(api, GOOD_AND_BAD)
    before = await _residents(api)
    clock.advance(days=1)
    status, again = await _import(api, GOOD_AND_BAD)
    assert status == 200
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert again["skipped"] == 2 and again["errors"] == first["errors"]
    assert await _residents(api) == before  # updated_at included


async def test_import_merges_into_existing_residents(api: Api, clock: PinnedClock) -> None:
    status, made = await api.post(
        "/api/v1/residents",
        json={
            "name": "张伟",
            "unit": "3-2-1501",
            "tags": ["parent"],
            "notes": "有一只狗",
            "contacts": [{"channel": "email", "address": "zw@example.com", "opted_out": True}],
        },
    )
    assert status == 201
    clock.advance(hours=2)
    status, report = await _import(
        api,
        "unit,name,phone,email,language,tags\n"
        "3-2-1501,张伟,13812345678,ZW@example.com,en,volunteer;parent\n",
    )
    assert status == 200 and (report["created"], report["updated"]) == (0, 1)
    (zhang,) = await _residents(api)
    assert zhang["id"] == made["id"] and zhang["notes"] == "有一只狗"
    assert zhang["language"] == "en"
    assert zhang["tags"] == ["parent", "volunteer"]
    # The email was already there (and stays opted out); the phone is added after it.
    assert [(c["channel"], c["opted_out"]) for c in zhang["contacts"]] == [
        ("email", True),
        ("sms", False),
    ]
    assert zhang["updated_at"] == "2026-11-28T12:00:00+08:00"


async def test_import_with_and_without_bom_and_any_header_case(api: Api) -> None:
    body = "Name, UNIT ,Phone\n张伟,3-2-1501,13812345678\n"
    status, report = await _import(api, b"\xef\xbb\xbf" + body.encode("utf-8"))
    assert status == 200 and report["created"] == 1 and report["errors"] == []
    status, report = await _import(api, body.replace("张伟", "李娜"))
    assert status == 200 and report["created"] == 1
    assert [r["name"] for r in await _residents(api)] == ["张伟", "李娜"]
    status, report = await _import(api, body, **{"Content-Type": "text/csv; charset=UTF-8"})
    assert status == 200 and report["unchanged"] == 1


async def test_import_row_numbers_count_blank_lines_and_quoted_line_breaks(api: Api) -> None:
    text = (
        "unit,name,phone\r\n"
        '1-1-101,"王\r\n芳",\r\n'  # row 2: a name with a line break in it
        "\r\n"  # row 3: blank, skipped silently
        "1-1-102,李娜,bad\r\n"  # row 4
        ",,\r\n"  # row 5: empty cells, skipped silently
        "1-1-103,赵敏,,extra\r\n"  # row 6: more cells than columns
        "1-1-104,周杰,,\r\n"  # row 7: an empty trailing cell is fine
    )
    status, report = await _import(api, text)
    assert status == 200
    assert [(e["row"], sorted(e["fields"])) for e in report["errors"]] == [
        (2, ["name"]),
        (4, ["phone"]),
        (6, ["row"]),
    ]
    assert report["created"] == 1


async def test_import_bad_header_is_400_naming_the_columns(api: Api) -> None:
    status, body = await _import(api, "unit,full name,phone,wechat\n1-1-101,张伟,,\n")
    assert status == 400 and body["error"]["code"] == "bad_header"
    assert body["error"]["fields"] == {
        "full name": "unknown column",
        "wechat": "unknown column",
        "name": "missing column",
    }
    status, body = await _import(api, "unit,name,name\n")
    assert status == 400 and body["error"]["fields"] == {"name": "column appears more than once"}
    status, body = await _import(api, "")
    assert status == 400 and body["error"]["code"] == "bad_header"
    assert await _residents(api) == []


async def test_import_refuses_a_file_that_is_not_utf8(api: Api) -> None:
    text = "unit,name\n1-1-101,张伟\n1-1-102,李娜\n"
    status, body = await _import(api, text.encode("gbk"))
    assert status == 400 and body["error"]["code"] == "not_utf8"
    assert "line 2" in body["error"]["message"]
    assert await _residents(api) == []


async def test_import_needs_text_csv(api: Api) -> None:
    for ctype in ("application/json", "text/plain", "text/csv; charset=gbk"):
        status, body = await api.post(IMPORT, data=b"unit,name\n", headers={"Content-Type": ctype})
        assert status == 415, ctype
        assert body["error"]["code"] == "unsupported_media_type"


async def test_import_body_over_the_limit_is_413(api: Api) -> None:
    rows = "".join(f"1-1-{n},居民{n},\n" for n in range(LIMIT // 10))
    status, body = await _import(api, "unit,name,phone\n" + rows)
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert await _residents(api) == []


async def test_import_many_rows(api: Api) -> None:
    rows = "".join(
        f"{n % 3 + 1}-1-{n},居民{n},1381234{n:04d},,,building-{n % 3 + 1}\n" for n in range(600)
    )
    status, report = await _import(api, "unit,name,phone,email,language,tags\n" + rows)
    assert status == 200
    assert (report["created"], report["skipped"]) == (600, 0)
    status, page = await api.get("/api/v1/residents", params={"tag": "building-2", "limit": "1"})
    assert page["total"] == 200
    status, again = await _import(api, "unit,name,phone,email,language,tags\n" + rows)
    assert again["unchanged"] == 600


async def test_import_needs_a_staff_token(anonymous: Api) -> None:
    status, body = await anonymous.post(IMPORT, data=b"unit,name\n", headers=CSV)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
