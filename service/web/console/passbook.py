"""The organiser's passbook pages: credit households in one step (by unit), the postings
with filters and a reversal per posting, the store's catalogue and recent redemptions,
and the journal's CSV export."""

from __future__ import annotations

import secrets
from typing import Any, Final

from aiohttp import web

from ...core.errors import ServiceError, ValidationError
from ...domain import passbook, passbook_reads, points_store
from ...domain.passbook import Credit
from ...store import households as household_sql
from ...store.ledger import PostingFilter
from .. import passbook as passbook_api
from ..jsonio import read_int
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
_page = page_route(routes, "Passbook")
KINDS: Final = ("earn", "redeem", "adjust", "bonus", "expire", "reversal")
UNITS_MAX: Final = 500


async def _render(
    c: Console, status: int = 200, errors: dict[str, str] | None = None, **values: str
) -> web.Response:
    query = c.request.query
    unit = query.get("unit", "").strip()
    household = await household_sql.find_household(c.store.reader, unit) if unit else None
    kind = query.get("kind", "")
    f = PostingFilter(
        household_id=household.id if household else (0 if unit else None),
        kind=kind if kind in KINDS else None,
        event_id=read_int(query.get("event_id", "")),
    )
    postings = await passbook_reads.list_postings(c.store.reader, f, limit=50, offset=0)
    units = await _units(c, {ln.household_id for p in postings.items for ln in p.lines})
    goods = await points_store.list_items(c.store.reader, active_only=False, limit=200, offset=0)
    taken = await points_store.list_redemptions(
        c.store.reader, household_id=None, limit=20, offset=0
    )
    issued, redeemed = await passbook.totals(c.store.reader)
    return c.render(
        "passbook/view.html",
        status,
        postings=postings,
        units=units,
        goods=goods.items,
        redemptions=taken.items,
        issued=issued,
        redeemed=redeemed,
        kinds=KINDS,
        filters={"unit": unit, "kind": kind, "event_id": query.get("event_id", "")},
        errors=errors or {},
        values=values,
        nonce=secrets.token_urlsafe(16),
    )


async def _units(c: Console, household_ids: set[int | None]) -> dict[int, str]:
    found: dict[int, str] = {}
    for household_id in household_ids:
        if household_id is not None:
            household = await household_sql.get_household(c.store.reader, household_id)
            found[household_id] = household.unit if household else str(household_id)
    return found


@_page("GET", "/passbook", "accounts' postings, reversals, the catalogue and redemptions")
@view
async def passbook_page(request: web.Request, c: Console) -> web.StreamResponse:
    """?unit=, ?kind= and ?event_id= filter the postings."""
    return await _render(c)


async def _credits(c: Console, units_text: str, points: int) -> list[Credit]:
    units = [u.strip() for u in units_text.replace("，", ",").replace("\n", ",").split(",")]
    units = [u for u in units if u]
    if not units:
        raise ValidationError.field("units", c.t("passbook.units_required"))
    if len(units) > UNITS_MAX:
        raise ValidationError.field("units", c.t("passbook.units_too_many", n=UNITS_MAX))
    credits = []
    for unit in units:
        household = await household_sql.find_household(c.store.reader, unit)
        if household is None:
            raise ValidationError.field("units", c.t("passbook.unknown_unit", unit=unit))
        credits.append(Credit(household.id, points))
    return credits


@_page("POST", "/passbook/credit", "credit (or adjust) households by unit in one posting")
@view
async def credit(request: web.Request, c: Console) -> web.StreamResponse:
    """One posting; the page's nonce is its idempotency key, so a resent form posts once."""
    typed = {k: form_text(c.form, k) for k in ("units", "points", "kind", "reason")}
    try:
        points = read_int(typed["points"].lstrip("-"))
        if points is None or points == 0:
            raise ValidationError.field("points", c.t("passbook.points_required"))
        signed = -points if typed["points"].startswith("-") else points
        posted = await passbook.post_credits(
            c.store,
            await _credits(c, typed["units"], signed),
            kind=typed["kind"] or "bonus",
            key=f"console:{form_text(c.form, 'nonce')}",
            operator=f"console:{c.me.name}",
            reason=typed["reason"],
            settings=c.settings.passbook,
            now=c.now,
        )
    except ServiceError as exc:
        return await _render(c, exc.status, c.errors(exc), **typed)
    return c.redirect("/console/passbook", "passbook.credited", id=posted.posting.id)


@_page("POST", "/passbook/postings/{id:\\d+}/reversal", "reverse a posting, with a reason")
@view
async def reverse(request: web.Request, c: Console) -> web.StreamResponse:
    """A reversal posting linked to the original; refusals show on the page."""
    posting_id = int(request.match_info["id"])
    try:
        await passbook.reverse(
            c.store,
            posting_id,
            key=f"console:{form_text(c.form, 'nonce')}",
            operator=f"console:{c.me.name}",
            reason=form_text(c.form, "reason"),
            now=c.now,
        )
    except ServiceError as exc:
        return await _render(c, exc.status, {f"reverse_{posting_id}": _refusal(c, exc)})
    return c.redirect("/console/passbook", "passbook.reversed", id=posting_id)


def _refusal(c: Console, exc: ServiceError) -> str:
    known = ("already_reversed", "not_reversible", "insufficient_points", "reason_required")
    return c.t(f"passbook.refused_{exc.code}") if exc.code in known else exc.message


@_page("POST", "/store/items", "add goods to the points store's catalogue")
@view
async def add_item(request: web.Request, c: Console) -> web.StreamResponse:
    """Name, price, stock and an optional monthly limit per household."""
    typed = {k: form_text(c.form, k) for k in ("name", "price", "stock", "monthly_limit")}
    numbers: dict[str, Any] = {}
    try:
        for name in ("price", "stock", "monthly_limit"):
            value = read_int(typed[name])
            if value is None and (name != "monthly_limit" or typed[name]):
                raise ValidationError.field(name, c.t("passbook.whole_number"))
            numbers[name] = value
        if not numbers["price"]:
            raise ValidationError.field("price", c.t("passbook.whole_number"))
        await points_store.create_item(
            c.store,
            name=typed["name"],
            price=numbers["price"],
            stock=numbers["stock"],
            monthly_limit=numbers["monthly_limit"] or None,
            now=c.now,
        )
    except ServiceError as exc:
        return await _render(c, exc.status, c.errors(exc), **typed)
    return c.redirect("/console/passbook", "passbook.item_added", name=typed["name"])


@_page("GET", "/passbook/export.csv", "the journal as CSV (UTF-8 with BOM)")
@view
async def export_csv(request: web.Request, c: Console) -> web.StreamResponse:
    """The very CSV of GET /api/v1/passbook/export.csv, for a signed-in session."""
    return await passbook_api.export_csv(request)
