"""The Telegram bot's side of a conversation: `/start <token>` links a chat to a resident,
`/points` answers with their household's passbook balance, and the answer buttons under
invitations answer for them. These functions take the store
and return what the bot should say; service/web/telegram.py says it through the Bot API.

Every update is applied once: its update_id is remembered ("tg:update:<id>") in the same
transaction as what it did, so Telegram delivering it again changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..core.errors import ConflictError, NotFoundError, ServiceError, ValidationError
from ..core.models import AnswerVia, Channel, Invitation, RsvpState
from ..core.phrases import area, phrase
from ..messages.links import read_button_data, read_item_button_data
from ..store import Store, Tx
from ..store import events as event_sql
from ..store import ledger as ledger_sql
from ..store import passbook_reads as passbook_sql
from ..store import recipients as recipients_sql
from ..store import residents as resident_sql
from ..store import rsvp as rsvp_sql
from ..store.checkin import invitation_code
from . import items
from .consultation_inbound import need_by_telegram
from .followups import Followups
from .residents import MAX_CONTACTS
from .rsvp import AnswerRequest, apply_answer
from .telegram_links import read_link_token, spend_link_token

# Telegram's limit on a message's text.
MAX_TEXT: Final = 4096
# Opens the line the bot adds under a message it edits, so the next edit replaces it.
STATUS_MARK: Final = "📋 "
_ACTIONS: Final = {"y": RsvpState.YES, "n": RsvpState.NO, "m": RsvpState.MAYBE, "p": RsvpState.YES}
# Button fields the bot itself sends; a kept keyboard carries these only.
_BUTTON_FIELDS: Final = ("text", "callback_data", "url")

Keyboard = list[list[dict[str, str]]]


def texts(language: str) -> Mapping[str, str]:
    """The bot's phrases (area telegram_bot) in `language`, one of ours: an update's
    language is the sender's or the community's (see _language)."""
    return area("telegram_bot", language)


def update_key(update_id: int) -> str:
    """The request key that makes an update apply once."""
    return f"tg:update:{update_id}"


@dataclass(frozen=True)
class ChatMessage:
    """A text someone sent the bot."""

    update_id: int
    chat_id: int
    private: bool
    text: str
    language: str


@dataclass(frozen=True)
class ButtonPress:
    """A press of an inline button under one of the bot's messages. `chat_id` is the
    message's chat (the sender's own id when Telegram left the message out)."""

    update_id: int
    query_id: str
    data: str
    chat_id: int
    message_id: int | None
    message_text: str | None
    keyboard: Keyboard | None
    language: str


@dataclass(frozen=True)
class ButtonAnswer:
    """What follows a press: a notice under the button (answerCallbackQuery), and when the
    message should change, its new text and whether its buttons stay."""

    notice: str
    text: str | None = None
    keep_buttons: bool = True


def _is_id(value: Any) -> bool:
    # The Bot API's ids (update, chat, user, message) have at most 52 significant bits: a
    # bigger number did not come from Telegram, and would not fit a contact or the store.
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**52


def _language(sender: Any, default: str) -> str:
    """The sender's Telegram app language as one of ours."""
    code = sender.get("language_code") if isinstance(sender, dict) else None
    if isinstance(code, str):
        if code.lower().startswith("zh"):
            return "zh-CN"
        if code.lower().startswith("en"):
            return "en"
    return default


def _keyboard(markup: Any) -> Keyboard | None:
    """The inline keyboard of a message as Telegram shows it back, our fields only."""
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list):
        return None
    kept: Keyboard = []
    for row in rows:
        if not isinstance(row, list):
            return None
        buttons = [
            {k: b[k] for k in _BUTTON_FIELDS if isinstance(b.get(k), str)}
            for b in row
            if isinstance(b, dict) and isinstance(b.get("text"), str)
        ]
        if buttons:
            kept.append(buttons)
    return kept or None


def parse_update(data: Any, default_language: str) -> ChatMessage | ButtonPress | None:
    """The part of a Bot API Update the bot acts on; None for kinds it leaves alone (edits,
    photos, members joining). ValidationError when `data` is not an Update at all."""
    if not isinstance(data, dict) or not _is_id(data.get("update_id")):
        raise ValidationError(
            "not a Telegram update: expected an object with an integer update_id",
            code="invalid_update",
        )
    update_id: int = data["update_id"]
    message, query = data.get("message"), data.get("callback_query")
    if isinstance(message, dict):
        chat, text = message.get("chat"), message.get("text")
        if not isinstance(chat, dict) or not _is_id(chat.get("id")) or not isinstance(text, str):
            return None
        return ChatMessage(
            update_id,
            chat["id"],
            chat.get("type") == "private",
            text,
            _language(message.get("from"), default_language),
        )
    if isinstance(query, dict):
        sender, shown = query.get("from"), query.get("message")
        if not isinstance(query.get("id"), str) or not isinstance(sender, dict):
            return None
        chat = shown.get("chat") if isinstance(shown, dict) else None
        if isinstance(chat, dict) and _is_id(chat.get("id")):
            chat_id = chat["id"]
        elif _is_id(sender.get("id")):
            chat_id = sender["id"]
        else:
            return None
        shown = shown if isinstance(shown, dict) else {}
        message_id, text = shown.get("message_id"), shown.get("text")
        data_field = query.get("data")
        return ButtonPress(
            update_id,
            query["id"],
            data_field if isinstance(data_field, str) else "",
            chat_id,
            message_id if _is_id(message_id) else None,
            # An "inaccessible" message (older than 48 hours) comes without its text.
            text if isinstance(text, str) and text else None,
            _keyboard(shown.get("reply_markup")),
            _language(sender, default_language),
        )
    return None


async def receive_message(
    store: Store,
    message: ChatMessage,
    *,
    key: bytes,
    followups: Followups,
    now: datetime,
) -> str | None:
    """`/start <token>` in a private chat links it to the token's resident (the
    confirmation is queued in the outbox); `/need <text>` raises a need for the chat's
    resident; any other text there earns a short help. Returns
    a text to send at once, or None when there is nothing to say now."""
    # Commands are case-insensitive and end at any whitespace: a phone capitalises
    # "/Start", a pasted link can bring a tab or a line break.
    command, payload = [*message.text.split(maxsplit=1), "", ""][:2]
    command = command.partition("@")[0].lower()  # "/start@linli_bot" in a group
    payload = payload.strip()
    said = texts(message.language)

    async def txn(tx: Tx) -> str | None:
        if not await rsvp_sql.mark_seen(tx, update_key(message.update_id), now):
            return None
        if not message.private:
            # A group linked to one resident would let anyone in it answer for them; and
            # the group's own talk is not addressed to the bot.
            return said["private_only"] if command == "/start" else None
        if command == "/points":
            return await _points(tx, message, said)
        if command == "/need":
            needed = await need_by_telegram(tx, message.chat_id, payload, message.update_id, now)
            return said["help"] if needed is None else needed
        if command != "/start" or not payload:
            return said["help"]
        return await _link(tx, message, payload, key=key, followups=followups, now=now)

    return await store.write(txn)


async def _points(tx: Tx, message: ChatMessage, said: Mapping[str, str]) -> str:
    """The linked resident's household balance, summed from its lines."""
    household_id = await passbook_sql.household_of_chat(tx, str(message.chat_id))
    if household_id is None:
        return said["points_unlinked"]
    account = await ledger_sql.account_of(tx, household_id)
    points = 0 if account is None else await ledger_sql.line_sum(tx, account.id)
    return said["points"].format(points=points)


async def _link(
    tx: Tx, message: ChatMessage, token: str, *, key: bytes, followups: Followups, now: datetime
) -> str | None:
    """Add (or use again) the chat as the resident's telegram contact, last in their order."""
    said = texts(message.language)
    resident_id = read_link_token(key, token, now)
    # Looked up before spending: a token outliving its resident must not reach the insert.
    person = None if resident_id is None else await recipients_sql.recipient(tx, resident_id)
    if resident_id is None or person is None:
        return said["bad_link"]
    address = str(message.chat_id)
    found = await resident_sql.find_contact(tx, resident_id, Channel.TELEGRAM, address)
    if found is None and len(await resident_sql.list_contacts(tx, resident_id)) >= MAX_CONTACTS:
        return texts(person.language)["too_many"]
    if await spend_link_token(key, tx, token, now) is None:
        return said["bad_link"]
    if found is None:
        contact_id = (
            await resident_sql.insert_contact(
                tx, resident_id, Channel.TELEGRAM, address, opted_out_at=None, now=now
            )
        ).id
    else:
        # Linking again is asking for notices again, whatever stopped them before.
        await recipients_sql.enable_contact(
            tx, found.id, "the resident linked this chat again", now
        )
        contact_id = found.id
    await resident_sql.touch_resident(tx, resident_id, now)
    reach = await recipients_sql.contact(tx, contact_id, now)
    assert reach is not None
    linked = texts(person.language)["linked"].format(name=person.name)
    await followups.reply(tx, reach, linked, person.language, now)
    return None


def _answer_text(invitation: Invitation, said: Mapping[str, str]) -> str:
    """The answer in words: "参加 2 人", "going, 2 people"."""
    state = invitation.answer
    size = invitation.party_size
    people = "person" if size == 1 else "people"
    if state in (RsvpState.YES, RsvpState.WAITLISTED):
        return said[str(state)].format(n=size, people=people)
    return said[str(state)]


def edited_text(original: str | None, status: str) -> str | None:
    """The message's text with the bot's status line (replacing an earlier one), within
    Telegram's length limit; None when the message's text is not known."""
    if original is None:
        return None
    base = original
    head, sep, last = original.rpartition("\n\n")
    if sep and last.startswith(STATUS_MARK):
        base = head
    line = f"{STATUS_MARK}{status}"
    room = MAX_TEXT - len(line) - 2
    return f"{base[:room]}\n\n{line}"


async def press_button(
    store: Store,
    press: ButtonPress,
    *,
    key: bytes,
    followups: Followups,
    now: datetime,
) -> ButtonAnswer:
    """Answer for the resident the button names, if the button is genuine and was pressed
    in one of that resident's own chats. "+1" asks for one more person, saying yes."""
    if press.data.startswith("i."):
        return await _support_button(store, press, key=key, now=now)
    found = read_button_data(key, press.data)
    if found is None:
        return ButtonAnswer(texts(press.language)["bad_button"])
    event_id, resident_id, action = found
    own = await resident_sql.find_contact(
        store.reader, resident_id, Channel.TELEGRAM, str(press.chat_id)
    )
    if own is None:
        return ButtonAnswer(texts(press.language)["not_yours"])
    current = await rsvp_sql.invitation(store.reader, event_id, resident_id)
    if current is None:
        return ButtonAnswer(texts(press.language)["no_invitation"])
    said = texts(current.language)
    try:
        outcome = await apply_answer(
            store,
            AnswerRequest(
                event_id,
                resident_id,
                _ACTIONS[action],
                AnswerVia.TELEGRAM,
                party_more=1 if action == "p" else 0,
                key=update_key(press.update_id),
                address=str(press.chat_id),
            ),
            now=now,
            after=followups.after_answer,
        )
    except ConflictError as exc:
        if exc.code == "not_enough_seats":
            return ButtonAnswer(said["no_seats"])
        closed = said["answers_closed" if exc.code == "answers_closed" else "event_closed"]
        status = said["closed"]
        if current.answer is not RsvpState.PENDING:
            answer = said["status"].format(answer=_answer_text(current, said))
            status = f"{answer}{said['and']}{status}"
        return ButtonAnswer(closed, edited_text(press.message_text, status), keep_buttons=False)
    except ValidationError:  # party_size_out_of_range: "+1" past the event's limit
        event = await event_sql.get_event(store.reader, event_id)
        limit = event.max_party_size if event is not None else current.party_size
        return ButtonAnswer(said["party_cap"].format(max=limit))
    except NotFoundError:
        return ButtonAnswer(said["no_invitation"])
    answer = _answer_text(outcome.invitation, said)
    if outcome.invitation.answer is RsvpState.YES:
        # The edited message is this answer's confirmation (no other follows it), so it
        # keeps the door code where the resident will look for it.
        code = await invitation_code(store.reader, outcome.invitation.id)
        if code is not None:
            answer += said["and"] + said["checkin_code"].format(code=code)
    return ButtonAnswer(
        said["noted"].format(answer=answer),
        edited_text(press.message_text, said["status"].format(answer=answer)),
    )


async def _support_button(
    store: Store, press: ButtonPress, *, key: bytes, now: datetime
) -> ButtonAnswer:
    """A meeting invitation's "支持 A3" button: the item supported for the household of the
    resident it was sent to, if pressed in that resident's own chat; applied once."""
    said = texts(press.language)
    found = read_item_button_data(key, press.data)
    if found is None:
        return ButtonAnswer(said["bad_button"])
    item_id, resident_id = found
    own = await resident_sql.find_contact(
        store.reader, resident_id, Channel.TELEGRAM, str(press.chat_id)
    )
    if own is None:
        return ButtonAnswer(said["not_yours"])
    person = await recipients_sql.recipient(store.reader, resident_id)
    language = press.language if person is None else person.language

    async def txn(tx: Tx) -> ButtonAnswer:
        await rsvp_sql.mark_seen(tx, update_key(press.update_id), now)
        try:
            outcome = await items.support_in(
                tx, item_id, supporting=True, resident_id=resident_id, via="telegram", now=now
            )
        except ServiceError as exc:
            reason = "sms_item_closed" if exc.code == "item_decided" else "sms_unknown_item"
            return ButtonAnswer(phrase(f"consultation.{reason}", language, code=f"A{item_id}"))
        words = phrase(
            "consultation.telegram_supported",
            language,
            code=f"A{item_id}",
            n=outcome.support_count,
        )
        return ButtonAnswer(words)

    return await store.write(txn)
