"""Signing in to the organiser's console: staff passwords (argon2id), API-token sign-in,
browser sessions with their CSRF token, and the throttle on failed sign-ins."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Final

import argon2

from . import auth
from .errors import (
    AuthenticationError,
    PermissionDeniedError,
    TooManyRequestsError,
    ValidationError,
)
from .models import Role
from .store import Store, Tx
from .store import console as sql
from .store import tokens as token_sql

# A working day and then some; each use pushes it on (see SESSION_TOUCH).
SESSION_TTL: Final = timedelta(hours=12)
# Writing last_seen_at on every page view would make every read a write.
SESSION_TOUCH: Final = timedelta(minutes=1)
# Five wrong tries per name or per address in 15 minutes, then wait: enough for typos,
# far too few to guess a password.
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=15)
MIN_PASSWORD: Final = 10
LOGIN_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")


@dataclass(frozen=True)
class ConsoleUser:
    """Who is signed in to the console, and the session's CSRF token."""

    session_id: int
    staff_id: int
    name: str
    role: Role
    csrf: str


@cache
def _hasher() -> argon2.PasswordHasher:
    # argon2-cffi's defaults are RFC 9106's second recommendation (argon2id, 64 MiB, t=3).
    return argon2.PasswordHasher()


@cache
def _decoy_hash() -> str:
    """A hash to verify against when the name is unknown, so both take as long."""
    return _hasher().hash(secrets.token_hex(16))


def _session_hash(cookie: str) -> str:
    # Session cookies are 256 random bits: a plain SHA-256 is enough (nothing to guess).
    # surrogatepass: a cookie's bytes that are not UTF-8 arrive as surrogates (see auth).
    return hashlib.sha256(cookie.encode("utf-8", "surrogatepass")).hexdigest()


class SignInThrottle:
    """Failed sign-ins per key (a login name, a client address) in the last FAILURE_WINDOW.

    Kept in memory: a restart forgets it, which costs an attacker a restart per 5 tries."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[datetime]] = {}

    def check(self, keys: tuple[str, ...], now: datetime) -> None:
        """TooManyRequestsError while any key has MAX_FAILURES recent failures."""
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= MAX_FAILURES:
                wait = recent[0] + FAILURE_WINDOW - now
                minutes = max(1, int(wait.total_seconds() + 59) // 60)
                raise TooManyRequestsError(
                    f"too many failed sign-ins; try again in {minutes} min",
                    retry_after_s=max(1, int(wait.total_seconds())),
                    code="sign_in_throttled",
                )

    def failed(self, keys: tuple[str, ...], now: datetime) -> None:
        """Count one failure against every key."""
        if len(self._failures) > 10_000:  # bound memory against a spray of names
            self._failures.clear()
        for key in keys:
            self._recent(key, now).append(now)

    def succeeded(self, keys: tuple[str, ...]) -> None:
        """A right password clears the name's count."""
        for key in keys:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] <= now - FAILURE_WINDOW:
            recent.popleft()
        return recent


def normalise_login(login: str) -> str:
    """Sign-in names are compared lowercased and trimmed."""
    return login.strip().lower()


async def set_password(
    store: Store, *, login: str, password: str, name: str, role: Role, now: datetime
) -> int:
    """Create or update the staff member `name` with this sign-in name and password; their
    other sessions end. Returns the staff id."""
    login = normalise_login(login)
    if not LOGIN_PATTERN.fullmatch(login):
        raise ValidationError.field(
            "login", "2–40 characters: letters, digits, '.', '_' or '-'", code="invalid_login"
        )
    if len(password) < MIN_PASSWORD:
        raise ValidationError.field(
            "password", f"must be at least {MIN_PASSWORD} characters", code="password_too_short"
        )
    if role is Role.DOOR:
        raise ValidationError.field("role", "door tablets sign in with their door link")
    name = name.strip() or login
    hashed = await asyncio.to_thread(_hasher().hash, password)

    async def txn(tx: Tx) -> int:
        staff = await token_sql.find_staff(tx, name) or await token_sql.insert_staff(
            tx, name, role, now
        )
        holder = await sql.login_owner(tx, login)
        if holder is not None and holder != staff.id:
            raise ValidationError.field("login", "is taken by someone else", code="login_taken")
        await sql.set_login(tx, staff.id, login, hashed)
        await sql.end_sessions_of(tx, staff.id, now)
        return staff.id

    return await store.write(txn)


async def password_matches(store: Store, login: str, password: str) -> bool:
    """Whether `login` signs in with `password` (no throttle: for setup tools, not forms)."""
    staff = await sql.find_login(store.reader, normalise_login(login))
    if staff is None:
        return False
    try:
        return bool(await asyncio.to_thread(_hasher().verify, staff.password_hash, password))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


async def _open_session(store: Store, staff_id: int, token_id: int | None, now: datetime) -> str:
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)

    async def txn(tx: Tx) -> None:
        await sql.insert_session(
            tx,
            session_hash=_session_hash(cookie),
            staff_id=staff_id,
            token_id=token_id,
            csrf=csrf,
            now=now,
            expires_at=now + SESSION_TTL,
        )

    await store.write(txn)
    return cookie


async def sign_in_with_password(
    store: Store,
    login: str,
    password: str,
    *,
    now: datetime,
    throttle: SignInThrottle,
    client: str,
) -> str:
    """A new session's cookie value for the right name and password; AuthenticationError
    (the same words for an unknown name and a wrong password) or TooManyRequestsError."""
    login = normalise_login(login)
    keys = (f"login:{login}", f"client:{client}")
    throttle.check(keys, now)
    staff = await sql.find_login(store.reader, login)
    encoded = staff.password_hash if staff is not None else _decoy_hash()
    try:
        await asyncio.to_thread(_hasher().verify, encoded, password)
        valid = staff is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        valid = False
    if not valid or staff is None:
        throttle.failed(keys, now)
        raise AuthenticationError("wrong sign-in name or password", code="sign_in_failed")
    throttle.succeeded(keys[:1])
    if _hasher().check_needs_rehash(staff.password_hash):
        rehashed = await asyncio.to_thread(_hasher().hash, password)
        staff_id = staff.staff_id
        await store.write(lambda tx: sql.set_login(tx, staff_id, login, rehashed))
    return await _open_session(store, staff.staff_id, None, now)


async def sign_in_with_token(
    store: Store,
    token: str,
    *,
    now: datetime,
    throttle: SignInThrottle,
    client: str,
) -> str:
    """A new session's cookie value for a valid admin or organiser API token; the session
    ends when the token is revoked or expires."""
    keys = (f"client:{client}",)
    throttle.check(keys, now)
    try:
        who = await auth.authenticate(store, token.strip(), now)
    except AuthenticationError:
        throttle.failed(keys, now)
        raise AuthenticationError("that API token is not valid", code="sign_in_failed") from None
    if who.role is Role.DOOR or who.staff_id is None:
        raise PermissionDeniedError(
            "a door token opens the door tablet (/tablet), not the console", code="forbidden"
        )
    return await _open_session(store, who.staff_id, who.token_id, now)


async def session_user(store: Store, cookie: str, now: datetime) -> ConsoleUser | None:
    """The signed-in user behind a session cookie, or None (unknown, ended, expired, or its
    token revoked)."""
    if not cookie or len(cookie) > 100:
        return None
    found = await sql.find_session(store.lookups, _session_hash(cookie))
    if found is None or found.ended_at is not None or found.expires_at <= now:
        return None
    if found.token_revoked_at is not None:
        return None
    if found.token_expires_at is not None and found.token_expires_at <= now:
        return None
    if now - found.last_seen_at >= SESSION_TOUCH:
        session_id = found.id
        await store.write(lambda tx: sql.touch_session(tx, session_id, now, now + SESSION_TTL))
    return ConsoleUser(found.id, found.staff_id, found.name, found.role, found.csrf)


async def sign_out(store: Store, cookie: str, now: datetime) -> None:
    """End the session (nothing happens for an unknown cookie)."""
    session_hash = _session_hash(cookie)
    await store.write(lambda tx: sql.end_session(tx, session_hash, now))


async def purge_sessions(store: Store, *, now: datetime) -> None:
    """Forget sessions that ended or expired over a day ago (kept a day for the record)."""
    cutoff = now - timedelta(days=1)
    await store.write(lambda tx: sql.purge_sessions(tx, cutoff))
