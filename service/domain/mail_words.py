"""What a plain mail reply seems to say ("我来，两个人", "Sorry, can't make it"): an answer
and a party size to suggest to the organiser, never applied by itself. Pure. The text is
first read as an SMS reply is (service/domain/sms_replies.py); failing that, by the words
people write in a mail: a refusal before a maybe before a yes, since "不来" holds "来"."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from ..core.models import RsvpState
from .sms_replies import Answer, read_reply

_NO: Final = (
    "不来", "不去", "不参加", "来不了", "去不了", "参加不了", "没空", "没时间", "不能",
    "CAN'T", "CANNOT", "CAN NOT", "NOT COMING", "WON'T", "UNABLE", "DECLINE", "SORRY",
)  # fmt: skip
_MAYBE: Final = ("可能", "也许", "不确定", "看情况", "再说", "MAYBE", "PERHAPS", "NOT SURE")
_YES: Final = (
    "我来", "会来", "来", "参加", "报名", "去", "好的", "YES", "COMING", "ACCEPT",
    "COUNT ME IN", "I'LL BE THERE", "WILL BE THERE", "SURE",
)  # fmt: skip
_CHINESE: Final = {"一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_SIZE: Final = re.compile(
    r"(?P<n>[0-9]{1,2}|[一二两俩三四五六])\s*(?:个人|个|人|位|口人|口)"
    r"|(?P<en>[0-9]{1,2})\s*(?:PEOPLE|PERSONS|OF US|GUESTS)"
)


def suggest(text: str) -> tuple[RsvpState | None, int | None]:
    """(answer, party size) the text seems to give; (None, None) when it gives none."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    said = read_reply(first)
    if isinstance(said, Answer):
        return said.answer, said.party_size
    words = unicodedata.normalize("NFKC", text).upper().replace("’", "'")
    answer = None
    for state, choices in ((RsvpState.NO, _NO), (RsvpState.MAYBE, _MAYBE), (RsvpState.YES, _YES)):
        if any(_has(words, choice) for choice in choices):
            answer = state
            break
    if answer is None or answer is RsvpState.NO:
        return answer, None
    found = _SIZE.search(words)
    if found is None:
        return answer, None
    number = found.group("n") or found.group("en")
    return answer, _CHINESE[number] if number in _CHINESE else int(number)


def _has(words: str, choice: str) -> bool:
    if choice.isascii():  # whole words only: "yesterday" is no yes
        return re.search(rf"(?<![A-Z]){re.escape(choice)}(?![A-Z])", words) is not None
    return choice in words
