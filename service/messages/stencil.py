"""Stencils: a send renders each template once per shape and fills in each resident.

A send of thousands renders the same template for the same event again and again; only
the resident's own values differ (name, unit, id, links, check-in code). A stencil is the
template rendered once with a marker in place of each such value; a resident's message
is the stencil with their values put where the markers landed, in the form each place
needs: as they are, HTML-escaped, or escaped inside a JSON string. It is used only where
that is the same as rendering in full:

- Only the shipped templates: tests/test_stencil.py holds each of them to its full
  rendering for residents of every shape. An organiser's override is rendered in full for
  every message: it can turn a marker into plain text (a `~` join, `|string`) and read
  that without spoiling anything, and two checked messages cannot prove it did not. (A
  send renders overrides in the sandbox process, service/messages/sandbox.py, not here.)
- Values a template may branch on are part of the stencil's key, not markers: which parts
  exist, None, empty and boolean values, zero, the language, the answer, the party size.
- A marker refuses to be looked at: comparing it, measuring it, slicing it, calling a
  method on it or doing arithmetic with it spoils the stencil (the template reads the
  value, so one rendering cannot stand for all), and that key's messages are rendered in
  full.
- Every marker must land whole, in one of the three known forms: one cut, encoded or
  transformed any other way leaves a trace of its sentinel, and spoils the stencil.
- The first messages of each stencil are also rendered in full and compared; a
  difference spoils it.
- A value with whitespace that tidying would change (at either end, in runs, line
  breaks), or holding a sentinel, is not filled in: that message is rendered in full.

A Stencils lives for one send, so the event, the note and the community are the same for
every message it renders: its keys hold only what varies from resident to resident.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, Final

from markupsafe import escape

from .limits import SIZE_LIMIT
from .render import Rendered, Renderer

log = logging.getLogger("linli.stencil")

# The parts of the context that are the resident's own, and those the same for a whole
# send; a context with any other part is rendered in full.
_PERSONAL: Final = ("resident", "links", "rsvp")
_SHARED: Final = frozenset({"community", "event", "message"})
_PARTS: Final = _SHARED | frozenset(_PERSONAL)
# Personal values templates branch on, by the part holding them: kept in the key, never
# markers.
_STEERING: Final[Mapping[tuple[str, ...], frozenset[str]]] = {
    ("resident",): frozenset({"language"}),
    ("rsvp",): frozenset({"answer", "party_size"}),
}
# Private-use characters no resident value holds (such a value is rendered in full).
_START: Final = "\ue000"
_END: Final = "\ue001"
# What a marker's sentinel looks like after the encodings a template might apply: as it
# is, JSON-escaped ("\ue000") and URL-encoded. A trace of one spoils the stencil.
_TRACES: Final = (_START, _END, "ue000", "ue001", "uE000", "uE001", "%EE%80%8", "%ee%80%8")
# Numbers stand in for a resident's numbers: nineteen digits no real value has.
_NUMBER_BASE: Final = 8_264_930_000_000_000_000
# Stencils checked against a full rendering before they are trusted.
_VERIFY: Final = 2
# Keys one send keeps (a send has a few: languages × shapes × channels).
_MAX_KEYS: Final = 256

_RAW, _HTML, _JSON = 0, 1, 2
_watch: ContextVar[list[bool] | None] = ContextVar("stencil_watch", default=None)


def _spoil() -> None:
    flags = _watch.get()
    if flags is not None:
        flags[0] = True


def _spoiling(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any) -> Any:
        _spoil()
        return getattr(super(type(self), self), name)(*args)

    method.__name__ = name
    return method


# What a marker spoils the stencil on: comparing, measuring, indexing, iterating, arithmetic.
_EITHER_OPS: Final = (
    *("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"),
    *("__add__", "__radd__", "__mul__", "__rmul__", "__mod__", "__rmod__"),
)
_STR_OPS: Final = (*_EITHER_OPS, "__len__", "__contains__", "__getitem__", "__iter__")
_INT_OPS: Final = (
    *_EITHER_OPS,
    *("__sub__", "__rsub__", "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__"),
    *("__pow__", "__rpow__", "__neg__", "__pos__", "__abs__", "__invert__", "__round__"),
    *("__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__"),
    *("__lshift__", "__rshift__", "__index__", "__int__", "__float__"),
)


class _Marker:
    """A resident's value in a stencil: stands for it whole, and spoils the stencil when a
    template looks at it rather than only printing it."""

    __slots__ = ()
    # What the renderer's filters, tests, calls and operators call when handed a marker.
    linli_read = staticmethod(_spoil)

    def __getattribute__(self, name: str) -> Any:
        # Protocol probes (markupsafe asks for __html__) only copy the value.
        if not name.startswith("_"):
            _spoil()
        return super().__getattribute__(name)

    def __bool__(self) -> bool:
        return True  # empty texts and zero are keys, not markers

    def __hash__(self) -> int:
        _spoil()
        return super().__hash__()

    def __format__(self, spec: str) -> str:
        if spec:
            _spoil()
        return super().__format__(spec)


class _Text(_Marker, str):
    __slots__ = ()


class _Number(_Marker, int):
    __slots__ = ()


for _name in _STR_OPS:
    setattr(_Text, _name, _spoiling(_name))
for _name in _INT_OPS:
    setattr(_Number, _name, _spoiling(_name))


class _Unsuited(Exception):
    """This resident's values cannot be filled into a stencil."""


def _plain(text: str) -> bool:
    return " ".join(text.split()) == text and _START not in text and _END not in text


def _role(value: object, steering: bool) -> str:
    """How a personal value enters a stencil: "{" a part holding more, "=" in the key,
    "s" or "i" as a text or number marker."""
    kind = type(value)
    if steering or value is None:
        return "="
    if kind is str:
        if value == "":
            return "="
        if not _plain(value):  # type: ignore[arg-type]
            raise _Unsuited
        return "s"
    if kind is int:
        return "=" if value == 0 else "i"
    if kind is bool:
        return "="
    if isinstance(value, dict):
        return "{"
    raise _Unsuited


def _walk(
    node: Mapping[str, Any], path: tuple[str, ...], shape: list[object], values: list[object]
) -> None:
    """The key parts and the marker values of one personal part, in its order."""
    steering = _STEERING.get(path, ())
    for name, value in node.items():
        role = _role(value, name in steering)
        shape.append((path, name, value if role == "=" else role))
        if role == "{":
            _walk(value, (*path, name), shape, values)
        elif role != "=":
            values.append(value)


def _marked(node: Mapping[str, Any], path: tuple[str, ...], counter: list[int]) -> dict[str, Any]:
    """A copy of a personal part with a marker for each value _walk collects, in its order."""
    steering = _STEERING.get(path, ())
    copy: dict[str, Any] = {}
    for name, value in node.items():
        role = _role(value, name in steering)
        if role == "{":
            copy[name] = _marked(value, (*path, name), counter)
        elif role == "=":
            copy[name] = value
        else:
            n = counter[0]
            counter[0] += 1
            copy[name] = _Number(_NUMBER_BASE + n) if role == "i" else _Text(_text_marker(n))
    return copy


def _text_marker(n: int) -> str:
    # Holds < & " ': each of the three forms differs, and none is inside another; and mK,
    # which every change of case changes.
    return f"{_START}mK{n}<&\"'{_END}"


def _json_inner(text: str) -> str:
    # What json.dumps(text, ensure_ascii=False) writes between its quotes, without building
    # an encoder each time.
    return encode_basestring(text)[1:-1]


# A stencil block: literal text and, between, (marker number, form) slots.
_Block = tuple[str | tuple[int, int], ...]


@dataclass(frozen=True)
class _Stencil:
    subject: _Block
    text: _Block
    html: _Block | None
    payload: bool

    def fill(self, values: list[object]) -> Rendered:
        forms: dict[tuple[int, int], str] = {}

        def form(slot: tuple[int, int]) -> str:
            value = values[slot[0]]
            raw = str(value)
            if slot[1] == _HTML:
                found = str(escape(raw))
            elif slot[1] == _JSON and type(value) is str:
                found = _json_inner(raw)
            else:
                found = raw
            forms[slot] = found
            return found

        def block(parts: _Block) -> str:
            return "".join(
                [
                    part if type(part) is str else forms.get(part) or form(part)  # type: ignore[arg-type]
                    for part in parts
                ]
            )

        return Rendered(
            subject=block(self.subject),
            text=block(self.text),
            html=None if self.html is None else block(self.html),
            is_json=self.payload,
        )


def _split(text: str, pattern: re.Pattern[str], slots: Mapping[str, tuple[int, int]]) -> _Block:
    """The block as literals and slots; a sentinel left in a literal refuses it."""
    parts: list[str | tuple[int, int]] = []
    for n, piece in enumerate(pattern.split(text)):
        if n % 2:
            parts.append(slots[piece])
        elif piece:
            if any(trace in piece for trace in _TRACES):
                raise _Unsuited
            parts.append(piece)
    return tuple(parts)


class Stencils:
    """Renders one send's messages through stencils where that is the same as rendering
    in full, and in full elsewhere."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._stencils: dict[tuple[object, ...], _Stencil | None] = {}
        self._checked: dict[tuple[object, ...], int] = {}
        # Messages filled in from a stencil rather than rendered in full.
        self.filled = 0

    def render(
        self,
        kind: str,
        channel: str,
        language: str,
        context: Mapping[str, Any],
        *,
        source: str | None = None,
    ) -> Rendered:
        """What Renderer.render gives for these arguments."""
        shape: list[object] = []
        values: list[object] = []
        try:
            if source is not None or not _PARTS.issuperset(context):
                raise _Unsuited
            for part in _PERSONAL:
                if part in context:
                    shape.append(part)
                    _walk(context[part], (part,), shape, values)
        except _Unsuited:
            return self.renderer.render(kind, channel, language, context, source=source)
        key = (kind, channel, language, source, tuple(shape))
        if key in self._stencils:
            stencil = self._stencils[key]
        elif len(self._stencils) < _MAX_KEYS:
            stencil = self._stencils[key] = self._make(kind, channel, language, context, source)
        else:
            stencil = None
        if stencil is None:
            return self.renderer.render(kind, channel, language, context, source=source)
        filled = stencil.fill(values)
        if len(filled.text) * 4 > SIZE_LIMIT or len(filled.html or "") * 4 > SIZE_LIMIT:
            # Near the size limit: the full rendering measures (and refuses) exactly.
            return self.renderer.render(kind, channel, language, context, source=source)
        checked = self._checked.get(key, 0)
        if checked < _VERIFY:
            self._checked[key] = checked + 1
            full = self.renderer.render(kind, channel, language, context, source=source)
            if full != filled:
                log.warning(
                    "a %s %s stencil differed from a full rendering; not used", kind, channel
                )
                self._stencils[key] = None
            return full
        self.filled += 1
        return filled

    def _make(
        self,
        kind: str,
        channel: str,
        language: str,
        context: Mapping[str, Any],
        source: str | None,
    ) -> _Stencil | None:
        counter = [0]
        marked = dict(context)
        for part in _PERSONAL:
            if part in context:
                marked[part] = _marked(context[part], (part,), counter)
        flags = [False]
        token = _watch.set(flags)
        try:
            rendered = self.renderer.render(kind, channel, language, marked, source=source)
        except Exception:
            return None  # the full rendering raises what it raises
        finally:
            _watch.reset(token)
        if flags[0]:
            return None
        slots: dict[str, tuple[int, int]] = {}
        for n in range(counter[0]):
            number = str(_NUMBER_BASE + n)
            slots[number] = (n, _RAW)
            text = _text_marker(n)
            slots[text] = (n, _RAW)
            slots[str(escape(text))] = (n, _HTML)
            slots[_json_inner(text)] = (n, _JSON)
        if not slots:
            pattern = re.compile("(?!)")
        else:
            alternatives = sorted(slots, key=len, reverse=True)
            pattern = re.compile(
                "(" + "|".join(f"(?<!\\d){re.escape(a)}(?!\\d)" for a in alternatives) + ")"
            )
        try:
            return _Stencil(
                subject=_split(rendered.subject, pattern, slots),
                text=_split(rendered.text, pattern, slots),
                html=None if rendered.html is None else _split(rendered.html, pattern, slots),
                payload=rendered.is_json,
            )
        except _Unsuited:
            return None
