"""SQL for staff and API tokens."""

from __future__ import annotations

from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import ApiToken, Role, Staff
from .core import Db, Row, Tx

_TOKEN_COLUMNS = (
    "id, name, role, staff_id, room_id, hint, created_at, expires_at, last_used_at, revoked_at"
)


def _token(row: Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        staff_id=row["staff_id"],
        room_id=row["room_id"],
        hint=row["hint"],
        created_at=from_db(row["created_at"]),
        expires_at=opt_from_db(row["expires_at"]),
        last_used_at=opt_from_db(row["last_used_at"]),
        revoked_at=opt_from_db(row["revoked_at"]),
    )


def _staff(row: Row) -> Staff:
    return Staff(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=from_db(row["created_at"]),
    )


async def find_staff(db: Db, name: str) -> Staff | None:
    """The staff member with this name."""
    row = await db.fetchone("SELECT * FROM staff WHERE name = ?", (name,))
    return _staff(row) if row else None


async def insert_staff(tx: Tx, name: str, role: Role, now: datetime) -> Staff:
    """A new staff member."""
    staff_id = await tx.execute(
        "INSERT INTO staff (name, role, created_at) VALUES (?, ?, ?)", (name, role, to_db(now))
    )
    return Staff(id=staff_id, name=name, role=role, created_at=now)


async def insert_token(
    tx: Tx,
    *,
    name: str,
    role: Role,
    staff_id: int | None,
    room_id: int | None,
    token_hash: str,
    hint: str,
    now: datetime,
    expires_at: datetime | None,
) -> ApiToken:
    """Record a new token by its hash."""
    token_id = await tx.execute(
        "INSERT INTO api_tokens (name, role, staff_id, room_id, token_hash, hint, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            role,
            staff_id,
            room_id,
            token_hash,
            hint,
            to_db(now),
            to_db(expires_at) if expires_at else None,
        ),
    )
    token = await get_token(tx, token_id)
    assert token is not None
    return token


async def get_token(db: Db, token_id: int) -> ApiToken | None:
    """One token's record."""
    row = await db.fetchone(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,))
    return _token(row) if row else None


async def find_token_by_hash(db: Db, token_hash: str) -> ApiToken | None:
    """The token whose hash this is."""
    row = await db.fetchone(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?", (token_hash,)
    )
    return _token(row) if row else None


async def list_tokens(db: Db) -> list[ApiToken]:
    """Every token, newest first."""
    rows = await db.fetchall(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY id DESC")
    return [_token(r) for r in rows]


async def touch_token(tx: Tx, token_id: int, now: datetime) -> None:
    """Note when a token was last used."""
    await tx.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (to_db(now), token_id))


async def revoke_token(tx: Tx, token_id: int, now: datetime) -> None:
    """Stop a token from working (kept for the record)."""
    await tx.execute(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        (to_db(now), token_id),
    )
