"""The organiser's inbox of mail to the reply address that no rule could apply: a plain
reply ("我来，两个人"), a TENTATIVE from a calendar, a reply refused (answers closed, no
seats). One click applies the answer it suggests (or the one chosen) through
`rsvp.apply_answer`, recorded as the organiser's; or dismisses it. Each item is handled
once: a second click is 409 inbox_item_handled."""

from __future__ import annotations

from datetime import datetime

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import AnswerVia, RsvpState
from ..store import Store, Tx
from ..store import mailin as sql
from ..store.mailin import InboxItem
from .followups import Followups
from .rsvp import AnswerOutcome, AnswerRequest, apply_answer


async def inbox(store: Store, *, open_only: bool = True) -> list[InboxItem]:
    """The inbox, newest first (at most 200); by default only what is still open."""
    return await sql.inbox(store.reader, open_only=open_only)


def _handled() -> ConflictError:
    return ConflictError("this mail has been handled already", code="inbox_item_handled")


async def _open_item(store: Store, item_id: int) -> InboxItem:
    item = await sql.inbox_item(store.reader, item_id)
    if item is None:
        raise NotFoundError(f"no inbox item {item_id}", code="inbox_item_not_found")
    if item.handled_at is not None:
        raise _handled()
    return item


async def apply_item(
    store: Store,
    item_id: int,
    *,
    actor: str,
    followups: Followups,
    now: datetime,
    answer: RsvpState | None = None,
    party_size: int | None = None,
) -> AnswerOutcome:
    """Apply the item's answer (the suggested one unless `answer` is given) for the
    resident whose invitation the mail came back to, and mark the item handled, in one
    transaction."""
    item = await _open_item(store, item_id)
    if item.event_id is None or item.resident_id is None:
        raise ConflictError(
            "this mail came to no invitation's address; answer from the attendance page",
            code="inbox_item_unmatched",
        )
    chosen = answer or (RsvpState(item.suggested) if item.suggested else None)
    if chosen is None:
        raise ValidationError.field(
            "answer", "the mail suggests no answer: choose yes, no or maybe", code="answer_required"
        )
    size = party_size if party_size is not None else item.party_size

    async def after(tx: Tx, outcome: AnswerOutcome, at: datetime) -> int:
        if not await sql.handle(tx, item_id, actor=actor, handled_as=str(chosen), now=at):
            raise _handled()
        return await followups.after_answer(tx, outcome, at)

    return await apply_answer(
        store,
        AnswerRequest(
            item.event_id,
            item.resident_id,
            chosen,
            AnswerVia.ORGANISER,
            party_size=size,
            actor=actor,
            key=f"inbox:{item_id}",
        ),
        now=now,
        after=after,
    )


async def dismiss_item(store: Store, item_id: int, *, actor: str, now: datetime) -> None:
    """Mark the item handled without answering."""
    await _open_item(store, item_id)

    async def txn(tx: Tx) -> None:
        if not await sql.handle(tx, item_id, actor=actor, handled_as="dismissed", now=now):
            raise _handled()

    await store.write(txn)
