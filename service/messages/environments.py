"""The Jinja environments templates render in: the shipped templates' and the guarded
sandbox for organisers' templates, with its filter checks and code generator."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, cast

from jinja2 import FileSystemLoader, StrictUndefined, Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .limits import (
    COMPARE,
    NUMBER_BITS,
    SIZE_LIMIT,
    before_binop,
    before_compare,
    before_method,
    before_percent,
    check_time,
    guarded_iter,
    limit_error,
    refuse_over,
    sized,
    too_big_number,
    too_large,
    too_slow,
    weight,
)

_JSON_INDENT: Final = 16


# Filters that pad, repeat or wrap, checked before they run. Each takes the filter's own
# arguments (after any context it is passed) and returns the value to filter.


def _f_center(value: Any, width: Any = 80) -> Any:
    if isinstance(width, int):
        refuse_over(max(width, weight(value)))
    return value


def _f_indent(s: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    refuse_over(weight(s) + (str(s).count("\n") + 1) * max(pad, 0))
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
        refuse_over(weight(s) + (weight(s) // width + 1) * wrap)
    return s


def _f_replace(s: Any, old: Any, new: Any, count: Any = None) -> Any:
    text = str(s)
    if isinstance(old, str) and isinstance(new, str):
        found = text.count(old) if old else len(text) + 1
        refuse_over(len(text) + found * len(new))
    return s


def _f_join(value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = list(guarded_iter(value))
    refuse_over(weight(items) + len(items) * (len(d) if isinstance(d, str) else 0))
    return items


def _f_format(value: Any, *args: Any, **kwargs: Any) -> Any:
    before_percent(str(value), kwargs or args)
    return value


def _f_batch(value: Any, linecount: Any, fill_with: Any = None) -> Any:
    if isinstance(linecount, int):
        refuse_over(linecount)
    return value


def _f_slice(value: Any, slices: Any, fill_with: Any = None) -> Any:
    if isinstance(slices, int):
        refuse_over(slices)
    return value


def _f_round(value: Any, precision: Any = 0, method: Any = "common") -> Any:
    # "ceil" and "floor" multiply by 10**precision, computed inside the filter.
    if isinstance(precision, int) and abs(precision) * 10 // 3 > NUMBER_BITS:
        raise too_big_number()
    return value


def _f_tojson(value: Any, indent: Any = None) -> Any:
    # Indented JSON grows with nesting depth times the indent.
    if (isinstance(indent, int) and indent > _JSON_INDENT) or (
        isinstance(indent, str) and len(indent) > _JSON_INDENT
    ):
        raise too_large()
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
    refuse_over(3 * weight(value) + words * (64 + weight((target, rel, extra_schemes))))
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
        check_time()
        if check is not None and signature is not None and len(args) > lead:
            try:
                signature.bind(*args[lead:], **kwargs)
            except TypeError:
                pass  # the filter refuses these arguments itself
            else:
                value = check(*args[lead:], **kwargs)
                args = (*args[:lead], value, *args[lead + 1 :])
        return sized(func(*args, **kwargs))

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
        raise too_slow(f" (range() gives at most {SIZE_LIMIT:,} numbers)")
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
            raise limit_error(f"makes a number over {NUMBER_BITS:,} bits (line {node.lineno})")
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


def _printable(value: Any) -> Any:
    """What {{ … }} prints: never a function or method, whose repr ("<function …>") would
    reach a resident; printing one is a call's parentheses forgotten, an error."""
    if callable(value) and not isinstance(value, Undefined):
        raise TypeError("prints a function instead of its result: call it, with (…)")
    return value


class Shipped(ImmutableSandboxedEnvironment):
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
            finalize=_printable,
        )
        # Webhook payloads keep the order the template wrote ("type" before "data").
        self.policies["json.dumps_kwargs"] = {"sort_keys": False}
        del self.globals["lipsum"]  # lipsum(n=10**9) loops in Python, out of reach of checks
        self.filters = {name: _watched(name, f) for name, f in self.filters.items()}
        self.tests = {
            name: _watched(name, cast(Callable[..., Any], f)) for name, f in self.tests.items()
        }


class Sandbox(Shipped):
    """The sandbox with the limits, for organisers' templates: see the module docstring of
    service/messages/render.py."""

    # Every arithmetic operator Jinja has (it has no << or >>): each is bounded before it
    # runs (before_binop).
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
        check_time()
        _reads((left, right))
        before_binop(operator, left, right)
        return sized(super().call_binop(context, operator, left, right))

    def linli_compare(self, left: Any, *rest: Any) -> Any:
        """A (chained) comparison: rest is operator, thunk, operator, thunk …; a number
        over NUMBER_BITS is refused before it is compared."""
        check_time()
        result: Any = True
        for at in range(0, len(rest), 2):
            right = rest[at + 1]()
            before_compare(left, right)
            result = COMPARE[rest[at]](left, right)
            if not result:
                return result
            left = right
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call from the template, with the clock checked and the result measured."""
        check_time()
        _reads(args)
        _reads(kwargs.values())
        if isinstance(obj, LoopContext) and args:
            # loop(children) in a recursive for-loop iterates outside the loop's own guard.
            args = (guarded_iter(args[0]), *args[1:])
        else:
            # Sandboxed str.format arrives wrapped; the method it wraps tells what it is.
            method = getattr(obj, "__wrapped__", obj)
            owner = getattr(method, "__self__", None)
            if owner is not None:
                args = before_method(owner, getattr(method, "__name__", ""), args, kwargs)
        return sized(super().call(context, obj, *args, **kwargs))

    def concat(self, parts: Iterable[str]) -> str:
        """Join captured output ({% set %} blocks, macros, filter blocks), within the limit."""
        pieces: list[str] = []
        size = 0
        for part in parts:
            size += len(part)
            if size > SIZE_LIMIT:
                raise too_large()
            pieces.append(part)
        return "".join(pieces)

    def linli_loop(self, iterable: Any) -> Iterator[Any]:
        """A for-loop's items, each counted against the loop and time budget."""
        return guarded_iter(iterable)

    def linli_sized(self, value: Any) -> Any:
        """`value` if it is within the size limit."""
        return sized(value)
