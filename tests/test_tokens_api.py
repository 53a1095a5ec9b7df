"""API tokens through the API: admins issue, list and revoke them; /me says who is calling."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.conftest import Api, PinnedClock

TOKENS = "/api/v1/tokens"
ME = "/api/v1/me"


async def test_tokens_an_issued_organiser_token_works(
    admin: Api, client: TestClient[Any, Any]
) -> None:
    status, issued = await admin.post(TOKENS, json={"role": "organiser", "name": "李志愿"})
    assert status == 201, issued
    token = issued["token"]
    assert token.startswith("lin_") and token.startswith(issued["hint"])
    assert issued["role"] == "organiser" and issued["revoked_at"] is None

    status, me = await Api(client, token).get(ME)
    assert status == 200
    assert me == {
        "token_id": issued["id"],
        "name": "李志愿",
        "role": "organiser",
        "staff_id": issued["staff_id"],
        "room_id": None,
    }
    status, _ = await Api(client, token).get("/api/v1/events")
    assert status == 200


async def test_tokens_list_never_shows_a_token(admin: Api) -> None:
    _, issued = await admin.post(TOKENS, json={"role": "organiser", "name": "李志愿"})
    status, page = await admin.get(TOKENS)
    assert status == 200
    assert page["total"] == 2  # the admin's own and the new one
    assert page["items"][0]["id"] == issued["id"]  # newest first
    assert all("token" not in record for record in page["items"])
    status, text = await admin.call("GET", TOKENS, headers={"Accept": "application/json"})
    assert issued["token"] not in str(text)
    assert admin.token is not None and admin.token not in str(text)


async def test_tokens_are_for_admins_only(api: Api) -> None:
    for method, path in (("GET", TOKENS), ("POST", TOKENS), ("DELETE", f"{TOKENS}/1")):
        kwargs: dict[str, Any] = (
            {"json": {"role": "admin", "name": "我自己"}} if method == "POST" else {}
        )
        status, body = await api.call(method, path, **kwargs)
        assert status == 403, (method, path, body)
        assert body["error"]["code"] == "forbidden"


async def test_tokens_no_token_is_a_json_401(anonymous: Api) -> None:
    for path in (TOKENS, ME):
        status, body = await anonymous.get(path)
        assert status == 401
        assert body["error"]["code"] == "unauthenticated"
        assert "Bearer" in body["error"]["message"]


async def test_tokens_a_revoked_token_is_refused(
    admin: Api, client: TestClient[Any, Any], clock: PinnedClock
) -> None:
    _, issued = await admin.post(TOKENS, json={"role": "organiser", "name": "李志愿"})
    holder = Api(client, issued["token"])
    assert (await holder.get(ME))[0] == 200

    clock.advance(minutes=3)
    status, revoked = await admin.delete(f"{TOKENS}/{issued['id']}")
    assert status == 200 and revoked["revoked_at"] == "2026-11-28T10:03:00+08:00"
    clock.advance(minutes=3)
    status, again = await admin.delete(f"{TOKENS}/{issued['id']}")
    assert status == 200 and again["revoked_at"] == revoked["revoked_at"]

    status, body = await holder.get(ME)
    assert status == 401 and body["error"]["code"] == "token_revoked"
    for token_id in ("999", "99999999999999999999999"):
        status, body = await admin.delete(f"{TOKENS}/{token_id}")
        assert status == 404 and body["error"]["code"] == "token_not_found"


async def test_tokens_a_door_token_needs_a_room(admin: Api, client: TestClient[Any, Any]) -> None:
    status, body = await admin.post(TOKENS, json={"role": "door", "name": "门口平板"})
    assert status == 400
    assert body["error"]["code"] == "room_required" and "room" in body["error"]["fields"]
    status, body = await admin.post(TOKENS, json={"role": "door", "name": "门口平板", "room": "无"})
    assert status == 404 and body["error"]["code"] == "room_not_found"
    status, body = await admin.post(
        TOKENS, json={"role": "organiser", "name": "李志愿", "room": "活动室"}
    )
    assert status == 400 and "room" in body["error"]["fields"]

    _, room = await admin.post("/api/v1/rooms", json={"name": "活动室", "capacity": 40})
    for room_ref in ("活动室", room["id"]):
        status, issued = await admin.post(
            TOKENS, json={"role": "door", "name": "门口平板", "room": room_ref}
        )
        assert status == 201, issued
        assert issued["room_id"] == room["id"] and issued["staff_id"] is None
        door = Api(client, issued["token"])
        status, me = await door.get(ME)
        assert status == 200 and me["role"] == "door" and me["room_id"] == room["id"]
        status, body = await door.get("/api/v1/events")
        assert status == 403 and body["error"]["code"] == "forbidden"


async def test_tokens_expire(admin: Api, client: TestClient[Any, Any], clock: PinnedClock) -> None:
    status, issued = await admin.post(
        TOKENS, json={"role": "organiser", "name": "临时志愿者", "expires_at": "2026-11-28T12:00"}
    )
    assert status == 201 and issued["expires_at"] == "2026-11-28T12:00:00+08:00"
    holder = Api(client, issued["token"])
    assert (await holder.get(ME))[0] == 200
    clock.advance(hours=2)
    status, body = await holder.get(ME)
    assert status == 401 and body["error"]["code"] == "token_expired"


async def test_tokens_bad_input_is_400_naming_the_field(admin: Api) -> None:
    for body, field in (
        ({"role": "janitor", "name": "x"}, "role"),
        ({"role": "organiser", "name": ""}, "name"),
        ({"role": "organiser", "name": "李\x00"}, "name"),
        ({"role": "organiser"}, "name"),
        ({"role": "organiser", "name": "x", "expires_at": "2026-11-28T09:00"}, "expires_at"),
        ({"role": "organiser", "name": "x", "expires_at": "9999-12-31T23:59-12:00"}, "expires_at"),
        ({"role": "door", "name": "x", "room": 10**30}, "room"),
        ({"role": "organiser", "name": "x", "secret": "y"}, "secret"),
    ):
        status, answer = await admin.post(TOKENS, json=body)
        assert status == 400, (body, answer)
        assert any(name.startswith(field) for name in answer["error"]["fields"]), (body, answer)


async def test_tokens_a_staff_name_keeps_its_role(admin: Api) -> None:
    await admin.post(TOKENS, json={"role": "organiser", "name": "李志愿"})
    status, body = await admin.post(TOKENS, json={"role": "admin", "name": "李志愿"})
    assert status == 409 and body["error"]["code"] == "staff_role_mismatch"
