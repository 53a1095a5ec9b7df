"""The file channel: each message becomes a readable file under <path>/<channel>/, so a
demo (or a community trying Linli out) needs no outside service."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.core.config import at_least, between, not_empty, setting

from .base import Channel, Context, OutboundMessage, Outcome, Receipt, register

log = logging.getLogger("linli.channels.file")


@dataclass(frozen=True)
class FileChannelSettings:
    """[channels.file]: messages written as files, for demos and tests."""

    enabled: bool = setting(True)
    path: str = setting("var/outbox", not_empty)
    concurrency: int = setting(8, between(1, 1000))
    rate_per_s: float = setting(0.0, at_least(0))


@register
class FileChannel(Channel):
    """Writes `<path>/<channel>/<message id>.txt` (and `.ics`, an email's calendar part);
    a retry rewrites the same file. It
    stands in for every channel not enabled, so the demo needs no outside service."""

    name = "file"
    settings_class = FileChannelSettings
    stands_in = True

    @classmethod
    def from_settings(cls, settings: Any, context: Context) -> FileChannel:
        """Files under the table's `path`."""
        return cls(settings.path)

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path)

    async def send(self, message: OutboundMessage) -> Receipt:
        """Write the message; the file name is the message id, so duplicates overwrite.
        An email's calendar part goes beside it as `<message id>.ics`, so a demo can open
        the invitation in a calendar client (and answer it: see README, calendar replies)."""
        target = self.root / message.channel / f"{message.id}.txt"
        await asyncio.to_thread(_write, target, render_file(message))
        if message.extra.ics is not None:
            await asyncio.to_thread(_write, target.with_suffix(".ics"), message.extra.ics)
        log.info("file channel: %s %s -> %s", message.kind, message.channel, target)
        return Receipt(outcome=Outcome.DELIVERED, provider_id=message.id, detail=str(target))


def render_file(message: OutboundMessage) -> str:
    """The file's text: a few headers, then what the resident would see."""
    lines = [
        f"Id: {message.id}",
        f"Channel: {message.channel}",
        f"To: {message.address}",
        f"Kind: {message.kind}",
        f"Language: {message.language}",
    ]
    if message.subject:
        lines.append(f"Subject: {message.subject}")
    lines += ["", _readable(message)]
    for button_row in message.extra.buttons:
        lines.append("  ".join(f"[{button.text}]" for button in button_row))
    return "\n".join(lines) + "\n"


def _readable(message: OutboundMessage) -> str:
    """The text, a webhook's JSON body indented for people."""
    if message.channel != "webhook":
        return message.text
    try:
        return json.dumps(json.loads(message.text), ensure_ascii=False, indent=2)
    except ValueError:
        return message.text


def _write(target: Path, text: str) -> None:
    # Write then rename, so a reader never sees half a message.
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
