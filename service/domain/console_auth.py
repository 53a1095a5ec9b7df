"""Signing in to the organiser's console: staff passwords (argon2id), API-token sign-in,
browser sessions with their CSRF token, and the throttle on failed sign-ins."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Final

import argon2

from ..core.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    TooManyRequestsError,
    ValidationError,
)
from ..core.models import Role, Staff
from ..delivery.ratelimit import FailureLimit, address_key
from ..store import Store, Tx
from ..store import console as sql
from ..store import tokens as token_sql
from . import auth

# A working day and then some; each use pushes it on (see SESSION_TOUCH).
SESSION_TTL: Final = timedelta(hours=12)
# Writing last_seen_at on every page view would make every read a write.
SESSION_TOUCH: Final = timedelta(minutes=1)
# Five wrong tries per name in 15 minutes, then wait: enough for typos, far too few to
# guess a password. Two are free; then 30 s, then 60 s before the next (see SignInThrottle).
MAX_FAILURES: Final = 5
FAILURE_WINDOW: Final = timedelta(minutes=15)
FREE_FAILURES: Final = 2
FAILURE_DELAY: Final = timedelta(seconds=30)
# An address may be many people behind one proxy: a higher limit, and it never blocks the
# right password of a real account (see SignInThrottle).
ADDRESS_MAX_FAILURES: Final = 20
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
    """Failed sign-ins, counted per name and per client address (an IPv6 one by its /64).

    - A name gets MAX_FAILURES wrong tries in FAILURE_WINDOW, from anywhere; after the
      first FREE_FAILURES each one makes it wait FAILURE_DELAY, doubled per failure. Only
      that name is locked. Unknown names are counted too, so that the answers do not tell
      which names exist.
    - An address gets ADDRESS_MAX_FAILURES (more, as many people may share one proxy or
      NAT). Past it the address is answered 429 for everything but the right password of
      a real account (or a valid token), so a stranger's failures on made-up names do not
      lock out the real user behind the same address; that account's own limit still
      bounds guesses on it.
    - Attempts are reserved before the password is checked, on the event loop with no
      await between look and count, so a burst of N checks at most the limit.

    Kept in memory, bounded (see FailureLimit): a restart forgets it."""

    def __init__(self, *, size: int = 10_000) -> None:
        self.names = FailureLimit(
            MAX_FAILURES, FAILURE_WINDOW, free=FREE_FAILURES, delay=FAILURE_DELAY, size=size
        )
        self.addresses = FailureLimit(
            ADDRESS_MAX_FAILURES,
            FAILURE_WINDOW,
            free=ADDRESS_MAX_FAILURES,  # no delay: it would hold up everyone behind it
            delay=FAILURE_DELAY,
            size=size,
        )
        # How long a password check takes, so that a refusal without one takes as long.
        self.check_s = 0.05

    def begin(self, name: str | None, client: str, now: datetime) -> SignInAttempt:
        """Reserve an attempt (TooManyRequestsError when the name must wait); the caller
        must settle it with `async with`, and must not await before this."""
        name_key = f"name:{name[:64]}" if name is not None else None
        address = f"client:{address_key(client)}"
        if name_key is not None:
            wait = self.names.wait(name_key, now)
            if wait is not None:
                raise _throttled(wait)
            self.names.reserve(name_key, now)
        address_wait = self.addresses.wait(address, now)
        if address_wait is None:
            self.addresses.reserve(address, now)
        return SignInAttempt(self, name_key, address, address_wait, now)

    async def pause(self) -> None:
        """Wait about as long as a password check takes."""
        await asyncio.sleep(self.check_s)


class SignInAttempt:
    """One reserved sign-in attempt; leaving its `async with` without `succeeded()`
    counts a failure (an error or a cancelled request counts too)."""

    def __init__(
        self,
        throttle: SignInThrottle,
        name_key: str | None,
        address: str,
        address_wait: timedelta | None,
        now: datetime,
    ) -> None:
        self._throttle = throttle
        self._name_key = name_key
        self._address = address
        self._address_wait = address_wait
        self._now = now
        self._ok = False
        self.known = False  # set once the name is found to be a real account

    @property
    def address_refused(self) -> TooManyRequestsError | None:
        """The 429 for an address past its limit (only right credentials pass it)."""
        return _throttled(self._address_wait) if self._address_wait is not None else None

    def succeeded(self) -> None:
        """The right credentials: the name's failures are forgiven."""
        self._ok = True

    async def __aenter__(self) -> SignInAttempt:
        return self

    async def __aexit__(self, *exc: object) -> None:
        failed, now, throttle = not self._ok, self._now, self._throttle
        if self._name_key is not None:
            throttle.names.settle(self._name_key, now, failed=failed, keep=self.known)
            if not failed:
                throttle.names.clear(self._name_key)
        if self._address_wait is None:
            throttle.addresses.settle(self._address, now, failed=failed)


def _throttled(wait: timedelta) -> TooManyRequestsError:
    seconds = max(1, math.ceil(wait.total_seconds()))
    minutes = max(1, (seconds + 59) // 60)
    return TooManyRequestsError(
        f"too many failed sign-ins; try again in {minutes} min",
        retry_after_s=seconds,
        code="sign_in_throttled",
    )


def normalise_login(login: str) -> str:
    """Sign-in names are compared lowercased and trimmed."""
    return login.strip().lower()


async def set_password(
    store: Store, *, login: str, password: str, name: str, role: Role, now: datetime
) -> int:
    """Create or update the staff member `name` (empty: the one holding `login`) with this
    sign-in name and password; their other sessions end, and a disabled one is enabled
    again. Returns the staff id."""
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
    name = name.strip()
    hashed = await asyncio.to_thread(_hasher().hash, password)

    async def txn(tx: Tx) -> int:
        # No name given: whoever holds the login already (a new password for them, which
        # enables them again if disabled), else a new member named after the login.
        staff = (
            await token_sql.find_staff(tx, name)
            if name
            else await token_sql.find_staff_by_login(tx, login)
        ) or await token_sql.insert_staff(tx, name or login, role, now)
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
    attempt = throttle.begin(login, client, now)  # before any await: see SignInThrottle
    async with attempt:
        staff = await sql.find_login(store.reader, login)
        attempt.known = staff is not None
        refused = attempt.address_refused
        if staff is None and refused is not None:
            await throttle.pause()  # as long as a check, so the time tells no names apart
            raise refused
        encoded = staff.password_hash if staff is not None else _decoy_hash()
        started = time.perf_counter()
        try:
            await asyncio.to_thread(_hasher().verify, encoded, password)
            valid = staff is not None
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            valid = False
        throttle.check_s = 0.8 * throttle.check_s + 0.2 * (time.perf_counter() - started)
        if not valid or staff is None:
            raise refused or AuthenticationError(
                "wrong sign-in name or password", code="sign_in_failed"
            )
        attempt.succeeded()
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
    attempt = throttle.begin(None, client, now)  # the address only: tokens are not guessable
    async with attempt:
        try:
            who = await auth.authenticate(store, token.strip(), now)
        except AuthenticationError:
            raise attempt.address_refused or AuthenticationError(
                "that API token is not valid", code="sign_in_failed"
            ) from None
        attempt.succeeded()
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


async def list_staff(store: Store) -> list[Staff]:
    """Every staff member, oldest first (no password hashes)."""
    return await token_sql.list_staff(store.reader)


async def disable_staff(store: Store, login: str, now: datetime) -> tuple[Staff, bool, int]:
    """Disable the staff member who signs in as `login`: their sessions end, their API
    tokens are revoked, and their password no longer signs in (`set_password` enables them
    again). Returns them, whether they were disabled already, and how many tokens stopped.
    Disabling twice is harmless."""
    login = normalise_login(login)

    async def txn(tx: Tx) -> tuple[Staff, bool, int]:
        staff = await token_sql.find_staff_by_login(tx, login)
        if staff is None:
            raise NotFoundError(f"no staff member signs in as {login!r}", code="staff_not_found")
        await token_sql.disable_staff(tx, staff.id, now)
        await sql.end_sessions_of(tx, staff.id, now)
        revoked = await token_sql.revoke_tokens_of(tx, staff.id, now)
        already = staff.disabled_at is not None
        return replace(staff, disabled_at=staff.disabled_at or now), already, revoked

    return await store.write(txn)
