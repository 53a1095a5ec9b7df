"""The columns whose values are sealed at rest (see service/core/secretbox.py): sealing the
plain text an older Linli left, checking the key at start, and re-sealing under a new key."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ..core.secretbox import PREFIX, SecretBox

if TYPE_CHECKING:
    from .core import Db, Tx

# (table, column) of every sealed value; each table's rows have an integer `id`.
SEALED: Final = (
    ("contacts", "signing_secret"),
    ("contacts", "previous_secret"),
    ("subscriptions", "signing_secret"),
    ("subscriptions", "previous_secret"),
    ("chat_groups", "credential"),
    ("chat_groups", "signing_secret"),
)
# substr, not LIKE: LIKE ignores case, and the prefix is exact.
_IS_SEALED: Final = f"substr({{column}}, 1, {len(PREFIX)}) = '{PREFIX}'"


def place(table: str, column: str, row_id: int) -> str:
    """The associated data binding a sealed value to its row and column."""
    return f"{table}.{column}#{row_id}"


def seal(box: SecretBox, table: str, column: str, row_id: int, value: str | None) -> str | None:
    """`value` sealed for its place; None stays None."""
    return None if value is None else box.seal(value, place(table, column, row_id))


def unseal(box: SecretBox, table: str, column: str, row_id: int, stored: str | None) -> str | None:
    """The value sealed in a place; None (or empty) stays None."""
    return box.open(stored, place(table, column, row_id)) if stored else None


async def check_key(db: Db) -> None:
    """Open one sealed value, so a wrong secret file fails at start (SecretKeyError), not
    at the first webhook, and nothing is sealed under it beside values it cannot open."""
    for table, column in SEALED:
        row = await db.fetchone(
            f"SELECT id, {column} FROM {table} WHERE {_IS_SEALED.format(column=column)} LIMIT 1"
        )
        if row is not None:
            unseal(db.box, table, column, row[0], row[1])
            return


async def seal_plaintext(tx: Tx) -> int:
    """Seal the values an older Linli stored in plain text; how many. Idempotent."""
    count = 0
    for table, column in SEALED:
        rows = await tx.fetchall(
            f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} != ''"
            f" AND NOT {_IS_SEALED.format(column=column)}"
        )
        await tx.executemany(
            f"UPDATE {table} SET {column} = ? WHERE id = ?",
            [(seal(tx.box, table, column, row[0], row[1]), row[0]) for row in rows],
        )
        count += len(rows)
    return count


async def reseal(tx: Tx, new: SecretBox) -> int:
    """Open every sealed value with the store's key and seal it with `new`; how many."""
    count = 0
    for table, column in SEALED:
        rows = await tx.fetchall(
            f"SELECT id, {column} FROM {table} WHERE {_IS_SEALED.format(column=column)}"
        )
        await tx.executemany(
            f"UPDATE {table} SET {column} = ? WHERE id = ?",
            [
                (seal(new, table, column, row[0], unseal(tx.box, table, column, *row)), row[0])
                for row in rows
            ],
        )
        count += len(rows)
    return count
