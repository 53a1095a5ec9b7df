"""Mail read into values, without the store: calendar parts of any type-name case, only
METHOD:REPLY read as an answer, repeated ATTENDEE lines, a missing ORGANIZER, bounces,
and the answer a plain reply seems to give."""

from __future__ import annotations

from datetime import timedelta

import pytest

from service.core.models import RsvpState
from service.domain.mail_reading import read_mail
from service.domain.mail_words import suggest
from tests.conftest import START
from tests.itip import SHAPES, bounce, plain_reply

TO = "replies+1-2-abc@linli.example.org"
UID = "linli-event-1@linli.example.org"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_mail_reading_reads_each_clients_reply(shape: str) -> None:
    raw = SHAPES[shape](
        to=TO, sender="a@example.org", uid=UID, partstat="DECLINED", sequence=2,
        dtstamp=START + timedelta(minutes=3), message_id="<m1@x>",
    )  # fmt: skip

    mail = read_mail(raw, envelope=("relay-rcpt@x",))

    assert mail.key == "<m1@x>" and mail.recipients[0] == "relay-rcpt@x" and TO in mail.recipients
    assert {(r.uid, r.sequence, r.partstat) for r in mail.replies} == {(UID, 2, "DECLINED")}
    assert all(r.dtstamp == START + timedelta(minutes=3) for r in mail.replies)
    # Outlook.com leaves ORGANIZER out; Gmail and Apple repeat it.
    organizers = {r.organizer for r in mail.replies}
    assert organizers == ({None} if shape == "outlook" else {TO})
    assert mail.bounce is None


def test_mail_reading_a_request_sent_to_us_is_no_answer() -> None:
    raw = SHAPES["apple"](to=TO, sender="a@example.org", uid=UID, dtstamp=START)
    raw = raw.replace(b"METHOD:REPLY", b"METHOD:REQUEST").replace(
        b"method=REPLY", b"method=REQUEST"
    )

    mail = read_mail(raw)

    assert mail.replies == () and mail.other_methods


def test_mail_reading_bounce_names_the_failed_message() -> None:
    mail = read_mail(bounce(to=TO, failed="gone@example.org", original_id="<msg_1@l>", when=START))

    assert mail.bounce is not None and mail.automatic
    assert (mail.bounce.original_id, mail.bounce.recipient) == ("<msg_1@l>", "gone@example.org")
    assert mail.bounce.address_gone


def test_mail_reading_plain_reply_drops_the_quoted_invitation() -> None:
    mail = read_mail(plain_reply(to=TO, sender="a@x.org", text="我来，两个人", message_id="<p@x>",
                                 when=START))  # fmt: skip

    assert mail.text == "我来，两个人" and mail.replies == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我来，两个人", (RsvpState.YES, 2)),
        ("不来了，谢谢", (RsvpState.NO, None)),
        ("Sorry, can't make it", (RsvpState.NO, None)),
        ("可能来", (RsvpState.MAYBE, None)),
        ("Yes, 3 people", (RsvpState.YES, 3)),
        ("参加3人", (RsvpState.YES, 3)),
        ("请问几点结束？", (None, None)),
        ("yesterday I asked", (None, None)),
    ],
)
def test_mail_words_suggest_what_a_reply_seems_to_say(
    text: str, expected: tuple[RsvpState | None, int | None]
) -> None:
    assert suggest(text) == expected
