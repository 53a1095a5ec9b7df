"""The monthly passbook statement (积分存折月结单): for a month, each household whose points
moved or that holds points gets one message on its first reachable resident's channel
and language ("您本月获得12分，余额48分"), through the outbox. Once per household and
month (ledger_statements), however often it is asked for."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo

from ..core.errors import ValidationError
from ..core.models import MessageKind
from ..messages.compose import Composer, pick_contact
from ..store import Store, Tx
from ..store import outbox as outbox_sql
from ..store import recipients as recipients_sql
from ..store import statements as sql
from ..store.outbox import NewMessage
from ..store.statements import MonthFigures
from .booking_rules import language_of

BATCH: Final = 200
_MONTH: Final = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_EN_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def month_bounds(month: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A month 'YYYY-MM' as [start, end) in the community's zone; 400 naming `month`."""
    found = _MONTH.match(month)
    if found is None or not 1900 <= int(found[1]) <= 9998:
        raise ValidationError.field("month", "must be YYYY-MM, e.g. 2026-11")
    year, number = int(found[1]), int(found[2])
    start = datetime(year, number, 1, tzinfo=tz)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=tz)
    return start, end


def month_name(month: str, language: str) -> str:
    """'2026-11' as a resident reads it: 2026年11月, November 2026."""
    year, number = int(month[:4]), int(month[5:])
    return f"{year}年{number}月" if language == "zh-CN" else f"{_EN_MONTHS[number - 1]} {year}"


async def household_message(
    tx: Tx,
    composer: Composer,
    household_id: int,
    values: Callable[[str], dict[str, Any]],
    now: datetime,
    kind: MessageKind = MessageKind.POINTS_STATEMENT,
) -> NewMessage | None:
    """A passbook message to a household's first resident with a usable contact, in their
    language (`values(language)` fills the template's part); None when none is reachable."""
    for resident_id in await sql.resident_ids(tx, household_id):
        person = await recipients_sql.recipient(tx, resident_id)
        contacts = (await recipients_sql.contacts_of(tx, [resident_id])).get(resident_id, [])
        contact, suppressed = pick_contact(contacts, composer.usable)
        if person is None or contact is None:
            continue
        language = language_of(person.language)
        return composer.statement_message(
            replace(person, language=language),
            contact,
            household_id,
            values(language),
            suppressed=suppressed,
            send_at=now,
            kind=kind,
        )
    return None


def _statement(month: str, figures: MonthFigures) -> Callable[[str], dict[str, Any]]:
    def values(language: str) -> dict[str, Any]:
        return {
            "month": month_name(month, language),
            "earned": figures.earned,
            "spent": figures.spent,
            "balance": figures.balance,
        }

    return values


async def send_statements(
    store: Store, composer: Composer, month: str, *, tz: ZoneInfo, now: datetime
) -> int:
    """Queue the month's statements not sent yet, a batch of households per transaction;
    how many were queued."""
    start, end = month_bounds(month, tz)
    if start > now:
        raise ValidationError.field("month", "must not be in the future")
    queued, after = 0, 0
    while True:
        batch = await sql.month_figures(store.reader, start, end, after, BATCH)
        if not batch:
            return queued
        after = batch[-1].household_id

        async def txn(tx: Tx, batch: list[MonthFigures] = batch) -> int:
            rows = []
            for figures in batch:
                if figures.earned == figures.spent == figures.balance == 0:
                    continue
                if not await sql.mark_sent(tx, figures.household_id, month, now):
                    continue
                message = await household_message(
                    tx, composer, figures.household_id, _statement(month, figures), now
                )
                if message is not None:
                    rows.append(message)
            await outbox_sql.insert_messages(tx, rows, now)
            return len(rows)

        queued += await store.write(txn)


def last_month(now: datetime, tz: tzinfo) -> str:
    """The month before `now`'s, in the community's time zone, as 'YYYY-MM'."""
    first = now.astimezone(tz).date().replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


async def send_last_months(
    store: Store, composer: Composer, *, tz: ZoneInfo, now: datetime
) -> tuple[str, int]:
    """The housekeeping's monthly round: last month's statements to every household not
    sent theirs yet (each household once a month, however often this runs); the month
    and how many were queued."""
    month = last_month(now, tz)
    return month, await send_statements(store, composer, month, tz=tz, now=now)
