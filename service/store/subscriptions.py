"""SQL for integrators' webhook subscriptions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import IntegrationEvent, Subscription
from ..core.secretbox import SecretBox
from .core import Db, Row, Tx
from .sealed import seal, unseal

_COLUMNS = "id, url, event_types, description, created_at, disabled_at, disabled_reason"
# Where a subscription's current secret is sealed (sealed.place without the row).
_SECRET: Final = ("subscriptions", "signing_secret")
# Tx.memo's key for the listener list: every answer emits, so a group commit of answers
# reads it once. Each write below drops it, as does any job that is not memo_safe.
_LISTENERS: Final = "subscriptions.listeners"


@dataclass(frozen=True)
class Listener:
    """An active subscription as emitting needs it: where, and which types."""

    id: int
    url: str
    event_types: frozenset[str]


@dataclass(frozen=True)
class Target:
    """Where the worker sends a subscription's message, as it stands when claimed; shaped
    like a contact's Reach (opted_out, disabled, secrets) so one delivery path serves both."""

    id: int
    disabled: bool
    secrets: tuple[str, ...]
    opted_out: bool = False


def _types(text: str) -> tuple[IntegrationEvent, ...]:
    # A type this code no longer knows is left out rather than failing every read.
    known = {t.value for t in IntegrationEvent}
    return tuple(IntegrationEvent(t) for t in json.loads(text) if t in known)


def _subscription(row: Row) -> Subscription:
    return Subscription(
        id=row["id"],
        url=row["url"],
        event_types=_types(row["event_types"]),
        description=row["description"],
        created_at=from_db(row["created_at"]),
        disabled_at=opt_from_db(row["disabled_at"]),
        disabled_reason=row["disabled_reason"],
    )


def _json(types: Sequence[str]) -> str:
    return json.dumps(list(types), separators=(",", ":"))


async def insert(
    tx: Tx,
    *,
    url: str,
    event_types: Sequence[str],
    description: str,
    secret: str,
    now: datetime,
) -> int:
    """A new subscription's id."""
    tx.memo.pop(_LISTENERS, None)
    # The secret is sealed for its row (see sealed.py): the row's id first.
    subscription_id = await tx.execute(
        "INSERT INTO subscriptions (url, event_types, description, signing_secret, created_at)"
        " VALUES (?, ?, ?, '', ?)",
        (url, _json(event_types), description, to_db(now)),
    )
    await tx.execute(
        "UPDATE subscriptions SET signing_secret = ? WHERE id = ?",
        (seal(tx.box, *_SECRET, subscription_id, secret), subscription_id),
    )
    return subscription_id


async def get(db: Db, subscription_id: int) -> Subscription | None:
    """One subscription, without its secret."""
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE id = ?", (subscription_id,)
    )
    return None if row is None else _subscription(row)


async def page(db: Db, *, limit: int, offset: int) -> tuple[list[Subscription], int]:
    """A page of subscriptions, oldest first, and how many there are."""
    total = await db.fetchone("SELECT COUNT(*) AS n FROM subscriptions")
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM subscriptions ORDER BY id LIMIT ? OFFSET ?", (limit, offset)
    )
    return [_subscription(row) for row in rows], int(total["n"]) if total else 0


async def update(
    tx: Tx,
    subscription_id: int,
    *,
    event_types: Sequence[str] | None,
    description: str | None,
    secret: str | None,
    previous_until: datetime | None = None,
) -> None:
    """Change the fields given (None leaves one as it is). A new secret keeps the old one
    signing beside it until `previous_until`."""
    tx.memo.pop(_LISTENERS, None)
    await tx.execute(
        "UPDATE subscriptions SET event_types = COALESCE(?, event_types),"
        " description = COALESCE(?, description) WHERE id = ?",
        (None if event_types is None else _json(event_types), description, subscription_id),
    )
    if secret is None:
        return
    row = await tx.fetchone(
        "SELECT signing_secret FROM subscriptions WHERE id = ?", (subscription_id,)
    )
    current = None if row is None else unseal(tx.box, *_SECRET, subscription_id, row[0])
    # A secret equal to the current one is no rotation: the old overlap stays as it was.
    # Compared opened, in Python: each sealing of a value differs (a fresh nonce).
    if current is None or current == secret:
        return
    await tx.execute(
        "UPDATE subscriptions SET signing_secret = ?, previous_secret = ?,"
        " previous_secret_until = ? WHERE id = ?",
        (
            seal(tx.box, *_SECRET, subscription_id, secret),
            seal(tx.box, "subscriptions", "previous_secret", subscription_id, current),
            None if previous_until is None else to_db(previous_until),
            subscription_id,
        ),
    )


async def delete(tx: Tx, subscription_id: int) -> bool:
    """Remove a subscription (its messages go with it); False when there was none."""
    tx.memo.pop(_LISTENERS, None)
    await tx.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,))
    return await tx.changes() == 1


async def disable(tx: Tx, subscription_id: int, reason: str, now: datetime) -> None:
    """Stop sending to an endpoint (it answered 410 Gone, or staff turned it off)."""
    tx.memo.pop(_LISTENERS, None)
    await tx.execute(
        "UPDATE subscriptions SET disabled_at = ?, disabled_reason = ?"
        " WHERE id = ? AND disabled_at IS NULL",
        (to_db(now), reason, subscription_id),
    )


async def enable(tx: Tx, subscription_id: int) -> None:
    """Send to an endpoint again."""
    tx.memo.pop(_LISTENERS, None)
    await tx.execute(
        "UPDATE subscriptions SET disabled_at = NULL, disabled_reason = NULL WHERE id = ?",
        (subscription_id,),
    )


async def listeners(db: Db) -> tuple[Listener, ...]:
    """Every active subscription, in id order (the table is small: one row per endpoint);
    read once per write transaction (see _LISTENERS)."""
    memo = db.memo if isinstance(db, Tx) else None
    if memo is not None:
        kept: tuple[Listener, ...] | None = memo.get(_LISTENERS)
        if kept is not None:
            return kept
    rows = await db.fetchall(
        "SELECT id, url, event_types FROM subscriptions WHERE disabled_at IS NULL ORDER BY id"
    )
    found = tuple(
        Listener(row["id"], row["url"], frozenset(json.loads(row["event_types"]))) for row in rows
    )
    if memo is not None:
        memo[_LISTENERS] = found
    return found


async def targets(db: Db, subscription_ids: Sequence[int], now: datetime) -> dict[int, Target]:
    """Subscriptions by id as the worker needs them, in one query: the secret, and a
    rotated-out one still within its overlap."""
    if not subscription_ids:
        return {}
    ids = sorted(set(subscription_ids))
    rows = await db.fetchall(
        "SELECT id, signing_secret, disabled_at,"
        " CASE WHEN previous_secret_until > ? THEN previous_secret END AS previous"
        f" FROM subscriptions WHERE id IN ({', '.join('?' * len(ids))})",
        [to_db(now), *ids],
    )
    return {row["id"]: _target(db.box, row) for row in rows}


def _target(box: SecretBox, row: Row) -> Target:
    secret = unseal(box, *_SECRET, row["id"], row["signing_secret"])
    previous = unseal(box, "subscriptions", "previous_secret", row["id"], row["previous"])
    return Target(
        id=row["id"],
        disabled=row["disabled_at"] is not None,
        secrets=tuple(s for s in (secret, previous) if s),
    )
