"""Free text from people: what can be stored, and the one check every field goes through."""

from __future__ import annotations

import re
import unicodedata
from typing import Final, Literal

from .errors import ValidationError

TEXT_NOT_UNICODE: Final = "contains characters that are not valid Unicode"
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
NO_VISIBLE: Final = "must contain a visible character"
# Characters no one sees: controls (Cc), format characters (Cf: zero-width space, BOM,
# joiners, soft hyphen), spaces and separators (Z*); and the default-ignorable code points
# of Unicode's DerivedCoreProperties that are letters or marks (the Hangul fillers,
# variation selectors, the grapheme joiner), plus the blank Braille pattern, which are
# the usual ways to make a name that looks empty.
_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_INVISIBLE: Final = re.compile(
    "[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164"
    "\ufe00-\ufe0f\uffa0\U000e0100-\U000e01ef]"
)


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


def has_visible(text: str) -> bool:
    """Whether some character of `text` is one a reader can see."""
    return any(
        unicodedata.category(ch) not in _INVISIBLE_CATEGORIES and not _INVISIBLE.match(ch)
        for ch in text
    )


def check_name(field: str, text: str, limit: int, *, form: Literal["NFC", "NFKC"] = "NFC") -> str:
    """A name (a person's, a title, a unit label) as it is stored and compared: in Unicode
    normal `form`, trimmed, at most `limit` characters, with a character someone can see;
    else a 400 naming `field`.

    NFC makes the same letters typed precomposed or decomposed (é, e + ́) one name;
    NFKC, for labels such as units, also makes full-width digits and dashes (３－２) the
    ASCII ones. Normalising happens before the length check, which counts what is kept."""
    text = check_text(field, normal(text, form), limit)
    if not text:
        raise ValidationError.field(field, "must not be empty")
    if not has_visible(text):
        raise ValidationError.field(field, NO_VISIBLE)
    return text


def normal(text: str, form: Literal["NFC", "NFKC"] = "NFC") -> str:
    """`text` in Unicode normal `form` (as names are stored, so a search finds them); text
    with a lone surrogate as it is, for check_text to report."""
    return unicodedata.normalize(form, text) if is_unicode(text) else text
