"""SQL for the points store's counter tokens and what the counter sees of a household."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import opt_from_db, to_db
from .core import Db, Row, Tx


@dataclass(frozen=True)
class CounterToken:
    """A counter token's record (never the token itself)."""

    id: int
    name: str
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime | None = None


_TOKEN_COLUMNS = "id, name, created_by, expires_at, revoked_at, created_at"


def _token(row: Row) -> CounterToken:
    return CounterToken(
        row[0], row[1], row[2], opt_from_db(row[3]), opt_from_db(row[4]), opt_from_db(row[5])
    )


async def insert_counter_token(
    tx: Tx, name: str, token_hash: str, created_by: str, now: datetime, expires_at: datetime | None
) -> int:
    """A new counter token; its id."""
    return await tx.execute(
        "INSERT INTO counter_tokens (name, token_hash, created_by, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            name,
            token_hash,
            created_by,
            to_db(now),
            None if expires_at is None else to_db(expires_at),
        ),
    )


async def counter_token_by_hash(db: Db, token_hash: str) -> CounterToken | None:
    """The counter token with this hash."""
    row = await db.fetchone(
        f"SELECT {_TOKEN_COLUMNS} FROM counter_tokens WHERE token_hash = ?", (token_hash,)
    )
    return None if row is None else _token(row)


async def counter_token(db: Db, token_id: int) -> CounterToken | None:
    """One counter token's record."""
    row = await db.fetchone(
        f"SELECT {_TOKEN_COLUMNS} FROM counter_tokens WHERE id = ?", (token_id,)
    )
    return None if row is None else _token(row)


async def counter_tokens(db: Db) -> list[CounterToken]:
    """Every counter token ever issued, newest first (never the tokens themselves)."""
    rows = await db.fetchall(f"SELECT {_TOKEN_COLUMNS} FROM counter_tokens ORDER BY id DESC")
    return [_token(row) for row in rows]


async def revoke_counter_token(tx: Tx, token_id: int, now: datetime) -> int:
    """Revoke a counter token; 1 if it was live."""
    return await tx.execute_count(
        "UPDATE counter_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (to_db(now), token_id),
    )


async def resident_names(db: Db, household_id: int) -> list[str]:
    """The names of a household's residents (the caller masks them)."""
    rows = await db.fetchall(
        "SELECT name FROM residents WHERE household_id = ? ORDER BY id", (household_id,)
    )
    return [str(r[0]) for r in rows]
