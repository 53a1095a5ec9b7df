"""Reading a resident's SMS reply: answers with sizes and event codes, full-width and
spaced forms, opt-out and opt-in keywords, help, and what is not understood."""

from __future__ import annotations

import pytest

from service.core.models import RsvpState
from service.domain.sms_replies import (
    Answer,
    Help,
    OptIn,
    OptOut,
    Reply,
    Unknown,
    normalise,
    read_reply,
)
from service.messages.event_code import event_code, read_event_code

YES, NO, MAYBE = RsvpState.YES, RsvpState.NO, RsvpState.MAYBE

ANSWERS: list[tuple[str, Reply]] = [
    # The three answers, each way of saying them.
    ("1", Answer(YES)),
    ("Y", Answer(YES)),
    ("y", Answer(YES)),
    ("YES", Answer(YES)),
    ("Yes", Answer(YES)),
    ("是", Answer(YES)),
    ("参加", Answer(YES)),
    ("2", Answer(NO)),
    ("N", Answer(NO)),
    ("no", Answer(NO)),
    ("否", Answer(NO)),
    ("不参加", Answer(NO)),
    ("不去", Answer(NO)),
    ("3", Answer(MAYBE)),
    ("M", Answer(MAYBE)),
    ("maybe", Answer(MAYBE)),
    ("待定", Answer(MAYBE)),
    # A party size after the answer.
    ("1 3", Answer(YES, 3)),
    ("1  3", Answer(YES, 3)),
    ("1,3", Answer(YES, 3)),
    ("1，3", Answer(YES, 3)),
    ("1 3人", Answer(YES, 3)),
    ("Y3", Answer(YES, 3)),
    ("y 3", Answer(YES, 3)),
    ("YES 3", Answer(YES, 3)),
    ("yes3", Answer(YES, 3)),
    ("参加 3", Answer(YES, 3)),
    ("参加3人", Answer(YES, 3)),
    ("参加 3 人", Answer(YES, 3)),
    ("参加两人", Answer(YES, 2)),
    ("参加 三位", Answer(YES, 3)),
    ("3 2", Answer(MAYBE, 2)),
    ("待定2人", Answer(MAYBE, 2)),
    ("1 0", Answer(YES, 0)),  # refused later, with the event's limit in the reply
    # Nobody comes with a no: its size is dropped.
    ("2 3", Answer(NO)),
    ("N2", Answer(NO)),
    ("不参加 2人", Answer(NO)),
    # An event code first.
    ("A7 1", Answer(YES, None, "A7")),
    ("a7 y 2", Answer(YES, 2, "A7")),
    ("A7Y", Answer(YES, None, "A7")),
    ("A7 Y2", Answer(YES, 2, "A7")),
    ("B12 2", Answer(NO, None, "B12")),
    ("Z1 3 2", Answer(MAYBE, 2, "Z1")),
    ("A1参加2人", Answer(YES, 2, "A1")),
    ("Y3 1", Answer(YES, None, "Y3")),  # Y3 with an answer after it is an event code
    ("M2 1 4", Answer(YES, 4, "M2")),
    # Full-width letters, digits and spaces, as Chinese input methods type them.
    ("Ａ７　１", Answer(YES, None, "A7")),
    ("Ａ１　２", Answer(NO, None, "A1")),
    ("１　２", Answer(YES, 2)),
    ("ｙ３", Answer(YES, 3)),
    ("ＹＥＳ", Answer(YES)),
    ("Ｂ３　参加　２人", Answer(YES, 2, "B3")),
    # Spaces, quotes copied from the invitation, a closing full stop.
    ("  1  ", Answer(YES)),
    ("\t1 2\n", Answer(YES, 2)),
    ("“A1 1”", Answer(YES, None, "A1")),
    ('"A1 1"', Answer(YES, None, "A1")),
    ("「A1 2」", Answer(NO, None, "A1")),
    ("参加。", Answer(YES)),
    ("1.", Answer(YES)),
    ("yes!", Answer(YES)),
    ("\u200b1", Answer(YES)),
]

KEYWORDS: list[tuple[str, Reply]] = [
    ("STOP", OptOut()),
    ("stop", OptOut()),
    ("Stop.", OptOut()),
    ("ＳＴＯＰ", OptOut()),
    ("STOPALL", OptOut()),
    ("stop all", OptOut()),
    ("UNSUBSCRIBE", OptOut()),
    ("CANCEL", OptOut()),
    ("END", OptOut()),
    ("QUIT", OptOut()),
    ("REVOKE", OptOut()),
    ("OPTOUT", OptOut()),
    ("TD", OptOut()),
    ("td", OptOut()),
    ("T", OptOut()),
    ("R", OptOut()),
    ("退订", OptOut()),
    ("退订。", OptOut()),
    ("取消订阅", OptOut()),
    ("拒收", OptOut()),
    ("START", OptIn()),
    ("start", OptIn()),
    ("UNSTOP", OptIn()),
    ("开通", OptIn()),
    ("恢复", OptIn()),
    ("HELP", Help()),
    ("help", Help()),
    ("INFO", Help()),
    ("?", Help()),
    ("？", Help()),
    ("帮助", Help()),
]

NOT_UNDERSTOOD = [
    "",
    "   ",
    "hello",
    "好的",
    "取消",  # cancel what? an answer or the SMS: we ask rather than guess
    "stop please",
    "stop texting me",
    "please help",
    "12",  # yes for 2, or twelve? a space is needed after a digit answer
    "A11",  # A1 yes, or event A11? a space is needed before a digit answer
    "A7",  # a code alone answers nothing
    "1 2 3",
    "Y Y",
    "I1 1",  # no event code has I or O
    "O1 1",
    "1 -2",
    "1?",
    "4",
    "0",
]


@pytest.mark.parametrize(("body", "expected"), ANSWERS + KEYWORDS)
def test_read_reply_understands(body: str, expected: Reply) -> None:
    assert read_reply(body) == expected


@pytest.mark.parametrize("body", NOT_UNDERSTOOD)
def test_read_reply_does_not_guess(body: str) -> None:
    assert read_reply(body) == Unknown()


def test_read_reply_yes_is_an_answer_and_n_is_not_an_opt_out() -> None:
    # Twilio reads YES as opt-in; an invitation asks for it as an answer.
    assert read_reply("YES") == Answer(YES)
    assert read_reply("N") == Answer(NO)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Ａ７　１", "A7 1"),
        ("  a7   y ,2 ", "A7 Y 2"),
        ("“Stop。”", "STOP"),
        ("参加、３人", "参加 3人"),
    ],
)
def test_normalise_makes_full_width_ascii_and_spaces_single(body: str, expected: str) -> None:
    assert normalise(body) == expected


@pytest.mark.parametrize("event_id", [1, 7, 24, 25, 100, 12_345])
def test_read_reply_reads_every_event_code_the_service_prints(event_id: int) -> None:
    code = event_code(event_id)
    reply = read_reply(f"{code.lower()} 1")
    assert reply == Answer(YES, None, code)
    assert read_event_code(code) == event_id
