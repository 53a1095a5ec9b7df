"""Residents through the API: create, search, update, delete, and who may do it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from service.store import rooms as room_sql
from tests.conftest import START, Api

R = "/api/v1/residents"


async def _resident(api: Api, **fields: Any) -> dict[str, Any]:
    status, body = await api.post(R, json=fields)
    assert status == 201, body
    return dict(body)


async def test_residents_create_with_unit_creates_the_household(api: Api) -> None:
    created = await _resident(
        api,
        name=" 张伟 ",
        unit="3-2-1501",
        tags=["volunteer", " building-3 ", "volunteer", "长者"],
        contacts=[
            {"channel": "sms", "address": "138 1234 5678"},
            {"channel": "email", "address": "Zhang.Wei@Example.COM"},
        ],
    )
    assert created["name"] == "张伟"
    assert created["unit"] == "3-2-1501"
    assert created["language"] == "zh-CN"
    assert created["tags"] == ["building-3", "volunteer", "长者"]
    assert [(c["channel"], c["address"], c["rank"]) for c in created["contacts"]] == [
        ("sms", "+8613812345678", 0),
        ("email", "zhang.wei@example.com", 1),
    ]
    status, household = await api.get(f"/api/v1/households/{created['household_id']}")
    assert status == 200
    assert household["unit"] == "3-2-1501" and household["building"] == "3"
    assert household["resident_count"] == 1

    status, got = await api.get(f"{R}/{created['id']}")
    assert status == 200 and got == created


async def test_residents_create_in_an_existing_household_by_id(api: Api) -> None:
    _, household = await api.post("/api/v1/households", json={"unit": "1-1-101"})
    created = await _resident(api, name="李娜", household_id=household["id"], language="en")
    assert created["unit"] == "1-1-101" and created["language"] == "en"
    status, body = await api.post(R, json={"name": "王芳", "household_id": 999})
    assert status == 404 and body["error"]["code"] == "household_not_found"
    assert "household_id" in body["error"]["fields"]
    status, body = await api.post(R, json={"name": "王芳"})
    assert status == 400 and "unit" in body["error"]["fields"]


async def test_residents_foreign_number_is_kept_in_its_own_country(api: Api) -> None:
    created = await _resident(
        api,
        name="Tom",
        unit="2-1-302",
        contacts=[{"channel": "sms", "address": "+1 (650) 253-0000"}],
    )
    assert created["contacts"][0]["address"] == "+16502530000"


async def test_residents_invalid_contacts_are_400_naming_the_field(api: Api) -> None:
    status, body = await api.post(
        R,
        json={
            "name": "王芳",
            "unit": "1-1-101",
            "contacts": [
                {"channel": "email", "address": "wang@example.com"},
                {"channel": "sms", "address": "12345"},
            ],
        },
    )
    assert status == 400
    assert list(body["error"]["fields"]) == ["contacts.1.address"]
    assert "not a valid phone number" in body["error"]["fields"]["contacts.1.address"]

    status, body = await api.post(
        R,
        json={
            "name": "王芳",
            "unit": "1-1-101",
            "contacts": [{"channel": "email", "address": "x@"}],
        },
    )
    assert status == 400 and list(body["error"]["fields"]) == ["contacts.0.address"]

    status, body = await api.post(
        R, json={"name": "", "unit": "1-1-101", "contacts": [{"channel": "fax", "address": "1"}]}
    )
    assert status == 400 and set(body["error"]["fields"]) == {"name", "contacts.0.channel"}
    # Nothing was half written: no household for the failed attempts either.
    _, page = await api.get("/api/v1/households")
    assert page["total"] == 0


async def test_residents_duplicate_name_in_a_household_conflicts(api: Api) -> None:
    await _resident(api, name="陈静", unit="2-2-801")
    status, body = await api.post(R, json={"name": "陈静", "unit": "2-2-801"})
    assert status == 409
    assert body["error"]["code"] == "resident_exists"
    assert body["error"]["fields"] == {"name": "already exists in this household"}
    # The same name in another household is a different person.
    await _resident(api, name="陈静", unit="2-2-802")


async def test_residents_search_by_name_unit_phone_and_tag(api: Api) -> None:
    a = await _resident(
        api,
        name="张伟",
        unit="3-2-1501",
        tags=["volunteer"],
        contacts=[{"channel": "sms", "address": "13812345678"}],
    )
    b = await _resident(
        api,
        name="李娜",
        unit="3-1-202",
        tags=["elder"],
        contacts=[{"channel": "sms", "address": "13987654321"}],
    )
    c = await _resident(api, name="王张", unit="1-1-101", tags=["parent"])

    async def names(**params: Any) -> list[str]:
        status, page = await api.get(R, params=params)
        assert status == 200, page
        assert page["total"] == len(page["items"])
        return [r["name"] for r in page["items"]]

    assert await names() == ["王张", "李娜", "张伟"]  # by unit label
    assert await names(q="张") == ["王张", "张伟"]
    assert await names(q="1501") == ["张伟"]
    assert await names(unit="3-") == ["李娜", "张伟"]
    assert await names(unit="-1") == []  # a prefix, not a substring
    for phone in ("138 1234 5678", "+86 138-1234-5678", "008613812345678", "13812345678"):
        assert await names(phone=phone) == ["张伟"], phone
    assert await names(phone="5678") == ["张伟"]  # some of the digits
    assert await names(tag=["elder", "parent"]) == ["王张", "李娜"]
    assert await names(tag="volunteer", q="张") == ["张伟"]
    assert await names(household_id=str(b["household_id"])) == ["李娜"]
    status, page = await api.get(R, params={"limit": "1", "offset": "1"})
    assert page["total"] == 3 and [r["id"] for r in page["items"]] == [b["id"]]
    status, body = await api.get(R, params={"phone": "abc"})
    assert status == 400 and "phone" in body["error"]["fields"]
    assert {a["id"], c["id"]} <= {r["id"] for r in (await api.get(R))[1]["items"]}


async def test_residents_update(api: Api) -> None:
    created = await _resident(api, name="刘洋", unit="1-2-301", tags=["parent"], notes="")
    path = f"{R}/{created['id']}"
    status, updated = await api.patch(
        path, json={"language": "en", "tags": ["volunteer", "elder"], "notes": "腿脚不便"}
    )
    assert status == 200
    assert updated["language"] == "en"
    assert updated["tags"] == ["elder", "volunteer"]
    assert updated["notes"] == "腿脚不便"
    assert updated["name"] == "刘洋" and updated["unit"] == "1-2-301"

    status, moved = await api.patch(path, json={"unit": "2-1-101", "name": "刘洋洋"})
    assert status == 200
    assert moved["unit"] == "2-1-101" and moved["name"] == "刘洋洋"
    assert moved["household_id"] != created["household_id"]

    await _resident(api, name="赵敏", unit="2-1-101")
    status, body = await api.patch(path, json={"name": "赵敏"})
    assert status == 409 and body["error"]["code"] == "resident_exists"
    status, body = await api.patch(path, json={"name": "  "})
    assert status == 400 and "name" in body["error"]["fields"]
    status, body = await api.patch(f"{R}/99999", json={"notes": "x"})
    assert status == 404 and body["error"]["code"] == "resident_not_found"


async def test_residents_delete(api: Api) -> None:
    created = await _resident(
        api, name="周杰", unit="3-1-101", contacts=[{"channel": "telegram", "address": "-1001"}]
    )
    path = f"{R}/{created['id']}"
    status, _ = await api.delete(path)
    assert status == 204
    status, body = await api.get(path)
    assert status == 404 and body["error"]["code"] == "resident_not_found"
    status, body = await api.delete(path)
    assert status == 404
    # The household stays, now empty and so deletable.
    status, household = await api.get(f"/api/v1/households/{created['household_id']}")
    assert household["resident_count"] == 0


async def test_residents_need_a_staff_token(client: TestClient[Any, Any], anonymous: Api) -> None:
    status, body = await anonymous.get(R)
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    store = client.app[store_key]
    await store.write(lambda tx: room_sql.insert_room(tx, "活动室", 40, "", START))
    _, token = await auth.issue_token(
        store, role=Role.DOOR, name="门口平板", room="活动室", now=START
    )
    door = Api(client, token)
    status, body = await door.get(R)
    assert status == 403 and body["error"]["code"] == "forbidden"
    status, body = await door.post(R, json={"name": "x", "unit": "1-1-101"})
    assert status == 403


async def test_residents_admin_may_manage_them_too(admin: Api) -> None:
    created = await _resident(admin, name="管理", unit="1-1-101")
    assert created["id"] > 0


async def test_residents_odd_input_is_never_a_500(api: Api) -> None:
    status, _ = await api.get(f"{R}/99999999999999999999999")
    assert status == 404
    status, body = await api.post(R, json={"name": "a\ud800", "unit": "1-1-101"})
    assert status == 400 and "name" in body["error"]["fields"]
    status, body = await api.post(R, json={"name": "a", "unit": "1-1-\ud800"})
    assert status == 400 and "unit" in body["error"]["fields"]
    status, body = await api.post(R, json={"name": "a\nb", "unit": "1-1-101"})
    assert status == 400 and "name" in body["error"]["fields"]
    status, body = await api.get(R, params={"q": "%_\\"})
    assert status == 200 and body["total"] == 0
    status, body = await api.post(R, json={"name": "a", "household_id": 2**70})
    assert status == 400 and "household_id" in body["error"]["fields"]
    status, body = await api.get(R + "?q=%ED%A0%80")
    assert status == 200
