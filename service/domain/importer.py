"""Residents from a CSV file: good rows imported, bad rows reported, re-imports change nothing."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, TypeVar

from ..core.errors import ConflictError, ServiceError, ValidationError
from ..core.models import Channel, ImportReport, ImportRowError, Language
from ..store import Store, Tx
from ..store import residents as sql
from .contacts import canonical_address
from .households import clean_unit, ensure_household
from .residents import MAX_CONTACTS, MAX_TAGS, clean_name, clean_tags, signing_secret_for

COLUMNS: Final = ("unit", "name", "phone", "email", "language", "tags", "telegram")
REQUIRED: Final = ("unit", "name")
# Contacts a row adds, in the preference order they get.
CONTACT_COLUMNS: Final = (
    ("phone", Channel.SMS),
    ("email", Channel.EMAIL),
    ("telegram", Channel.TELEGRAM),
)
# Full-width ；too: spreadsheets typed with a Chinese input method produce it.
TAG_SEPARATORS: Final = (";", "；")
# Rows handed to the store before waiting for the first of them: enough for the store to
# commit them in large groups, few enough that a big file is never held whole.
WINDOW: Final = 128
MAX_REPORTED: Final = 500

T = TypeVar("T")
Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True)
class _Row:
    """One data row, checked and canonical."""

    unit: str
    name: str
    language: Language | None
    tags: tuple[str, ...]
    contacts: tuple[tuple[Channel, str], ...]


def _check_utf8(data: bytes) -> None:
    try:
        # Decoded only to check; the rows are decoded again as they are read.
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValidationError(
            f"the file is not UTF-8 (line {line}, byte {exc.start}); save it as"
            " 'CSV UTF-8' and try again",
            code="not_utf8",
        ) from None


def _header(cells: list[str]) -> dict[str, int]:
    """Column name -> position; unknown, repeated or missing required columns are a 400."""
    names = [cell.strip().lower() for cell in cells]
    problems: dict[str, str] = {}
    for name in names:
        if name not in COLUMNS:
            problems[name or "(blank)"] = "unknown column"
        elif names.count(name) > 1:
            problems[name] = "column appears more than once"
    for name in REQUIRED:
        if name not in names:
            problems[name] = "missing column"
    if problems:
        listed = "; ".join(f"{k}: {v}" for k, v in problems.items())
        hint = ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t"):
            hint = " Separate columns with commas, not semicolons or tabs."
        raise ValidationError(
            f"bad header row: {listed}. Expected columns: {', '.join(COLUMNS)}"
            f" ({', '.join(REQUIRED)} required).{hint}",
            code="bad_header",
            fields=problems,
        )
    return {name: index for index, name in enumerate(names)}


def _language(raw: str) -> Language:
    wanted = raw.strip().replace("_", "-").lower()
    for language in Language:
        if language.value.lower() == wanted:
            return language
    raise ValidationError.field(
        "language", f"{raw!r} is not one of {', '.join(lang.value for lang in Language)}"
    )


def _reason(exc: ValidationError) -> str:
    return next(iter(exc.fields.values()), exc.message)


def _attempt(problems: dict[str, str], field: str, fn: Callable[[], T]) -> T | None:
    """`fn()`, or None with the reason recorded under `field`."""
    try:
        return fn()
    except ValidationError as exc:
        problems[field] = _reason(exc)
        return None


def _parse_row(cells: list[str], columns: dict[str, int], *, region: str) -> _Row:
    """The row's values, or a ValidationError whose fields hold every bad field's reason."""
    if len(cells) > len(columns) and any(cell.strip() for cell in cells[len(columns) :]):
        raise ValidationError(
            f"the row has {len(cells)} cells but the header has {len(columns)} columns",
            fields={"row": "more cells than columns"},
        )
    values = {name: cells[index] if index < len(cells) else "" for name, index in columns.items()}
    problems: dict[str, str] = {}
    unit = _attempt(problems, "unit", lambda: clean_unit(values["unit"]))
    name = _attempt(problems, "name", lambda: clean_name(values["name"]))
    language = None
    if values.get("language", "").strip():
        language = _attempt(problems, "language", lambda: _language(values["language"]))
    tags = _attempt(problems, "tags", lambda: clean_tags(_split_tags(values.get("tags", ""))))
    contacts: list[tuple[Channel, str]] = []
    for column, channel in CONTACT_COLUMNS:
        raw = values.get(column, "")
        if raw.strip():
            parse = functools.partial(canonical_address, channel, raw, region=region)
            address = _attempt(problems, column, parse)
            if address is not None:
                contacts.append((channel, address))
    if problems or unit is None or name is None or tags is None:
        listed = "; ".join(f"{k}: {v}" for k, v in problems.items())
        raise ValidationError(listed, fields=problems)
    return _Row(unit=unit, name=name, language=language, tags=tags, contacts=tuple(contacts))


def _split_tags(raw: str) -> list[str]:
    for separator in TAG_SEPARATORS[1:]:
        raw = raw.replace(separator, TAG_SEPARATORS[0])
    return raw.split(TAG_SEPARATORS[0])


def _apply(
    row: _Row, *, default_language: Language, now: datetime
) -> Callable[[Tx], Awaitable[Outcome]]:
    """The write job for one row: find or create the household and resident, then merge."""

    async def txn(tx: Tx) -> Outcome:
        household = await ensure_household(
            tx, unit=row.unit, building=None, notes="", now=now, must_be_new=False
        )
        current = await sql.find_resident(tx, household.id, row.name)
        if current is None:
            resident_id = await sql.insert_resident(
                tx, household.id, row.name, row.language or default_language, "", now
            )
            await sql.add_tags(tx, resident_id, row.tags)
            for channel, address in row.contacts:
                await sql.insert_contact(
                    tx,
                    resident_id,
                    channel,
                    address,
                    opted_out_at=None,
                    now=now,
                    signing_secret=signing_secret_for(channel, None, "contacts"),
                )
            return "created"
        have = {(c.channel, c.address) for c in current.contacts}
        new_contacts = [c for c in row.contacts if c not in have]
        # A contact already there stays as it is, opted out or not: the file does not opt
        # anyone back in.
        if len(current.contacts) + len(new_contacts) > MAX_CONTACTS:
            raise ConflictError(
                f"{row.name} in {row.unit} would have more than {MAX_CONTACTS} contacts",
                code="too_many_contacts",
                fields={"phone": "too many contacts"},
            )
        if len(set(current.tags) | set(row.tags)) > MAX_TAGS:
            raise ValidationError.field("tags", f"the resident would have more than {MAX_TAGS}")
        changed = False
        if row.language is not None and row.language is not current.language:
            await sql.update_resident(
                tx,
                current.id,
                household_id=current.household_id,
                name=current.name,
                language=row.language,
                notes=current.notes,
                now=now,
            )
            changed = True
        if await sql.add_tags(tx, current.id, row.tags):
            changed = True
        for channel, address in new_contacts:
            await sql.insert_contact(
                tx,
                current.id,
                channel,
                address,
                opted_out_at=None,
                now=now,
                signing_secret=signing_secret_for(channel, None, "contacts"),
            )
            changed = True
        if not changed:
            return "unchanged"
        await sql.touch_resident(tx, current.id, now)
        return "updated"

    return txn


def _records(data: bytes) -> Iterator[list[str] | csv.Error]:
    """CSV records decoded as they are read; a leading byte order mark is dropped."""
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader moves past the bad record (e.g. a field over csv's size limit),
            # so it becomes that row's problem rather than the whole file's.
            yield exc


async def import_residents_csv(
    store: Store, data: bytes, *, region: str, default_language: Language, now: datetime
) -> ImportReport:
    """Import residents from CSV bytes (see docs/import.md); each row is its own write."""
    _check_utf8(data)
    records = _records(data)
    header = next(records, None)
    if isinstance(header, csv.Error):
        raise ValidationError(f"the header row is not valid CSV: {header}", code="bad_header")
    if header is None or not any(cell.strip() for cell in header):
        raise ValidationError(
            f"the file is empty; the first row must name the columns: {', '.join(COLUMNS)}",
            code="bad_header",
        )
    columns = _header(header)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors: list[ImportRowError] = []
    skipped = 0
    pending: deque[tuple[int, asyncio.Task[Outcome]]] = deque()

    def skip(row_number: int, exc: ServiceError) -> None:
        nonlocal skipped
        skipped += 1
        if len(errors) < MAX_REPORTED:
            errors.append(ImportRowError(row=row_number, message=exc.message, fields=exc.fields))

    async def settle_first() -> None:
        row_number, task = pending.popleft()
        try:
            counts[await task] += 1
        except ServiceError as exc:
            skip(row_number, exc)

    try:
        # Spreadsheet numbering: the header is row 1, and blank lines count as rows.
        for row_number, cells in enumerate(records, start=2):
            if isinstance(cells, csv.Error):
                skip(
                    row_number,
                    ValidationError(f"not valid CSV: {cells}", fields={"row": str(cells)}),
                )
                continue
            if not any(cell.strip() for cell in cells):
                continue
            try:
                row = _parse_row(cells, columns, region=region)
            except ValidationError as exc:
                skip(row_number, exc)
                continue
            job = _apply(row, default_language=default_language, now=now)
            pending.append((row_number, asyncio.create_task(store.write(job))))
            if len(pending) >= WINDOW:
                await settle_first()
        while pending:
            await settle_first()
    finally:
        # On an unexpected error, still wait for the rows already handed over.
        if pending:
            await asyncio.gather(*(task for _, task in pending), return_exceptions=True)
    errors.sort(key=lambda e: e.row)
    return ImportReport(
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        skipped=skipped,
        errors=tuple(errors),
    )
