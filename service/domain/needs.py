"""Residents' needs (需求清单): raised from a resident's page, an SMS, Telegram, or by an
organiser on a household's behalf; each records who raised it and how."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from ..core.clock import utc_text
from ..core.consultation import Category, Need, NeedVia
from ..core.errors import NotFoundError, ValidationError
from ..core.models import IntegrationEvent, Page
from ..core.text import check_text, has_visible, normal
from ..store import Store, Tx
from ..store import consultation as sql
from . import subscriptions

TEXT_MAX: Final = 500
BUILDING_MAX: Final = 50
KEY_MAX: Final = 200


@dataclass(frozen=True)
class NeedInput:
    """A need as someone said it. One of resident_id, household_id and unit names who
    raised it (none: an anonymous need an organiser typed in)."""

    text: str
    via: NeedVia
    actor: str
    category: str | None = None
    building: str = ""
    resident_id: int | None = None
    household_id: int | None = None
    unit: str | None = None
    # The page's nonce or the provider's message id: the same key again makes nothing new.
    request_key: str | None = None


def check_need_text(text: str) -> str:
    """A need's text trimmed and storable; empty or too long is a 400 naming `text`."""
    clean = check_text("text", normal(text), TEXT_MAX, multiline=True)
    if not clean or not has_visible(clean):
        raise ValidationError.field("text", "must not be empty")
    return clean


def check_category(category: str | None) -> Category | None:
    """A category code (environment, safety, activity, facility, other) or None."""
    if category is None or category == "":
        return None
    try:
        return Category(category)
    except ValueError:
        names = ", ".join(c.value for c in Category)
        raise ValidationError.field("category", f"must be one of {names}") from None


def need_created(need: Need) -> subscriptions.Occurrence:
    """A need was raised: ids, category and path; its words stay in Linli."""
    return subscriptions.Occurrence(
        IntegrationEvent.NEED_CREATED,
        None,
        {
            "need_id": need.id,
            "category": None if need.category is None else str(need.category),
            "household_id": need.household_id,
            "via": str(need.via),
            "at": utc_text(need.created_at),
        },
    )


async def _raiser(tx: Tx, given: NeedInput) -> tuple[int | None, int | None]:
    """(resident, household) who raised the need."""
    if given.resident_id is not None:
        household = await sql.household_of(tx, given.resident_id)
        if household is None:
            raise NotFoundError(f"no resident {given.resident_id}", code="resident_not_found")
        return given.resident_id, household
    if given.household_id is not None:
        if not await sql.household_exists(tx, given.household_id):
            raise NotFoundError(f"no household {given.household_id}", code="household_not_found")
        return None, given.household_id
    if given.unit:
        unit = normal(given.unit.strip(), "NFKC")
        household = await sql.household_by_unit(tx, unit)
        if household is None:
            raise ValidationError.field("unit", f"no household {unit!r}", code="unknown_unit")
        return None, household
    return None, None


async def record_need(tx: Tx, given: NeedInput, *, now: datetime) -> Need:
    """Record a need inside a write job (and tell integrators: need.created); the same
    request_key again returns the first need."""
    text = check_need_text(given.text)
    category = check_category(given.category)
    building = check_text("building", given.building, BUILDING_MAX)
    key = check_text("request_key", given.request_key, KEY_MAX) if given.request_key else None
    if key:
        earlier = await sql.need_by_key(tx, key)
        if earlier is not None:
            return earlier
    resident_id, household_id = await _raiser(tx, given)
    need_id = await sql.insert_need(
        tx,
        text=text,
        category=None if category is None else str(category),
        building=building,
        resident_id=resident_id,
        household_id=household_id,
        via=str(given.via),
        actor=given.actor,
        request_key=key,
        now=now,
    )
    need = await sql.get_need(tx, need_id)
    assert need is not None
    await subscriptions.emit(tx, [need_created(need)], now)
    return need


async def raise_need(store: Store, given: NeedInput, *, now: datetime) -> Need:
    """Record a need (see record_need). Idempotent on request_key."""
    check_need_text(given.text)  # a bad text is refused before the writer is asked
    return await store.write(functools.partial(record_need, given=given, now=now))


async def get_need(store: Store, need_id: int) -> Need:
    """One need, or 404 need_not_found."""
    found = await sql.get_need(store.reader, need_id)
    if found is None:
        raise NotFoundError(f"no need {need_id}", code="need_not_found")
    return found


async def list_needs(
    store: Store, *, unmerged: bool = False, limit: int = 100, offset: int = 0
) -> Page[Need]:
    """Needs, newest first; only those not yet on an item when `unmerged`."""
    rows, total = await sql.list_needs(store.reader, unmerged=unmerged, limit=limit, offset=offset)
    return Page(items=tuple(rows), total=total, limit=limit, offset=offset)
