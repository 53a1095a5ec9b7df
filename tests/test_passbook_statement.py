"""The monthly passbook statement: one message per household on its resident's channel and
language, through the outbox, once per month however often it is asked for; and the
notice of points about to expire, once per lot."""

from __future__ import annotations

from service.domain import housekeeping, points_expiry
from service.keys import delivery_key, settings_key, store_key
from tests.community import eventually, outbox_files, resident
from tests.conftest import Api, MakeApi, PinnedClock
from tests.passbook import credit, household_of

STATEMENTS = "/api/v1/passbook/statements"


async def test_passbook_statement_goes_out_once_in_each_language(api: Api) -> None:
    zh = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    en = await resident(api, "Amy Lee", "3-2-1502", ("sms", "+8613812345679"), language="en")
    await resident(api, "王芳", "3-2-1503", ("sms", "+8613812345670"))  # no points: nothing
    await credit(api, await household_of(api, zh), 12, "k-1")
    await credit(api, await household_of(api, en), 7, "k-2")

    status, sent = await api.post(STATEMENTS, json={"month": "2026-11"})
    assert (status, sent) == (200, {"month": "2026-11", "queued": 2})
    status, again = await api.post(STATEMENTS, json={"month": "2026-11"})
    assert again["queued"] == 0

    texts = await eventually(
        lambda: _texts(api), lambda found: len(found) == 2, "both statements were sent"
    )
    joined = "\n".join(texts)
    assert "张伟您好，2026年11月积分存折：您本月获得12分，余额12分。" in joined
    assert "your points passbook for November 2026: you earned 7 points; balance 7" in joined
    assert "/p/" in joined  # the household's passbook page

    for bad in ("2026-13", "26-11", "2027-01"):
        status, body = await api.post(STATEMENTS, json={"month": bad})
        assert status == 400 and "month" in body["error"]["fields"], bad


async def _texts(api: Api) -> list[str]:
    return [path.read_text(encoding="utf-8") for path in outbox_files(api, "sms")]


async def test_passbook_expiry_notice_goes_out_once_before_points_lapse(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    api = await make_api(**{"passbook.expiry_months": 1})
    person = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    await credit(api, await household_of(api, person), 9, "k-1")  # lapses on 12月28日
    app = api.client.app
    store, composer, tz = app[store_key], app[delivery_key].ready(), app[settings_key].tz

    async def notify() -> int:
        return await points_expiry.notify_expiring(store, composer, now=clock.now, days=14, tz=tz)

    clock.advance(days=10)
    assert await notify() == 0  # 20 days before: not yet
    clock.advance(days=10)
    assert await notify() == 1
    assert await notify() == 0  # once
    texts = await eventually(lambda: _texts(api), lambda found: len(found) == 1, "one notice")
    assert "您家积分存折中有9分将于12月28日" in texts[0]


async def test_passbook_statement_goes_out_by_itself_early_next_month(
    api: Api, clock: PinnedClock
) -> None:
    person = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
    await credit(api, await household_of(api, person), 12, "k-1")
    app = api.client.app
    clock.advance(days=3)  # 1 December: November is over
    async with housekeeping.running(
        app[store_key],
        clock,
        interval_s=3600,
        purge_every_s=0.05,
        passbook=app[settings_key].passbook,
        composer=app[delivery_key].ready,
        tz=app[settings_key].tz,
    ):
        texts = await eventually(
            lambda: _texts(api), lambda found: len(found) == 1, "November's statement"
        )
    assert "2026年11月积分存折：您本月获得12分，余额12分。" in texts[0]
    # The monthly message also asks for the resident's needs ([M9]).
    assert "提建议：" in texts[0] and "/n/" in texts[0]
    status, again = await api.post(STATEMENTS, json={"month": "2026-11"})
    assert (status, again["queued"]) == (200, 0)  # once per household and month
