"""SQL for the console: staff sign-in names and password hashes, and browser sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import Role
from .core import Db, Tx


@dataclass(frozen=True)
class StaffLogin:
    """A staff member as the sign-in form sees them."""

    staff_id: int
    name: str
    role: Role
    login: str
    password_hash: str


@dataclass(frozen=True)
class SessionRow:
    """A console session and the staff member (and token, if any) behind it."""

    id: int
    staff_id: int
    name: str
    role: Role
    csrf: str
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    token_revoked_at: datetime | None
    token_expires_at: datetime | None


async def find_login(db: Db, login: str) -> StaffLogin | None:
    """The staff member who signs in as `login` with a password (not a disabled one)."""
    row = await db.fetchone(
        "SELECT id, name, role, login, password_hash FROM staff"
        " WHERE login = ? AND password_hash IS NOT NULL AND disabled_at IS NULL",
        (login,),
    )
    if row is None:
        return None
    return StaffLogin(row["id"], row["name"], Role(row["role"]), row["login"], row["password_hash"])


async def login_owner(db: Db, login: str) -> int | None:
    """The id of the staff member holding `login`, password or not."""
    row = await db.fetchone("SELECT id FROM staff WHERE login = ?", (login,))
    return None if row is None else int(row["id"])


async def set_login(tx: Tx, staff_id: int, login: str, password_hash: str) -> None:
    """Give a staff member a sign-in name and password (enabling a disabled one again)."""
    await tx.execute(
        "UPDATE staff SET login = ?, password_hash = ?, disabled_at = NULL WHERE id = ?",
        (login, password_hash, staff_id),
    )


async def insert_session(
    tx: Tx, *, session_hash: str, staff_id: int, token_id: int | None, csrf: str,
    now: datetime, expires_at: datetime,
) -> None:  # fmt: skip
    """A new session."""
    await tx.execute(
        "INSERT INTO console_sessions (session_hash, staff_id, token_id, csrf, created_at,"
        " last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_hash, staff_id, token_id, csrf, to_db(now), to_db(now), to_db(expires_at)),
    )


async def find_session(db: Db, session_hash: str) -> SessionRow | None:
    """The session whose cookie hashes to `session_hash`, with its staff member."""
    row = await db.fetchone(
        "SELECT s.id, s.staff_id, st.name, st.role, s.csrf, s.last_seen_at, s.expires_at,"
        " s.ended_at, t.revoked_at AS token_revoked_at, t.expires_at AS token_expires_at"
        " FROM console_sessions s JOIN staff st ON st.id = s.staff_id"
        " LEFT JOIN api_tokens t ON t.id = s.token_id"
        " WHERE s.session_hash = ?",
        (session_hash,),
    )
    if row is None:
        return None
    return SessionRow(
        id=row["id"],
        staff_id=row["staff_id"],
        name=row["name"],
        role=Role(row["role"]),
        csrf=row["csrf"],
        last_seen_at=from_db(row["last_seen_at"]),
        expires_at=from_db(row["expires_at"]),
        ended_at=opt_from_db(row["ended_at"]),
        token_revoked_at=opt_from_db(row["token_revoked_at"]),
        token_expires_at=opt_from_db(row["token_expires_at"]),
    )


async def touch_session(tx: Tx, session_id: int, now: datetime, expires_at: datetime) -> None:
    """Note the session was used, and push its expiry (sessions slide while in use)."""
    await tx.execute(
        "UPDATE console_sessions SET last_seen_at = ?, expires_at = ? WHERE id = ?",
        (to_db(now), to_db(expires_at), session_id),
    )


async def end_session(tx: Tx, session_hash: str, now: datetime) -> None:
    """Sign a session out (idempotent)."""
    await tx.execute(
        "UPDATE console_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
        (to_db(now), session_hash),
    )


async def end_sessions_of(tx: Tx, staff_id: int, now: datetime) -> None:
    """End every session of a staff member (their password changed)."""
    await tx.execute(
        "UPDATE console_sessions SET ended_at = ? WHERE staff_id = ? AND ended_at IS NULL",
        (to_db(now), staff_id),
    )


async def purge_sessions(tx: Tx, before: datetime) -> None:
    """Forget sessions that expired or ended before `before`."""
    await tx.execute(
        "DELETE FROM console_sessions WHERE expires_at < ? OR ended_at < ?",
        (to_db(before), to_db(before)),
    )
