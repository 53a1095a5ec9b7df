"""The organiser's residents pages: search, create and edit, contacts, opt-outs, CSV import."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from ...core.errors import NotFoundError, ServiceError, ValidationError
from ...core.models import Channel, Contact, ImportReport, Language, Page, Resident
from ...domain import households, importer, resident_export, residents
from ...domain.contacts import phone_or_none
from ...domain.residents import ContactChanges
from ...keys import delivery_key
from ..jsonio import path_id, reply
from ..residents import (
    ContactEnable,
    ContactIn,
    ContactPatch,
    ResidentIn,
    ResidentPatch,
    ResidentQuery,
    contact_input,
    resident_changes,
    resident_input,
)
from ..routing import Handler, RawBody
from .base import TAG, Console, console_routes, view

routes = console_routes()
PAGE_SIZE: Final = 50
# Blank contact rows on the new-resident form; more are added on the resident's own page.
NEW_CONTACT_ROWS: Final = 3
# Tags are typed in one box, separated the way people type lists (full-width too).
_TAG_SPLIT: Final = re.compile(r"[,，;；\n]")
# A search that could be (part of) a phone number: digits and the marks people put between.
_PHONE_LIKE: Final = re.compile(r"[0-9０-９+＋()（）\s.\-－]*[0-9０-９][0-9０-９+＋()（）\s.\-－]*")
# Two ASCII digits at most: a row number is drawn back on the page (a posted
# contacts.99999.address once drew 100,000 rows), and only 20 contacts are allowed anyway.
_CONTACT_FIELD: Final = re.compile(r"^contacts\.([0-9]{1,2})\.")
HTML: Final = "text/html"
FORM: Final = "application/x-www-form-urlencoded"


def _page(method: str, path: str, summary: str, form: str = FORM) -> Callable[[Handler], Handler]:
    """A residents page in the route table (HTML, signed in by @view, not by token); a POST
    is documented as the form it takes."""
    body = RawBody(form, "The page's HTML form, with its CSRF token") if method == "POST" else None
    return routes.route(
        method,
        path,
        summary=f"Residents: {summary}",
        tag=TAG,
        roles=None,
        body=body,
        response_media=HTML,
    )


def _region(c: Console) -> str:
    return c.settings.community.phone_region


def _default_language(c: Console) -> Language:
    return Language(c.settings.community.default_language)


def _tags(raw: str) -> list[str]:
    return [tag.strip() for tag in _TAG_SPLIT.split(raw) if tag.strip()]


def _raw(form: Mapping[str, Any], name: str) -> str:
    """A field as typed (not trimmed: the domain trims and reports)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _resident_id(request: web.Request) -> int:
    return path_id(request, "resident_not_found", "resident")


def _contact(resident: Resident, contact_id: int) -> Contact:
    for contact in resident.contacts:
        if contact.id == contact_id:
            return contact
    raise NotFoundError(
        f"resident {resident.id} has no contact {contact_id}", code="contact_not_found"
    )


def _tag_field(errors: dict[str, str]) -> dict[str, str]:
    """Pydantic names a bad tag `tags.N`; the page has one tags box."""
    return {("tags" if key.startswith("tags.") else key): value for key, value in errors.items()}


async def search(c: Console, query: ResidentQuery) -> Page[Resident]:
    """One box for name, unit or phone: a whole phone number searches contacts; other text
    searches names and units, and digits that match none of those try phone numbers."""
    text = (query.q or "").strip()
    region = _region(c)

    async def find(*, name_or_unit: str | None, phone: str | None) -> Page[Resident]:
        return await residents.list_residents(
            c.store,
            text=name_or_unit,
            unit=None,
            phone=phone,
            tag=query.tag,
            household_id=query.household_id,
            limit=query.limit,
            offset=query.offset,
            region=region,
        )

    if text and _PHONE_LIKE.fullmatch(text):
        if phone_or_none(text, region=region) is not None:
            return await find(name_or_unit=None, phone=text)
        found = await find(name_or_unit=text, phone=None)
        if found.total == 0:
            return await find(name_or_unit=None, phone=text)
        return found
    return await find(name_or_unit=text or None, phone=None)


@_page("GET", "/residents", "search by name, unit, phone or tag; one household's residents")
@view
async def console_residents(request: web.Request, c: Console) -> web.StreamResponse:
    """The residents list, a page at a time; `household_id` shows one household."""
    raw = {
        "q": request.query.get("q", ""),
        "tag": [t for t in request.query.getall("tag", []) if t],
        "household_id": request.query.get("household_id") or None,
        "limit": PAGE_SIZE,
        "offset": request.query.get("offset", "0"),
    }
    context: dict[str, Any] = {
        "q": raw["q"],
        "chosen": raw["tag"],
        "tags": await residents.tags_in_use(c.store),
        "household": None,
        "errors": {},
        "links": {},
    }
    try:
        query = c.parse(ResidentQuery, raw)
        if query.household_id is not None:
            context["household"] = await households.get_household(c.store, query.household_id)
        page = await search(c, query)
    except ValidationError as exc:
        context["errors"] = {
            ("q" if key in ("q", "phone") else "_form"): value
            for key, value in c.errors(exc).items()
        }
        empty: Page[Resident] = Page(items=(), total=0, limit=PAGE_SIZE, offset=0)
        return c.render("residents/list.html", status=exc.status, page=empty, **context)
    context["links"] = _paging(query, page)
    return c.render("residents/list.html", page=page, **context)


def _paging(query: ResidentQuery, page: Page[Resident]) -> dict[str, str]:
    """Links to the previous and next pages, keeping the search."""
    params = [("q", query.q or "")] + [("tag", t) for t in query.tag]
    if query.household_id is not None:
        params.append(("household_id", str(query.household_id)))

    def link(offset: int) -> str:
        return "/console/residents?" + "&".join(
            f"{k}={quote(v, safe='')}" for k, v in [*params, ("offset", str(offset))]
        )

    links: dict[str, str] = {}
    if page.offset > 0:
        links["prev"] = link(max(0, page.offset - page.limit))
    if page.offset + page.limit < page.total:
        links["next"] = link(page.offset + page.limit)
    return links


def _language_options(c: Console) -> list[tuple[str, str]]:
    return [(lang.value, c.t(f"residents.lang_{lang.value}")) for lang in Language]


def _channel_options(c: Console) -> list[tuple[str, str]]:
    return [(ch.value, c.t(f"residents.channel_{ch.value}")) for ch in Channel]


def _new_page(
    c: Console, values: Mapping[str, Any], errors: dict[str, str], status: int = 200
) -> web.Response:
    rows = max(
        NEW_CONTACT_ROWS,
        1 + max((int(m[1]) for k in values if (m := _CONTACT_FIELD.match(k))), default=-1),
    )
    return c.render(
        "residents/new.html",
        status=status,
        values=values,
        errors=errors,
        rows=range(rows),
        languages=_language_options(c),
        channels=_channel_options(c),
        default_language=_default_language(c).value,
    )


@_page("GET", "/residents/new", "the new-resident form")
@view
async def console_resident_new(request: web.Request, c: Console) -> web.StreamResponse:
    """An empty form with a few contact rows."""
    return _new_page(c, {}, {})


@_page("POST", "/residents/new", "create a resident")
@view
async def console_resident_create(request: web.Request, c: Console) -> web.StreamResponse:
    """Create through the API's model and domain function; bad input comes back beside its field."""
    form = c.form
    contacts: list[dict[str, str]] = []
    rows: list[int] = []  # the form row of each contact sent, for naming errors
    for key in sorted(
        (k for k in form if k.endswith(".address") and _CONTACT_FIELD.match(k)),
        key=lambda k: int(k.split(".")[1]),
    ):
        index = int(key.split(".")[1])
        address = _raw(form, key).strip()
        if address:
            contacts.append(
                {"channel": _raw(form, f"contacts.{index}.channel"), "address": address}
            )
            rows.append(index)
    try:
        body = c.parse(
            ResidentIn,
            {
                "name": _raw(form, "name"),
                "unit": _raw(form, "unit"),
                "language": _raw(form, "language") or None,
                "tags": _tags(_raw(form, "tags")),
                "notes": _raw(form, "notes"),
                "contacts": contacts,
            },
        )
        created = await residents.create_resident(
            c.store,
            resident_input(body),
            region=_region(c),
            default_language=_default_language(c),
            now=c.now,
        )
    except ServiceError as exc:
        return _new_page(c, form, _row_fields(_tag_field(c.errors(exc)), rows), exc.status)
    secrets = [ct for ct in created.contacts if ct.signing_secret]
    if secrets:
        # A webhook secret is shown once, so this page shows it rather than a redirect.
        return await _edit_page(c, created, secrets=secrets)
    raise c.redirect(f"/console/residents/{created.id}", "residents.created", name=created.name)


def _row_fields(errors: dict[str, str], rows: list[int]) -> dict[str, str]:
    """Errors name `contacts.N` by position among the contacts sent; the form's row numbers
    differ when blank rows were left out."""

    def row(match: re.Match[str]) -> str:
        index = int(match[1])
        return f"contacts.{rows[index] if index < len(rows) else index}."

    return {_CONTACT_FIELD.sub(row, key): value for key, value in errors.items()}


async def _edit_page(
    c: Console,
    resident: Resident,
    *,
    values: Mapping[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
    secrets: list[Contact] | None = None,
) -> web.Response:
    return c.render(
        "residents/edit.html",
        status=status,
        resident=resident,
        values=values or {},
        errors=errors or {},
        secrets=secrets or [],
        languages=_language_options(c),
        channels=_channel_options(c),
        tags=await residents.tags_in_use(c.store),
    )


@_page("GET", r"/residents/{id:\d+}", "one resident, their contacts and opt-outs")
@view
async def console_resident(request: web.Request, c: Console) -> web.StreamResponse:
    """The resident's details form and contacts in preference order."""
    return await _edit_page(c, await residents.get_resident(c.store, _resident_id(request)))


@routes.route(
    "GET",
    r"/residents/{id:\d+}/export",
    summary="Residents: download everything held about the resident (the API's export)",
    tag=TAG,
    roles=None,
    response=resident_export.ResidentExport,
)
@view
async def console_resident_export(request: web.Request, c: Console) -> web.StreamResponse:
    """GET /api/v1/residents/{id}/export's document, as a file to save."""
    found = await resident_export.export_resident(c.store, _resident_id(request), now=c.now)
    response = reply(request, found)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="linli-resident-{found.resident.id}.json"'
    )
    return response


@_page("POST", r"/residents/{id:\d+}", "change a resident's details")
@view
async def console_resident_update(request: web.Request, c: Console) -> web.StreamResponse:
    """Name, unit (a new unit makes its household), language, tags and notes."""
    resident = await residents.get_resident(c.store, _resident_id(request))
    form = c.form
    try:
        body = c.parse(
            ResidentPatch,
            {
                "name": _raw(form, "name"),
                "unit": _raw(form, "unit"),
                "language": _raw(form, "language"),
                "tags": _tags(_raw(form, "tags")),
                "notes": _raw(form, "notes"),
            },
        )
        updated = await residents.update_resident(
            c.store, resident.id, resident_changes(body), now=c.now
        )
    except ServiceError as exc:
        return await _edit_page(
            c, resident, values=form, errors=_tag_field(c.errors(exc)), status=exc.status
        )
    raise c.redirect(f"/console/residents/{updated.id}", "residents.saved", name=updated.name)


@_page("POST", r"/residents/{id:\d+}/delete", "delete a resident (confirmed)")
@view
async def console_resident_delete(request: web.Request, c: Console) -> web.StreamResponse:
    """The resident is erased (see domain/residents.py delete_resident); the household stays."""
    c.require_confirm()
    resident = await residents.get_resident(c.store, _resident_id(request))
    followups = c.request.app[delivery_key].followups()
    await residents.delete_resident(
        c.store, resident.id, now=c.now, after_promotion=followups.after_promotion
    )
    raise c.redirect("/console/residents", "residents.deleted", name=resident.name)


@_page("POST", r"/residents/{id:\d+}/contacts", "add a contact (last in the preference order)")
@view
async def console_contact_add(request: web.Request, c: Console) -> web.StreamResponse:
    """A new contact; a bad address comes back beside the add form's address field."""
    resident = await residents.get_resident(c.store, _resident_id(request))
    typed = {"channel": _raw(c.form, "channel"), "address": _raw(c.form, "address")}
    try:
        contact = contact_input(c.parse(ContactIn, typed))
        created = await residents.add_contact(
            c.store, resident.id, contact, region=_region(c), now=c.now
        )
    except ServiceError as exc:
        return await _edit_page(c, resident, values=typed, errors=c.errors(exc), status=exc.status)
    if created.signing_secret:
        fresh = await residents.get_resident(c.store, resident.id)
        return await _edit_page(c, fresh, secrets=[created])
    raise c.redirect(f"/console/residents/{resident.id}#contacts", "residents.contact_added")


def _contact_route(action: str, summary: str) -> Callable[[Handler], Handler]:
    return _page("POST", r"/residents/{id:\d+}/contacts/{contact_id:\d+}" + action, summary)


async def _target(request: web.Request, c: Console) -> tuple[Resident, Contact]:
    resident = await residents.get_resident(c.store, _resident_id(request))
    return resident, _contact(resident, int(request.match_info["contact_id"]))


async def _beside(
    c: Console, resident: Resident, exc: ServiceError, field: str, name: str
) -> web.Response:
    """The resident's page again with the error about `field` beside one contact's form
    field `name`."""
    errors = {(name if k == field else k): v for k, v in c.errors(exc).items()}
    return await _edit_page(c, resident, values=c.form, errors=errors, status=exc.status)


@_contact_route("", "change a contact's address")
@view
async def console_contact_update(request: web.Request, c: Console) -> web.StreamResponse:
    """A new address in canonical form; a bad one is shown beside that contact's field."""
    resident, contact = await _target(request, c)
    name = f"contact-{contact.id}-address"
    try:
        body = c.parse(ContactPatch, {"address": _raw(c.form, name)})
        await residents.update_contact(
            c.store,
            resident.id,
            contact.id,
            ContactChanges(address=body.address),
            region=_region(c),
            now=c.now,
        )
    except ServiceError as exc:
        return await _beside(c, resident, exc, "address", name)
    raise c.redirect(f"/console/residents/{resident.id}#contacts", "residents.contact_saved")


async def _set_opt_out(request: web.Request, c: Console, opted_out: bool) -> web.StreamResponse:
    resident, contact = await _target(request, c)
    await residents.update_contact(
        c.store,
        resident.id,
        contact.id,
        ContactChanges(opted_out=opted_out),
        region=_region(c),
        now=c.now,
    )
    flash = "residents.opted_out" if opted_out else "residents.opted_in"
    raise c.redirect(f"/console/residents/{resident.id}#contacts", flash, address=contact.address)


@_contact_route("/opt-out", "opt a contact out (confirmed)")
@view
async def console_contact_opt_out(request: web.Request, c: Console) -> web.StreamResponse:
    """No more messages to this address until it is opted back in."""
    c.require_confirm()
    return await _set_opt_out(request, c, True)


@_contact_route("/opt-in", "opt a contact back in")
@view
async def console_contact_opt_in(request: web.Request, c: Console) -> web.StreamResponse:
    """Messages may reach this address again."""
    return await _set_opt_out(request, c, False)


@_contact_route("/enable", "enable a contact disabled after its address was reported gone")
@view
async def console_contact_enable(request: web.Request, c: Console) -> web.StreamResponse:
    """The organiser says why it works again; a missing reason is shown beside its field."""
    resident, contact = await _target(request, c)
    name = f"contact-{contact.id}-reason"
    try:
        body = c.parse(ContactEnable, {"reason": _raw(c.form, name)})
        await residents.enable_contact(c.store, resident.id, contact.id, body.reason, now=c.now)
    except ServiceError as exc:
        return await _beside(c, resident, exc, "reason", name)
    raise c.redirect(
        f"/console/residents/{resident.id}#contacts", "residents.enabled", address=contact.address
    )


@_contact_route("/up", "move a contact up the preference order")
@view
async def console_contact_up(request: web.Request, c: Console) -> web.StreamResponse:
    """Swap the contact with the one before it: the first is the preferred channel."""
    resident, contact = await _target(request, c)
    order = [ct.id for ct in resident.contacts]
    at = order.index(contact.id)
    if at > 0:
        order[at - 1], order[at] = order[at], order[at - 1]
        await residents.reorder_contacts(c.store, resident.id, order)
    raise c.redirect(f"/console/residents/{resident.id}#contacts", "residents.moved")


@_contact_route("/delete", "delete a contact (confirmed)")
@view
async def console_contact_delete(request: web.Request, c: Console) -> web.StreamResponse:
    """The others keep their order."""
    c.require_confirm()
    resident, contact = await _target(request, c)
    await residents.delete_contact(c.store, resident.id, contact.id)
    raise c.redirect(
        f"/console/residents/{resident.id}#contacts",
        "residents.contact_deleted",
        address=contact.address,
    )


def _import_page(
    c: Console,
    *,
    status: int = 200,
    report: ImportReport | None = None,
    errors: dict[str, str] | None = None,
) -> web.Response:
    """The upload form, and after an import its counts and every refused row's problems."""
    problems = [
        (error.row, column, problem)
        for error in (report.errors if report else ())
        for column, problem in (list(error.fields.items()) or [("", error.message)])
    ]
    return c.render(
        "residents/import.html",
        status=status,
        report=report,
        problems=problems,
        errors=errors or {},
        columns=importer.COLUMNS,
    )


@_page("GET", "/residents/import", "the CSV import form")
@view
async def console_residents_import_form(request: web.Request, c: Console) -> web.StreamResponse:
    """Upload a CSV file; the columns are explained on the page."""
    return _import_page(c)


@_page("POST", "/residents/import", "import a CSV file", "multipart/form-data")
@view
async def console_residents_import(request: web.Request, c: Console) -> web.StreamResponse:
    """The API's importer: good rows in, each bad row listed by number, column and problem."""
    upload = c.form.get("file")
    if not isinstance(upload, web.FileField):
        return _import_page(c, status=400, errors={"file": c.t("residents.import_no_file")})
    try:
        report = await importer.import_residents_csv(
            c.store,
            upload.file.read(),
            region=_region(c),
            default_language=_default_language(c),
            now=c.now,
        )
    except ServiceError as exc:
        # A whole-file problem (not UTF-8, a bad header) belongs beside the file field.
        return _import_page(c, status=exc.status, errors={"file": exc.message})
    return _import_page(c, report=report)
