"""Free text from people: what can be stored, and the one check every field goes through."""

from __future__ import annotations

import re
from typing import Final

from .errors import ValidationError

TEXT_NOT_UNICODE: Final = "contains characters that are not valid Unicode"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_unicode(text: str) -> bool:
    """False if `text` holds a lone surrogate (legal in JSON and Python, not in UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """What keeps `text` from being stored as it is, or None: lone surrogates and control
    characters (line breaks allowed when `multiline`)."""
    if not is_unicode(text):
        return TEXT_NOT_UNICODE
    if (_CONTROL_BUT_LINES if multiline else _CONTROL).search(text):
        if multiline:
            return "must not contain control characters"
        return "must not contain control characters or line breaks"
    return None


def check_text(field: str, text: str, limit: int | None = None, *, multiline: bool = False) -> str:
    """`text` trimmed, at most `limit` characters and storable; else a 400 naming `field`."""
    text = text.strip()
    if limit is not None and len(text) > limit:
        raise ValidationError.field(field, f"must be at most {limit} characters")
    problem = text_problem(text, multiline=multiline)
    if problem:
        raise ValidationError.field(field, problem)
    return text
