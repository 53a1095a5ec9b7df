"""The door tablet in Chromium: a booking shows up live, a resident checks in by code,
check-ins made while the server is down reach it once it is back, a stalled link shows
the offline banner by itself, a synced check-in updates the card with whose it was, and
the door says who came twice and who brought more than booked."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from service.core.checkin_codes import new_code
from service.core.clock import to_db
from service.core.models import Role
from service.domain import auth
from service.keys import store_key
from tests.browser.conftest import Live
from tests.community import invited, published_event, rsvp_link, yes_code
from tests.conftest import START
from tests.fakes.stall import StallingRelay
from tests.processes import free_port, wait_healthy

TABLET = {"width": 1024, "height": 768}
TODAY = {"starts_at": "2026-11-28T10:30", "ends_at": "2026-11-28T12:00"}
LINLI = str(Path(sys.executable).parent / "linli")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    made = await browser.new_context(viewport=TABLET, locale="zh-CN")
    try:
        yield made
    finally:
        await made.close()


async def room_and_door(live: Live) -> tuple[int, str]:
    status, room = await live.api.post("/api/v1/rooms", json={"name": "活动室", "capacity": 30})
    assert status == 201, room
    store = live.api.client.app[store_key]
    _, token = await auth.issue_token(
        store, role=Role.DOOR, name="活动室门口", room=room["id"], now=START
    )
    return int(room["id"]), token


async def signed_in(context: BrowserContext, base: str, token: str) -> Page:
    page = await context.new_page()
    await page.goto(f"{base}/tablet?token={token}")
    assert page.url == f"{base}/tablet"  # the token left the address bar
    await expect(page.locator("#room")).to_have_text("活动室")
    return page


async def test_tablet_browser_shows_a_new_booking_within_2s(
    live: Live, context: BrowserContext
) -> None:
    room_id, token = await room_and_door(live)
    page = await signed_in(context, live.url, token)
    await expect(page.locator("#empty")).to_be_visible()

    # A booking made through the API, and an event held in the room (it reserves it).
    body = {"starts_at": "2026-11-28T14:00:00+08:00", "ends_at": "2026-11-28T15:00:00+08:00"}
    status, booked = await live.api.post(
        f"/api/v1/rooms/{room_id}/bookings", json={**body, "title": "合唱排练"}
    )
    assert status == 201, booked
    slot = page.locator("#timeline .slot")
    await expect(slot).to_have_count(1, timeout=2000)
    await expect(slot).to_contain_text("14:00–15:00")
    await expect(slot).to_contain_text("合唱排练")

    event = {"kind": "activity", "title": "书法课", "room_id": room_id, **TODAY}
    status, created = await live.api.post("/api/v1/events", json=event)
    assert status == 201, created
    status, _ = await live.api.post(f"/api/v1/events/{created['id']}/publish")
    assert status == 200

    await expect(slot).to_have_count(2, timeout=2000)
    await expect(slot.first).to_contain_text("10:30–12:00")
    await expect(slot.first).to_contain_text("书法课")
    await expect(slot.first).to_have_class("slot next")
    box = await page.get_by_role("button", name="签到", exact=True).bounding_box()
    assert box is not None and box["height"] >= 64  # a thumb-sized target


async def test_tablet_browser_checks_a_resident_in_by_code(
    live: Live, context: BrowserContext
) -> None:
    room_id, token = await room_and_door(live)
    event_id, [rid], _ = await invited(live.api, room_id=room_id, **TODAY)
    link = rsvp_link(live.api, event_id, rid)
    resident = await context.new_page()
    await resident.goto(link)
    await resident.get_by_label("参加", exact=True).check()
    await resident.get_by_label("人数（含您本人）").select_option("2")
    await resident.get_by_role("button", name="提交回复").click()
    code = (await resident.locator("#checkin-code").text_content() or "").strip()
    assert len(code) == 6
    page = await signed_in(context, live.url, token)
    await expect(page.locator("#timeline .slot")).to_contain_text("已到 0 / 2 人")

    await page.get_by_label("签到码").fill(code.lower())
    await page.get_by_role("button", name="签到", exact=True).click()

    result = page.locator("#result")
    await expect(result).to_have_class("result ok")
    await expect(result).to_contain_text("签到成功 · 张*")
    await expect(result).to_contain_text("2 人 · 跳蚤市场")
    await expect(page.locator("#timeline .slot")).to_contain_text("已到 2 / 2 人", timeout=2000)

    await page.get_by_label("签到码").fill(code)
    await page.get_by_role("button", name="签到", exact=True).click()
    await expect(result).to_have_class("result refused")
    await expect(result).to_contain_text("已于 10:00 签到过")
    status, came = await live.api.get(f"/api/v1/events/{event_id}/checkins")
    assert status == 200 and came["total"] == 1, came


async def _kept_by_service_worker(page: Page) -> None:
    """Waits (5 s at most) until the service worker, which keeps the page, controls it."""
    for _ in range(50):
        if await page.evaluate("navigator.serviceWorker.controller !== null"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("no service worker controls the tablet page")


def _serve(db: Path, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    config = tmp / "tablet.toml"
    config.write_text(
        f'[server]\nsecret_file = "{tmp / "secret"}"\naccess_log = false\n'
        f'[channels.file]\npath = "{tmp / "outbox"}"\n',
        encoding="utf-8",
    )
    argv = [LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)]
    return subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def _door_token(db: Path, tmp: Path) -> str:
    """A door token made by the CLI with the server's config (and so its secret file)."""
    argv = [LINLI, "token", "create", "--role", "door", "--room", "活动室", "--name", "门口"]
    argv += ["--config", str(tmp / "tablet.toml"), "--db", str(db)]
    done = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _booked_now(db: Path, title: str, minutes: int) -> str:
    """A booking of the room around the real present (the server runs on the system
    clock), `minutes` from now for 3 minutes, written by this process as another would;
    its check-in code."""
    now = datetime.now(UTC)
    start, end = now + timedelta(minutes=minutes), now + timedelta(minutes=minutes + 3)
    code = new_code()
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA busy_timeout = 5000")
        room_id = conn.execute("SELECT id FROM rooms WHERE name = '活动室'").fetchone()[0]
        booking_id = conn.execute(
            "INSERT INTO bookings (room_id, title, party_size, starts_at, ends_at, blocked_until,"
            " status, booked_by, created_at, updated_at)"
            " VALUES (?, ?, 3, ?, ?, ?, 'confirmed', 'organiser:王', ?, ?)",
            (
                room_id,
                title,
                to_db(start),
                to_db(end),
                to_db(end),
                to_db(now),
                to_db(now),
            ),
        ).lastrowid
        conn.execute(
            "INSERT INTO checkin_codes (code, booking_id, created_at) VALUES (?, ?, ?)",
            (code, booking_id, to_db(now)),
        )
    return code


async def test_tablet_browser_check_ins_made_while_the_server_is_down_reach_it(
    tmp_path: Path, context: BrowserContext
) -> None:
    db, port = tmp_path / "linli.db", free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(db, port, tmp_path)
    try:
        await wait_healthy(base)
        with sqlite3.connect(db) as conn:
            conn.execute(
                "INSERT INTO rooms (name, capacity, location, created_at) VALUES ('活动室', 30, '',"
                " ?)",
                (to_db(datetime.now(UTC)),),
            )
        token = await asyncio.to_thread(_door_token, db, tmp_path)
        kept = await asyncio.to_thread(_booked_now, db, "合唱排练", -1)
        dropped = await asyncio.to_thread(_booked_now, db, "书法课", 2)
        page = await signed_in(context, base, token)
        await expect(page.locator("#timeline .slot")).to_have_count(2, timeout=2000)
        await _kept_by_service_worker(page)

        await asyncio.to_thread(_stop, server)
        await expect(page.locator("#offline")).to_be_visible(timeout=5000)
        for n, code in enumerate((kept, dropped)):
            await page.get_by_label("签到码").fill(code)
            await page.get_by_role("button", name="签到", exact=True).click()
            await expect(page.locator("#result")).to_have_class("result queued")
            if n == 0:
                # Reloaded with the server gone: the page, its day and its queue are kept.
                await page.reload()
                await expect(page.locator("#room")).to_have_text("活动室")
                await expect(page.locator("#timeline .slot")).to_have_count(2)
                await expect(page.locator("#offline")).to_be_visible(timeout=5000)
                await expect(page.locator("#queue")).to_have_text("待提交签到：1 条")
        await expect(page.locator("#queue")).to_have_text("待提交签到：2 条")
        # Meanwhile, at the office, the second booking is cancelled.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE bookings SET status = 'cancelled' WHERE title = '书法课'")

        server = _serve(db, port, tmp_path)
        await wait_healthy(base)

        await expect(page.locator("#offline")).to_be_hidden(timeout=10000)
        await expect(page.locator("#conflict-list")).to_have_text(
            f"{dropped}: 此预约或活动已取消，不能签到", timeout=10000
        )
        await expect(page.locator("#queue")).not_to_contain_text("待提交签到")
        await expect(page.locator("#timeline .slot")).to_have_count(1)
        await expect(page.locator("#timeline .slot")).to_contain_text("已到 3 / 3 人")
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT code, via, nonce FROM checkins").fetchall()
        assert [(c, via) for c, via, _ in rows] == [(kept, "tablet")]
        assert rows[0][2]  # the nonce the page made while offline
    finally:
        await asyncio.to_thread(_stop, server)


ARTIFACTS = ROOT / "tests" / "artifacts" / "tablet"
LANGUAGES = ("zh-CN", "en")


async def door_page(browser: Browser, base: str, token: str, lang: str) -> Page:
    """The tablet signed in at `base` in `lang`, in a context of its own (a tablet of
    its own: its own cookie and its own offline queue)."""
    made = await browser.new_context(viewport=TABLET, locale=lang)
    page = await made.new_page()
    suffix = "" if lang == "zh-CN" else f"&lang={lang}"
    await page.goto(f"{base}/tablet?token={token}{suffix}")
    await expect(page.locator("#room")).to_have_text("活动室")
    return page


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_tablet_browser_a_stalled_connection_shows_the_offline_banner_by_itself(
    live: Live, browser: Browser
) -> None:
    room_id, token = await room_and_door(live)
    async with StallingRelay(int(live.url.rsplit(":", 1)[1])) as relay:
        base = f"http://127.0.0.1:{relay.port}"
        pages = {lang: await door_page(browser, base, token, lang) for lang in LANGUAGES}
        for page in pages.values():
            await expect(page.locator("#timeline .slot")).to_have_count(0)
            await expect(page.locator("#offline")).to_be_hidden()
        await _kept_by_service_worker(pages["zh-CN"])

        # The link dies without a word: the server is up, no connection is closed.
        relay.stall()
        banners = {
            "zh-CN": "网络已断开，显示的是保存的列表。",
            "en": "The network is down; this is the saved list.",
        }
        for lang, page in pages.items():
            await expect(page.locator("#offline")).to_be_visible(timeout=30000)
            await expect(page.locator("#offline")).to_have_text(banners[lang])
            await shoot(page, f"stalled-{lang}")
        # Reloaded on the dead link, the page comes from the service worker's copy once the
        # request's deadline passes, and says again that it is offline.
        kept = pages["zh-CN"]
        await kept.reload(timeout=30000)
        await expect(kept.locator("#room")).to_have_text("活动室")
        await expect(kept.locator("#offline")).to_be_visible(timeout=30000)

        relay.resume()
        for page in pages.values():
            await expect(page.locator("#offline")).to_be_hidden(timeout=30000)
        # The live feed works again on the revived link.
        body = {"starts_at": "2026-11-28T14:00:00+08:00", "ends_at": "2026-11-28T15:00:00+08:00"}
        status, booked = await live.api.post(
            f"/api/v1/rooms/{room_id}/bookings", json={**body, "title": "合唱排练"}
        )
        assert status == 201, booked
        for page in pages.values():
            await expect(page.locator("#timeline .slot")).to_contain_text("合唱排练", timeout=30000)
            await page.context.close()


async def test_tablet_browser_an_offline_check_in_updates_the_card_when_it_syncs(
    live: Live, browser: Browser
) -> None:
    room_id, token = await room_and_door(live)
    event_id = await published_event(live.api, room_id=room_id, **TODAY)
    codes = {
        "zh-CN": await yes_code(live.api, event_id, "张伟"),
        "en": await yes_code(live.api, event_id, "李娜"),
    }
    async with StallingRelay(int(live.url.rsplit(":", 1)[1])) as relay:
        base = f"http://127.0.0.1:{relay.port}"
        pages = {lang: await door_page(browser, base, token, lang) for lang in LANGUAGES}
        relay.stall()
        for lang, page in pages.items():
            await page.locator("#code").fill(codes[lang])
            await page.locator("#submit").click()
        for page in pages.values():
            # The check-in gives up on the dead link after its deadline and waits.
            await expect(page.locator("#result")).to_have_class("result queued", timeout=30000)

        relay.resume()
        said = {
            "zh-CN": ("签到成功 · 张*", "1 人 · 跳蚤市场 · 离线签到已提交", "已到 2 / 2 人"),
            "en": (
                "Checked in · 李*",
                "1 person · 跳蚤市场 · sent once back online",
                "2 of 2 here",
            ),
        }
        for lang, page in pages.items():
            card = page.locator("#result")
            await expect(card).to_have_class("result ok", timeout=30000)
            await expect(card.locator("#result-headline")).to_have_text(said[lang][0])
            await expect(card.locator("#result-detail")).to_have_text(said[lang][1])
            await expect(page.locator("#timeline .slot")).to_contain_text(said[lang][2])
            await shoot(page, f"synced-{lang}")
            await page.context.close()
    status, came = await live.api.get(f"/api/v1/events/{event_id}/checkins")
    assert status == 200 and came["total"] == 2, came


async def test_tablet_browser_says_who_came_twice_and_who_brought_more(
    live: Live, browser: Browser
) -> None:
    room_id, token = await room_and_door(live)
    event_id = await published_event(live.api, room_id=room_id, **TODAY)
    code = await yes_code(live.api, event_id, "张伟", size=1)
    said = {
        "zh-CN": ("已到 3 / 1 人 · 比预约多 2 人", "张* 已于 10:00 签到过"),
        "en": ("3 of 1 here · 2 more than booked", "张* already checked in at 10:00"),
    }
    for n, lang in enumerate(LANGUAGES):
        page = await door_page(browser, live.url, token, lang)
        if n == 0:  # a party of 3 on a 1-person answer
            await page.locator("#code").fill(code)
            await page.locator("#party").fill("3")
            await page.locator("#submit").click()
            await expect(page.locator("#result")).to_have_class("result ok")
        await expect(page.locator("#timeline .slot")).to_contain_text(said[lang][0])

        await page.locator("#code").fill(code)
        await page.locator("#submit").click()
        await expect(page.locator("#result")).to_have_class("result refused")
        await expect(page.locator("#result-headline")).to_have_text(said[lang][1])

        # One <main>, and nothing a person sees outside the page's landmarks.
        await expect(page.locator("main")).to_have_count(1)
        stray = await page.evaluate(
            """() => [...document.body.children]
                .filter((el) => !["HEADER", "MAIN", "SCRIPT", "NOSCRIPT"].includes(el.tagName))
                .filter((el) => el.getClientRects().length > 0)
                .map((el) => el.outerHTML.slice(0, 80))"""
        )
        assert stray == []
        await shoot(page, f"checked-in-twice-{lang}")
        await page.context.close()
