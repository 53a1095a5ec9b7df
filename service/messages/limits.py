"""The soft limits on one render: its budget, and checks that refuse an operation before it
passes them (what they are and why: the module docstring of service/messages/render.py)."""

from __future__ import annotations

import codecs
import math
import re
import string
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

from ..core.errors import ValidationError

# Names without a leading underscore here are used by render.py and environments.py too.

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


class RenderLimitError(ValidationError):
    """A template that takes more than 1 s or makes more than 64 KB."""

    code = "template_too_costly"


def limit_error(problem: str) -> RenderLimitError:
    return RenderLimitError(f"template: {problem}", fields={"template": problem})


def too_slow(why: str = "") -> RenderLimitError:
    return limit_error(f"takes more than 1 s{why}")


def too_large() -> RenderLimitError:
    return limit_error("makes more than 64 KB")


@dataclass
class Budget:
    """What the current render may still spend."""

    deadline: float
    loops: int = LOOP_LIMIT
    work: int = WORK_LIMIT


# A context variable, not an attribute, so renders in other threads keep their own budget.
render_budget: ContextVar[Budget | None] = ContextVar("linli_render_budget", default=None)


def check_time() -> None:
    budget = render_budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise too_slow()


def _loop_step() -> None:
    budget = render_budget.get()
    if budget is None:
        return
    budget.loops -= 1
    if budget.loops < 0:
        raise too_slow(f" (loops more than {LOOP_LIMIT:,} times)")
    if time.monotonic() > budget.deadline:
        raise too_slow()


def _spend(work: int) -> None:
    """Charge `work` digit operations to the render, refusing it before they are done."""
    budget = render_budget.get()
    if budget is None:
        return
    budget.work -= work
    if budget.work < 0:
        raise too_slow(f" (more than {WORK_LIMIT:,} digit operations of arithmetic)")
    if time.monotonic() > budget.deadline:
        raise too_slow()


def too_big_number() -> RenderLimitError:
    return limit_error(f"makes a number over {NUMBER_BITS:,} bits")


def _digits(number: int) -> int:
    """30-bit digits CPython stores `number` in, refusing one over NUMBER_BITS."""
    bits = number.bit_length()
    if bits > NUMBER_BITS:
        raise too_big_number()
    return bits // _DIGIT_BITS + 1


def weight(value: Any, limit: int = SIZE_LIMIT) -> int:
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


def sized(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > NUMBER_BITS:
        raise too_big_number()
    if weight(value) > SIZE_LIMIT:
        raise too_large()
    return value


def refuse_over(estimate: int) -> None:
    if estimate > SIZE_LIMIT:
        raise too_large()


def _before_repeat(sequence: Any, times: Any) -> None:
    if isinstance(times, int) and times > 0 and isinstance(sequence, str | bytes | list | tuple):
        refuse_over(max(len(sequence), weight(sequence)) * times)


def before_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `left operator right` before it runs when its result would be over the size
    limit, or a number over NUMBER_BITS, and charge big-number arithmetic its cost."""
    if isinstance(left, int) and isinstance(right, int):
        _before_arithmetic(operator, left, right)
    elif operator == "*":
        _before_repeat(left, right)
        _before_repeat(right, left)
    elif operator == "+" and isinstance(left, str | bytes | list | tuple):
        refuse_over(weight(left) + weight(right))
    elif operator == "%" and isinstance(left, str | bytes):
        before_percent(left, right)
    elif operator == "**" and isinstance(right, int):
        _digits(right)  # a float to a huge power overflows at once; a huge int is refused


def _before_arithmetic(operator: str, left: int, right: int) -> None:
    """Charge an operation on two integers its cost in digit operations (schoolbook, as
    CPython does at these sizes), refusing a result over NUMBER_BITS before computing it."""
    a, b = _digits(left), _digits(right)
    if operator == "*":
        if left.bit_length() + right.bit_length() > NUMBER_BITS + 1:
            raise too_big_number()
        _spend(a * b)
    elif operator == "**":
        if right > 0 and abs(left) > 1:
            if right * math.log2(abs(left)) >= NUMBER_BITS:  # the result's bits, less one
                raise too_big_number()
            result = (left.bit_length() * right) // _DIGIT_BITS + 1
            _spend(result * result + b)
        else:
            _spend(b)  # 0, ±1 or a negative power: one square per bit of the exponent
    elif operator in ("//", "%", "/"):
        _spend(a * b)
    else:
        _spend(a + b)


def before_compare(left: Any, right: Any) -> None:
    """Refuse comparing a number over NUMBER_BITS, and charge a comparison of numbers."""
    if isinstance(left, int) and isinstance(right, int):
        _spend(min(_digits(left), _digits(right)))


COMPARE: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
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


def before_percent(fmt: str | bytes, values: Any) -> None:
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
        raise too_large()
    refuse_over(len(fmt) + widths + specs * weight(values))


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
        raise too_large()
    refuse_over(len(fmt) + widths + fields * weight(values))


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


def before_method(owner: Any, name: str, args: tuple[Any, ...], kwargs: Any) -> tuple[Any, ...]:
    """Refuse a str, bytes or int method whose result would pass the limit; returns the
    arguments to call with (join's iterable is read once here, so it is passed as a list)."""
    text = _as_text(owner)
    if isinstance(owner, str) and name in ("format", "format_map"):
        if name == "format_map":
            _before_format(owner, (), args[0] if args and isinstance(args[0], Mapping) else {})
        else:
            _before_format(owner, args, kwargs)
    elif text is not None and name == "join" and len(args) == 1:
        items = list(guarded_iter(args[0]))
        refuse_over(weight(items) + len(items) * len(text))
        return (items,)
    elif text is not None and name == "replace" and len(args) >= 2:
        old, new = _as_text(args[0]), _as_text(args[1])
        if old is not None and new is not None:
            found = text.count(old) if old else len(text) + 1
            refuse_over(len(text) + found * len(new))
    elif text is not None and name in ("encode", "decode"):
        codec = args[0] if args else kwargs.get("encoding", "utf-8")
        if not _plain_codec(codec):
            raise SecurityError(f"the codec {codec!r} is not available in templates")
    elif text is not None and name == "translate":
        refuse_over(len(text) * (1 + weight(args)))
    elif (text is not None or isinstance(owner, int)) and not isinstance(owner, bool):
        # Widths and lengths (ljust, center, zfill, expandtabs, int.to_bytes …).
        if any(isinstance(v, int) and v > SIZE_LIMIT for v in (*args, *kwargs.values())):
            raise too_large()
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if text is not None and name == "expandtabs" and isinstance(tab, int):
            refuse_over(len(text) + text.count("\t") * tab)
    return args


def guarded_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _loop_step()
        yield item
