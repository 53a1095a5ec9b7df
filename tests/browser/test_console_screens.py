"""Every main console page at desktop and phone widths, in Chromium: it opens, nothing
sticks out sideways on a 375 px phone, every field has a label, and a screenshot of each
is saved under tests/artifacts/console/ (git-ignored; CI keeps it as an artefact)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from tests.browser.conftest import DESKTOP, PHONE, Live, sign_in
from tests.community import book, published_event, resident, room, settled

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"

# Controls a reader cannot name: no <label for>, no wrapping label, no aria-label.
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id || e.outerHTML.slice(0, 60))"""


async def _community(live: Live) -> dict[str, int]:
    """A small community with something on every page: residents, a sent event with an
    answer, a room with a booking."""
    api = live.api
    people = [
        await resident(api, f"居民{n:02d}", f"{1 + n % 3}-1-{n:02d}01",
                       ("sms", f"+86138001{n:05d}"), tags=["building-1"] if n % 2 else [])
        for n in range(8)
    ]  # fmt: skip
    event_id = await published_event(api, title="跳蚤市场：旧物换新家", max_party_size=4)
    status, _ = await api.post(f"/api/v1/events/{event_id}/send")
    assert status in (200, 202)
    await settled(api, event_id, total=len(people))
    await api.post(
        f"/api/v1/events/{event_id}/answers",
        json={"resident_id": people[0], "answer": "yes", "party_size": 2},
    )
    room_id = await room(api)
    status, made = await book(
        api, room_id, "2026-12-01T14:00", "2026-12-01T16:00", title="合唱排练",
        resident_id=people[1], override_rules=True,
    )  # fmt: skip
    assert status == 201, made
    _, deliveries = await api.get(f"/api/v1/events/{event_id}/deliveries")
    message_id = int(deliveries["messages"]["items"][0]["id"])
    return {"event": event_id, "resident": people[0], "room": room_id, "message": message_id}


def _pages(ids: dict[str, int]) -> dict[str, str]:
    e, r, room_id = ids["event"], ids["resident"], ids["room"]
    return {
        "dashboard": "/console",
        "events": "/console/events",
        "event-new": "/console/events/new",
        "event": f"/console/events/{e}",
        "event-edit": f"/console/events/{e}/edit",
        "event-preview": f"/console/events/{e}/preview?resident={r}",
        "event-send": f"/console/events/{e}/send",
        "attendance": f"/console/events/{e}/attendance",
        "checkins": f"/console/events/{e}/checkins",
        "residents": "/console/residents",
        "resident": f"/console/residents/{r}",
        "resident-new": "/console/residents/new",
        "residents-import": "/console/residents/import",
        "rooms": "/console/rooms",
        "room": f"/console/rooms/{room_id}",
        "room-week": f"/console/rooms/{room_id}/week?start=2026-11-30",
        "bookings-pending": "/console/bookings/pending",
        "messages": "/console/messages",
        "message": f"/console/messages/{ids['message']}",
        "settings": "/console/settings",
        "groups": "/console/groups",
    }


async def _check(page: Page, url: str, name: str, width: int) -> list[str]:
    problems: list[str] = []
    response = await page.goto(url)
    if response is None or response.status != 200:
        return [f"{name}: status {response.status if response else 'none'}"]
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    if overflow > width:
        problems.append(f"{name}: {overflow} px wide on a {width} px screen")
    unlabelled = await page.evaluate(UNLABELLED)
    if unlabelled:
        problems.append(f"{name}: fields without a label: {unlabelled}")
    await page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    return problems


async def test_console_main_pages_at_desktop_and_phone_widths(browser: Browser, live: Live) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ids = await _community(live)
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        problems += await _check(page, f"{live.url}/console/sign-in", "sign-in", viewport["width"])
        await sign_in(page, live)
        for name, path in _pages(ids).items():
            problems += await _check(page, live.url + path, name, viewport["width"])
        await context.close()
    assert problems == [], "\n".join(problems)
    assert len(list(ARTIFACTS.glob("*.png"))) >= 2 * (len(_pages(ids)) + 1)
