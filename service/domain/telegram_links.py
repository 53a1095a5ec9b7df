"""One-time deep links that tie a resident's Telegram chat to them: the RSVP page shows
https://t.me/<bot>?start=<token>, and the bot's /start <token> links the chat.

A token is derived, not stored: the resident id and the day it was made, with a MAC under
the server secret. So showing the link (a GET) writes nothing; only spending it does, and
a spent token's hash is kept so it works once.

Nothing here is sealed at rest (see secretbox.py): a token is only ever compared, so the
database keeps its SHA-256, from which neither the token nor the server secret follows."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Final

from ..core.clock import to_db
from ..core.secret import base36, mac, read_id
from ..store import Db, Tx

_PURPOSE: Final = "tg-link"
LIFETIME_DAYS: Final = 7


def _day(now: datetime) -> int:
    return int(now.timestamp()) // 86_400


def link_token(key: bytes, resident_id: int, now: datetime, spent: int) -> str:
    """The deep-link payload for `resident_id` today, after `spent` links were used (so a
    new one appears once one is spent): A-Za-z0-9_- only, under 64 characters."""
    head = f"{base36(resident_id)}_{base36(_day(now))}_{base36(spent)}"
    return f"{head}_{mac(key, _PURPOSE, head)}"


async def deep_link(key: bytes, db: Db, bot_username: str, resident_id: int, now: datetime) -> str:
    """https://t.me/<bot>?start=<token> for `resident_id` (reads, never writes)."""
    row = await db.fetchone(
        "SELECT COUNT(*) FROM telegram_link_tokens WHERE resident_id = ?", (resident_id,)
    )
    spent = int(row[0]) if row else 0
    return f"https://t.me/{bot_username}?start={link_token(key, resident_id, now, spent)}"


def read_link_token(key: bytes, token: str, now: datetime) -> int | None:
    """The resident a token names, if its MAC holds and it is under LIFETIME_DAYS old."""
    # The text after /start is whatever the sender typed: odd text must not reach mac().
    parts = token.split("_", 3)
    if len(parts) != 4 or not token.isascii():
        return None
    resident_id, day = read_id(parts[0]), read_id(parts[1])
    if resident_id is None or day is None:
        return None
    head = "_".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), mac(key, _PURPOSE, head).encode()):
        return None
    if not 0 <= _day(now) - day < LIFETIME_DAYS:
        return None
    return resident_id


async def spend_link_token(key: bytes, tx: Tx, token: str, now: datetime) -> int | None:
    """The resident a token names, marking it used; None when forged, old or used."""
    resident_id = read_link_token(key, token, now)
    if resident_id is None:
        return None
    await tx.execute(
        "INSERT OR IGNORE INTO telegram_link_tokens"
        " (token_hash, resident_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)",
        (
            hashlib.sha256(token.encode()).hexdigest(),
            resident_id,
            to_db(now),
            to_db(now + timedelta(days=LIFETIME_DAYS)),
            to_db(now),
        ),
    )
    return resident_id if await tx.changes() == 1 else None
