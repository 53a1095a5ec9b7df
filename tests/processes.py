"""Helpers for tests that run `linli` as a real process."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(base: str, within_s: float = 15.0) -> None:
    """Return once GET {base}/healthz answers 200; fail after `within_s`."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(within_s / 0.05)):
            try:
                async with http.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"{base} never became healthy")


def linli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`linli ARGS` (as `python -m service`) run to its end in `cwd`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        input=stdin,
    )
