"""JSON from outside (API bodies, provider webhooks, provider answers), read so that no
input raises anything but JsonTextError: bytes that are not UTF-8, bad syntax, nesting
past the parser's recursion limit, an integer past Python's 4,300-digit limit, or a lone
UTF-16 surrogate escape, which JSON allows but no text can hold (storing, signing or
sending it would fail later, in the middle of a write)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from .text import is_unicode

# Only an escape can put a surrogate into decoded JSON: raw surrogates are not UTF-8.
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_TOO_DEEP: Final = "nests arrays or objects too deeply"


class JsonTextError(ValueError):
    """Why a JSON text cannot be read, phrased to follow "the body …"; `field` is the
    dotted path of a string no text can hold (a lone surrogate), else None."""

    def __init__(self, problem: str, field: str | None = None) -> None:
        super().__init__(problem)
        self.field = field


def loads(raw: bytes) -> Any:
    """The JSON value in `raw`, or JsonTextError saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonTextError("is not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise JsonTextError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise JsonTextError(_TOO_DEEP) from None
    except ValueError:  # int() refusing a number over sys.get_int_max_str_digits()
        raise JsonTextError("has a number too long to read") from None
    if _SURROGATE_ESCAPE.search(raw):
        try:
            field = _lone_surrogate_at(data, "")
        except RecursionError:
            raise JsonTextError(_TOO_DEEP) from None
        if field is not None:
            raise JsonTextError(
                f"has a lone UTF-16 surrogate escape (\\ud800-\\udfff) in {field}", field
            )
    return data


def _lone_surrogate_at(value: Any, path: str) -> str | None:
    """The dotted path of the first string in `value` that UTF-8 cannot encode."""
    # Pairs were joined by the decoder: any surrogate left is alone.
    if isinstance(value, str):
        return None if is_unicode(value) else path or "body"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        here = f"{path}.{key}" if path else str(key)
        if not is_unicode(here):
            return path or "body"  # the key itself: name where it is
        found = _lone_surrogate_at(item, here)
        if found is not None:
            return found
    return None
