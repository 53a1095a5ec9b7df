"""What the store refuses, in the store's own words.

A write that breaks one of the schema's rules raises one of these, never the driver's
exception: the domain catches `SlotTaken` or `DuplicateKey` and raises its coded error,
without knowing which database said no or how it phrased it. The driver's exception
stays attached as `__cause__` for the logs. Only this module reads the driver's words
(its extended error code, and the reason a trigger gives), so another database needs
another translation here and nothing above the store changes."""

from __future__ import annotations

import sqlite3
from typing import Final


class StoreError(Exception):
    """Something the store refused to do."""


class ConstraintError(StoreError):
    """A write broke one of the schema's rules; `constraint` says which, as far as the
    database tells (a table.column list, a CHECK's expression, a trigger's reason)."""

    def __init__(self, constraint: str) -> None:
        super().__init__(constraint)
        self.constraint = constraint


class DuplicateKey(ConstraintError):
    """A unique or primary key is taken already; `constraint` names its columns
    ("rooms.name")."""


class SlotTaken(ConstraintError):
    """Two live bookings of a room would share a minute, buffer included (the overlap
    triggers of migration 0004 refuse it, whatever path writes the booking)."""


class LedgerRefused(ConstraintError):
    """The passbook's journal refused a write: a change or removal of what is written
    (ledger_append_only), a posting whose lines do not balance (ledger_unbalanced), or a
    line added to a sealed posting (ledger_posting_sealed)."""


# The reasons the schema's triggers give (RAISE(ABORT, '<reason>')), and what they mean.
_TRIGGER_REASONS: Final[dict[str, type[ConstraintError]]] = {
    "booking_overlap": SlotTaken,
    "ledger_append_only": LedgerRefused,
    "ledger_unbalanced": LedgerRefused,
    "ledger_posting_sealed": LedgerRefused,
}
_DUPLICATE: Final = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})


def translated(exc: sqlite3.IntegrityError) -> ConstraintError:
    """The store's error for SQLite's refusal `exc`."""
    message = str(exc)
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_CONSTRAINT_TRIGGER":
        return _TRIGGER_REASONS.get(message, ConstraintError)(message)
    # "UNIQUE constraint failed: rooms.name": the part after the colon names the rule.
    _, _, constraint = message.partition(": ")
    if name in _DUPLICATE:
        return DuplicateKey(constraint or message)
    return ConstraintError(constraint or message)
