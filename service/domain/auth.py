"""API tokens: issued at random, stored as hashes, checked on every API request."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from ..core.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from ..core.models import ApiToken, Principal, Role
from ..store import Store, Tx
from ..store import rooms as room_sql
from ..store import tokens as sql

TOKEN_PREFIX: Final = "lin_"
# 32 random bytes: 256 bits, well past the 128 the design asks for.
TOKEN_BYTES: Final = 32
# Writing last_used_at on every request would make every read a write; once a minute is plenty.
TOUCH_INTERVAL: Final = timedelta(minutes=1)
# How long a checked token's record is reused from memory. Door tablets and gate scanners
# call many times a second; revoking through the API forgets the token at once, and a
# revocation by another process (`linli token revoke`) counts within this time.
TOKEN_CACHE_S: Final = 1.0


class TokenCache:
    """Token records by hash, each kept TOKEN_CACHE_S (monotonic time, not the app's
    clock: this is about the store's freshness, not about business time)."""

    def __init__(self, ttl_s: float = TOKEN_CACHE_S) -> None:
        self.ttl_s = ttl_s
        self._records: dict[str, tuple[float, ApiToken]] = {}

    def get(self, token_hash: str) -> ApiToken | None:
        """A fresh record for this hash, or None."""
        found = self._records.get(token_hash)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, token_hash: str, record: ApiToken) -> None:
        """Keep `record` for TOKEN_CACHE_S."""
        if len(self._records) > 10_000:  # tokens are few; this only bounds junk
            self._records.clear()
        self._records[token_hash] = (time.monotonic() + self.ttl_s, record)

    def forget(self, token_id: int) -> None:
        """Drop a token (it was revoked)."""
        for key, (_, record) in list(self._records.items()):
            if record.id == token_id:
                del self._records[key]


def new_token() -> str:
    """A fresh random token, as shown (once) to its holder."""
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The stored form of a token. Tokens are 256 random bits, so a plain SHA-256 suffices:
    there is no dictionary to try, unlike passwords."""
    # surrogatepass: header bytes that are not UTF-8 arrive as surrogates; such a token
    # hashes to nothing stored (401) rather than failing to encode.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_token(
    store: Store,
    *,
    role: Role,
    name: str,
    now: datetime,
    room: str | int | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a staff member (admin, organiser) or a room's door tablet.

    Returns the record and the token itself, which exists nowhere else afterwards."""
    name = name.strip()
    if not name:
        raise ValidationError.field("name", "must not be empty")
    if role is Role.DOOR and room is None:
        raise ValidationError.field("room", "a door token must name its room", code="room_required")
    if role is not Role.DOOR and room is not None:
        raise ValidationError.field("room", "only door tokens are bound to a room")
    if expires_at is not None and expires_at <= now:
        raise ValidationError.field("expires_at", "must be in the future")
    token = new_token()

    async def txn(tx: Tx) -> ApiToken:
        staff_id = room_id = None
        if role is Role.DOOR:
            found = await (
                room_sql.get_room(tx, room)
                if isinstance(room, int)
                else room_sql.find_room(tx, str(room))
            )
            if found is None:
                raise NotFoundError(f"room: no room {room!r}", code="room_not_found")
            room_id = found.id
        else:
            staff = await sql.find_staff(tx, name) or await sql.insert_staff(tx, name, role, now)
            if staff.disabled_at is not None:
                raise ConflictError(
                    f"{name!r} is disabled; `linli staff password` enables them again",
                    code="staff_disabled",
                )
            if staff.role is not role:
                raise ConflictError(
                    f"{name!r} is already staff with role {staff.role}", code="staff_role_mismatch"
                )
            staff_id = staff.id
        return await sql.insert_token(
            tx,
            name=name,
            role=role,
            staff_id=staff_id,
            room_id=room_id,
            token_hash=hash_token(token),
            hint=token[: len(TOKEN_PREFIX) + 4],
            now=now,
            expires_at=expires_at,
        )

    record = await store.write(txn)
    return record, token


async def authenticate(
    store: Store, token: str, now: datetime, cache: TokenCache | None = None
) -> Principal:
    """The principal a bearer token stands for, or AuthenticationError."""
    token_hash = hash_token(token)
    record = None if cache is None else cache.get(token_hash)
    if record is None:
        record = await sql.find_token_by_hash(store.lookups, token_hash)
        if record is not None and cache is not None:
            cache.put(token_hash, record)
    if record is None:
        raise AuthenticationError("unknown API token", code="invalid_token")
    if record.revoked_at is not None:
        raise AuthenticationError("this API token has been revoked", code="token_revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError("this API token has expired", code="token_expired")
    if record.last_used_at is None or now - record.last_used_at >= TOUCH_INTERVAL:
        token_id = record.id
        await store.write(lambda tx: sql.touch_token(tx, token_id, now))
        if cache is not None:
            cache.put(token_hash, replace(record, last_used_at=now))
    return Principal(
        token_id=record.id,
        name=record.name,
        role=record.role,
        staff_id=record.staff_id,
        room_id=record.room_id,
    )


async def list_tokens(store: Store) -> list[ApiToken]:
    """Every token's record (never the tokens themselves)."""
    return await sql.list_tokens(store.reader)


async def revoke_token(store: Store, token_id: int, now: datetime) -> ApiToken:
    """Revoke a token; revoking twice is harmless."""

    async def txn(tx: Tx) -> ApiToken:
        if await sql.get_token(tx, token_id) is None:
            raise NotFoundError(f"no API token {token_id}", code="token_not_found")
        await sql.revoke_token(tx, token_id, now)
        record = await sql.get_token(tx, token_id)
        assert record is not None
        return record

    return await store.write(txn)


async def token_entries(store: Store) -> list[sql.TokenEntry]:
    """Every token's record with its room's name, oldest first (never the tokens)."""
    return await sql.list_token_entries(store.reader)


@dataclass(frozen=True)
class Revoked:
    """A token `revoke_tokens` matched, and whether it had been revoked before."""

    token: ApiToken
    already: bool


async def revoke_tokens(store: Store, which: str, now: datetime) -> list[Revoked]:
    """Revoke the token with id `which` (all digits), else every token named `which`;
    revoking twice is harmless and says so. NotFoundError when none matches."""
    which = which.strip()

    async def txn(tx: Tx) -> list[Revoked]:
        if which.isdigit():
            found = await sql.get_token(tx, int(which))
            matched = [found] if found is not None else []
        else:
            matched = await sql.find_tokens_by_name(tx, which)
        if not matched:
            raise NotFoundError(f"no API token with id or name {which!r}", code="token_not_found")
        for record in matched:
            await sql.revoke_token(tx, record.id, now)
        return [
            Revoked(replace(r, revoked_at=r.revoked_at or now), r.revoked_at is not None)
            for r in matched
        ]

    return await store.write(txn)
