"""The API's contract with its document: PATCH bodies do what the document says of null
and of an empty body, and a field documented as a date or time takes no number."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from tests.community import EVENTS, published_event, resident
from tests.conftest import START, Api, MakeApi

RESIDENTS = "/api/v1/residents"
HOUSEHOLDS = "/api/v1/households"


async def _document(client: TestClient[Any, Any]) -> dict[str, Any]:
    async with client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
        doc: dict[str, Any] = await resp.json()
    return doc


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, path, op) for path, ops in doc["paths"].items() for m, op in ops.items()]


def _body_schema(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, Any]:
    """The JSON body's schema (empty for a raw one)."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref")
    found: dict[str, Any] = doc["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else {}
    return found


def _allows_null(prop: dict[str, Any]) -> bool:
    options = prop.get("anyOf", [prop])
    return any(o.get("type") == "null" for o in options)


def _is_time(prop: dict[str, Any]) -> bool:
    options = prop.get("anyOf", [prop])
    return any(o.get("format") in ("date", "date-time") for o in options)


# -- PATCH: the document and the behaviour agree ---------------------------------------


async def _one_of_each(api: Api) -> dict[str, str]:
    """A concrete path for every PATCH route: one object of each kind."""
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    _, found = await api.get(f"{RESIDENTS}/{rid}")
    status, room = await api.post("/api/v1/rooms", json={"name": "活动室", "capacity": 20})
    assert status == 201, room
    event_id = await published_event(
        api, room_id=room["id"], capacity=10, rsvp_deadline="2026-12-04T20:00"
    )
    status, hook = await api.post(
        "/api/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["rsvp.changed"]},
    )
    assert status == 201, hook
    status, goods = await api.post(
        "/api/v1/store/items", json={"name": "米", "price": 10, "stock": 5, "monthly_limit": 2}
    )
    assert status == 201, goods
    status, item = await api.post("/api/v1/items", json={"title": "活动室冬季取暖"})
    assert status == 201, item
    status, group = await api.post(
        "/api/v1/groups",
        json={"name": "1号楼群", "channel": "wecom", "credential": "693a91f6-7xxx-4bc4-97a0"},
    )
    assert status == 201, group
    return {
        "/api/v1/households/{id}": f"{HOUSEHOLDS}/{found['household_id']}",
        "/api/v1/residents/{id}": f"{RESIDENTS}/{rid}",
        "/api/v1/residents/{id}/contacts/{contact_id}": (
            f"{RESIDENTS}/{rid}/contacts/{found['contacts'][0]['id']}"
        ),
        "/api/v1/rooms/{id}": f"/api/v1/rooms/{room['id']}",
        "/api/v1/events/{id}": f"{EVENTS}/{event_id}",
        "/api/v1/subscriptions/{id}": f"/api/v1/subscriptions/{hook['id']}",
        "/api/v1/store/items/{id}": f"/api/v1/store/items/{goods['id']}",
        "/api/v1/items/{id}": f"/api/v1/items/{item['id']}",
        "/api/v1/groups/{id}": f"/api/v1/groups/{group['id']}",
    }


async def test_every_patch_route_does_with_null_what_its_document_says(
    make_api: MakeApi,
) -> None:
    api = await make_api(**{"channels.webhook.allow_private": ["127.0.0.0/8"]})
    doc = await _document(api.client)
    paths = await _one_of_each(api)
    walked = set()
    for method, path, op in _operations(doc):
        if method != "patch":
            continue
        target = paths[path]  # a KeyError: a new PATCH route needs an object above
        walked.add(path)
        # No body, or an empty object, changes nothing: a client bug, said so.
        for kw in ({}, {"json": {}}):
            status, body = await api.patch(target, **kw)
            assert status == 400, f"PATCH {path} {kw} answered {status}: {body}"
            assert body["error"]["code"] == "empty_patch", body
        for name, prop in _body_schema(doc, op)["properties"].items():
            status, body = await api.patch(target, json={name: None})
            if _allows_null(prop):
                # Documented nullable: null clears the field.
                assert status == 200, f"PATCH {path} {name}=null answered {status}: {body}"
                assert body.get(name, None) is None, f"PATCH {path} {name}=null kept {body}"
            else:
                assert status == 400, f"PATCH {path} {name}=null answered {status}: {body}"
                assert name in body["error"]["fields"], body
    assert walked == set(paths)


# -- numbers are not times --------------------------------------------------------------


async def test_a_number_is_never_read_as_a_date_or_time(client: TestClient[Any, Any]) -> None:
    store = client.app[store_key]
    _, admin_token = await auth.issue_token(store, role=Role.ADMIN, name="管理员", now=START)
    admin = Api(client, admin_token)
    status, _ = await admin.post("/api/v1/rooms", json={"name": "活动室", "capacity": 20})
    assert status == 201
    _, door_token = await auth.issue_token(
        store, role=Role.DOOR, name="门口平板", room="活动室", now=START
    )
    door = Api(client, door_token)
    doc = await _document(client)
    checked = []
    for method, path, op in _operations(doc):
        url = re.sub(r"\{\w+\}", "1", path)
        who = door if op.get("x-roles") == ["door"] else admin
        for param in op.get("parameters", []):
            if param["in"] != "query" or not _is_time(param["schema"]):
                continue
            for number in ("0", "20261205", "1700000000.5"):
                status, body = await who.call(method, url, params={param["name"]: number})
                assert status == 400, f"{method} {path}?{param['name']}={number}: {status}"
                assert param["name"] in body["error"]["fields"], body
            checked.append(f"{path}?{param['name']}")
        for name, prop in _body_schema(doc, op).get("properties", {}).items():
            if not _is_time(prop):
                continue
            for number in (0, 1.5, "0", "1764900000"):
                status, body = await who.call(method, url, json={name: number})
                assert status == 400, f"{method} {path} {name}={number!r}: {status} {body}"
                assert name in body["error"]["fields"], body
                assert "number" in body["error"]["fields"][name], body
            checked.append(f"{method} {path} {name}")
    assert "/api/v1/rooms/{id}/week?start" in checked
    assert "/api/v1/events?from" in checked
    assert "post /api/v1/events starts_at" in checked
    assert "patch /api/v1/events/{id} starts_at" in checked
    assert "post /api/v1/rooms/{id}/bookings starts_at" in checked


async def test_starts_at_zero_creates_no_event(api: Api) -> None:
    body = {"kind": "meeting", "title": "院会", "starts_at": 0, "ends_at": 3600}
    status, refused = await api.post(EVENTS, json=body)
    assert status == 400 and set(refused["error"]["fields"]) == {"starts_at", "ends_at"}
    status, listed = await api.get(EVENTS)
    assert listed["total"] == 0
