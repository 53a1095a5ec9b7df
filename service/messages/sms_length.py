"""How long an SMS is on the air: its encoding, the units the limit counts, and its parts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

# GSM 03.38 basic character set (ESC, 0x1B, left out: it only introduces the extension table).
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + the character, so it costs two septets.
_GSM_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

_GSM_SINGLE: Final = 160
_GSM_PART: Final = 153  # a concatenated part loses 7 septets to its user data header
_UCS2_SINGLE: Final = 70
_UCS2_PART: Final = 67


@dataclass(frozen=True)
class SmsLength:
    """An SMS's size: `characters` counts what the limit counts (septets for GSM-7, UTF-16
    code units for UCS-2); `per_segment` is the limit that applied (160/153 or 70/67)."""

    encoding: Literal["GSM-7", "UCS-2"]
    characters: int
    segments: int
    per_segment: int


def sms_length(text: str) -> SmsLength:
    """The encoding, length and segment count a phone would show for `text`; empty text is
    one GSM-7 segment of 0 characters, as phones show it (and as a gateway would bill it)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        costs = [2 if c in _GSM_EXTENSION else 1 for c in text]
        return _fit("GSM-7", costs, _GSM_SINGLE, _GSM_PART)
    # Characters outside the BMP (emoji) are a surrogate pair: two code units.
    costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return _fit("UCS-2", costs, _UCS2_SINGLE, _UCS2_PART)


def _fit(
    encoding: Literal["GSM-7", "UCS-2"], costs: list[int], single: int, part: int
) -> SmsLength:
    """Pack characters into parts; an escape pair or a surrogate pair is never split across
    two parts, so a part may hold one unit less than `part`."""
    total = sum(costs)
    if total <= single:
        return SmsLength(encoding, total, 1, single)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments, used = segments + 1, 0
        used += cost
    return SmsLength(encoding, total, segments, part)
