"""The newcomer's path, as `make run` sets it up: the real `linli demo` and `linli serve`
processes, the printed console address and sign-in, and the demo flea-market invitation
sent from its event page in Chromium."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser.conftest import PHONE
from tests.processes import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
LINLI = str(Path(sys.executable).parent / "linli")


def _setup(tmp: Path, port: int) -> tuple[list[str], str]:
    """`linli demo` as `make run` runs it: the settings' arguments and what it printed."""
    config = tmp / "linli.toml"
    config.write_text(
        f'[server]\nsecret_file = "{tmp / "secret"}"\naccess_log = false\n'
        f'[channels.file]\npath = "{tmp / "outbox"}"\n',
        encoding="utf-8",
    )
    common = ["--config", str(config), "--db", str(tmp / "var" / "linli.db")]
    demo = subprocess.run(
        [LINLI, "demo", *common, "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return common, demo.stdout


def _serve(common: list[str], port: int, tmp: Path) -> subprocess.Popen[bytes]:
    argv = [LINLI, "serve", *common, "--port", str(port)]
    return subprocess.Popen(argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def test_console_newcomer_signs_in_with_the_printed_credentials_and_sends_the_demo(
    browser: Browser, tmp_path: Path
) -> None:
    port = free_port()
    common, printed = await asyncio.to_thread(_setup, tmp_path, port)
    url = re.search(r"Organiser's console: (\S+)", printed)
    creds = re.search(r"sign in as: (\S+)\s+password: (\S+)", printed)
    assert url and creds, printed
    server = await asyncio.to_thread(_serve, common, port, tmp_path)
    try:
        await wait_healthy(f"http://127.0.0.1:{port}")
        context = await browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
        page = await context.new_page()
        await page.goto(url.group(1))
        await page.fill("#f-login", creds.group(1))
        await page.fill("#f-password", creds.group(2))
        await page.click("#sign-in")
        await page.wait_for_url(url.group(1))
        await page.click("text=跳蚤市场：旧物换新家")
        await page.click("#send-button")
        # The console's policy forbids eval, so wait through a locator, not a JS string.
        await expect(page.locator("#send-percent")).to_have_text("100%", timeout=30_000)
        sent = int((await page.text_content("#send-sent") or "0").strip())
        files = list((tmp_path / "outbox").rglob("*.*"))
        assert sent > 50 and len(files) >= sent  # the demo's ~100 residents, one file each
        await context.close()
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 30)
