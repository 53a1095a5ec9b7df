"""The household's passbook page (/p/{token}): balance, history, code and QR, the store's
goods, in both languages; linked from the RSVP and booking pages; forged links 404."""

from __future__ import annotations

from urllib.parse import urlsplit

from service.keys import delivery_key
from tests.community import (
    answer,
    code_of,
    nonce_of,
    open_page,
    page_path,
    published_event,
    resident,
)
from tests.conftest import Api, MakeApi
from tests.passbook import CHECKINS, TODAY, balance, household_of, item

REDEEM = "/api/v1/store/redemptions"


def passbook_path(api: Api, household: int) -> str:
    return urlsplit(api.client.app[delivery_key].ready().links.passbook(household)).path


async def test_passbook_page_shows_what_was_earned_and_spent(api: Api) -> None:
    event_id = await published_event(api, kind="volunteer", title="志愿者日·扫雪", **TODAY)
    person = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    await answer(api, event_id, person, "yes")
    status, _ = await api.post(CHECKINS, json={"code": await code_of(api, event_id, person)})
    assert status == 201
    home = await household_of(api, person)
    rice = await item(api, "米", 4, 10)
    await item(api, "抽纸", 2, 30, monthly_limit=3)
    status, _ = await api.post(
        REDEEM,
        json={
            "idempotency_key": "c1",
            "household_id": home,
            "items": [{"item_id": rice, "quantity": 1}],
        },
    )
    assert status == 201
    assert await balance(api, home) == 6

    status, html, headers = await open_page(api, passbook_path(api, home))
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert '<p class="balance" id="balance">6 ' in html
    assert "志愿者日·扫雪" in html and "+10" in html  # earned where
    assert "米×1" in html and "-4" in html  # spent on what
    assert "抽纸" in html and "每户每月限 3 件" in html  # the store's goods
    assert "<svg" in html and 'id="passbook-code"' in html
    assert "张伟" not in html and "13812345678" not in html

    status, english, _ = await open_page(api, passbook_path(api, home) + "?lang=en")
    assert status == 200 and "Points passbook" in english and "积分存折" not in english

    status, _, _ = await open_page(api, passbook_path(api, home)[:-2] + "xx")
    assert status == 404

    _, rsvp, _ = await open_page(api, page_path(api, event_id, person))
    assert f'href="{passbook_path(api, home)}" id="passbook-link"' in rsvp

    booking_page = urlsplit(api.client.app[delivery_key].ready().links.booking(person)).path
    _, booking, _ = await open_page(api, booking_page)
    assert f'href="{passbook_path(api, home)}" id="passbook-link"' in booking


async def test_passbook_counter_a_resent_form_spends_once(api: Api) -> None:
    home = await household_of(api, await resident(api, "李娜", "1-1-103"))
    await api.post(
        "/api/v1/passbook/postings",
        json={
            "kind": "bonus",
            "idempotency_key": "k",
            "reason": "r",
            "credits": [{"household_id": home, "points": 10}],
        },
    )
    soap = await item(api, "洗衣液", 6, 5)
    status, issued = await api.post("/api/v1/store/counter-tokens", json={"name": "柜台"})
    assert status == 201 and issued["url"].endswith(issued["token"])
    status, _, _ = await open_page(api, "/counter?unit=1-1-103")
    assert status == 401  # not signed in yet
    async with api.client.get(f"/counter?token={issued['token']}", allow_redirects=False) as r:
        assert r.status == 303 and "HttpOnly" in r.headers["Set-Cookie"]
    status, html, _ = await open_page(api, "/counter?unit=1-1-103")
    assert status == 200 and "李*" in html and "李娜" not in html
    form = {"household_id": str(home), "nonce": nonce_of(html), f"qty_{soap}": "1"}
    for _ in range(2):
        async with api.client.post("/counter/redeem", data=form) as resp:
            assert resp.status == 200
            assert "兑换成功：共 6 分，剩余 4 分。" in await resp.text()
    assert await balance(api, home) == 4
    status, bad = await api.post("/api/v1/store/counter-tokens", json={"name": " "})
    assert status == 400 and "name" in bad["error"]["fields"]

    # A lost desk phone: the organiser finds its token in the list and revokes it; the
    # desk's very next request is refused.
    status, listed = await api.get("/api/v1/store/counter-tokens")
    assert status == 200 and [t["name"] for t in listed["items"]] == ["柜台"], listed
    assert "token" not in listed["items"][0] and listed["items"][0]["revoked_at"] is None
    status, revoked = await api.delete(f"/api/v1/store/counter-tokens/{issued['id']}")
    assert status == 200 and revoked["revoked_at"] is not None, revoked
    status, again = await api.delete(f"/api/v1/store/counter-tokens/{issued['id']}")
    assert status == 200 and again["revoked_at"] == revoked["revoked_at"]
    status, _, _ = await open_page(api, "/counter?unit=1-1-103")
    assert status == 401
    status, missing = await api.delete("/api/v1/store/counter-tokens/999")
    assert status == 404 and missing["error"]["code"] == "counter_token_not_found"


async def test_passbook_leaderboard_masks_names_and_can_be_off(make_api: MakeApi) -> None:
    api = await make_api()
    homes = [
        await household_of(api, await resident(api, name, unit))
        for name, unit in (("张伟", "3-2-1501"), ("李娜", "1-1-103"))
    ]
    for n, (home, points) in enumerate(zip(homes, (5, 12), strict=True)):
        await api.post(
            "/api/v1/passbook/postings",
            json={
                "kind": "earn",
                "idempotency_key": f"k{n}",
                "reason": "扫雪",
                "credits": [{"household_id": home, "points": points}],
            },
        )
    status, html, _ = await open_page(api, "/points/leaderboard")
    assert status == 200 and "积分榜" in html
    assert html.index("李*") < html.index("张*") and "12 分" in html
    assert "张伟" not in html and "李娜" not in html and "1501" not in html
    off = await make_api(**{"passbook.leaderboard": False})
    status, _, _ = await open_page(off, "/points/leaderboard")
    assert status == 404
