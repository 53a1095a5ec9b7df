"""The passbook through the API: earning at the door once, bulk credits, reversals, the
store's catalogue and redemptions (200 at once), webhooks, metrics and the CSV export."""

from __future__ import annotations

import asyncio
from typing import Any

from service.keys import store_key
from tests.community import (
    SECRET,
    answer,
    code_of,
    hooks_on,
    published_event,
    resident,
    subscribe,
)
from tests.conftest import Api, MakeApi
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.passbook import (
    CHECKINS,
    ITEMS,
    POSTINGS,
    TODAY,
    balance,
    credit,
    household_of,
    households,
    item,
)

REDEEM = "/api/v1/store/redemptions"


async def test_passbook_api_a_volunteer_checked_in_earns_once(api: Api) -> None:
    event_id = await published_event(
        api, kind="volunteer", title="志愿者日", max_party_size=3, **TODAY
    )
    person = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    await answer(api, event_id, person, "yes", 2)
    code = await code_of(api, event_id, person)
    home = await household_of(api, person)
    assert await balance(api, home) == 0

    body = {"code": code, "nonce": "tablet-1"}
    status, outcome = await api.post(CHECKINS, json=body)
    assert status == 201, outcome
    assert await balance(api, home) == 20  # 10 a person (the default), two came

    # The tablet syncs the same check-in again late, then someone types the code twice.
    status, again = await api.post(CHECKINS, json=body)
    assert (status, again["repeated"]) == (200, True)
    status, twice = await api.post(CHECKINS, json={"code": code})
    assert twice["error"]["code"] == "already_checked_in"
    assert await balance(api, home) == 20

    status, listed = await api.get(POSTINGS, params={"household_id": str(home), "kind": "earn"})
    assert status == 200 and listed["total"] == 1
    [earned] = listed["items"]
    assert earned["event_id"] == event_id and earned["checkin_id"] == outcome["id"]
    assert sum(line["amount"] for line in earned["lines"]) == 0


async def test_passbook_api_event_points_per_person_and_bad_input(api: Api) -> None:
    event_id = await published_event(api, **TODAY)  # a flea market: no points by itself
    status, bad = await api.put(
        f"/api/v1/events/{event_id}/points", json={"per_person": 5, "per_hour": 2}
    )
    assert status == 400 and "per_hour" in bad["error"]["fields"]
    status, bad = await api.put(f"/api/v1/events/{event_id}/points", json={"per_person": 0})
    assert status == 400 and "per_person" in bad["error"]["fields"]
    status, _ = await api.put(f"/api/v1/events/{event_id}/points", json={"per_person": 5})
    assert status == 200
    person = await resident(api, "李娜", "1-1-103", ("sms", "+8613800000003"))
    await answer(api, event_id, person, "yes")
    code = await code_of(api, event_id, person)
    status, _ = await api.post(CHECKINS, json={"code": code})
    assert status == 201
    assert await balance(api, await household_of(api, person)) == 5
    # It credits at the door: a bulk credit of everyone checked in would pay twice.
    status, refused = await api.post(
        f"/api/v1/events/{event_id}/points/credit",
        json={"points": 3, "idempotency_key": "x", "reason": "r"},
    )
    assert (status, refused["error"]["code"]) == (409, "event_earns_at_checkin")


async def test_passbook_api_bulk_credit_reversal_and_refusals(api: Api) -> None:
    homes = [
        await household_of(
            api, await resident(api, f"住户{n}", f"2-1-{n}", ("sms", f"+86138000010{n:02d}"))
        )
        for n in range(3)
    ]
    status, posted = await api.post(
        POSTINGS,
        json={
            "kind": "earn",
            "idempotency_key": "snow-day",
            "reason": "扫雪",
            "credits": [{"household_id": h, "points": 7} for h in homes],
        },
    )
    assert status == 201, posted
    posting = posted["posting"]
    assert len(posting["lines"]) == 4 and posting["operator"].startswith("organiser:")
    status, again = await api.post(
        POSTINGS,
        json={
            "kind": "earn",
            "idempotency_key": "snow-day",
            "reason": "扫雪",
            "credits": [{"household_id": homes[0], "points": 99}],
        },
    )
    assert (status, again["repeated"], again["posting"]["id"]) == (200, True, posting["id"])
    assert [await balance(api, h) for h in homes] == [7, 7, 7]

    status, bad = await api.post(
        POSTINGS,
        json={"kind": "earn", "idempotency_key": "k", "reason": " ", "credits": []},
    )
    assert status == 400 and {"reason", "credits"} & set(bad["error"]["fields"])
    status, bad = await api.post(
        POSTINGS,
        json={
            "kind": "bonus",
            "idempotency_key": "k",
            "reason": "r",
            "credits": [{"household_id": homes[0], "points": -3}],
        },
    )
    assert status == 400 and "points" in bad["error"]["fields"]

    path = f"{POSTINGS}/{posting['id']}/reversal"
    status, undone = await api.post(path, json={"idempotency_key": "undo", "reason": "记错"})
    assert status == 201 and undone["posting"]["reverses_id"] == posting["id"]
    assert [await balance(api, h) for h in homes] == [0, 0, 0]
    status, twice = await api.post(path, json={"idempotency_key": "undo-2", "reason": "记错"})
    assert (status, twice["error"]["code"]) == (409, "already_reversed")
    status, shown = await api.get(f"{POSTINGS}/{posting['id']}")
    assert shown["reversed_by"] == undone["posting"]["id"]


async def test_passbook_api_redemption_by_code_spends_and_takes_stock(api: Api) -> None:
    home = await household_of(api, await resident(api, "张伟", "3-2-1501"))
    await credit(api, home, 30, "k-1")
    status, mine = await api.get(f"/api/v1/passbook/households/{home}")
    rice = await item(api, "米", 12, 5)
    oil = await item(api, "油", 8, 1, monthly_limit=1)

    status, made = await api.post(
        REDEEM,
        json={
            "idempotency_key": "counter-1",
            "code": mine["code"].lower(),
            "items": [{"item_id": rice, "quantity": 1}, {"item_id": oil, "quantity": 1}],
        },
    )
    assert status == 201, made
    assert (made["balance"], made["redemption"]["total"]) == (10, 20)
    assert made["posting"]["kind"] == "redeem"
    _, oil_now = await api.get(f"{ITEMS}/{oil}")
    assert oil_now["stock"] == 0

    status, poor = await api.post(
        REDEEM,
        json={
            "idempotency_key": "c-2",
            "unit": "3-2-1501",
            "items": [{"item_id": rice, "quantity": 1}],
        },
    )
    assert (status, poor["error"]["code"]) == (409, "insufficient_points")
    await credit(api, home, 100, "k-2")
    status, empty = await api.post(
        REDEEM,
        json={
            "idempotency_key": "c-3",
            "household_id": home,
            "items": [{"item_id": oil, "quantity": 1}],
        },
    )
    assert status == 409 and empty["error"]["code"] in ("out_of_stock", "monthly_limit")
    status, nobody = await api.post(
        REDEEM,
        json={
            "idempotency_key": "c-4",
            "code": "ZZZZZZ",
            "items": [{"item_id": rice, "quantity": 1}],
        },
    )
    assert (status, nobody["error"]["code"]) == (404, "household_not_found")
    status, bad = await api.post(
        REDEEM, json={"idempotency_key": "c-5", "household_id": home, "items": []}
    )
    assert status == 400 and "items" in bad["error"]["fields"]

    # Reversing the redemption gives the points back and puts the goods on the shelf.
    status, _ = await api.post(
        f"{POSTINGS}/{made['posting']['id']}/reversal",
        json={"idempotency_key": "undo", "reason": "退货"},
    )
    assert status == 201
    _, oil_now = await api.get(f"{ITEMS}/{oil}")
    assert oil_now["stock"] == 1
    assert await balance(api, home) == 130


async def test_passbook_api_200_concurrent_redemptions_cover_50(api: Api) -> None:
    # 50 households with 10 points each, 4 tries each at 10 points of goods, 200 in stock:
    # only the balances limit, so exactly 50 succeed.
    homes = await households(api.client.app[store_key], 50)
    status, _ = await api.post(
        POSTINGS,
        json={
            "kind": "bonus",
            "idempotency_key": "seed",
            "reason": "开张",
            "credits": [{"household_id": h, "points": 10} for h in homes],
        },
    )
    assert status == 201
    soap = await item(api, "洗衣液", 10, 200)

    async def one(n: int) -> tuple[int, Any]:
        return await api.post(
            REDEEM,
            json={
                "idempotency_key": f"r-{n}",
                "household_id": homes[n % 50],
                "items": [{"item_id": soap, "quantity": 1}],
            },
        )

    results = await asyncio.gather(*(one(n) for n in range(200)))
    codes = [s if s == 201 else body["error"]["code"] for s, body in results]
    assert codes.count(201) == 50
    assert codes.count("insufficient_points") == 150
    _, left = await api.get(f"{ITEMS}/{soap}")
    assert left["stock"] == 150

    # And against stock that covers 50: balances for all, goods for 50.
    rich = homes  # 100 points more each: the balances cover every try
    await api.post(
        POSTINGS,
        json={
            "kind": "bonus",
            "idempotency_key": "seed-2",
            "reason": "再开张",
            "credits": [{"household_id": h, "points": 100} for h in rich],
        },
    )
    paper = await item(api, "抽纸", 1, 50)

    async def tissue(n: int) -> tuple[int, Any]:
        return await api.post(
            REDEEM,
            json={
                "idempotency_key": f"t-{n}",
                "household_id": rich[n % 50],
                "items": [{"item_id": paper, "quantity": 1}],
            },
        )

    results = await asyncio.gather(*(tissue(n) for n in range(200)))
    codes = [s if s == 201 else body["error"]["code"] for s, body in results]
    assert codes.count(201) == 50 and codes.count("out_of_stock") == 150
    _, left = await api.get(f"{ITEMS}/{paper}")
    assert left["stock"] == 0


async def test_passbook_api_webhooks_metrics_and_csv(make_api: MakeApi) -> None:
    async with WebhookReceiver(SECRET) as hook:
        api = await make_api(**hooks_on())
        await subscribe(api, hook.url, "points.posted", "points.redeemed")
        home = await household_of(api, await resident(api, "张伟", "3-2-1501"))
        await credit(api, home, 30, "k-1")
        soap = await item(api, "洗衣液", 10, 5)
        status, _ = await api.post(
            REDEEM,
            json={
                "idempotency_key": "r",
                "household_id": home,
                "items": [{"item_id": soap, "quantity": 2}],
            },
        )
        assert status == 201
        await hook.wait_for(2)
        kinds = {d.body["type"]: d.body["data"] for d in hook.deliveries}
        assert all(d.valid for d in hook.deliveries)
        assert kinds["points.posted"]["lines"] == [{"household_id": home, "points": 30}]
        assert (
            kinds["points.redeemed"]["points"] == 20 and kinds["points.redeemed"]["balance"] == 10
        )

        status, text = await api.call("GET", "/metrics")
        assert "linli_points_issued 30.0" in text and "linli_points_redeemed 20.0" in text

        status, raw = await api.get("/api/v1/passbook/export.csv")
        assert status == 200 and raw.startswith("\ufeff")
        lines = raw.removeprefix("\ufeff").splitlines()
        assert lines[0].startswith("记账号,时间,类型,门牌,积分")
        assert ",兑换,3-2-1501,-20," in lines[2]
