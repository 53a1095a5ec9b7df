"""Message templates, rendered in Jinja2's sandbox with bounds on time and size.

Templates live in templates/messages/{kind}/{channel}.{language}.j2. Each defines blocks
that are rendered one by one (text outside blocks is ignored):

    sms, telegram   text      plain text (Telegram buttons are added by code)
    email           subject   one line (whitespace is collapsed)
                    text      the text/plain part
                    html      the text/html part, the only autoescaped block
    webhook         payload   a JSON object, built with {{ {...} | tojson }}

The "file" channel renders the email templates. An organiser's override of one file has
the same blocks and runs in the same sandbox.

The context every template receives; parts marked optional may be absent, so templates
test them with `is defined` (undefined names are errors, not blanks):

    community  name
    resident   id, name, language, unit
    event      id, code (the short code typed before an SMS answer, "A7 1"), title,
               description, kind, location (may be ""), starts_at, ends_at (aware
               datetimes in the community's zone), start_text ("12月5日（周六）09:00" /
               "Sat 5 Dec, 09:00"), end_text ("11:30" on the same day, else like
               start_text), date_text (like start_text), rsvp_deadline (datetime or None),
               capacity (int or None), max_party_size
    links      rsvp (URL), unsubscribe (URL or None), calendar (URL or None),
               actions ({"yes", "no", "maybe"} URLs, or None)
    message    kind, urgent (bool), note (the organiser's words; may be "")
    rsvp       optional: answer ("pending", "yes", "no", "maybe", "waitlisted"),
               party_size, checkin_code (optional). A reminder to "pending" is a
               nudge to answer; a waitlist_offer goes to a party already moved up
               from the waiting list, so its answer is "yes".
    booking    optional: room, starts_at, ends_at, date_text, checkin_code
    offer      optional: expires_text

booking_* templates (confirmation, pending, declined, reminder, cancellation) use only
community, resident, booking, and links.rsvp when defined (as the booking's page), so a
booking needs no event.

The sandbox (ImmutableSandboxedEnvironment) refuses attributes starting with "_", unsafe
callables and changes to lists, dicts and sets. It bounds neither time nor size, so this
module does, per render of an organiser's template: at most 1 s, 100,000 loop steps and
10,000,000 digit operations of big-number arithmetic; numbers of at most 4,096 bits; and
at most 64 KB of UTF-8 per block. Each is checked before the operation that would pass it
runs: every arithmetic operator (+ - * / // % **; Jinja has no << or >>) and every
comparison goes through a guard that refuses an operand or result over 4,096 bits and
charges the arithmetic its digit operations before doing it; `*`, `+`, `%`, str.format,
round() and the filters and methods that pad, repeat or join refuse a result over the
limits before building it; range() gives at most 65,536 numbers; a number literal over
4,096 bits is refused when the template compiles, and nothing is computed at compile time.
The clock is checked at every loop step, operator, comparison, call, filter and chunk of
output, so a list literal of many costly items is stopped while it is built. What is
measured once made (literals, `~`, call and filter results, captured blocks) is made of
parts that each passed these checks.

These limits are soft: they run between operations, inside the process that renders. So
the server never renders an organiser's template itself: checking and rendering overrides
happen in helper processes with a hard deadline (service/messages/sandbox.py). The shipped
templates, ours and reviewed like code, render in-process (_Shipped, service/messages/stencil.py).
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import inspect
import json
import math
import re
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, cast
from zoneinfo import ZoneInfo

from jinja2 import FileSystemLoader, StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from ..core.errors import ValidationError
from ..core.i18n import date_text, time_text
from ..core.models import Channel
from ..core.text import is_unicode

KINDS: Final = (
    "invitation",
    "reminder",
    "update",
    "cancellation",
    "rsvp_confirmation",
    "waitlist_offer",
    "booking_confirmation",
    "booking_pending",
    "booking_declined",
    "booking_reminder",
    "booking_cancellation",
)
# The channels with templates of their own: the core enum, the one list of channel names.
CHANNELS: Final = tuple(channel.value for channel in Channel)
LANGUAGES: Final = ("zh-CN", "en")
# The blocks each channel's template must define, in the order they are rendered.
BLOCKS: Final[Mapping[str, tuple[str, ...]]] = {
    "sms": ("text",),
    "email": ("subject", "text", "html"),
    "telegram": ("text",),
    "webhook": ("payload",),
}
# Channels without templates of their own: the file channel writes what email would show.
_RENDERED_AS: Final[Mapping[str, str]] = {"file": "email"}

TIME_LIMIT: Final = 1.0  # seconds per render
SIZE_LIMIT: Final = 65_536  # bytes of UTF-8 per block; also characters per value built
LOOP_LIMIT: Final = 100_000  # loop steps per render: refuses a runaway loop long before 1 s
# Integers a template may hold: 4,096 bits (1,233 digits) is far past any count or sum a
# message needs, and keeps one operation on them under about 30 µs.
NUMBER_BITS: Final = 4_096
# Arithmetic per render, in 30-bit digit operations (about 2 ns each): the costliest
# operation on two 4,096-bit numbers is about 19,000, so this is about 20 ms of arithmetic.
WORK_LIMIT: Final = 10_000_000
_DIGIT_BITS: Final = 30
_JSON_INDENT: Final = 16
_CACHE_SIZE: Final = 256
_DIRECTORY: Final = Path(__file__).resolve().parents[2] / "templates" / "messages"


class RenderLimitError(ValidationError):
    """A template that takes more than 1 s or makes more than 64 KB."""

    code = "template_too_costly"


def _limit(problem: str) -> RenderLimitError:
    return RenderLimitError(f"template: {problem}", fields={"template": problem})


def _too_slow(why: str = "") -> RenderLimitError:
    return _limit(f"takes more than 1 s{why}")


def _too_large() -> RenderLimitError:
    return _limit("makes more than 64 KB")


@dataclass(frozen=True)
class Rendered:
    """A message as a channel sends it; a webhook's `text` is its JSON body (`payload` the
    same, parsed, for previews), `html` is email's."""

    subject: str
    text: str
    html: str | None
    # The text is a webhook's JSON body.
    is_json: bool = False

    @functools.cached_property
    def payload(self) -> dict[str, Any] | None:
        """A webhook's body parsed (parsed when asked: a bulk send only stores the text)."""
        if not self.is_json:
            return None
        parsed: dict[str, Any] = json.loads(self.text)
        return parsed


# ---------------------------------------------------------------- limits


@dataclass
class _Budget:
    """What the current render may still spend."""

    deadline: float
    loops: int = LOOP_LIMIT
    work: int = WORK_LIMIT


# A context variable, not an attribute, so renders in other threads keep their own budget.
_budget: ContextVar[_Budget | None] = ContextVar("linli_render_budget", default=None)


def _check_time() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise _too_slow()


def _loop_step() -> None:
    budget = _budget.get()
    if budget is None:
        return
    budget.loops -= 1
    if budget.loops < 0:
        raise _too_slow(f" (loops more than {LOOP_LIMIT:,} times)")
    if time.monotonic() > budget.deadline:
        raise _too_slow()


def _spend(work: int) -> None:
    """Charge `work` digit operations to the render, refusing it before they are done."""
    budget = _budget.get()
    if budget is None:
        return
    budget.work -= work
    if budget.work < 0:
        raise _too_slow(f" (more than {WORK_LIMIT:,} digit operations of arithmetic)")
    if time.monotonic() > budget.deadline:
        raise _too_slow()


def _too_big_number() -> RenderLimitError:
    return _limit(f"makes a number over {NUMBER_BITS:,} bits")


def _digits(number: int) -> int:
    """30-bit digits CPython stores `number` in, refusing one over NUMBER_BITS."""
    bits = number.bit_length()
    if bits > NUMBER_BITS:
        raise _too_big_number()
    return bits // _DIGIT_BITS + 1


def _weight(value: Any, limit: int = SIZE_LIMIT) -> int:
    """About how many characters `value` prints as, counted until the count passes `limit`
    (so a list holding the same long string many times weighs what its text would)."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, Namespace):
            stack.append(getattr(item, "_Namespace__attrs", None))
        else:
            total += 16
    return total


def _sized(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > NUMBER_BITS:
        raise _too_big_number()
    if _weight(value) > SIZE_LIMIT:
        raise _too_large()
    return value


def _refuse_over(estimate: int) -> None:
    if estimate > SIZE_LIMIT:
        raise _too_large()


def _before_repeat(sequence: Any, times: Any) -> None:
    if isinstance(times, int) and times > 0 and isinstance(sequence, str | bytes | list | tuple):
        _refuse_over(max(len(sequence), _weight(sequence)) * times)


def _before_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left operator right` before it runs when its result would be over the size
    limit, or a number over NUMBER_BITS, and charge big-number arithmetic its cost."""
    if isinstance(left, int) and isinstance(right, int):
        _before_arithmetic(operator, left, right)
    elif operator == "*":
        _before_repeat(left, right)
        _before_repeat(right, left)
    elif operator == "+" and isinstance(left, str | bytes | list | tuple):
        _refuse_over(_weight(left) + _weight(right))
    elif operator == "%" and isinstance(left, str | bytes):
        _before_percent(left, right)
    elif operator == "**" and isinstance(right, int):
        _digits(right)  # a float to a huge power overflows at once; a huge int is refused


def _before_arithmetic(operator: str, left: int, right: int) -> None:
    """Charge an operation on two integers its cost in digit operations (schoolbook, as
    CPython does at these sizes), refusing a result over NUMBER_BITS before computing it."""
    a, b = _digits(left), _digits(right)
    if operator == "*":
        if left.bit_length() + right.bit_length() > NUMBER_BITS + 1:
            raise _too_big_number()
        _spend(a * b)
    elif operator == "**":
        if right > 0 and abs(left) > 1:
            if right * math.log2(abs(left)) >= NUMBER_BITS:  # the result's bits, less one
                raise _too_big_number()
            result = (left.bit_length() * right) // _DIGIT_BITS + 1
            _spend(result * result + b)
        else:
            _spend(b)  # 0, ±1 or a negative power: one square per bit of the exponent
    elif operator in ("//", "%", "/"):
        _spend(a * b)
    else:
        _spend(a + b)


def _before_compare(left: Any, right: Any) -> None:
    """Refuse comparing a number over NUMBER_BITS, and charge a comparison of numbers."""
    if isinstance(left, int) and isinstance(right, int):
        _spend(min(_digits(left), _digits(right)))


_COMPARE: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


_PERCENT_SPEC: Final = re.compile(rb"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)")
_DIGITS: Final = re.compile(r"\d+")


def _width(digits: str | bytes) -> int:
    # More than six digits is far past the limit; int() of thousands of digits is slow.
    return SIZE_LIMIT + 1 if len(digits) > 6 else int(digits)


def _before_percent(fmt: str | bytes, values: Any) -> None:
    """Refuse printf-style formatting whose widths or repeated values pass the limit."""
    raw = fmt.encode("utf-8", "surrogatepass") if isinstance(fmt, str) else fmt
    specs = widths = 0
    star = False
    for match in _PERCENT_SPEC.finditer(raw):
        if match.group(3) == b"%":
            continue
        specs += 1
        for part in match.group(1, 2):
            if part == b"*":
                star = True
            elif part:
                widths += _width(part)
    listed = values if isinstance(values, tuple) else (values,)
    if star and any(isinstance(v, int) and abs(v) > SIZE_LIMIT for v in listed):
        raise _too_large()
    _refuse_over(len(fmt) + widths + specs * _weight(values))


def _before_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse str.format whose widths or repeated values pass the limit."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # malformed: the call itself fails with the same message
    fields = widths = 0
    nested = False
    for _text, field, spec, _conversion in parsed:
        if field is None:
            continue
        fields += 1
        nested = nested or "{" in (spec or "")
        widths += sum(_width(d) for d in _DIGITS.findall(spec or ""))
    values = (*args, *kwargs.values())
    if nested and any(isinstance(v, int) and abs(v) > SIZE_LIMIT for v in values):
        raise _too_large()
    _refuse_over(len(fmt) + widths + fields * _weight(values))


# Codecs a template may encode or decode with: others (punycode, idna …) can take time that
# grows with the square of the text, in one call the time budget cannot interrupt.
_PLAIN_CODECS: Final = frozenset(
    {"utf-8", "ascii", "iso8859-1", "utf-16", "utf-32", "gb2312", "gbk", "gb18030", "big5"}
)


def _plain_codec(name: object) -> bool:
    try:
        return isinstance(name, str) and codecs.lookup(name).name in _PLAIN_CODECS
    except LookupError:
        return False


def _as_text(value: Any) -> str | None:
    """`value` as str for measuring (bytes one character per byte), or None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")
    return None


def _before_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: Any) -> tuple[Any, ...]:
    """Refuse a str, bytes or int method whose result would pass the limit; returns the
    arguments to call with (join's iterable is read once here, so it is passed as a list)."""
    text = _as_text(owner)
    if isinstance(owner, str) and name in ("format", "format_map"):
        if name == "format_map":
            _before_format(owner, (), args[0] if args and isinstance(args[0], Mapping) else {})
        else:
            _before_format(owner, args, kwargs)
    elif text is not None and name == "join" and len(args) == 1:
        items = list(_guarded_iter(args[0]))
        _refuse_over(_weight(items) + len(items) * len(text))
        return (items,)
    elif text is not None and name == "replace" and len(args) >= 2:
        old, new = _as_text(args[0]), _as_text(args[1])
        if old is not None and new is not None:
            found = text.count(old) if old else len(text) + 1
            _refuse_over(len(text) + found * len(new))
    elif text is not None and name in ("encode", "decode"):
        codec = args[0] if args else kwargs.get("encoding", "utf-8")
        if not _plain_codec(codec):
            raise SecurityError(f"the codec {codec!r} is not available in templates")
    elif text is not None and name == "translate":
        _refuse_over(len(text) * (1 + _weight(args)))
    elif (text is not None or isinstance(owner, int)) and not isinstance(owner, bool):
        # Widths and lengths (ljust, center, zfill, expandtabs, int.to_bytes …).
        if any(isinstance(v, int) and v > SIZE_LIMIT for v in (*args, *kwargs.values())):
            raise _too_large()
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if text is not None and name == "expandtabs" and isinstance(tab, int):
            _refuse_over(len(text) + text.count("\t") * tab)
    return args


def _guarded_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _loop_step()
        yield item


# Filters that pad, repeat or wrap, checked before they run. Each takes the filter's own
# arguments (after any context it is passed) and returns the value to filter.


def _f_center(value: Any, width: Any = 80) -> Any:
    if isinstance(width, int):
        _refuse_over(max(width, _weight(value)))
    return value


def _f_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    _refuse_over(_weight(s) + (str(s).count("\n") + 1) * max(pad, 0))
    return s


def _f_wordwrap(
    s: Any,
    width: Any = 79,
    break_long_words: bool = True,
    wrapstring: Any = None,
    break_on_hyphens: bool = True,
) -> Any:
    if isinstance(width, int) and width > 0:
        wrap = len(wrapstring) if isinstance(wrapstring, str) else 1
        _refuse_over(_weight(s) + (_weight(s) // width + 1) * wrap)
    return s


def _f_replace(s: Any, old: Any, new: Any, count: Any = None) -> Any:
    text = str(s)
    if isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        _refuse_over(len(text) + found * len(new))
    return s


def _f_join(value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = list(_guarded_iter(value))
    _refuse_over(_weight(items) + len(items) * (len(d) if isinstance(d, str) else 0))
    return items


def _f_format(value: Any, *args: Any, **kwargs: Any) -> Any:
    _before_percent(str(value), kwargs or args)
    return value


def _f_batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
    if isinstance(linecount, int):
        _refuse_over(linecount)
    return value


def _f_slice(value: Any, slices: Any, fill_with: Any = None) -> Any:
    if isinstance(slices, int):
        _refuse_over(slices)
    return value


def _f_round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    # "ceil" and "floor" multiply by 10**precision, computed inside the filter.
    if isinstance(precision, int) and abs(precision) * 10 // 3 > NUMBER_BITS:
        raise _too_big_number()
    return value


def _f_tojson(value: Any, indent: Any = None) -> Any:
    # Indented JSON grows with nesting depth times the indent.
    if (isinstance(indent, int) and indent > _JSON_INDENT) or (
        isinstance(indent, str) and len(indent) > _JSON_INDENT
    ):
        raise _too_large()
    return value


def _f_urlize(
    value: Any,
    trim_url_limit: Any = None,
    nofollow: bool = False,
    target: Any = None,
    rel: Any = None,
    extra_schemes: Any = None,
) -> Any:
    words = str(value).count(" ") + 1
    _refuse_over(3 * _weight(value) + words * (64 + _weight((target, rel, extra_schemes))))
    return value


_FILTER_CHECKS: Final[Mapping[str, Callable[..., Any]]] = {
    "center": _f_center,
    "indent": _f_indent,
    "wordwrap": _f_wordwrap,
    "replace": _f_replace,
    "join": _f_join,
    "format": _f_format,
    "batch": _f_batch,
    "slice": _f_slice,
    "tojson": _f_tojson,
    "round": _f_round,
    "urlize": _f_urlize,
}


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` checking the clock, refusing an oversized result before (for the filters in
    _FILTER_CHECKS) and after it is built."""
    check = _FILTER_CHECKS.get(name)
    signature = None if check is None else inspect.signature(check)
    # Filters marked pass_context / pass_eval_context / pass_environment get that first.
    lead = 0 if getattr(func, "jinja_pass_arg", None) is None else 1

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_time()
        if check is not None and signature is not None and len(args) > lead:
            try:
                signature.bind(*args[lead:], **kwargs)
            except TypeError:
                pass  # the filter refuses these arguments itself
            else:
                value = check(*args[lead:], **kwargs)
                args = (*args[:lead], value, *args[lead + 1 :])
        return _sized(func(*args, **kwargs))

    return guarded


# Filters and tests that only copy a value or ask its type: a stencil's marker may pass
# through them. Any other handed a marker reads the value it stands for
# (service/messages/stencil.py).
_COPYING: Final = frozenset(
    {"e", "escape", "forceescape", "safe", "string", "default", "d", "tojson"}
    | {"defined", "undefined", "none"}
)


def _reads(values: Iterable[Any]) -> None:
    """Tell a stencil being made (service/messages/stencil.py) that the template reads a value one
    of its markers stands for, rather than only printing it."""
    for value in values:
        read = getattr(type(value), "linli_read", None)
        if read is not None:
            read()


def _watched(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` telling a stencil being made when it is handed one of its markers."""
    if name in _COPYING:
        return func
    lead = 0 if getattr(func, "jinja_pass_arg", None) is None else 1

    @functools.wraps(func)
    def watched(*args: Any, **kwargs: Any) -> Any:
        _reads(args[lead:])
        _reads(kwargs.values())
        return func(*args, **kwargs)

    return watched


def _bounded_range(*args: int) -> range:
    """range() of at most 65,536 numbers."""
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:  # longer than sys.maxsize
        count = SIZE_LIMIT + 1
    if count > SIZE_LIMIT:
        raise _too_slow(f" (range() gives at most {SIZE_LIMIT:,} numbers)")
    return numbers


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with every for-loop's iterable wrapped in a step counter,
    every `~` and list, tuple or dict literal in a size check, every comparison through
    the sandbox's guard (Jinja does not intercept them), and number literals over
    NUMBER_BITS refused when the template is compiled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # Jinja folds constant output ({{ 2 > 1 }}, {{ 'a'|center(9) }}) when it compiles,
        # whatever `optimized` says: only the template's own text is folded here, so every
        # expression runs under the render's budget.
        if not isinstance(node, nodes.TemplateData):
            raise nodes.Impossible()
        return super()._output_child_to_const(node, frame, finalize)

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        value = node.value
        if isinstance(value, int) and value.bit_length() > NUMBER_BITS:
            raise _limit(f"makes a number over {NUMBER_BITS:,} bits (line {node.lineno})")
        super().visit_Const(node, frame)

    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        # linli_compare(a, "lt", lambda: b, "lt", lambda: c): operands after the first are
        # evaluated only when reached, as Python's chained comparison does.
        self.write("environment.linli_compare(")
        self.visit(node.expr, frame)
        for operand in node.ops:
            self.write(f", {operand.op!r}, lambda: ")
            self.visit(operand.expr, frame)
        self.write(")")

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        if id(node) in self._loop_iterables:
            guard = "environment.linli_loop("
        elif isinstance(node, nodes.Concat | nodes.List | nodes.Dict) or (
            isinstance(node, nodes.Tuple) and node.ctx == "load"
        ):
            guard = "environment.linli_sized("
        else:
            return super().visit(node, *args, **kwargs)
        self.write(guard)
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None


class _Shipped(ImmutableSandboxedEnvironment):
    """The templates shipped in templates/messages/: ours, reviewed like code, so they render
    in the sandbox without the per-operation budget checks that organiser templates pay."""

    def __init__(
        self, directory: Path, *, html: bool, auto_reload: bool = False, optimized: bool = True
    ) -> None:
        super().__init__(
            optimized=optimized,
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=html,
            trim_blocks=True,
            lstrip_blocks=True,
            # Shipped files change only with a release: no stat() per render.
            auto_reload=auto_reload,
        )
        # Webhook payloads keep the order the template wrote ("type" before "data").
        self.policies["json.dumps_kwargs"] = {"sort_keys": False}
        del self.globals["lipsum"]  # lipsum(n=10**9) loops in Python, out of reach of checks
        self.filters = {name: _watched(name, f) for name, f in self.filters.items()}
        self.tests = {
            name: _watched(name, cast(Callable[..., Any], f)) for name, f in self.tests.items()
        }


class _Sandbox(_Shipped):
    """The sandbox with the limits, for organisers' templates: see the module docstring."""

    # Every arithmetic operator Jinja has (it has no << or >>): each is bounded before it
    # runs (_before_binop).
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, directory: Path, *, html: bool) -> None:
        # Not optimized: Jinja's optimizer would fold constant comparisons and filters
        # when the template is compiled, outside any budget.
        super().__init__(directory, html=html, auto_reload=True, optimized=False)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.globals["range"] = _bounded_range

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """An intercepted operator, refused before it builds something over the limit."""
        _check_time()
        _reads((left, right))
        _before_binop(operator, left, right)
        return _sized(super().call_binop(context, operator, left, right))

    def linli_compare(self, left: Any, *rest: Any) -> Any:
        """A (chained) comparison: rest is operator, thunk, operator, thunk …; a number
        over NUMBER_BITS is refused before it is compared."""
        _check_time()
        result: Any = True
        for at in range(0, len(rest), 2):
            right = rest[at + 1]()
            _before_compare(left, right)
            result = _COMPARE[rest[at]](left, right)
            if not result:
                return result
            left = right
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call from the template, with the clock checked and the result measured."""
        _check_time()
        _reads(args)
        _reads(kwargs.values())
        if isinstance(obj, LoopContext) and args:
            # loop(children) in a recursive for-loop iterates outside the loop's own guard.
            args = (_guarded_iter(args[0]), *args[1:])
        else:
            # Sandboxed str.format arrives wrapped; the method it wraps tells what it is.
            method = getattr(obj, "__wrapped__", obj)
            owner = getattr(method, "__self__", None)
            if owner is not None:
                args = _before_method(owner, getattr(method, "__name__", ""), args, kwargs)
        return _sized(super().call(context, obj, *args, **kwargs))

    def concat(self, parts: Iterable[str]) -> str:
        """Join captured output ({% set %} blocks, macros, filter blocks), within the limit."""
        pieces: list[str] = []
        size = 0
        for part in parts:
            size += len(part)
            if size > SIZE_LIMIT:
                raise _too_large()
            pieces.append(part)
        return "".join(pieces)

    def linli_loop(self, iterable: Any) -> Iterator[Any]:
        """A for-loop's items, each counted against the loop and time budget."""
        return _guarded_iter(iterable)

    def linli_sized(self, value: Any) -> Any:
        """`value` if it is within the size limit."""
        return _sized(value)


# ---------------------------------------------------------------- rendering


def _problem(code: str, detail: str) -> ValidationError:
    return ValidationError.field("template", detail, code=code)


def _template_line(template: Template, exc: BaseException) -> int | None:
    """The line of `template` an exception was raised on (its innermost frame there)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is template:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _utf8_size(chunks: list[str]) -> int:
    """Bytes of UTF-8 the chunks make together."""
    return sum(len(chunk.encode("utf-8", "surrogatepass")) for chunk in chunks)


def _render_block(
    template: Template, name: str, context: Mapping[str, Any], *, shipped: bool = False
) -> str:
    """One block's output, bounded; template errors become 400s naming the line.
    A `shipped` template (ours, reviewed like code) is measured once it is whole."""
    if name not in template.blocks:
        raise _problem("template_missing_block", f"has no block {name!r}")
    out: list[str] = []
    chars = size = measured = 0  # size: bytes of UTF-8 of the first `measured` chunks
    try:
        chunks = template.blocks[name](template.new_context(dict(context)))
        if shipped:
            # Joined in C, then measured: an email's 170 chunks took 13 µs one by one.
            whole = "".join(chunks)
            if len(whole) * 4 > SIZE_LIMIT and _utf8_size([whole]) > SIZE_LIMIT:
                raise _too_large()
            _check_time()
            return whole
        for chunk in chunks:
            out.append(chunk)
            chars += len(chunk)
            # A character is at most 4 bytes of UTF-8: only a block that may be near the
            # limit is encoded to be measured exactly, each chunk once.
            if chars * 4 > SIZE_LIMIT:
                size += _utf8_size(out[measured:])
                measured = len(out)
                if size > SIZE_LIMIT:
                    raise _too_large()
            _check_time()
        _check_time()
    except RenderLimitError as exc:
        line = _template_line(template, exc)
        if line is None:
            raise
        raise _limit(f"{exc.fields['template']} (line {line})") from None
    # Anything a template does wrong (a bad type, a division by zero, recursion) is the
    # template's fault, reported like a syntax error rather than as a server error.
    except Exception as exc:
        line = _template_line(template, exc)
        where = "" if line is None else f"line {line}: "
        if isinstance(exc, UndefinedError):
            raise _problem("template_undefined", f"{where}{exc}") from None
        if isinstance(exc, SecurityError):
            raise _problem("template_unsafe", f"{where}{exc}") from None
        raise _problem("template_error", f"{where}{str(exc) or type(exc).__name__}") from None
    text = "".join(out)
    if not is_unicode(text):
        # A lone surrogate ("\\ud83d" in the source, '%c' % 55357) cannot be stored or sent.
        raise _problem("template_error", "makes text that is not valid Unicode")
    return text


def _tidy(text: str) -> str:
    """Text without trailing spaces or runs of blank lines that skipped parts leave."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _template_channel(kind: str, channel: str, language: str) -> str:
    """The channel whose templates render `channel`, after checking the three names."""
    if kind not in KINDS:
        raise ValidationError.field("kind", f"must be one of {', '.join(KINDS)}")
    channel = _RENDERED_AS.get(channel, channel)
    if channel not in CHANNELS:
        raise ValidationError.field("channel", f"must be one of {', '.join(CHANNELS)}, file")
    if language not in LANGUAGES:
        raise ValidationError.field("language", f"must be one of {', '.join(LANGUAGES)}")
    return channel


class Renderer:
    """Renders the default message templates, or an organiser's override, in the sandbox."""

    def __init__(self, directory: Path | None = None) -> None:
        root = _DIRECTORY if directory is None else directory
        self._text = _Sandbox(root, html=False)
        self._html = _Sandbox(root, html=True)
        self._shipped_text = _Shipped(root, html=False)
        self._shipped_html = _Shipped(root, html=True)
        self._compiled: OrderedDict[tuple[bool, str], Template] = OrderedDict()

    def render(
        self,
        kind: str,
        channel: str,
        language: str,
        context: Mapping[str, Any],
        *,
        source: str | None = None,
    ) -> Rendered:
        """The message `kind` for `channel` in `language`; `source` overrides the file."""
        channel = _template_channel(kind, channel, language)
        token = _budget.set(_Budget(time.monotonic() + TIME_LIMIT))
        try:
            blocks = {
                name: _render_block(
                    self._template(name == "html", f"{kind}/{channel}.{language}.j2", source),
                    name,
                    context,
                    shipped=source is None,
                )
                for name in BLOCKS[channel]
            }
        finally:
            _budget.reset(token)
        if channel == "webhook":
            payload = _payload(blocks["payload"])
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            return Rendered(subject="", text=text, html=None, is_json=True)
        if channel == "email":
            return Rendered(
                subject=" ".join(blocks["subject"].split()),
                text=_tidy(blocks["text"]),
                html=blocks["html"].strip(),
            )
        return Rendered(subject="", text=_tidy(blocks["text"]), html=None)

    def check(self, kind: str, channel: str, language: str, source: str) -> None:
        """Refuse an override with a 400 naming the problem: a syntax error (with its line),
        a missing block, an undefined name, or too much time or output, rendering it with
        the full sample and again with the parts a real message may lack left out."""
        template_channel = _template_channel(kind, channel, language)
        name = f"{kind}/{template_channel}.{language}.j2"
        template = self._template(False, name, source)
        required = BLOCKS[template_channel]
        missing = [block for block in required if block not in template.blocks]
        if missing:
            raise _problem(
                "template_missing_block",
                f"must define the blocks {', '.join(required)}; missing {', '.join(missing)}",
            )
        self.render(kind, channel, language, sample_context(language, kind), source=source)
        try:
            self.render(kind, channel, language, _sparse_context(language, kind), source=source)
        except ValidationError as exc:
            detail = f"{exc.fields.get('template', exc.message)} (with optional parts absent)"
            raise type(exc)(
                f"template: {detail}", code=exc.code, fields={"template": detail}
            ) from None

    def _template(self, html: bool, name: str, source: str | None) -> Template:
        if source is None:
            return (self._shipped_html if html else self._shipped_text).get_template(name)
        environment = self._html if html else self._text
        raw = source.encode("utf-8", "surrogatepass")
        key = (html, hashlib.sha256(raw).hexdigest())
        found = self._compiled.get(key)
        if found is not None:
            self._compiled.move_to_end(key)
            return found
        if len(raw) > SIZE_LIMIT:
            raise _problem("template_too_long", f"must be at most {SIZE_LIMIT:,} bytes")
        try:
            template = environment.from_string(source)
        except TemplateSyntaxError as exc:
            raise _problem("template_syntax", f"line {exc.lineno}: {exc.message}") from None
        except (SyntaxError, RecursionError, MemoryError):
            # Jinja compiles to Python, which refuses blocks nested over 20 deep.
            raise _problem("template_syntax", "is nested too deeply") from None
        self._compiled[key] = template
        if len(self._compiled) > _CACHE_SIZE:
            self._compiled.popitem(last=False)
        return template


def _payload(text: str) -> dict[str, Any]:
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise _problem("template_payload", f"payload is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise _problem("template_payload", "payload must be a JSON object")
    return payload


# ---------------------------------------------------------------- sample data

_SAMPLE_ZONE: Final = ZoneInfo("Asia/Shanghai")
_SAMPLE_URL: Final = "https://xfyjw.cn"
_SAMPLE_TOKEN: Final = "16.sg-Xb3kP9qLmT2vN8wR4yZc1A"  # the shape links.py signs
_SAMPLES: Final[Mapping[str, Mapping[str, str]]] = {
    "zh-CN": {
        "community": "学府雍景湾社区",
        "resident": "王秀英",
        "title": "跳蚤市场·旧物换新",
        "description": "带上家里闲置的玩具、图书和小物件，和邻居们交换或义卖。\n"
        "义卖所得捐给小区图书角。",
        "location": "3号楼前小广场",
        "room": "活动室",
        "note": "因天气原因，改在活动室举行。",
        "cancel_note": "因天气原因取消，改期后再通知大家。",
    },
    "en": {
        "community": "Xuefu Yongjingwan Community",
        "resident": "Alex Chen",
        "title": "Flea market: swap and share",
        "description": "Bring the toys, books and odds and ends you no longer use, and swap "
        "or sell them with your neighbours.\nProceeds go to the community book corner.",
        "location": "Square in front of Building 3",
        "room": "Activity room",
        "note": "Because of the weather, it moves to the activity room.",
        "cancel_note": "Because of the weather; we will share a new date soon.",
    },
}


def sample_context(language: str, kind: str = "invitation") -> dict[str, Any]:
    """A realistic full context (every optional part present), for checking templates."""
    if language not in LANGUAGES:
        raise ValidationError.field("language", f"must be one of {', '.join(LANGUAGES)}")
    words = _SAMPLES[language]
    starts = datetime(2026, 12, 5, 9, 0, tzinfo=_SAMPLE_ZONE)
    ends = starts.replace(hour=11, minute=30)
    deadline = datetime(2026, 12, 3, 20, 0, tzinfo=_SAMPLE_ZONE)
    booked_from = datetime(2026, 12, 6, 14, 0, tzinfo=_SAMPLE_ZONE)
    booked_to = booked_from.replace(hour=16)
    rsvp = f"{_SAMPLE_URL}/r/{_SAMPLE_TOKEN}"
    return {
        "community": {"name": words["community"]},
        "resident": {
            "id": 1024,
            "name": words["resident"],
            "language": language,
            "unit": "3-2-1501",
        },
        "event": {
            "id": 42,
            "code": "T2",
            "title": words["title"],
            "description": words["description"],
            "kind": "flea_market",
            "location": words["location"],
            "starts_at": starts,
            "ends_at": ends,
            "start_text": date_text(starts, language),
            "end_text": time_text(ends),
            "date_text": date_text(starts, language),
            "rsvp_deadline": deadline,
            "capacity": 60,
            "max_party_size": 3,
        },
        "links": {
            "rsvp": rsvp,
            "unsubscribe": f"{_SAMPLE_URL}/u/t.5c-Qm8Lw2Zr6Hd1Ks9Vx4Pn7B",
            "calendar": f"{rsvp}/event.ics",
            "actions": {answer: f"{rsvp}/{answer}" for answer in ("yes", "no", "maybe")},
        },
        "message": {
            "kind": kind,
            "urgent": False,
            "note": words["cancel_note" if kind == "cancellation" else "note"],
        },
        "rsvp": {"answer": "yes", "party_size": 2, "checkin_code": "K7M2"},
        "booking": {
            "room": words["room"],
            "starts_at": booked_from,
            "ends_at": booked_to,
            "date_text": f"{date_text(booked_from, language)}-{time_text(booked_to)}",
            "checkin_code": "B3Q9",
        },
        "offer": {"expires_text": date_text(deadline, language)},
    }


# The optional parts a message of each kind always has (a confirmation follows an answer).
_ALWAYS: Final[Mapping[str, frozenset[str]]] = {
    "rsvp_confirmation": frozenset({"rsvp"}),
    "waitlist_offer": frozenset({"rsvp"}),
    "booking_confirmation": frozenset({"booking"}),
    "booking_pending": frozenset({"booking"}),
    "booking_declined": frozenset({"booking"}),
    "booking_reminder": frozenset({"booking"}),
    "booking_cancellation": frozenset({"booking"}),
}


def _sparse_context(language: str, kind: str) -> dict[str, Any]:
    """The sample with what a real message may lack left out or empty."""
    context = sample_context(language, kind)
    for part in ("rsvp", "booking", "offer"):
        if part not in _ALWAYS.get(kind, frozenset()):
            del context[part]
    context["event"].update(location="", description="", rsvp_deadline=None, capacity=None)
    context["links"].update(unsubscribe=None, calendar=None, actions=None)
    context["message"]["note"] = ""
    return context
