"""Event codes: the short code residents type before an SMS answer ("A7 1")."""

from __future__ import annotations

from typing import Final

_CODE_LETTERS: Final = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: they read as 1 and 0


def event_code(event_id: int) -> str:
    """A short code residents type before an SMS answer ("A7 1"): a letter and a number,
    unique per event: A1 … Z1, then A2 …"""
    index = event_id - 1
    return f"{_CODE_LETTERS[index % len(_CODE_LETTERS)]}{index // len(_CODE_LETTERS) + 1}"


def read_event_code(code: str) -> int | None:
    """The event id a code names, or None."""
    code = code.strip().upper()
    if len(code) < 2 or code[0] not in _CODE_LETTERS or not code[1:].isdigit():
        return None
    number = int(code[1:])
    if number < 1:
        return None
    return (number - 1) * len(_CODE_LETTERS) + _CODE_LETTERS.index(code[0]) + 1
