"""What a resident's SMS reply says: an answer ("1", "A7 y 2", "参加3人"), an opt-out
(STOP, TD, 退订), an opt-in (START, 开通), a request for help, or nothing we understand.
Pure: no I/O, no store; service/domain/sms_inbound.py acts on the result.

The message is read whole, as carriers read keywords: "STOP" opts out, "stop texting me"
does not. Before reading, it is normalised: NFKC (full-width "Ａ７　１" becomes "A7 1"),
upper case, quotes copied from the invitation ("“A1 1”") and closing . 。 ! ~ dropped,
commas and colons read as spaces, runs of spaces as one.

Decisions:
- YES is an answer, not an opt-in keyword: in Linli it is what an invitation asks for.
  (Twilio also reads YES as opt-in at its end; that only lifts Twilio's own block.) START,
  UNSTOP and 开通 opt back in.
- N and NO are answers; so is M (maybe). T, R and TD, China's usual opt-out words, opt out.
- CANCEL opts out, as at Twilio and the carriers: reading an opt-out as an answer would be
  worse than the reverse. "取消" alone is not understood (it earns the help text).
- A party size follows the answer: "1 3", "Y3", "YES 3", "参加3人", "参加 三人". After a
  digit answer a space is needed ("12" is not read), so is one between the code and a
  digit answer ("A11" is not read). A size after "no" is dropped: nobody is coming.
- An event code ("A7") may come first; "Y3" alone is yes for 3 people, "Y3 1" is event Y3.
- The consultation list ([M9]): "建议 …" / "需求 …" / "NEED …" raises a need (its words kept
  as typed, NFKC only); "支持 A3" / "SUPPORT A3" supports item A3 for the sender's
  household, "撤回 A3" / "取消支持 A3" / "WITHDRAW A3" withdraws that support.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from ..core.models import RsvpState


@dataclass(frozen=True)
class Answer:
    """yes, no or maybe; `party_size` None keeps the current size; `event_code` as "A7"."""

    answer: RsvpState
    party_size: int | None = None
    event_code: str | None = None


@dataclass(frozen=True)
class OptOut:
    """Send this number no more SMS."""


@dataclass(frozen=True)
class OptIn:
    """Send this number SMS again."""


@dataclass(frozen=True)
class Help:
    """The sender asks how to reply."""


@dataclass(frozen=True)
class Unknown:
    """Nothing we understand."""


@dataclass(frozen=True)
class NeedText:
    """A need the resident raises, in their words."""

    text: str


@dataclass(frozen=True)
class SupportItem:
    """Support (or withdraw support of) an item of the consultation list: "A3"."""

    item_code: str
    supporting: bool


Reply = Answer | OptOut | OptIn | Help | Unknown | NeedText | SupportItem

OPT_OUT: Final = frozenset(
    {
        "STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE",
        "OPTOUT", "OPT OUT", "TD", "T", "R", "退订", "取消订阅", "拒收",
    }
)  # fmt: skip
OPT_IN: Final = frozenset({"START", "UNSTOP", "开通", "恢复", "订阅"})
HELP: Final = frozenset({"HELP", "INFO", "?", "帮助", "求助"})
_WORDS: Final = {
    RsvpState.YES: ("1", "Y", "YES", "是", "参加"),
    RsvpState.NO: ("2", "N", "NO", "否", "不参加", "不去"),
    RsvpState.MAYBE: ("3", "M", "MAYBE", "待定"),
}
_ANSWER_OF: Final = {word: state for state, words in _WORDS.items() for word in words}
_CHINESE_SIZE: Final = {
    "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
    "十": 10,
}  # fmt: skip
# Longest words first, so "不参加" is not read as "不" + "参加" and "YES" not as "Y" + "ES".
_DIGIT_WORDS: Final = "|".join(w for w in _ANSWER_OF if w.isdigit())
_OTHER_WORDS: Final = "|".join(
    re.escape(w) for w in sorted((w for w in _ANSWER_OF if not w.isdigit()), key=len, reverse=True)
)


def _size_pattern(name: str) -> str:
    return rf"(?P<{name}>[0-9]{{1,3}}|[{''.join(_CHINESE_SIZE)}])\s*(?:人|位)?"


def _code_pattern(name: str) -> str:
    # A letter and a number; the letters are those of service/domain/events.py (no I, no O).
    return rf"(?P<{name}>[A-HJ-NP-Z][0-9]{{1,5}})"


# [code] answer [size]. The code is followed by a word answer directly or after spaces
# ("A7Y", "A7 Y"), by a digit answer after spaces only; a digit answer is followed by its
# size after spaces only, a word by its size directly too ("Y3", "参加3人").
_ANSWER: Final = re.compile(
    rf"(?:{_code_pattern('code')}\s*(?=[^0-9\s])|{_code_pattern('code2')}\s+)?"
    rf"(?:(?P<digit>{_DIGIT_WORDS})(?:\s+{_size_pattern('size')})?"
    rf"|(?P<word>{_OTHER_WORDS})(?:\s*{_size_pattern('size2')})?)"
)
# Read on the body as typed (full-width letters allowed), so the need keeps its own
# punctuation: NFKC would turn "，" into ",".
_NEED: Final = re.compile(
    r"(?:建议|需求|[NＮ][EＥ][EＥ][DＤ])(?:[\s:：,，]+|(?=[^\x00-\x7f]))(?P<text>\S.*)",
    re.IGNORECASE | re.DOTALL,
)
_SUPPORT: Final = re.compile(
    r"(?P<verb>支持|SUPPORT|撤回|取消支持|WITHDRAW)\s*(?P<code>A[0-9]{1,9})"
)
_SUPPORTING: Final = frozenset({"支持", "SUPPORT"})
_QUOTES: Final = "\"'“”‘’「」『』《》()[]<>"
_SEPARATORS: Final = re.compile(r"[,、:;，：；\s]+")
_INVISIBLE: Final = re.compile("[\u200b-\u200d\u2060\ufeff]")


def normalise(body: str) -> str:
    """The body as it is matched: NFKC, upper case, outer quotes and closing punctuation
    dropped, separators as single spaces."""
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", body)).upper()
    text = text.strip().strip(_QUOTES).strip()
    text = text.rstrip(".。!~").strip().strip(_QUOTES)
    return _SEPARATORS.sub(" ", text).strip()


def _size(text: str | None) -> int | None:
    if text is None:
        return None
    return _CHINESE_SIZE[text] if text in _CHINESE_SIZE else int(text)


def read_reply(body: str) -> Reply:
    """What the message body says (see the module's docstring for the forms read)."""
    need = _NEED.fullmatch(_INVISIBLE.sub("", body).strip())
    if need is not None:
        return NeedText(unicodedata.normalize("NFC", need["text"]).strip())
    text = normalise(body)
    support = _SUPPORT.fullmatch(text)
    if support is not None:
        return SupportItem(support["code"], support["verb"] in _SUPPORTING)
    if text in OPT_OUT:
        return OptOut()
    if text in OPT_IN:
        return OptIn()
    if text in HELP:
        return Help()
    found = _ANSWER.fullmatch(text)
    if found is None:
        return Unknown()
    word = found["digit"] or found["word"]
    answer = _ANSWER_OF[word]
    size = _size(found["size"] or found["size2"])
    return Answer(
        answer=answer,
        party_size=None if answer is RsvpState.NO else size,
        event_code=found["code"] or found["code2"],
    )
