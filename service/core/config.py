"""How a setting is declared: a dataclass field with its default, an optional check and a
`secret` marker. Neutral ground: service/settings.py declares its sections with these, and
each channel module declares its own [channels.<name>] table with them, so channels need
not import the app's settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

Check = Callable[[Any], str | None]


def setting(default: Any, check: Check | None = None, *, secret: bool = False) -> Any:
    """A settings field: `check` returns why a value is wrong (or None); a `secret` one is
    never shown (the console says only set / not set) nor logged."""
    metadata: dict[str, Any] = {"secret": secret}
    if check:
        metadata["check"] = check
    return field(default=default, metadata=metadata)


def secret_names(section: type) -> tuple[str, ...]:
    """The fields of a settings section marked secret."""
    return tuple(f.name for f in dataclasses.fields(section) if f.metadata.get("secret"))


def between(low: int, high: int) -> Check:
    """A check: low <= value <= high."""

    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def one_of(*choices: str) -> Check:
    """A check: the value is one of `choices`."""

    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def at_least(low: float) -> Check:
    """A check: value >= low."""

    def check(value: Any) -> str | None:
        return None if value >= low else f"must be at least {low:g}"

    return check


def not_empty(value: Any) -> str | None:
    """A check: not blank."""
    return None if str(value).strip() else "must not be empty"


def url_or_empty(value: Any) -> str | None:
    """A check: an http(s) URL, or empty."""
    if value == "" or value.startswith(("http://", "https://")):
        return None
    return "must start with http:// or https://, or be empty"
