"""The points store's counter mode: a scoped counter token for the tablet or phone at the
store desk, and what the counter sees of a household (its unit, its residents' names
masked as 张*, its balance; never a phone number or an email)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.checkin_codes import normalise
from ..core.errors import AuthenticationError, NotFoundError, ValidationError
from ..core.privacy import mask_name
from ..core.text import check_name
from ..store import Db, Store, Tx, ledger
from ..store import counter as sql
from ..store import households as household_sql
from ..store.counter import CounterToken
from .auth import hash_token, new_token

NAME_MAX: Final = 60

__all__ = ["CounterToken"]


@dataclass(frozen=True)
class IssuedCounterToken:
    """A new counter token: shown once, with the link that signs the counter in."""

    id: int
    name: str
    token: str
    expires_at: datetime | None


async def issue_counter_token(
    store: Store, *, name: str, created_by: str, now: datetime, expires_at: datetime | None
) -> IssuedCounterToken:
    """A counter token for the store desk; the token itself exists nowhere else after."""
    name = check_name("name", name, NAME_MAX)
    if expires_at is not None and expires_at <= now:
        raise ValidationError.field("expires_at", "must be in the future")
    token = new_token()

    async def txn(tx: Tx) -> int:
        return await sql.insert_counter_token(
            tx, name, hash_token(token), created_by, now, expires_at
        )

    token_id = await store.write(txn)
    return IssuedCounterToken(token_id, name, token, expires_at)


async def list_counter_tokens(store: Store) -> list[CounterToken]:
    """Every counter token issued, newest first: name, who issued it, when, its state."""
    return await sql.counter_tokens(store.reader)


async def revoke_counter_token(store: Store, token_id: int, now: datetime) -> CounterToken:
    """Revoke a counter token at once (the desk's next request is refused); revoking
    again is harmless and keeps the first revocation time."""

    async def txn(tx: Tx) -> CounterToken:
        await sql.revoke_counter_token(tx, token_id, now)
        found = await sql.counter_token(tx, token_id)
        if found is None:
            raise NotFoundError(f"no counter token {token_id}", code="counter_token_not_found")
        return found

    return await store.write(txn)


async def counter(db: Db, token: str, now: datetime) -> CounterToken:
    """The live counter token behind `token`, or 401."""
    found = await sql.counter_token_by_hash(db, hash_token(token.strip()))
    if found is None or found.revoked_at is not None:
        raise AuthenticationError("not a counter token", code="unauthenticated")
    if found.expires_at is not None and found.expires_at <= now:
        raise AuthenticationError("this counter token has expired", code="token_expired")
    return found


@dataclass(frozen=True)
class CounterHousehold:
    """A household as the counter sees it."""

    household_id: int
    unit: str
    names: tuple[str, ...]  # masked
    balance: int


async def find_household(db: Db, *, code: str | None, unit: str | None) -> CounterHousehold:
    """A household by its passbook code (typed or from its QR) or its unit label."""
    household_id: int | None = None
    if code:
        typed = normalise(code)
        account = None if typed is None else await ledger.account_by_code(db, typed)
        household_id = None if account is None else account.household_id
    elif unit:
        found = await household_sql.find_household(db, unit.strip())
        household_id = None if found is None else found.id
    else:
        raise ValidationError.field("code", "give the passbook code or the unit")
    household = (
        None if household_id is None else await household_sql.get_household(db, household_id)
    )
    if household is None:
        raise NotFoundError("no household with that code or unit", code="household_not_found")
    balance = (await ledger.balances(db, [household.id])).get(household.id, 0)
    names = tuple(mask_name(n) for n in await sql.resident_names(db, household.id))
    return CounterHousehold(household.id, household.unit, names, balance)
