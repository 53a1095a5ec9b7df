"""SQL for the points passbook's journal: accounts, postings and their lines (migration
passbook: append-only, sealed postings that sum to zero, a cached balance per account)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.checkin_codes import new_code
from ..core.clock import from_db, opt_from_db, to_db
from .core import Db, Row, Tx, marks
from .errors import DuplicateKey

ISSUING: Final = 1  # the community's issuing account (migration passbook)
STORE: Final = 2  # the points store's redemption account
_ATTEMPTS: Final = 10


@dataclass(frozen=True)
class LedgerLine:
    """One line of a posting: points into (plus) or out of (minus) an account."""

    account_id: int
    household_id: int | None
    amount: int
    expires_at: datetime | None = None


@dataclass(frozen=True)
class LedgerPosting:
    """A sealed posting with its lines."""

    id: int
    kind: str
    idem_key: str
    operator: str
    reason: str
    event_id: int | None
    checkin_id: int | None
    redemption_id: int | None
    reverses_id: int | None
    reversed_by: int | None
    at: datetime
    lines: tuple[LedgerLine, ...]


@dataclass(frozen=True)
class NewPosting:
    """What a posting records besides its lines."""

    kind: str
    idem_key: str
    operator: str
    reason: str
    at: datetime
    event_id: int | None = None
    checkin_id: int | None = None
    redemption_id: int | None = None
    reverses_id: int | None = None


@dataclass(frozen=True)
class PassbookAccount:
    """A household's passbook account: its code and cached balance."""

    id: int
    household_id: int
    code: str
    balance: int


@dataclass(frozen=True)
class LedgerDrift:
    """Something `verify` found wrong: a posting that does not balance, or a cached
    balance that is not the sum of its lines."""

    what: str  # "posting" | "account"
    id: int
    detail: str


async def ensure_accounts(tx: Tx, household_ids: Sequence[int], now: datetime) -> dict[int, int]:
    """The account id of each household, opening the ones missing (with a fresh code)."""
    found = await _account_ids(tx, household_ids)
    for household_id in household_ids:
        if household_id in found:
            continue
        for _ in range(_ATTEMPTS):
            try:
                found[household_id] = await tx.execute(
                    "INSERT INTO ledger_accounts (kind, household_id, code, created_at)"
                    " VALUES ('household', ?, ?, ?)",
                    (household_id, new_code(), to_db(now)),
                )
                break
            except DuplicateKey:  # the random code is taken: draw another
                continue
        else:
            raise RuntimeError("no free passbook code after several attempts")
    return found


async def _by_household(db: Db, sql: str, household_ids: Sequence[int]) -> dict[int, int]:
    """{first column: second} of `sql`, whose `{marks}` stands for the households, asked
    in chunks within SQLite's parameter limit."""
    found: dict[int, int] = {}
    ids = list(dict.fromkeys(household_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        rows = await db.fetchall(sql.replace("{marks}", marks(len(chunk))), chunk)
        found.update({int(r[0]): int(r[1]) for r in rows})
    return found


async def _account_ids(db: Db, household_ids: Sequence[int]) -> dict[int, int]:
    return await _by_household(
        db,
        "SELECT household_id, id FROM ledger_accounts WHERE household_id IN ({marks})",
        household_ids,
    )


def _account(row: Row) -> PassbookAccount:
    return PassbookAccount(row["id"], row["household_id"], row["code"], row["balance"])


async def account_of(db: Db, household_id: int) -> PassbookAccount | None:
    """A household's account, if it has one."""
    row = await db.fetchone("SELECT * FROM ledger_accounts WHERE household_id = ?", (household_id,))
    return _account(row) if row else None


async def account_by_code(db: Db, code: str) -> PassbookAccount | None:
    """The account a passbook code belongs to."""
    row = await db.fetchone("SELECT * FROM ledger_accounts WHERE code = ?", (code,))
    return _account(row) if row else None


async def balances(db: Db, household_ids: Sequence[int]) -> dict[int, int]:
    """Cached balances by household (a household without an account has none here)."""
    return await _by_household(
        db,
        "SELECT household_id, balance FROM ledger_accounts WHERE household_id IN ({marks})",
        household_ids,
    )


async def line_sum(db: Db, account_id: int) -> int:
    """An account's balance as the sum of its lines (the proof of the cache)."""
    row = await db.fetchone(
        "SELECT coalesce(sum(amount), 0) FROM ledger_lines WHERE account_id = ?", (account_id,)
    )
    return int(row[0]) if row else 0


async def insert_posting(tx: Tx, new: NewPosting, lines: Sequence[LedgerLine]) -> int:
    """Write a posting's lines, then the posting row that seals them (the schema refuses
    it unless they balance); its id."""
    posting_id = await next_posting_id(tx)
    await tx.execute_rows(
        "INSERT INTO ledger_lines (posting_id, account_id, amount, expires_at) VALUES {rows}",
        [
            (
                posting_id,
                line.account_id,
                line.amount,
                None if line.expires_at is None else to_db(line.expires_at),
            )
            for line in lines
        ],
    )
    await tx.execute(
        "INSERT INTO ledger_postings (id, kind, idem_key, operator, reason, event_id,"
        " checkin_id, redemption_id, reverses_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            posting_id,
            new.kind,
            new.idem_key,
            new.operator,
            new.reason,
            new.event_id,
            new.checkin_id,
            new.redemption_id,
            new.reverses_id,
            to_db(new.at),
        ),
    )
    return posting_id


_POSTING = (
    "SELECT p.*, (SELECT r.id FROM ledger_postings r WHERE r.reverses_id = p.id) AS reversed_by"
    " FROM ledger_postings p"
)


async def _lines(db: Db, posting_ids: Sequence[int]) -> dict[int, list[LedgerLine]]:
    found: dict[int, list[LedgerLine]] = {}
    for start in range(0, len(posting_ids), 500):
        chunk = list(posting_ids[start : start + 500])
        rows = await db.fetchall(
            "SELECT l.posting_id, l.account_id, a.household_id, l.amount, l.expires_at"
            " FROM ledger_lines l JOIN ledger_accounts a ON a.id = l.account_id"
            f" WHERE l.posting_id IN ({marks(len(chunk))}) ORDER BY l.id",
            chunk,
        )
        for r in rows:
            found.setdefault(int(r["posting_id"]), []).append(
                LedgerLine(
                    r["account_id"], r["household_id"], r["amount"], opt_from_db(r["expires_at"])
                )
            )
    return found


async def _postings(db: Db, rows: list[Row]) -> list[LedgerPosting]:
    lines = await _lines(db, [int(r["id"]) for r in rows])
    return [
        LedgerPosting(
            id=r["id"],
            kind=r["kind"],
            idem_key=r["idem_key"],
            operator=r["operator"],
            reason=r["reason"],
            event_id=r["event_id"],
            checkin_id=r["checkin_id"],
            redemption_id=r["redemption_id"],
            reverses_id=r["reverses_id"],
            reversed_by=r["reversed_by"],
            at=from_db(r["at"]),
            lines=tuple(lines.get(int(r["id"]), ())),
        )
        for r in rows
    ]


async def posting(db: Db, posting_id: int) -> LedgerPosting | None:
    """One posting with its lines."""
    rows = await db.fetchall(f"{_POSTING} WHERE p.id = ?", (posting_id,))
    found = await _postings(db, rows)
    return found[0] if found else None


async def posting_by_key(db: Db, idem_key: str) -> LedgerPosting | None:
    """The posting made under an idempotency key."""
    rows = await db.fetchall(f"{_POSTING} WHERE p.idem_key = ?", (idem_key,))
    found = await _postings(db, rows)
    return found[0] if found else None


async def posting_id_by_key(db: Db, idem_key: str) -> int | None:
    """Only the id of the posting made under a key (the hot path's check)."""
    row = await db.fetchone("SELECT id FROM ledger_postings WHERE idem_key = ?", (idem_key,))
    return int(row[0]) if row else None


@dataclass(frozen=True)
class PostingFilter:
    """Which postings a listing shows."""

    household_id: int | None = None
    kind: str | None = None
    event_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _where(f: PostingFilter) -> tuple[str, list[object]]:
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    if f.household_id is not None:
        where.append(
            "p.id IN (SELECT l.posting_id FROM ledger_lines l JOIN ledger_accounts a"
            " ON a.id = l.account_id WHERE a.household_id = ?)"
        )
        params.append(f.household_id)
    if f.kind is not None:
        where.append("p.kind = ?")
        params.append(f.kind)
    if f.event_id is not None:
        where.append("p.event_id = ?")
        params.append(f.event_id)
    if f.since is not None:
        where.append("p.at >= ?")
        params.append(to_db(f.since))
    if f.until is not None:
        where.append("p.at < ?")
        params.append(to_db(f.until))
    return " AND ".join(where), params


async def list_postings(
    db: Db, f: PostingFilter, *, limit: int, offset: int
) -> tuple[list[LedgerPosting], int]:
    """Postings matching `f`, newest first; a page and the total."""
    clause, params = _where(f)
    total = await db.fetchone(f"SELECT count(*) FROM ledger_postings p WHERE {clause}", params)
    rows = await db.fetchall(
        f"{_POSTING} WHERE {clause} ORDER BY p.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return await _postings(db, rows), int(total[0]) if total else 0


async def list_accounts(db: Db, *, limit: int, offset: int) -> tuple[list[PassbookAccount], int]:
    """Household accounts by household id; a page and the total."""
    total = await db.fetchone("SELECT count(*) FROM ledger_accounts WHERE kind = 'household'")
    rows = await db.fetchall(
        "SELECT * FROM ledger_accounts WHERE kind = 'household'"
        " ORDER BY household_id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_account(r) for r in rows], int(total[0]) if total else 0


async def totals(db: Db) -> tuple[int, int]:
    """(points issued to households and still theirs or spent, points redeemed): the
    issuing account's outflow and the store account's balance."""
    rows = await db.fetchall(
        "SELECT id, balance FROM ledger_accounts WHERE id IN (?, ?)",
        (
            ISSUING,
            STORE,
        ),
    )
    by_id = {int(r["id"]): int(r["balance"]) for r in rows}
    return -by_id.get(ISSUING, 0), by_id.get(STORE, 0)


async def first_drift(db: Db) -> LedgerDrift | None:
    """The first posting that does not balance (or has fewer than two lines), else the
    first account whose cached balance is not the sum of its lines; None when all hold."""
    row = await db.fetchone(
        "SELECT p.id, count(l.id) AS n, coalesce(sum(l.amount), 0) AS total"
        " FROM ledger_postings p LEFT JOIN ledger_lines l ON l.posting_id = p.id"
        " GROUP BY p.id HAVING n < 2 OR total != 0 ORDER BY p.id LIMIT 1"
    )
    if row is not None:
        return LedgerDrift("posting", row["id"], f"{row['n']} lines summing to {row['total']}")
    row = await db.fetchone(
        "SELECT l.posting_id FROM ledger_lines l"
        " LEFT JOIN ledger_postings p ON p.id = l.posting_id WHERE p.id IS NULL LIMIT 1"
    )
    if row is not None:
        return LedgerDrift("posting", row[0], "lines without their posting")
    row = await db.fetchone(
        "SELECT a.id, a.household_id, a.balance, coalesce(s.total, 0) AS total"
        " FROM ledger_accounts a LEFT JOIN"
        " (SELECT account_id, sum(amount) AS total FROM ledger_lines GROUP BY account_id) s"
        " ON s.account_id = a.id WHERE a.balance != coalesce(s.total, 0) ORDER BY a.id LIMIT 1"
    )
    if row is not None:
        who = f"household {row['household_id']}" if row["household_id"] else "community"
        return LedgerDrift(
            "account",
            row["id"],
            f"{who}: cached balance {row['balance']}, lines sum to {row['total']}",
        )
    return None


async def counts(db: Db) -> tuple[int, int, int]:
    """(postings, lines, accounts) in the journal."""
    row = await db.fetchone(
        "SELECT (SELECT count(*) FROM ledger_postings), (SELECT count(*) FROM ledger_lines),"
        " (SELECT count(*) FROM ledger_accounts)"
    )
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


async def checkin_household(db: Db, checkin_id: int) -> tuple[int, int, int] | None:
    """(household, event, people) of a code's check-in at an event; None for a walk-in
    or a booking without an event."""
    row = await db.fetchone(
        "SELECT r.household_id, k.event_id, k.party_size FROM checkins k"
        " JOIN checkin_codes c ON c.code = k.code"
        " LEFT JOIN invitations i ON i.id = c.invitation_id"
        " LEFT JOIN bookings b ON b.id = c.booking_id"
        " JOIN residents r ON r.id = COALESCE(i.resident_id, b.resident_id)"
        " WHERE k.id = ? AND k.event_id IS NOT NULL",
        (checkin_id,),
    )
    if row is None:
        return None
    return int(row[0]), int(row[1]), int(row[2])


@dataclass(frozen=True)
class EventPoints:
    """What an event gives: its kind, hours, and points per person or per hour."""

    event_id: int
    kind: str
    hours: float
    per_person: int | None
    per_hour: int | None


async def event_points(db: Db, event_id: int) -> EventPoints | None:
    """An event's points setting (None: no such event)."""
    row = await db.fetchone(
        "SELECT e.id, e.kind, e.starts_at, e.ends_at, p.per_person, p.per_hour FROM events e"
        " LEFT JOIN event_points p ON p.event_id = e.id WHERE e.id = ?",
        (event_id,),
    )
    if row is None:
        return None
    hours = (from_db(row["ends_at"]) - from_db(row["starts_at"])).total_seconds() / 3600
    return EventPoints(row["id"], row["kind"], hours, row["per_person"], row["per_hour"])


async def set_event_points(
    tx: Tx, event_id: int, per_person: int | None, per_hour: int | None
) -> None:
    """Set (or, with both None, clear) an event's points."""
    if per_person is None and per_hour is None:
        await tx.execute("DELETE FROM event_points WHERE event_id = ?", (event_id,))
        return
    await tx.execute(
        "INSERT INTO event_points (event_id, per_person, per_hour) VALUES (?, ?, ?)"
        " ON CONFLICT (event_id) DO UPDATE SET per_person = excluded.per_person,"
        " per_hour = excluded.per_hour",
        (event_id, per_person, per_hour),
    )


async def event_checkins(db: Db, event_id: int) -> list[tuple[int, int, int]]:
    """(check-in, household, people) for every code checked in at an event."""
    rows = await db.fetchall(
        "SELECT k.id, r.household_id, k.party_size FROM checkins k"
        " JOIN checkin_codes c ON c.code = k.code"
        " LEFT JOIN invitations i ON i.id = c.invitation_id"
        " LEFT JOIN bookings b ON b.id = c.booking_id"
        " JOIN residents r ON r.id = COALESCE(i.resident_id, b.resident_id)"
        " WHERE k.event_id = ? ORDER BY k.id",
        (event_id,),
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def existing_households(db: Db, household_ids: Sequence[int]) -> set[int]:
    """Which of these households exist."""
    found = await _by_household(
        db, "SELECT id, id FROM households WHERE id IN ({marks})", household_ids
    )
    return set(found)


async def next_posting_id(tx: Tx) -> int:
    """The id the next posting will take (the writer is alone, so it holds until then)."""
    row = await tx.fetchone("SELECT coalesce(max(id), 0) + 1 FROM ledger_postings")
    assert row is not None
    return int(row[0])
