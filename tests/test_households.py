"""Households through the API: create, search, update, delete."""

from __future__ import annotations

from tests.conftest import Api


async def test_households_create_get_list(api: Api) -> None:
    status, created = await api.post("/api/v1/households", json={"unit": "3-2-1501"})
    assert status == 201
    assert created["unit"] == "3-2-1501"
    assert created["building"] == "3"
    assert created["resident_count"] == 0
    assert created["created_at"].endswith("+08:00")

    status, got = await api.get(f"/api/v1/households/{created['id']}")
    assert status == 200 and got == created

    await api.post("/api/v1/households", json={"unit": "1-1-101", "notes": "空巢老人"})
    status, page = await api.get("/api/v1/households", params={"q": "空巢"})
    assert status == 200
    assert [h["unit"] for h in page["items"]] == ["1-1-101"]
    status, page = await api.get("/api/v1/households", params={"building": "3"})
    assert page["total"] == 1 and page["items"][0]["unit"] == "3-2-1501"


async def test_households_duplicate_unit_conflicts(api: Api) -> None:
    await api.post("/api/v1/households", json={"unit": "2-1-302"})
    status, body = await api.post("/api/v1/households", json={"unit": "2-1-302"})
    assert status == 409
    assert body["error"]["code"] == "household_exists"
    assert body["error"]["fields"] == {"unit": "already exists"}


async def test_households_update_and_delete(api: Api) -> None:
    _, created = await api.post("/api/v1/households", json={"unit": "2-1-302"})
    path = f"/api/v1/households/{created['id']}"
    status, updated = await api.patch(path, json={"notes": "有轮椅"})
    assert status == 200
    assert updated["notes"] == "有轮椅" and updated["unit"] == "2-1-302"
    status, _ = await api.delete(path)
    assert status == 204
    status, body = await api.get(path)
    assert status == 404 and body["error"]["code"] == "household_not_found"


async def test_households_bad_input_is_400_naming_the_field(api: Api) -> None:
    status, body = await api.post("/api/v1/households", json={"unit": "", "color": "red"})
    assert status == 400
    assert set(body["error"]["fields"]) == {"unit", "color"}
    status, body = await api.post(
        "/api/v1/households", data=b'{"unit": ', headers={"Content-Type": "application/json"}
    )
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = await api.get("/api/v1/households", params={"limit": "0"})
    assert status == 400 and "limit" in body["error"]["fields"]


async def test_households_odd_input_is_refused_not_500(api: Api) -> None:
    status, body = await api.get(f"/api/v1/households/{2**64}")
    assert status == 404 and body["error"]["code"] == "household_not_found"
    status, body = await api.get("/api/v1/households", params={"offset": str(2**64)})
    assert status == 400 and "offset" in body["error"]["fields"]
    status, body = await api.post(
        "/api/v1/households",
        data=b'{"unit": "1-1-101", "notes": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and "notes" in body["error"]["fields"]
    status, body = await api.post(
        "/api/v1/households", json={"unit": "1-1-101", "building": "a\x00"}
    )
    assert status == 400 and "building" in body["error"]["fields"]
    status, page = await api.get("/api/v1/households")
    assert page["total"] == 0
