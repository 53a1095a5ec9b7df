"""The resident's RSVP page behind the signed link in every message (see the event and the
answer, answer with a plain form that needs no JavaScript, add the event to a calendar),
and the signed action URLs an integrator's bot POSTs to answer for the resident."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from aiohttp import web
from markupsafe import Markup
from pydantic import Field

from ..core.checkin_codes import qr_svg
from ..core.errors import ConflictError, NotFoundError, ServiceError, ValidationError
from ..core.i18n import date_text, time_text
from ..core.models import AnswerVia, Event, Invitation, RsvpState
from ..core.phrases import area, language_for
from ..domain import checkin, rsvp
from ..domain.telegram_links import deep_link
from ..keys import clock_key, delivery_key, settings_key, store_key
from ..messages.calendar import event_ics
from ..messages.event_code import event_code
from ..messages.links import booking_token, needs_token, passbook_token, read_rsvp_token
from ..messages.plan import room_name_of
from ..store import Store
from ..store import bookings as booking_sql
from ..store import events as event_sql
from ..store import rsvp as rsvp_sql
from .jsonio import Body, parse_json, read_body, read_form, reply
from .pages import not_found_page, page
from .routing import Api, RawBody

# A resident's page in a browser, not part of the API document.
routes = Api(documented=False)
TAG = "rsvp page"
# Longer than any nonce the page makes (token_urlsafe(16) is 22 characters).
_MAX_NONCE: Final = 100


@dataclass(frozen=True)
class Invited:
    """A resident's live invitation as their page shows it."""

    event: Event
    invitation: Invitation  # with its waitlist position when waitlisted
    room_name: str | None
    closed: bool  # past the answer deadline: shown, but no form


def _words(request: web.Request, found: Invited) -> tuple[str, Mapping[str, str]]:
    """The page's language (the resident's, else the community's) and its phrases."""
    default = request.app[settings_key].community.default_language
    lang = language_for(found.invitation.language, default)
    return lang, area("rsvp_page", lang)


async def invited(store: Store, event_id: int, resident_id: int, now: datetime) -> Invited | None:
    """The invitation a link names, or None when there is nothing to answer: no such event
    or invitation, or an event that is a draft, cancelled or over (reads only)."""
    event = await event_sql.get_event(store.reader, event_id)
    if event is None:
        return None
    closed = False
    try:
        rsvp.answers_open(event, now, AnswerVia.LINK)
    except ConflictError as exc:
        if exc.code != "answers_closed":
            return None
        closed = True
    invitation = await rsvp_sql.invitation(store.reader, event_id, resident_id)
    if invitation is None:
        return None
    return Invited(
        event,
        await rsvp.placed(store.reader, invitation),
        await room_name_of(store.reader, event),
        closed,
    )


async def _from_token(request: web.Request) -> Invited | None:
    key = request.app[delivery_key].ready().links.key
    ids = read_rsvp_token(key, request.match_info["token"])
    if ids is None:
        return None
    return await invited(request.app[store_key], *ids, request.app[clock_key]())


def _saved(text: Mapping[str, str], invitation: Invitation) -> str:
    """The confirmation for where an answer now stands ("" while none is given: the link
    with ?saved=1 may be opened again, or shared, before anyone answers)."""
    if invitation.answer is RsvpState.PENDING:
        return ""
    if invitation.answer is RsvpState.WAITLISTED:
        return text["saved_waitlisted"].format(n=invitation.waitlist_position or "?")
    return text[f"saved_{invitation.answer}"].format(n=invitation.party_size)


def _problem(text: Mapping[str, str], found: Invited, error: ServiceError) -> str:
    """A coded error in the resident's words."""
    if error.code == "not_enough_seats":
        return text["not_enough_seats"].format(n=found.invitation.party_size)
    if error.code == "party_size_out_of_range" or "party_size" in error.fields:
        return text["party_size"].format(max=found.event.max_party_size)
    if error.code == "answers_closed":
        return text["closed"]
    if "answer" in error.fields:
        return text["answer"]
    return text["form"]


async def _render(
    request: web.Request,
    found: Invited,
    status: int = 200,
    *,
    saved: str = "",
    problem: str = "",
) -> web.Response:
    """The page for one invitation, with a fresh nonce for its form."""
    settings = request.app[settings_key]
    tz = settings.tz
    lang, text = _words(request, found)
    event, invitation = found.event, found.invitation
    starts, ends = event.starts_at.astimezone(tz), event.ends_at.astimezone(tz)
    same_day = starts.date() == ends.date()
    when = f"{date_text(starts, lang)}–{time_text(ends) if same_day else date_text(ends, lang)}"
    state = [text[str(invitation.answer)]]
    if invitation.answer is RsvpState.WAITLISTED and invitation.waitlist_position:
        state = [text["place"].format(n=invitation.waitlist_position)]
    if invitation.answer in (RsvpState.YES, RsvpState.WAITLISTED):
        state.append(text["party"].format(n=invitation.party_size))
    # A waitlisted party is asking for yes: the form shows that, not a blank choice.
    chosen = {RsvpState.WAITLISTED: "yes", RsvpState.PENDING: ""}.get(
        invitation.answer, str(invitation.answer)
    )
    telegram = settings.channels.telegram
    tg_link = ""
    links_key = request.app[delivery_key].ready().links.key
    if telegram.enabled and telegram.bot_username:
        tg_link = await deep_link(
            links_key,
            request.app[store_key].reader,
            telegram.bot_username,
            invitation.resident_id,
            request.app[clock_key](),
        )
    token = request.match_info["token"]
    code = await checkin.door_code(request.app[store_key].reader, invitation)
    home = await booking_sql.household_of(request.app[store_key].reader, invitation.resident_id)
    context: dict[str, Any] = {
        "lang": lang,
        "t": text,
        "community": settings.community.name,
        "event": event,
        "when": when,
        "place": ", ".join(dict.fromkeys(p for p in (found.room_name, event.location) if p)),
        "deadline": (
            date_text(event.rsvp_deadline.astimezone(tz), lang) if event.rsvp_deadline else ""
        ),
        "invitation": invitation,
        "state": ("，" if lang == "zh-CN" else ", ").join(state),
        "closed": found.closed,
        "answers": ("yes", "no", "maybe"),
        "chosen": chosen,
        "party_sizes": range(1, event.max_party_size + 1),
        "nonce": secrets.token_urlsafe(16),
        "action": f"/r/{token}",
        "calendar": f"/r/{token}/event.ics",
        # The resident's own page for booking the community's rooms (service/domain/bookings.py).
        "booking_page": f"/b/{booking_token(links_key, invitation.resident_id)}",
        # The household's points passbook (service/web/passbook_page.py).
        "passbook_page": f"/p/{passbook_token(links_key, home[0])}" if home else "",
        # The resident's needs page ([M9]): raise a need, support the consultation list.
        "needs_page": f"/n/{needs_token(links_key, invitation.resident_id)}",
        "needs_label": area("consultation", lang)["rsvp_link"],
        "sms_hint": text["sms_hint"].format(code=event_code(event.id)),
        "telegram_link": tg_link,
        "saved": saved,
        "problem": problem,
        "checkin_code": code or "",
        # segno's SVG is built from the code alone (6 letters of a fixed alphabet).
        "checkin_qr": Markup(qr_svg(code)) if code else "",
    }
    return page("rsvp.html", status, **context)


@routes.route(
    "GET",
    "/r/{token}",
    summary="A resident's RSVP page: the event, their answer and a form (changes nothing)",
    tag=TAG,
    roles=None,
    response_media="text/html",
    errors=(404,),
    prefixed=False,
)
async def rsvp_page(request: web.Request) -> web.Response:
    """Link scanners and previews fetch this too, so it only reads."""
    found = await _from_token(request)
    if found is None:
        return not_found_page(request)
    # ?saved=1 is where the form's POST sends the browser: say the answer was taken.
    text = _words(request, found)[1]
    saved = _saved(text, found.invitation) if request.query.get("saved") else ""
    return await _render(request, found, saved=saved)


def _form_answer(form: Mapping[str, Any]) -> tuple[RsvpState, int | None, str | None]:
    """(answer, party size, nonce) from the page's form, or a ValidationError naming the
    field (the page shows it in the resident's words)."""
    answer = form.get("answer")
    if answer not in ("yes", "no", "maybe"):
        raise ValidationError.field("answer", "must be yes, no or maybe", code="invalid_answer")
    raw_size = form.get("party_size")
    size: int | None = None
    if raw_size not in (None, ""):
        try:
            size = int(raw_size) if isinstance(raw_size, str) else None
        except ValueError:
            size = None
        if size is None:
            raise ValidationError.field(
                "party_size",
                "must be a whole number of people",
                code="party_size_out_of_range",
            )
    nonce = form.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE):
        raise ValidationError.field("nonce", "is not one this page made", code="invalid_nonce")
    return RsvpState(answer), size, nonce


@routes.route(
    "POST",
    "/r/{token}",
    summary="Answer from the RSVP page's form (answer, party_size, nonce); answers with the page",
    tag=TAG,
    roles=None,
    body=RawBody(
        "application/x-www-form-urlencoded",
        "answer (yes, no or maybe), party_size (1 to the event's max_party_size) and the"
        " page's nonce, which makes a repeated submission change nothing",
    ),
    response_media="text/html",
    errors=(400, 404, 409),
    prefixed=False,
)
async def rsvp_submit(request: web.Request) -> web.Response:
    """Commit the form's answer, then Post/Redirect/Get: 303 to the page, which shows the
    confirmation (so reloading it sends nothing again). A refused form gets the page with
    the problem in the resident's words (400 or 409) and changes nothing."""
    key = request.app[delivery_key].ready().links.key
    token = request.match_info["token"]
    ids = read_rsvp_token(key, token)
    if ids is None:
        return not_found_page(request)
    try:
        answer, size, nonce = _form_answer(await read_form(request))
        # The common case reads nothing first: apply_answer checks the invitation, the
        # event and the deadline in its own transaction.
        await _answer(request, *ids, answer, size, nonce, AnswerVia.LINK)
    except ServiceError as exc:
        found = await _from_token(request)
        if found is None or isinstance(exc, NotFoundError) or exc.code == "event_closed":
            return not_found_page(request)
        text = _words(request, found)[1]
        return await _render(request, found, exc.status, problem=_problem(text, found, exc))
    return web.Response(status=303, headers={"Location": f"/r/{token}?saved=1"})


async def _answer(
    request: web.Request,
    event_id: int,
    resident_id: int,
    answer: RsvpState,
    size: int | None,
    nonce: str | None,
    via: AnswerVia,
) -> rsvp.AnswerOutcome:
    """Apply one answer for the invitation; the nonce is scoped to it, so another page's
    nonce can never swallow this one's answer."""
    delivery = request.app[delivery_key]
    outcome = await rsvp.apply_answer(
        request.app[store_key],
        rsvp.AnswerRequest(
            event_id=event_id,
            resident_id=resident_id,
            answer=answer,
            via=via,
            party_size=size,
            key=None if nonce is None else f"{via}:{event_id}.{resident_id}:{nonce}",
        ),
        now=request.app[clock_key](),
        after=delivery.followups().after_answer,
    )
    return outcome


@routes.route(
    "GET",
    "/r/{token}/event.ics",
    summary="The event as an iCalendar file (METHOD:PUBLISH) for 'add to calendar'",
    tag=TAG,
    roles=None,
    response_media="text/calendar",
    errors=(404,),
    prefixed=False,
)
async def rsvp_calendar(request: web.Request) -> web.Response:
    """The same UID as the email invitations, so a calendar updates rather than adds."""
    found = await _from_token(request)
    settings = request.app[settings_key]
    if found is None:
        return not_found_page(request)
    ics = event_ics(
        found.event,
        uid_domain=urlsplit(settings.public_url).hostname or "localhost",
        now=request.app[clock_key](),
        room_name=found.room_name,
    )
    return web.Response(
        text=ics,
        content_type="text/calendar",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="event-{found.event.id}.ics"',
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


class ActionIn(Body):
    """An optional body for an action URL; an empty body answers with the current size."""

    party_size: int | None = Field(
        None, ge=1, le=100, description="The resident plus the others they bring"
    )
    nonce: str | None = Field(
        None,
        min_length=1,
        max_length=_MAX_NONCE,
        description="Makes a repeated request (a retry) change nothing",
    )


@dataclass(frozen=True)
class ActionOut:
    """Where the resident's answer stands now; `repeated`: the nonce was seen before."""

    invitation: Invitation
    previous: RsvpState
    repeated: bool


@routes.route(
    "POST",
    "/r/{token}/{answer:yes|no|maybe}",
    summary="Answer for the resident through a signed action URL (an integrator's bot)",
    tag=TAG,
    roles=None,
    # Declared raw: an empty body is allowed with any Content-Type (bots often send none).
    body=RawBody(
        "application/json",
        "optional: {party_size: 1..100, nonce: string} — the party size (kept when left out)"
        " and a nonce that makes a retried request change nothing",
    ),
    response=ActionOut,
    errors=(400, 404, 409),
    prefixed=False,
)
async def rsvp_action(request: web.Request) -> web.Response:
    """The token in the URL is the credential; errors are the API's JSON errors."""
    raw = await read_body(request)
    body = await parse_json(request, ActionIn) if raw.strip() else ActionIn()
    found = await _from_token(request)
    if found is None:
        raise NotFoundError("this link names no open invitation", code="invitation_not_found")
    outcome = await _answer(
        request,
        found.event.id,
        found.invitation.resident_id,
        RsvpState(request.match_info["answer"]),
        body.party_size,
        body.nonce,
        AnswerVia.WEBHOOK,
    )
    return reply(request, ActionOut(outcome.invitation, outcome.previous, outcome.repeated))
