"""Every main console page at desktop and phone widths, in Chromium: it opens, nothing
sticks out sideways on a 375 px phone, every field has a label, and a screenshot of each
is saved under tests/artifacts/console/ (git-ignored; CI keeps it as an artefact)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from tests.browser.conftest import DESKTOP, PHONE, Live, sign_in
from tests.community import console_community, console_pages

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"

# Controls a reader cannot name: no <label for>, no wrapping label, no aria-label.
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.name || e.id || e.outerHTML.slice(0, 60))"""


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
    ids, _ = await console_community(live.api)
    problems: list[str] = []
    for viewport in (DESKTOP, PHONE):
        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        page = await context.new_page()
        problems += await _check(page, f"{live.url}/console/sign-in", "sign-in", viewport["width"])
        await sign_in(page, live)
        for name, path in console_pages(ids).items():
            problems += await _check(page, live.url + path, name, viewport["width"])
        await context.close()
    assert problems == [], "\n".join(problems)
    assert len(list(ARTIFACTS.glob("*.png"))) >= 2 * (len(console_pages(ids)) + 1)
