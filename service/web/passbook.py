"""/api/v1/passbook: the points passbook's accounts, postings, reversals, bulk credits, an
event's points and the CSV export (UTF-8 with BOM, for Excel and WPS)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web
from pydantic import AwareDatetime, Field

from ..core.models import Page
from ..core.phrases import area
from ..domain import passbook, passbook_reads, statements
from ..domain.passbook import (
    BULK_MAX,
    KEY_MAX,
    POINTS_MAX,
    REASON_MAX,
    Credit,
    PassbookBalance,
    PointsPosted,
)
from ..domain.passbook_reads import EventPointsSetting
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..store.ledger import LedgerPosting, PassbookAccount, PostingFilter
from .jsonio import TEXT, Body, Id, csv_cell, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, principal

routes = Api()
TAG = "passbook"
_BOM: Final = "\ufeff"

Key = Field(
    min_length=1,
    max_length=KEY_MAX,
    description="Idempotency key: the same key again returns the first posting",
)
Reason = Field(min_length=1, max_length=REASON_MAX, json_schema_extra=TEXT, description="Why")


class CreditIn(Body):
    """Points for one household (negative only in an `adjust`)."""

    household_id: Id
    points: int = Field(ge=-POINTS_MAX, le=POINTS_MAX, description="Not 0")


class PostingIn(Body):
    """An organiser's posting: many households' points in one step, with a reason."""

    kind: Literal["earn", "adjust", "bonus"]
    idempotency_key: str = Key
    reason: str = Reason
    event_id: Id | None = Field(None, description="The event the points are for")
    credits: list[CreditIn] = Field(min_length=1, max_length=BULK_MAX)


class ReversalIn(Body):
    """Undo a posting with a reversal posting linked to it."""

    idempotency_key: str = Key
    reason: str = Reason


class EventCreditIn(Body):
    """Credit everyone checked in at an event, per person who came."""

    points: int = Field(ge=1, le=POINTS_MAX, description="Points per person who came")
    idempotency_key: str = Key
    reason: str = Reason


class EventPointsIn(Body):
    """What an event gives at check-in; both null: nothing (a volunteer event: the default)."""

    per_person: int | None = Field(None, ge=1, le=POINTS_MAX)
    per_hour: int | None = Field(None, ge=1, le=POINTS_MAX)


class PostingQuery(PageQuery):
    """Filters of the postings list."""

    household_id: Id | None = None
    kind: Literal["earn", "redeem", "adjust", "bonus", "expire", "reversal"] | None = None
    event_id: Id | None = None
    since: AwareDatetime | None = Field(None, description="From this time (inclusive)")
    until: AwareDatetime | None = Field(None, description="Before this time")


def _operator(request: web.Request) -> str:
    """Who makes a posting: the token's role and name."""
    who = principal(request)
    return f"{who.role}:{who.name}"


def _posted(request: web.Request, posted: PointsPosted) -> web.Response:
    return reply(request, posted, 200 if posted.repeated else 201)


@routes.route(
    "POST",
    "/passbook/postings",
    summary="Post points to households (earn, bonus or adjust) in one posting",
    tag=TAG,
    roles=STAFF,
    body=PostingIn,
    response=PointsPosted,
    status=201,
    errors=(404, 409),
)
async def create_posting(request: web.Request, body: PostingIn) -> web.Response:
    """Each household has its own line; a key used before returns the first posting
    (200, repeated). 409 insufficient_points when an adjustment would leave a debt."""
    posted = await passbook.post_credits(
        request.app[store_key],
        [Credit(c.household_id, c.points) for c in body.credits],
        kind=body.kind,
        key=body.idempotency_key,
        operator=_operator(request),
        reason=body.reason,
        settings=request.app[settings_key].passbook,
        now=request.app[clock_key](),
        event_id=body.event_id,
    )
    return _posted(request, posted)


@routes.route(
    "GET",
    "/passbook/postings",
    summary="List postings (filter by household, kind, event, time)",
    tag=TAG,
    roles=STAFF,
    query=PostingQuery,
    response=ListOf(LedgerPosting),
)
async def list_postings(request: web.Request, query: PostingQuery) -> web.Response:
    """Newest first."""
    page: Page[LedgerPosting] = await passbook_reads.list_postings(
        request.app[store_key].reader,
        PostingFilter(query.household_id, query.kind, query.event_id, query.since, query.until),
        limit=query.limit,
        offset=query.offset,
    )
    return reply(request, page)


def _posting_id(request: web.Request) -> int:
    return path_id(request, "posting_not_found", "posting")


@routes.route(
    "GET",
    r"/passbook/postings/{id:\d+}",
    summary="Get a posting with its lines",
    tag=TAG,
    roles=STAFF,
    response=LedgerPosting,
    errors=(404,),
)
async def get_posting(request: web.Request) -> web.Response:
    """reversed_by names the reversal, if any."""
    store = request.app[store_key]
    return reply(request, await passbook_reads.get_posting(store.reader, _posting_id(request)))


@routes.route(
    "POST",
    r"/passbook/postings/{id:\d+}/reversal",
    summary="Reverse a posting",
    tag=TAG,
    roles=STAFF,
    body=ReversalIn,
    response=PointsPosted,
    status=201,
    errors=(404, 409),
)
async def reverse_posting(request: web.Request, body: ReversalIn) -> web.Response:
    """409 already_reversed, not_reversible (a reversal), insufficient_points (the points
    were spent); a redemption's reversal puts its goods back in stock."""
    posted = await passbook.reverse(
        request.app[store_key],
        _posting_id(request),
        key=body.idempotency_key,
        operator=_operator(request),
        reason=body.reason,
        now=request.app[clock_key](),
    )
    return _posted(request, posted)


@routes.route(
    "GET",
    "/passbook/accounts",
    summary="List households' passbook accounts",
    tag=TAG,
    roles=STAFF,
    query=PageQuery,
    response=ListOf(PassbookAccount),
)
async def list_accounts(request: web.Request, query: PageQuery) -> web.Response:
    """By household id; balance is the cached one (`linli passbook verify` proves it)."""
    store = request.app[store_key]
    page = await passbook_reads.list_accounts(store.reader, limit=query.limit, offset=query.offset)
    return reply(request, page)


@routes.route(
    "GET",
    r"/passbook/households/{id:\d+}",
    summary="A household's balance (the sum of its lines) and passbook code",
    tag=TAG,
    roles=STAFF,
    response=PassbookBalance,
    errors=(404,),
)
async def household_balance(request: web.Request) -> web.Response:
    """code is null until the household's first posting."""
    household_id = path_id(request, "household_not_found", "household")
    return reply(request, await passbook.balance(request.app[store_key].reader, household_id))


def _event_id(request: web.Request) -> int:
    return path_id(request, "event_not_found", "event")


@routes.route(
    "PUT",
    r"/events/{id:\d+}/points",
    summary="Set the points an event gives at check-in",
    tag=TAG,
    roles=STAFF,
    body=EventPointsIn,
    response=EventPointsSetting,
    errors=(404,),
)
async def set_event_points(request: web.Request, body: EventPointsIn) -> web.Response:
    """Each household is credited once per check-in, for the people who came."""
    found = await passbook_reads.set_event_points(
        request.app[store_key],
        _event_id(request),
        per_person=body.per_person,
        per_hour=body.per_hour,
    )
    return reply(request, found)


@routes.route(
    "POST",
    r"/events/{id:\d+}/points/credit",
    summary="Credit every household checked in at an event, in one posting",
    tag=TAG,
    roles=STAFF,
    body=EventCreditIn,
    response=PointsPosted,
    status=201,
    errors=(404, 409),
)
async def credit_event(request: web.Request, body: EventCreditIn) -> web.Response:
    """409 event_earns_at_checkin (it credits at the door already) or no_checkins."""
    posted = await passbook.credit_checked_in(
        request.app[store_key],
        _event_id(request),
        points=body.points,
        key=body.idempotency_key,
        operator=_operator(request),
        reason=body.reason,
        settings=request.app[settings_key].passbook,
        now=request.app[clock_key](),
    )
    return _posted(request, posted)


_CSV_COLUMNS: Final = (
    "posting",
    "at",
    "kind",
    "unit",
    "points",
    "reason",
    "operator",
    "event",
)


@routes.route(
    "GET",
    "/passbook/export.csv",
    summary="Every household line of the journal as CSV (UTF-8 with BOM)",
    tag=TAG,
    roles=STAFF,
    response_media="text/csv",
)
async def export_csv(request: web.Request) -> web.StreamResponse:
    """One row per household line, in order; headings in the community's language."""
    settings = request.app[settings_key]
    words = area("passbook_csv", settings.community.default_language)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="passbook.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(_BOM)
    writer.writerow(words[f"heading_{column}"] for column in _CSV_COLUMNS)
    tz = settings.tz
    async for page in passbook_reads.export_lines(request.app[store_key].reader):
        for line in page:
            writer.writerow(
                (
                    line.posting_id,
                    line.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    words[line.kind],
                    csv_cell(line.unit),
                    line.amount,
                    csv_cell(line.reason),
                    csv_cell(line.operator),
                    line.event_id or "",
                )
            )
        await response.write(buffer.getvalue().encode("utf-8"))
        buffer.seek(0)
        buffer.truncate()
    if buffer.getvalue():
        await response.write(buffer.getvalue().encode("utf-8"))
    await response.write_eof()
    return response


class StatementsIn(Body):
    """Which month's statements to send."""

    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="YYYY-MM, e.g. 2026-11")


@dataclass(frozen=True)
class StatementsQueued:
    """How many households' statements were queued (0 when all had theirs)."""

    month: str
    queued: int


@routes.route(
    "POST",
    "/passbook/statements",
    summary="Send each household its monthly passbook statement (once per month)",
    tag=TAG,
    roles=STAFF,
    body=StatementsIn,
    response=StatementsQueued,
)
async def send_statements(request: web.Request, body: StatementsIn) -> web.Response:
    """On each household's first reachable resident's channel and language."""
    queued = await statements.send_statements(
        request.app[store_key],
        request.app[delivery_key].ready(),
        body.month,
        tz=request.app[settings_key].tz,
        now=request.app[clock_key](),
    )
    return reply(request, StatementsQueued(body.month, queued))
