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
               capacity (int or None), max_party_size, agenda (a meeting's items in
               order, each {"code": "A3", "title"}; [] for other events)
    links      rsvp (URL), unsubscribe (URL or None), calendar (URL or None),
               actions ({"yes", "no", "maybe"} URLs, or None); needs (URL, on the
               monthly points statement: the resident's needs page /n/…)
    message    kind, urgent (bool), note (the organiser's words; may be "")
    rsvp       optional: answer ("pending", "yes", "no", "maybe", "waitlisted"),
               party_size, checkin_code (optional). A reminder to "pending" is a
               nudge to answer; a waitlist_offer goes to a party already moved up
               from the waiting list, so its answer is "yes".
    booking    optional: room, starts_at, ends_at, date_text, checkin_code
    offer      optional: expires_text
    statement  optional: month (the month's name as residents write it), earned, spent,
               balance (points)
    expiry     optional: points (lapsing), date_text (when), balance
    item       optional: a consultation item's code ("A3"), title, decision ("accepted",
               "rejected", "deferred"), decision_text (in the resident's language) and
               outcome (the published words)

booking_* templates (confirmation, pending, declined, reminder, cancellation) use only
community, resident, booking, and links.rsvp when defined (as the booking's page), so a
booking needs no event. points_statement (and points_expiry) use community, resident,
statement (expiry) and links.rsvp (the household's passbook page).

outcome_notice templates use only community, resident, item, and links.rsvp (the public
board) and links.unsubscribe when defined.

The sandbox (ImmutableSandboxedEnvironment) refuses attributes starting with "_", unsafe
callables and changes to lists, dicts and sets. It bounds neither time nor size, so Linli
does (service/messages/limits.py, checked by the sandbox in environments.py), per render
of an organiser's template: at most 1 s, 100,000 loop steps and 10,000,000 digit
operations of big-number arithmetic; numbers of at most 4,096 bits; and
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
templates, ours and reviewed like code, render in-process (Shipped in
service/messages/environments.py; service/messages/stencil.py), held to the size limit
but not to the clock, so a loaded machine never fails a message for our own template.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from jinja2 import Template
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from ..core.clock import utc_text
from ..core.errors import ValidationError
from ..core.text import is_unicode
from .catalog import BLOCKS, CHANNELS, GROUP, GROUP_KINDS, KINDS, LANGUAGES
from .environments import Sandbox, Shipped
from .limits import (
    SIZE_LIMIT,
    TIME_LIMIT,
    Budget,
    RenderLimitError,
    check_time,
    limit_error,
    render_budget,
    too_large,
)
from .samples import sample_context, sparse_context

# Channels without templates of their own: the file channel writes what email would show.
_RENDERED_AS: Final[Mapping[str, str]] = {
    "file": "email",
    # The group robots share one template: a group post reads alike in every chat app.
    "wecom": GROUP,
    "dingtalk": GROUP,
    "feishu": GROUP,
}
_CACHE_SIZE: Final = 256
_DIRECTORY: Final = Path(__file__).resolve().parents[2] / "templates" / "messages"


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
                raise too_large()
            check_time()
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
                    raise too_large()
            check_time()
        check_time()
    except RenderLimitError as exc:
        line = _template_line(template, exc)
        if line is None:
            raise
        raise limit_error(f"{exc.fields['template']} (line {line})") from None
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
    group_post = channel == GROUP and kind in GROUP_KINDS
    if channel not in CHANNELS and not group_post:
        raise ValidationError.field("channel", f"must be one of {', '.join(CHANNELS)}, file")
    if language not in LANGUAGES:
        raise ValidationError.field("language", f"must be one of {', '.join(LANGUAGES)}")
    return channel


class Renderer:
    """Renders the default message templates, or an organiser's override, in the sandbox."""

    def __init__(self, directory: Path | None = None) -> None:
        root = _DIRECTORY if directory is None else directory
        self._text = Sandbox(root, html=False)
        self._html = Sandbox(root, html=True)
        self._shipped_text = Shipped(root, html=False)
        self._shipped_html = Shipped(root, html=True)
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
        # Only an organiser's template (`source`) is held to the clock: a shipped one is
        # ours, reviewed like code, and a loaded machine must not fail a message for the
        # wall-clock time our own template took (its size is still measured).
        budget = Budget(time.monotonic() + TIME_LIMIT) if source is not None else None
        token = render_budget.set(budget)
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
            render_budget.reset(token)
        if channel == "webhook":
            payload = _payload(blocks["payload"])
            text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
            return Rendered(subject="", text=text, html=None, is_json=True)
        if channel == GROUP:
            return Rendered(
                subject=" ".join(blocks["subject"].split()), text=_tidy(blocks["text"]), html=None
            )
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
            self.render(kind, channel, language, sparse_context(language, kind), source=source)
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


# What a webhook payload's JSON text starts with: `stamped` inserts the timestamp after it.
_TYPE_KEY: Final = '{"type":'


def _payload(text: str) -> dict[str, Any]:
    """The template's payload as the envelope Standard Webhooks recommends: `type` (a
    string) first, then `data` (an object), then anything else the template adds; the
    `timestamp` is Linli's to set when the message is queued (`stamped`)."""
    try:
        payload = json.loads(text)
    except ValueError as exc:
        raise _problem("template_payload", f"payload is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise _problem("template_payload", "payload must be a JSON object")
    if not isinstance(payload.get("type"), str) or not isinstance(payload.get("data"), dict):
        raise _problem(
            "template_payload", 'payload must be {"type": "…", "data": {…}} (type a string)'
        )
    if "timestamp" in payload:
        raise _problem("template_payload", "payload must not set timestamp: Linli sets it")
    return {"type": payload.pop("type"), "data": payload.pop("data"), **payload}


def stamped(text: str, moment: datetime) -> str:
    """A rendered webhook payload with its `timestamp` (UTC) after its `type`: the
    `{type, timestamp, data}` envelope integrators' payloads carry too."""
    if not text.startswith(_TYPE_KEY):  # not a payload this module rendered
        raise ValueError("not a rendered webhook payload")
    # Only the type's JSON string is read, not the whole payload: this runs per message.
    _, end = _DECODER.raw_decode(text, len(_TYPE_KEY))
    return f'{text[:end]},"timestamp":"{utc_text(moment)}"{text[end:]}'


_DECODER: Final = json.JSONDecoder()
