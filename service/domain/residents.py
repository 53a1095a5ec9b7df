"""Residents: the people of a household, their tags, and the contacts that reach them."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final, Literal

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import Channel, Contact, Household, Language, Page, Resident
from ..core.text import check_name, check_text, normal
from ..core.webhook_rules import is_valid_secret, new_secret
from ..store import Store, Tx
from ..store import events as event_sql
from ..store import households as household_sql
from ..store import recipients as recipients_sql
from ..store import residents as sql
from .contacts import canonical_address, phone_or_none
from .households import clean_unit, ensure_household
from .rsvp import AfterPromotion, promote

log = logging.getLogger("linli.residents")

MAX_NAME: Final = 100
MAX_TAG: Final = 64
MAX_TAGS: Final = 50
MAX_NOTES: Final = 2000
MAX_CONTACTS: Final = 20
MAX_REASON: Final = 500
# Names and tags are one line of text; notes may have line breaks.


@dataclass(frozen=True)
class ContactInput:
    """A way to reach a resident, as typed (canonicalised on the way in)."""

    channel: Channel
    address: str
    opted_out: bool = False
    # A webhook's whsec_ secret; generated when None.
    signing_secret: str | None = None


@dataclass(frozen=True)
class ResidentInput:
    """A new resident; one of household_id and unit is required."""

    name: str
    household_id: int | None = None
    unit: str | None = None  # a unit label; the household is created if missing
    language: Language | None = None  # None: the community's default language
    tags: tuple[str, ...] = ()
    notes: str = ""
    contacts: tuple[ContactInput, ...] = ()  # in preference order


@dataclass(frozen=True)
class ResidentChanges:
    """Fields to set; None leaves a field as it is. `tags` replaces the whole set."""

    name: str | None = None
    household_id: int | None = None
    unit: str | None = None
    language: Language | None = None
    tags: tuple[str, ...] | None = None
    notes: str | None = None


@dataclass(frozen=True)
class ContactChanges:
    """A contact's fields to set; None leaves a field as it is."""

    address: str | None = None
    opted_out: bool | None = None


def clean_name(name: str, *, field: str = "name") -> str:
    """A resident's name in NFC, trimmed; empty, too long or with nothing visible is a 400
    (so the same name typed two ways is one resident of a household)."""
    return check_name(field, name, MAX_NAME)


def clean_tags(tags: Iterable[str], *, field: str = "tags") -> tuple[str, ...]:
    """Tags trimmed, blanks dropped, duplicates merged, sorted. Case is kept as given:
    tags are labels people chose ("building-3", "长者"), and the audience matches them exactly."""
    cleaned: set[str] = set()
    for tag in tags:
        tag = check_text(field, tag)
        if len(tag) > MAX_TAG:
            raise ValidationError.field(field, f"{tag[:20]!r}… is longer than {MAX_TAG} characters")
        if tag:
            cleaned.add(tag)
    if len(cleaned) > MAX_TAGS:
        raise ValidationError.field(field, f"at most {MAX_TAGS} tags")
    return tuple(sorted(cleaned))


def _clean_notes(notes: str) -> str:
    notes = check_text("notes", notes, multiline=True)
    if len(notes) > MAX_NOTES:
        raise ValidationError.field("notes", f"must be at most {MAX_NOTES} characters")
    return notes


def _clean_unit(unit: str | None) -> str | None:
    return None if unit is None else clean_unit(unit)


def signing_secret_for(channel: Channel, given: str | None, field: str) -> str | None:
    """A webhook contact's signing secret: the one given (checked), or a new one."""
    if channel is not Channel.WEBHOOK:
        if given is not None:
            raise ValidationError.field(field, "only webhook contacts have a signing secret")
        return None
    if given is None:
        return new_secret()
    if not is_valid_secret(given):
        raise ValidationError.field(
            field, "must be whsec_ followed by base64 of at least 24 random bytes"
        )
    return given


def _canonical_contacts(
    contacts: Sequence[ContactInput], *, region: str
) -> list[tuple[Channel, str, bool, str | None]]:
    """Each contact's canonical (channel, address, opted_out); the field named on error is
    `contacts.N.address`, as the API's own validation names it."""
    if len(contacts) > MAX_CONTACTS:
        raise ValidationError.field("contacts", f"at most {MAX_CONTACTS} contacts")
    out: list[tuple[Channel, str, bool, str | None]] = []
    seen: dict[tuple[Channel, str], int] = {}
    for index, contact in enumerate(contacts):
        name = f"contacts.{index}.address"
        try:
            address = canonical_address(contact.channel, contact.address, region=region)
        except ValidationError as exc:
            reason = exc.fields.get("address", exc.message)
            raise ValidationError.field(name, reason) from None
        first = seen.setdefault((contact.channel, address), index)
        if first != index:
            raise ConflictError(
                f"{name}: the same {contact.channel} contact as contacts.{first}",
                code="contact_exists",
                fields={name: f"same as contacts.{first}"},
            )
        secret = signing_secret_for(
            contact.channel, contact.signing_secret, f"contacts.{index}.signing_secret"
        )
        out.append((contact.channel, address, contact.opted_out, secret))
    return out


def _not_found(resident_id: int) -> NotFoundError:
    return NotFoundError(f"no resident {resident_id}", code="resident_not_found")


async def _existing(tx: Tx, resident_id: int) -> Resident:
    found = await sql.get_resident(tx, resident_id)
    if found is None:
        raise _not_found(resident_id)
    return found


async def _household(
    tx: Tx, *, household_id: int | None, unit: str | None, now: datetime
) -> Household:
    """The household named by id, or by unit label (created if missing)."""
    if household_id is not None:
        found = await household_sql.get_household(tx, household_id)
        if found is None:
            raise NotFoundError(
                f"household_id: no household {household_id}",
                code="household_not_found",
                fields={"household_id": "no such household"},
            )
        if unit is not None and unit != found.unit:
            raise ValidationError.field(
                "unit", f"household {household_id} is {found.unit!r}; give only one of the two"
            )
        return found
    if unit is None:
        raise ValidationError(
            "give household_id or unit", fields={"unit": "required unless household_id is given"}
        )
    return await ensure_household(
        tx, unit=unit, building=None, notes="", now=now, must_be_new=False
    )


async def check_name_free(
    tx: Tx, household: Household, name: str, resident_id: int | None = None
) -> None:
    """409 resident_exists if someone else in `household` has this name."""
    found = await sql.find_resident(tx, household.id, name)
    if found is not None and found.id != resident_id:
        raise ConflictError(
            f"name: {name!r} already lives in {household.unit} (resident {found.id})",
            code="resident_exists",
            fields={"name": "already exists in this household"},
        )


async def create_resident(
    store: Store,
    data: ResidentInput,
    *,
    region: str,
    default_language: Language,
    now: datetime,
) -> Resident:
    """A new resident with tags and contacts; the household is created from `unit` if new."""
    name = clean_name(data.name)
    tags = clean_tags(data.tags)
    notes = _clean_notes(data.notes)
    unit = _clean_unit(data.unit)
    contacts = _canonical_contacts(data.contacts, region=region)
    language = data.language or default_language

    async def txn(tx: Tx) -> Resident:
        household = await _household(tx, household_id=data.household_id, unit=unit, now=now)
        await check_name_free(tx, household, name)
        resident_id = await sql.insert_resident(tx, household.id, name, language, notes, now)
        await sql.add_tags(tx, resident_id, tags)
        shown: dict[int, str] = {}
        for channel, address, opted_out, secret in contacts:
            created = await sql.insert_contact(
                tx,
                resident_id,
                channel,
                address,
                opted_out_at=now if opted_out else None,
                now=now,
                signing_secret=secret,
            )
            if secret is not None:
                shown[created.id] = secret
        resident = await _existing(tx, resident_id)
        # Secrets are shown in this one response and never again.
        return replace(
            resident,
            contacts=tuple(replace(c, signing_secret=shown.get(c.id)) for c in resident.contacts),
        )

    return await store.write(txn)


async def get_resident(store: Store, resident_id: int) -> Resident:
    """One resident with tags and contacts, or 404."""
    found = await sql.get_resident(store.reader, resident_id)
    if found is None:
        raise _not_found(resident_id)
    return found


def _search(field: str, value: str | None, form: Literal["NFC", "NFKC"] = "NFC") -> str | None:
    value = check_text(field, normal(value, form)) if value is not None else None
    return value or None


async def list_residents(
    store: Store,
    *,
    text: str | None,
    unit: str | None,
    phone: str | None,
    tag: list[str],
    household_id: int | None,
    limit: int,
    offset: int,
    region: str,
) -> Page[Resident]:
    """Residents matching every filter given, a page at a time, ordered by unit and name.

    `text`: in the name or unit; `unit`: a unit label prefix; `phone`: a number in any
    common format, or some of its digits; `tag`: any of these tags."""
    text, unit = _search("q", text), _search("unit", unit, "NFKC")
    phone = _search("phone", phone)
    exact = digits = None
    if phone:
        exact = phone_or_none(phone, region=region)
        if exact is None:
            # NFKC turns full-width digits (１３８) into ASCII ones.
            digits = re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", phone))
            if not digits:
                raise ValidationError.field("phone", "must contain digits")
    items, total = await sql.search_residents(
        store.reader,
        text=text,
        unit_prefix=unit,
        phone=exact,
        phone_digits=digits,
        tags=clean_tags(tag, field="tag"),
        household_id=household_id,
        limit=limit,
        offset=offset,
    )
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


async def tags_in_use(store: Store) -> list[tuple[str, int]]:
    """Every tag some resident has, with how many have it (for filters and pickers)."""
    return await sql.tag_counts(store.reader)


async def update_resident(
    store: Store, resident_id: int, changes: ResidentChanges, *, now: datetime
) -> Resident:
    """Change a resident; moving them to a unit creates its household if missing."""
    name = clean_name(changes.name) if changes.name is not None else None
    tags = clean_tags(changes.tags) if changes.tags is not None else None
    notes = _clean_notes(changes.notes) if changes.notes is not None else None
    unit = _clean_unit(changes.unit)

    async def txn(tx: Tx) -> Resident:
        current = await _existing(tx, resident_id)
        if changes.household_id is not None or unit is not None:
            household = await _household(tx, household_id=changes.household_id, unit=unit, now=now)
        else:
            found = await household_sql.get_household(tx, current.household_id)
            assert found is not None  # residents.household_id is a foreign key
            household = found
        new_name = name if name is not None else current.name
        if (household.id, new_name) != (current.household_id, current.name):
            await check_name_free(tx, household, new_name, resident_id)
        await sql.update_resident(
            tx,
            resident_id,
            household_id=household.id,
            name=new_name,
            language=changes.language or current.language,
            notes=notes if notes is not None else current.notes,
            now=now,
        )
        if tags is not None:
            await sql.replace_tags(tx, resident_id, tags)
        return await _existing(tx, resident_id)

    return await store.write(txn)


async def delete_resident(
    store: Store,
    resident_id: int,
    *,
    now: datetime,
    after_promotion: AfterPromotion | None = None,
) -> sql.Erasure:
    """Erase a resident (PIPL art. 47, GDPR art. 17) in one transaction, keeping the
    counts that statistics need (see store/residents.py erase_resident for each table).

    Their tags, contacts, check-in codes and Telegram links go; their answers to events
    already started stay in the counts with nobody behind them; their invitations to
    events not yet started go, and the waitlist of such an event moves up into the seats
    they held (`after_promotion` queues the notices in the same transaction); their
    bookings still to come are cancelled; the messages that reached them keep kind,
    channel and status but lose address and text, and those still waiting are cancelled.
    The household stays.

    The store zeroes what it deletes (secure_delete), and the WAL, which still holds the
    old pages, is checkpointed and truncated at once, so the number is gone from disk."""

    async def txn(tx: Tx) -> sql.Erasure:
        await _existing(tx, resident_id)
        erased = await sql.erase_resident(tx, resident_id, now)
        for event_id in erased.freed_events:
            event = await event_sql.get_event(tx, event_id)
            if event is None:
                continue
            promoted = await promote(tx, event, now)
            if promoted and after_promotion is not None:
                await after_promotion(tx, event, promoted, now)
        return erased

    erased = await store.write(txn)
    await store.checkpoint()
    log.info(
        "resident %d erased; %d message(s) blanked, %d booking(s) cancelled",
        resident_id,
        erased.blanked,
        erased.cancelled_bookings,
    )
    return erased


def _contact_exists(contact: Contact) -> ConflictError:
    return ConflictError(
        f"address: this resident already has {contact.channel} contact {contact.id}"
        f" with that address",
        code="contact_exists",
        fields={"address": "already exists for this resident"},
    )


async def add_contact(
    store: Store, resident_id: int, contact: ContactInput, *, region: str, now: datetime
) -> Contact:
    """A new contact, last in the resident's preference order."""
    address = canonical_address(contact.channel, contact.address, region=region)
    secret = signing_secret_for(contact.channel, contact.signing_secret, "signing_secret")

    async def txn(tx: Tx) -> Contact:
        current = await _existing(tx, resident_id)
        found = await sql.find_contact(tx, resident_id, contact.channel, address)
        if found is not None:
            raise _contact_exists(found)
        if len(current.contacts) >= MAX_CONTACTS:
            raise ConflictError(
                f"resident {resident_id} already has {MAX_CONTACTS} contacts; delete one first",
                code="too_many_contacts",
            )
        created = await sql.insert_contact(
            tx,
            resident_id,
            contact.channel,
            address,
            opted_out_at=now if contact.opted_out else None,
            now=now,
            signing_secret=secret,
        )
        await sql.touch_resident(tx, resident_id, now)
        return created

    return await store.write(txn)


async def _existing_contact(tx: Tx, resident_id: int, contact_id: int) -> Contact:
    await _existing(tx, resident_id)
    found = await sql.get_contact(tx, resident_id, contact_id)
    if found is None:
        raise NotFoundError(
            f"resident {resident_id} has no contact {contact_id}", code="contact_not_found"
        )
    return found


async def list_contacts(store: Store, resident_id: int) -> list[Contact]:
    """A resident's contacts in preference order, or 404 for an unknown resident."""
    return list((await get_resident(store, resident_id)).contacts)


async def update_contact(
    store: Store,
    resident_id: int,
    contact_id: int,
    changes: ContactChanges,
    *,
    region: str,
    now: datetime,
) -> Contact:
    """Change a contact's address, or opt it out (recording when) or back in."""
    address: str | None = None
    if changes.address is not None:
        # The channel never changes, so reading it before the write is safe.
        before = await sql.get_contact(store.reader, resident_id, contact_id)
        if before is not None:
            address = canonical_address(before.channel, changes.address, region=region)

    async def txn(tx: Tx) -> Contact:
        current = await _existing_contact(tx, resident_id, contact_id)
        new_address = address if address is not None else current.address
        if new_address != current.address:
            clash = await sql.find_contact(tx, resident_id, current.channel, new_address)
            if clash is not None:
                raise _contact_exists(clash)
        opted_out_at = current.opted_out_at
        if changes.opted_out is True and opted_out_at is None:
            opted_out_at = now
        elif changes.opted_out is False:
            opted_out_at = None
        await sql.update_contact(tx, contact_id, address=new_address, opted_out_at=opted_out_at)
        await sql.touch_resident(tx, resident_id, now)
        updated = await sql.get_contact(tx, resident_id, contact_id)
        assert updated is not None
        return updated

    return await store.write(txn)


async def enable_contact(
    store: Store, resident_id: int, contact_id: int, reason: str, *, now: datetime
) -> Contact:
    """Use a contact disabled after the far end said it was gone (webhook 410, a blocked
    bot, Twilio 21610) again: the organiser says why, and the contact's history keeps
    both why it was disabled and why it was enabled. 409 contact_not_disabled otherwise;
    an opt-out is the resident's own and is not touched."""
    reason = check_text("reason", reason, MAX_REASON)
    if not reason:
        raise ValidationError.field("reason", "must say why the address works again")

    async def txn(tx: Tx) -> Contact:
        await _existing_contact(tx, resident_id, contact_id)
        if not await recipients_sql.reenable_contact(tx, contact_id, reason, now):
            raise ConflictError(
                f"contact {contact_id} is not disabled", code="contact_not_disabled"
            )
        await sql.touch_resident(tx, resident_id, now)
        return await _existing_contact(tx, resident_id, contact_id)

    return await store.write(txn)


async def delete_contact(store: Store, resident_id: int, contact_id: int) -> None:
    """Remove a contact; the others keep their order."""

    async def txn(tx: Tx) -> None:
        await _existing_contact(tx, resident_id, contact_id)
        await sql.delete_contact(tx, contact_id)
        remaining = await sql.list_contacts(tx, resident_id)
        await sql.set_contact_order(tx, resident_id, [c.id for c in remaining])

    await store.write(txn)


async def reorder_contacts(store: Store, resident_id: int, contact_ids: list[int]) -> Resident:
    """Set the resident's channel preference: `contact_ids` lists each contact once, first
    preferred."""

    async def txn(tx: Tx) -> Resident:
        current = await _existing(tx, resident_id)
        have = [c.id for c in current.contacts]
        if len(set(contact_ids)) != len(contact_ids):
            raise ValidationError.field("contact_ids", "lists a contact more than once")
        unknown = sorted(set(contact_ids) - set(have))
        if unknown:
            raise ValidationError.field(
                "contact_ids", f"not contacts of resident {resident_id}: {unknown}"
            )
        missing = sorted(set(have) - set(contact_ids))
        if missing:
            raise ValidationError.field("contact_ids", f"must also list contacts {missing}")
        await sql.set_contact_order(tx, resident_id, contact_ids)
        return await _existing(tx, resident_id)

    return await store.write(txn)
