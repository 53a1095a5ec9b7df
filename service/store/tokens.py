"""SQL for staff and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TokenEntry:
    """A token's record as `linli token list` shows it, with its room's name."""

    token: ApiToken
    room: str | None


def _staff(row: Row) -> Staff:
    return Staff(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=from_db(row["created_at"]),
        login=row["login"],
        disabled_at=opt_from_db(row["disabled_at"]),
    )


_STAFF_COLUMNS = "id, name, role, created_at, login, disabled_at"


async def find_staff(db: Db, name: str) -> Staff | None:
    """The staff member with this name."""
    row = await db.fetchone(f"SELECT {_STAFF_COLUMNS} FROM staff WHERE name = ?", (name,))
    return _staff(row) if row else None


async def find_staff_by_login(db: Db, login: str) -> Staff | None:
    """The staff member who signs in as `login` (disabled or not)."""
    row = await db.fetchone(f"SELECT {_STAFF_COLUMNS} FROM staff WHERE login = ?", (login,))
    return _staff(row) if row else None


async def list_staff(db: Db) -> list[Staff]:
    """Every staff member, oldest first."""
    rows = await db.fetchall(f"SELECT {_STAFF_COLUMNS} FROM staff ORDER BY id")
    return [_staff(r) for r in rows]


async def disable_staff(tx: Tx, staff_id: int, now: datetime) -> None:
    """Mark a staff member disabled (the first date stays)."""
    await tx.execute(
        "UPDATE staff SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?",
        (to_db(now), staff_id),
    )


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


async def list_token_entries(db: Db) -> list[TokenEntry]:
    """Every token with its room's name, oldest first."""
    columns = ", ".join(f"t.{c.strip()}" for c in _TOKEN_COLUMNS.split(","))
    rows = await db.fetchall(
        f"SELECT {columns}, r.name AS room_name FROM api_tokens t"
        " LEFT JOIN rooms r ON r.id = t.room_id ORDER BY t.id"
    )
    return [TokenEntry(_token(r), r["room_name"]) for r in rows]


async def find_tokens_by_name(db: Db, name: str) -> list[ApiToken]:
    """Every token issued under this name, oldest first."""
    rows = await db.fetchall(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE name = ? ORDER BY id", (name,)
    )
    return [_token(r) for r in rows]


async def revoke_tokens_of(tx: Tx, staff_id: int, now: datetime) -> int:
    """Revoke every working token of a staff member; how many were working."""
    return await tx.execute_count(
        "UPDATE api_tokens SET revoked_at = ? WHERE staff_id = ? AND revoked_at IS NULL",
        (to_db(now), staff_id),
    )


async def touch_token(tx: Tx, token_id: int, now: datetime) -> None:
    """Note when a token was last used."""
    await tx.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (to_db(now), token_id))


async def revoke_token(tx: Tx, token_id: int, now: datetime) -> None:
    """Stop a token from working (kept for the record)."""
    await tx.execute(
        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
        (to_db(now), token_id),
    )
