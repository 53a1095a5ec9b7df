"""/api/v1/residents: the people of the community, their contacts, and CSV import."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field

from ..core.errors import UnsupportedMediaError
from ..core.models import Channel, Contact, ImportReport, Language, Page, Resident
from ..domain import importer, resident_export, residents
from ..domain.residents import ContactChanges, ContactInput, ResidentChanges, ResidentInput
from ..keys import clock_key, delivery_key, settings_key, store_key
from .jsonio import LINE, TEXT, Body, Id, Patch, path_id, read_body, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf, RawBody

routes = Api()
TAG = "residents"
Tag = Annotated[str, Field(max_length=64, json_schema_extra=LINE)]


class ContactIn(Body):
    """A way to reach a resident; stored in canonical form (E.164, lowercased email)."""

    channel: Channel
    address: str = Field(
        min_length=1,
        max_length=2048,
        json_schema_extra=LINE,
        description="Phone number in any common format, email, Telegram chat id or URL",
    )
    opted_out: bool = False
    signing_secret: str | None = Field(
        None,
        max_length=200,
        description="Webhook contacts only: a whsec_ secret to sign with; generated when "
        "omitted and shown once, in this response",
    )


class ResidentIn(Body):
    """A new resident: household_id or unit (the household is created if missing)."""

    name: str = Field(min_length=1, max_length=100, json_schema_extra=LINE)
    household_id: Id | None = None
    unit: str | None = Field(
        None, min_length=1, max_length=64, json_schema_extra=LINE, description="e.g. 3-2-1501"
    )
    language: Language | None = Field(None, description="Defaults to the community's")
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    notes: str = Field("", max_length=2000, json_schema_extra=TEXT)
    contacts: list[ContactIn] = Field(
        default_factory=list, max_length=20, description="In preference order"
    )


class ResidentPatch(Patch):
    """Fields of a resident to change; `tags` replaces the whole set."""

    name: str | None = Field(None, min_length=1, max_length=100, json_schema_extra=LINE)
    household_id: Id | None = None
    unit: str | None = Field(None, min_length=1, max_length=64, json_schema_extra=LINE)
    language: Language | None = None
    tags: list[Tag] | None = Field(None, max_length=50)
    notes: str | None = Field(None, max_length=2000, json_schema_extra=TEXT)


class ContactPatch(Patch):
    """A contact's fields to change: a new address, or opting out (or back in)."""

    address: str | None = Field(None, min_length=1, max_length=2048, json_schema_extra=LINE)
    opted_out: bool | None = None


class ContactEnable(Body):
    """Why a disabled contact works again (kept in its history)."""

    reason: str = Field(
        min_length=1,
        max_length=500,
        json_schema_extra=LINE,
        description="e.g. the resident unblocked the bot, or the receiver is back",
    )


class ContactOrder(Body):
    """Every contact of the resident, most preferred first."""

    contact_ids: list[Id] = Field(max_length=100)


class ResidentQuery(PageQuery):
    """Search residents; every filter given must match."""

    q: str | None = Field(
        None, max_length=200, json_schema_extra=LINE, description="Text in the name or unit label"
    )
    unit: str | None = Field(
        None, max_length=64, json_schema_extra=LINE, description="Unit label prefix, e.g. 3-2"
    )
    phone: str | None = Field(
        None,
        max_length=64,
        # residents.search_residents reads full-width digits (１３８) as ASCII ones.
        pattern="[0-9０-９]",
        description="A phone number in any format, or some of its digits",
    )
    tag: list[Tag] = Field(default_factory=list, description="Any of these tags (repeatable)")
    household_id: Id | None = None


def contact_input(body: ContactIn) -> ContactInput:
    """The domain's input for a contact sent to the API (or the console)."""
    return ContactInput(body.channel, body.address, body.opted_out, body.signing_secret)


def resident_input(body: ResidentIn) -> ResidentInput:
    """The domain's input for a new resident sent to the API (or the console)."""
    return ResidentInput(
        name=body.name,
        household_id=body.household_id,
        unit=body.unit,
        language=body.language,
        tags=tuple(body.tags),
        notes=body.notes,
        contacts=tuple(contact_input(c) for c in body.contacts),
    )


def resident_changes(body: ResidentPatch) -> ResidentChanges:
    """The domain's changes for a resident patch sent to the API (or the console)."""
    return ResidentChanges(
        name=body.name,
        household_id=body.household_id,
        unit=body.unit,
        language=body.language,
        tags=tuple(body.tags) if body.tags is not None else None,
        notes=body.notes,
    )


def _resident_id(request: web.Request) -> int:
    return path_id(request, "resident_not_found", "resident")


def _contact_id(request: web.Request) -> int:
    return path_id(request, "contact_not_found", "contact", name="contact_id")


def _community(request: web.Request) -> tuple[str, Language]:
    community = request.app[settings_key].community
    return community.phone_region, Language(community.default_language)


@routes.route(
    "POST",
    "/residents",
    summary="Create a resident",
    tag=TAG,
    roles=STAFF,
    body=ResidentIn,
    response=Resident,
    status=201,
    errors=(404, 409),
)
async def create_resident(request: web.Request, body: ResidentIn) -> web.Response:
    """Contacts are canonicalised; a name already in the household is a 409 resident_exists."""
    region, language = _community(request)
    created = await residents.create_resident(
        request.app[store_key],
        resident_input(body),
        region=region,
        default_language=language,
        now=request.app[clock_key](),
    )
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/residents",
    summary="List and search residents",
    tag=TAG,
    roles=STAFF,
    query=ResidentQuery,
    response=ListOf(Resident),
)
async def list_residents(request: web.Request, query: ResidentQuery) -> web.Response:
    """Ordered by unit label, then name."""
    region, _ = _community(request)
    page = await residents.list_residents(
        request.app[store_key],
        text=query.q,
        unit=query.unit,
        phone=query.phone,
        tag=query.tag,
        household_id=query.household_id,
        limit=query.limit,
        offset=query.offset,
        region=region,
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/residents/{id:\d+}",
    summary="Get a resident",
    tag=TAG,
    roles=STAFF,
    response=Resident,
)
async def get_resident(request: web.Request) -> web.Response:
    """One resident with unit, tags and contacts in preference order."""
    found = await residents.get_resident(request.app[store_key], _resident_id(request))
    return reply(request, found)


@routes.route(
    "GET",
    r"/residents/{id:\d+}/export",
    summary="Everything held about a resident, as one JSON document",
    tag=TAG,
    roles=STAFF,
    response=resident_export.ResidentExport,
)
async def export_resident(request: web.Request) -> web.Response:
    """Household, contacts, tags, invitations with every change of answer, bookings,
    check-ins, and the messages that reached them with their attempts (PIPL art. 45,
    GDPR art. 15 and 20). The console's resident page downloads the same document."""
    found = await resident_export.export_resident(
        request.app[store_key], _resident_id(request), now=request.app[clock_key]()
    )
    return reply(request, found)


@routes.route(
    "PATCH",
    r"/residents/{id:\d+}",
    summary="Update a resident",
    tag=TAG,
    roles=STAFF,
    body=ResidentPatch,
    response=Resident,
    errors=(409,),
)
async def update_resident(request: web.Request, body: ResidentPatch) -> web.Response:
    """Only the fields sent change; a unit not yet known creates its household."""
    updated = await residents.update_resident(
        request.app[store_key],
        _resident_id(request),
        resident_changes(body),
        now=request.app[clock_key](),
    )
    return reply(request, updated)


@routes.route(
    "DELETE",
    r"/residents/{id:\d+}",
    summary="Erase a resident: contacts, answers and their messages' addresses and texts",
    tag=TAG,
    roles=STAFF,
    status=204,
)
async def delete_resident(request: web.Request) -> web.Response:
    """Their tags, contacts and codes go; their answers to events already started stay in
    the counts with nobody behind them, their invitations to events still to come go (the
    waitlist moves up) and their bookings still to come are cancelled; the messages that
    reached them stay for the counts, without address or text (waiting ones are
    cancelled). The household stays."""
    await residents.delete_resident(
        request.app[store_key],
        _resident_id(request),
        now=request.app[clock_key](),
        after_promotion=request.app[delivery_key].followups().after_promotion,
    )
    return web.Response(status=204)


@routes.route(
    "GET",
    r"/residents/{id:\d+}/contacts",
    summary="List a resident's contacts",
    tag=TAG,
    roles=STAFF,
    response=ListOf(Contact),
)
async def list_resident_contacts(request: web.Request) -> web.Response:
    """In the resident's preference order."""
    found = await residents.list_contacts(request.app[store_key], _resident_id(request))
    return reply(request, Page(items=tuple(found), total=len(found), limit=len(found), offset=0))


@routes.route(
    "POST",
    r"/residents/{id:\d+}/contacts",
    summary="Add a contact to a resident",
    tag=TAG,
    roles=STAFF,
    body=ContactIn,
    response=Contact,
    status=201,
    errors=(409,),
)
async def add_resident_contact(request: web.Request, body: ContactIn) -> web.Response:
    """It goes last in the preference order; one the resident already has is a 409."""
    region, _ = _community(request)
    created = await residents.add_contact(
        request.app[store_key],
        _resident_id(request),
        contact_input(body),
        region=region,
        now=request.app[clock_key](),
    )
    return reply(request, created, 201)


@routes.route(
    "PATCH",
    r"/residents/{id:\d+}/contacts/{contact_id:\d+}",
    summary="Change a contact, or opt it out or back in",
    tag=TAG,
    roles=STAFF,
    body=ContactPatch,
    response=Contact,
    errors=(409,),
)
async def update_resident_contact(request: web.Request, body: ContactPatch) -> web.Response:
    """Opting out records when; messages skip an opted-out contact."""
    region, _ = _community(request)
    updated = await residents.update_contact(
        request.app[store_key],
        _resident_id(request),
        _contact_id(request),
        ContactChanges(address=body.address, opted_out=body.opted_out),
        region=region,
        now=request.app[clock_key](),
    )
    return reply(request, updated)


@routes.route(
    "POST",
    r"/residents/{id:\d+}/contacts/{contact_id:\d+}/enable",
    summary="Use a contact disabled after its address was reported gone again",
    tag=TAG,
    roles=STAFF,
    body=ContactEnable,
    response=Contact,
    errors=(409,),
)
async def enable_resident_contact(request: web.Request, body: ContactEnable) -> web.Response:
    """For a contact disabled after a webhook 410, a blocked bot or Twilio 21610; its
    history keeps why it was disabled and this reason. 409 contact_not_disabled when it
    is not disabled; an opt-out is changed with PATCH opted_out instead."""
    enabled = await residents.enable_contact(
        request.app[store_key],
        _resident_id(request),
        _contact_id(request),
        body.reason,
        now=request.app[clock_key](),
    )
    return reply(request, enabled)


@routes.route(
    "DELETE",
    r"/residents/{id:\d+}/contacts/{contact_id:\d+}",
    summary="Delete a contact",
    tag=TAG,
    roles=STAFF,
    status=204,
)
async def delete_resident_contact(request: web.Request) -> web.Response:
    """The remaining contacts keep their order."""
    await residents.delete_contact(
        request.app[store_key], _resident_id(request), _contact_id(request)
    )
    return web.Response(status=204)


@routes.route(
    "PUT",
    r"/residents/{id:\d+}/contacts/order",
    summary="Set a resident's contact preference order",
    tag=TAG,
    roles=STAFF,
    body=ContactOrder,
    response=Resident,
)
async def reorder_resident_contacts(request: web.Request, body: ContactOrder) -> web.Response:
    """List every contact id once; messages try them in this order."""
    updated = await residents.reorder_contacts(
        request.app[store_key], _resident_id(request), body.contact_ids
    )
    return reply(request, updated)


@routes.route(
    "POST",
    "/residents/import",
    summary="Import residents from a CSV file",
    tag=TAG,
    roles=STAFF,
    body=RawBody(
        "text/csv",
        "UTF-8 CSV (a BOM is fine) with a header row; columns unit, name (required), phone,"
        " email, language, tags (separated by ';'), telegram. See docs/import.md.",
    ),
    response=ImportReport,
)
async def import_residents(request: web.Request) -> web.Response:
    """Good rows are imported, bad rows reported by spreadsheet row number (header = 1);
    importing the same file again changes nothing."""
    ctype = request.headers.get("Content-Type", "")
    media, _, params = ctype.partition(";")
    if media.strip().lower() != "text/csv":
        raise UnsupportedMediaError(f"expected Content-Type text/csv, got {ctype or 'none'}")
    charset = next(
        (
            value.strip().strip('"').lower()
            for key, _, value in (p.partition("=") for p in params.split(";"))
            if key.strip().lower() == "charset"
        ),
        "utf-8",
    )
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaError(f"expected a UTF-8 CSV file, got charset {charset}")
    data = await read_body(request)
    region, language = _community(request)
    report = await importer.import_residents_csv(
        request.app[store_key],
        data,
        region=region,
        default_language=language,
        now=request.app[clock_key](),
    )
    return reply(request, report)
