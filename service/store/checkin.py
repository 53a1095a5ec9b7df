"""SQL for check-in codes and check-ins."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from ..checkin_codes import new_code
from ..clock import to_db
from .core import Tx

# Codes are drawn from about 244 million; a clash is rare, ten in a row is a broken RNG.
_ATTEMPTS = 10


async def ensure_code(
    tx: Tx, *, invitation_id: int | None = None, booking_id: int | None = None, now: datetime
) -> str:
    """The check-in code of a yes invitation or a booking, made the first time it is asked
    for; asking again returns the same code."""
    if (invitation_id is None) == (booking_id is None):
        raise ValueError("a code belongs to exactly one invitation or booking")
    column = "invitation_id" if invitation_id is not None else "booking_id"
    owner = invitation_id if invitation_id is not None else booking_id
    row = await tx.fetchone(f"SELECT code FROM checkin_codes WHERE {column} = ?", (owner,))
    if row is not None:
        return str(row["code"])
    for _ in range(_ATTEMPTS):
        code = new_code()
        try:
            await tx.execute(
                f"INSERT INTO checkin_codes (code, {column}, created_at) VALUES (?, ?, ?)",
                (code, owner, to_db(now)),
            )
        except sqlite3.IntegrityError:
            continue
        return code
    raise RuntimeError("no free check-in code after several attempts")
