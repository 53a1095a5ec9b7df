"""The passbook's journal: balanced postings only, append-only (the store refuses edits),
idempotency keys, reversals once, and `linli passbook verify` finding drift."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.core.errors import ConflictError, NotFoundError, ValidationError
from service.core.points import PassbookSettings
from service.domain import passbook
from service.domain.passbook import Credit
from service.store import Store, Tx
from service.store.errors import LedgerRefused
from service.store.ledger import ISSUING, LedgerLine, NewPosting, insert_posting
from tests.passbook import households
from tests.processes import linli

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
POINTS = PassbookSettings()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "linli.db") as opened:
        yield opened


async def credit(store: Store, household: int, points: int, key: str) -> passbook.PointsPosted:
    return await passbook.post_credits(
        store,
        [Credit(household, points)],
        kind="bonus",
        key=key,
        operator="organiser:李",
        reason="扫雪",
        settings=POINTS,
        now=NOW,
    )


async def test_passbook_a_posting_balances_and_the_balance_is_its_lines(store: Store) -> None:
    a, b = await households(store, 2)
    posted = await passbook.post_credits(
        store,
        [Credit(a, 12), Credit(b, 30)],
        kind="earn",
        key="day-1",
        operator="organiser:李",
        reason="志愿者日",
        settings=POINTS,
        now=NOW,
    )
    assert not posted.repeated
    assert sum(line.amount for line in posted.posting.lines) == 0
    assert {ln.household_id: ln.amount for ln in posted.posting.lines if ln.household_id} == {
        a: 12,
        b: 30,
    }
    assert posted.posting.operator == "organiser:李"
    assert posted.posting.reason == "志愿者日"
    assert (await passbook.balance(store.reader, a)).balance == 12
    assert (await passbook.balance(store.reader, b)).balance == 30


async def test_passbook_the_same_key_returns_the_first_posting(store: Store) -> None:
    (a,) = await households(store, 1)
    first = await credit(store, a, 5, "k-1")
    again = await credit(store, a, 50, "k-1")
    assert again.repeated and again.posting.id == first.posting.id
    assert (await passbook.balance(store.reader, a)).balance == 5


async def test_passbook_the_store_refuses_changing_or_deleting_the_journal(
    store: Store, tmp_path: Path
) -> None:
    (a,) = await households(store, 1)
    await credit(store, a, 5, "k-1")
    conn = sqlite3.connect(tmp_path / "linli.db")
    for sql in (
        "UPDATE ledger_lines SET amount = 500",
        "DELETE FROM ledger_lines",
        "UPDATE ledger_postings SET reason = 'x'",
        "DELETE FROM ledger_postings",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="ledger_append_only"):
            conn.execute(sql)
    conn.close()
    assert (await passbook.balance(store.reader, a)).balance == 5


async def test_passbook_the_store_refuses_an_unbalanced_posting(store: Store) -> None:
    (a,) = await households(store, 1)
    accounts = await store.write(lambda tx: _accounts(tx, a))

    async def unbalanced(tx: Tx) -> int:
        return await insert_posting(
            tx,
            NewPosting("bonus", "bad", "x", "", NOW),
            [LedgerLine(accounts, a, 10), LedgerLine(ISSUING, None, -9)],
        )

    with pytest.raises(LedgerRefused, match="ledger_unbalanced"):
        await store.write(unbalanced)

    async def one_line(tx: Tx) -> int:
        return await insert_posting(tx, NewPosting("bonus", "bad", "x", "", NOW), [])

    with pytest.raises(LedgerRefused, match="ledger_unbalanced"):
        await store.write(one_line)
    assert (await passbook.verify(store.reader))[0] is None


async def _accounts(tx: Tx, household: int) -> int:
    from service.store.ledger import ensure_accounts

    return (await ensure_accounts(tx, [household], NOW))[household]


async def test_passbook_a_reversal_undoes_once(store: Store) -> None:
    (a,) = await households(store, 1)
    first = await credit(store, a, 8, "k-1")
    undone = await passbook.reverse(
        store, first.posting.id, key="r-1", operator="organiser:李", reason="记错了", now=NOW
    )
    assert undone.posting.kind == "reversal" and undone.posting.reverses_id == first.posting.id
    assert (await passbook.balance(store.reader, a)).balance == 0
    with pytest.raises(ConflictError) as twice:
        await passbook.reverse(
            store, first.posting.id, key="r-2", operator="organiser:李", reason="again", now=NOW
        )
    assert twice.value.code == "already_reversed"
    with pytest.raises(ConflictError) as of_reversal:
        await passbook.reverse(
            store, undone.posting.id, key="r-3", operator="organiser:李", reason="x", now=NOW
        )
    assert of_reversal.value.code == "not_reversible"
    # The same key again is the first reversal, not a refusal.
    same = await passbook.reverse(
        store, first.posting.id, key="r-1", operator="organiser:李", reason="记错了", now=NOW
    )
    assert same.repeated and same.posting.id == undone.posting.id


async def test_passbook_a_reversal_that_would_leave_a_debt_is_refused(store: Store) -> None:
    (a,) = await households(store, 1)
    first = await credit(store, a, 8, "k-1")
    await passbook.post_credits(
        store,
        [Credit(a, -5)],
        kind="adjust",
        key="k-2",
        operator="organiser:李",
        reason="多记了",
        settings=POINTS,
        now=NOW,
    )
    with pytest.raises(ConflictError) as refused:
        await passbook.reverse(
            store, first.posting.id, key="r-1", operator="organiser:李", reason="x", now=NOW
        )
    assert refused.value.code == "insufficient_points"
    assert (await passbook.balance(store.reader, a)).balance == 3


async def test_passbook_manual_entries_need_a_reason_and_name_the_field(store: Store) -> None:
    (a,) = await households(store, 1)
    with pytest.raises(ValidationError) as no_reason:
        await passbook.post_credits(
            store,
            [Credit(a, 5)],
            kind="bonus",
            key="k",
            operator="x",
            reason="  ",
            settings=POINTS,
            now=NOW,
        )
    assert no_reason.value.code == "reason_required" and "reason" in no_reason.value.fields
    with pytest.raises(ValidationError) as zero:
        await passbook.post_credits(
            store,
            [Credit(a, 0)],
            kind="bonus",
            key="k",
            operator="x",
            reason="r",
            settings=POINTS,
            now=NOW,
        )
    assert "points" in zero.value.fields
    with pytest.raises(NotFoundError) as nobody:
        await credit(store, 999, 5, "k")
    assert nobody.value.code == "household_not_found"


async def test_passbook_verify_passes_and_then_names_the_first_drift(
    store: Store, tmp_path: Path
) -> None:
    a, b = await households(store, 2)
    await credit(store, a, 5, "k-1")
    await credit(store, b, 7, "k-2")
    await store.close()
    ok = linli("passbook", "verify", "--db", str(tmp_path / "linli.db"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "passbook ok: 2 postings, 4 lines" in ok.stdout
    # Someone edits a cached balance behind Linli's back: verify names that account.
    conn = sqlite3.connect(tmp_path / "linli.db")
    conn.execute("UPDATE ledger_accounts SET balance = 99 WHERE household_id = ?", (b,))
    conn.commit()
    conn.close()
    drift = linli("passbook", "verify", "--db", str(tmp_path / "linli.db"), cwd=tmp_path)
    assert drift.returncode == 1
    assert f"household {b}: cached balance 99, lines sum to 7" in drift.stderr
    await store.open()


async def test_passbook_points_expire_oldest_first_once(store: Store) -> None:
    from datetime import timedelta

    from service.domain import points_expiry

    expiring = PassbookSettings(expiry_months=1)
    a, b = await households(store, 2)
    for key, who, points, when in (("old", a, 10, NOW), ("new", a, 5, NOW + timedelta(days=20))):
        await passbook.post_credits(
            store, [Credit(who, points)], kind="earn", key=key, operator="t", reason="r",
            settings=expiring, now=when,
        )  # fmt: skip
    await passbook.post_credits(
        store, [Credit(b, 3)], kind="earn", key="b", operator="t", reason="r",
        settings=expiring, now=NOW,
    )  # fmt: skip
    # a spends 4: the oldest lot (10) is what is used, so 6 of it lapse, the newer 5 stay.
    await passbook.post_credits(
        store, [Credit(a, -4)], kind="adjust", key="spend", operator="t", reason="r",
        settings=expiring, now=NOW,
    )  # fmt: skip
    # b spends everything before its lot lapses: nothing lapses.
    await passbook.post_credits(
        store, [Credit(b, -3)], kind="adjust", key="spend-b", operator="t", reason="r",
        settings=expiring, now=NOW,
    )  # fmt: skip
    before = NOW + timedelta(days=30)
    assert await points_expiry.lapse_due(store, now=before) == 0  # not yet (31 days)
    later = NOW + timedelta(days=40)
    assert await points_expiry.lapse_due(store, now=later) == 6
    assert await points_expiry.lapse_due(store, now=later) == 0  # once per lot
    assert (await passbook.balance(store.reader, a)).balance == 5
    assert (await passbook.balance(store.reader, b)).balance == 0
    much_later = NOW + timedelta(days=60)
    assert await points_expiry.lapse_due(store, now=much_later) == 5
    expired = await store.reader.fetchall(
        "SELECT idem_key FROM ledger_postings WHERE kind = 'expire' ORDER BY id"
    )
    assert len(expired) == 2
    assert (await passbook.verify(store.reader))[0] is None
