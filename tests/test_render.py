"""Message templates and the sandboxed renderer; SMS length and segment counting."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from service.core.errors import ValidationError
from service.messages.catalog import BLOCKS, CHANNELS, KINDS, LANGUAGES
from service.messages.limits import RenderLimitError
from service.messages.render import Renderer
from service.messages.samples import sample_context
from service.messages.sms_length import sms_length

CJK = re.compile(r"[\u4e00-\u9fff]")
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "messages"
ALL = [(k, c, lang) for k in KINDS for c in CHANNELS for lang in LANGUAGES]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def sms_text(body: str) -> str:
    """An SMS override whose text block is `body`."""
    return "{% block text %}" + body + "{% endblock %}"


def minimal_context(language: str, kind: str) -> dict[str, Any]:
    """A context with every optional part absent or empty."""
    context = sample_context(language, kind)
    for optional in ("rsvp", "booking", "offer"):
        del context[optional]
    context["event"].update(
        location="", description="", rsvp_deadline=None, capacity=None, max_party_size=1
    )
    context["links"].update(unsubscribe=None, calendar=None, actions=None)
    context["message"].update(note="", urgent=True)
    return context


def everything(rendered: Any) -> str:
    return " ".join(str(part) for part in (rendered.subject, rendered.text, rendered.html))


@pytest.mark.parametrize(("kind", "channel", "language"), ALL)
def test_render_every_template_with_sample_data(
    renderer: Renderer, kind: str, channel: str, language: str
) -> None:
    rendered = renderer.render(kind, channel, language, sample_context(language, kind))
    assert rendered.text.strip()
    shown = everything(rendered)
    if language == "zh-CN":
        assert CJK.search(shown)
    else:
        assert not CJK.search(shown)
    if channel == "email":
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.html is not None and rendered.html.startswith("<!DOCTYPE html>")
    if channel == "webhook":
        assert rendered.payload is not None and "." in rendered.payload["type"]


@pytest.mark.parametrize(("kind", "channel", "language"), ALL)
def test_render_every_template_without_optional_parts(
    renderer: Renderer, kind: str, channel: str, language: str
) -> None:
    rendered = renderer.render(kind, channel, language, minimal_context(language, kind))
    assert rendered.text.strip()
    assert "None" not in rendered.text


@pytest.mark.parametrize(("kind", "channel", "language"), ALL)
def test_check_accepts_every_default_template_as_an_override(
    renderer: Renderer, kind: str, channel: str, language: str
) -> None:
    source = (TEMPLATES / kind / f"{channel}.{language}.j2").read_text(encoding="utf-8")
    renderer.check(kind, channel, language, source)

    # An organiser who saves the default as their override sends the same message.
    for context in (sample_context(language, kind), minimal_context(language, kind)):
        shipped = renderer.render(kind, channel, language, context)
        assert renderer.render(kind, channel, language, context, source=source) == shipped


def test_render_invitation_email_has_button_details_and_unsubscribe(renderer: Renderer) -> None:
    context = sample_context("zh-CN")
    rendered = renderer.render("invitation", "email", "zh-CN", context)
    assert rendered.html is not None
    assert f'href="{context["links"]["rsvp"]}"' in rendered.html
    assert f'href="{context["links"]["unsubscribe"]}"' in rendered.html
    assert context["event"]["location"] in rendered.html
    assert context["event"]["title"] in rendered.subject
    assert context["links"]["rsvp"] in rendered.text


def test_render_invitation_email_leaves_out_unsubscribe_when_absent(renderer: Renderer) -> None:
    context = sample_context("en")
    context["links"]["unsubscribe"] = None
    rendered = renderer.render("invitation", "email", "en", context)
    assert rendered.html is not None
    assert "Unsubscribe" not in rendered.html and "Unsubscribe" not in rendered.text


def test_render_html_escapes_what_text_channels_keep_verbatim(renderer: Renderer) -> None:
    context = sample_context("en")
    context["resident"]["name"] = "<script>alert(1)</script>"
    context["event"]["title"] = "Tea & <b>cake</b>"
    email = renderer.render("invitation", "email", "en", context)
    assert email.html is not None
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "&lt;b&gt;cake&lt;/b&gt;" in email.html and "Tea &amp; " in email.html
    assert "<script>alert(1)</script>" in email.text
    assert "Tea & <b>cake</b>" in email.subject
    assert "Tea & <b>cake</b>" in renderer.render("invitation", "sms", "en", context).text
    telegram = renderer.render("invitation", "telegram", "en", context).text
    assert "<script>alert(1)</script>" in telegram


def test_render_sms_invitation_in_chinese_fits_two_segments(renderer: Renderer) -> None:
    context = sample_context("zh-CN")
    text = renderer.render("invitation", "sms", "zh-CN", context).text
    length = sms_length(text)
    assert (length.encoding, length.segments) == ("UCS-2", 2)
    event = context["event"]
    for part in (event["title"], event["start_text"], event["location"], context["links"]["rsvp"]):
        assert part in text
    assert f"{event['code']} 1" in text and "参加" in text and "待定" in text


def test_render_sms_invitation_in_english_is_gsm7(renderer: Renderer) -> None:
    text = renderer.render("invitation", "sms", "en", sample_context("en")).text
    assert sms_length(text).encoding == "GSM-7"


def test_render_webhook_payload_is_a_thin_json_object(renderer: Renderer) -> None:
    context = sample_context("en")
    rendered = renderer.render("invitation", "webhook", "en", context)
    payload = rendered.payload
    assert payload is not None
    assert payload["type"] == "invitation.created"
    data = payload["data"]
    assert data["event"]["id"] == context["event"]["id"]
    assert data["event"]["starts_at"] == "2026-12-05T09:00:00+08:00"
    assert data["resident"] == {"id": context["resident"]["id"]}
    assert data["links"]["rsvp"] == context["links"]["rsvp"]
    assert data["links"]["actions"]["yes"] == context["links"]["actions"]["yes"]
    assert rendered.text.startswith('{"type":"invitation.created"')


def test_render_webhook_payload_leaves_out_actions_when_absent(renderer: Renderer) -> None:
    rendered = renderer.render("invitation", "webhook", "en", minimal_context("en", "invitation"))
    assert rendered.payload is not None
    assert "actions" not in rendered.payload["data"]["links"]


def test_render_file_channel_renders_the_email_templates(renderer: Renderer) -> None:
    context = sample_context("en")
    assert renderer.render("reminder", "file", "en", context) == renderer.render(
        "reminder", "email", "en", context
    )


def test_render_uses_the_override_instead_of_the_default(renderer: Renderer) -> None:
    source = sms_text("{{ event.code }}: {{ event.title | upper }} ({{ resident.unit }})")
    rendered = renderer.render("invitation", "sms", "en", sample_context("en"), source=source)
    assert rendered.text == "T2: FLEA MARKET: SWAP AND SHARE (3-2-1501)"


def test_render_reads_templates_from_the_given_directory(tmp_path: Path) -> None:
    (tmp_path / "reminder").mkdir()
    (tmp_path / "reminder" / "sms.en.j2").write_text(sms_text("Hi {{ resident.name }}"))
    rendered = Renderer(tmp_path).render("reminder", "sms", "en", sample_context("en"))
    assert rendered.text == "Hi Alex Chen"


@pytest.mark.parametrize(
    ("kind", "channel", "language", "field"),
    [
        ("party", "sms", "en", "kind"),
        ("invitation", "pigeon", "en", "channel"),
        ("invitation", "sms", "fr", "language"),
    ],
)
def test_render_refuses_unknown_names_naming_the_field(
    renderer: Renderer, kind: str, channel: str, language: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.render(kind, channel, language, sample_context("en"))
    assert field in caught.value.fields


def test_check_refuses_an_undefined_name_naming_it(renderer: Renderer) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text("Hello\n{{ nope }}"))
    assert caught.value.status == 400
    assert caught.value.code == "template_undefined"
    assert "'nope' is undefined" in caught.value.message
    assert "line 2" in caught.value.message
    assert "template" in caught.value.fields


def test_check_refuses_a_syntax_error_with_its_line(renderer: Renderer) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", "{% block text %}\nfine\n{{ } }}{% endblock %}")
    assert caught.value.code == "template_syntax"
    assert "line 3: unexpected '}'" in caught.value.message
    assert caught.value.fields == {"template": "line 3: unexpected '}'"}


def test_check_refuses_optional_parts_used_without_a_test(renderer: Renderer) -> None:
    source = sms_text("You said {{ rsvp.answer }}")
    with pytest.raises(ValidationError) as caught:
        renderer.check("reminder", "sms", "en", source)
    assert caught.value.code == "template_undefined"
    assert "'rsvp' is undefined" in caught.value.message
    assert "optional parts absent" in caught.value.message
    # A confirmation always follows an answer, so there rsvp may be used as it is.
    renderer.check("rsvp_confirmation", "sms", "en", source)
    renderer.check("reminder", "sms", "en", sms_text("{{ rsvp.answer if rsvp is defined }}"))


def test_check_refuses_a_template_without_the_channel_blocks(renderer: Renderer) -> None:
    source = "{% block subject %}Hi{% endblock %}{% block text %}Hi{% endblock %}"
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "email", "en", source)
    assert caught.value.code == "template_missing_block"
    assert "html" in caught.value.message
    assert set(BLOCKS["email"]) == {"subject", "text", "html"}


def test_check_refuses_a_webhook_payload_that_is_not_an_object(renderer: Renderer) -> None:
    source = "{% block payload %}{{ [event.id] | tojson }}{% endblock %}"
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "webhook", "en", source)
    assert caught.value.code == "template_payload"


def test_check_refuses_private_attributes(renderer: Renderer) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text("{{ resident.__class__ }}"))
    assert caught.value.code == "template_unsafe"


def test_check_refuses_changing_a_list(renderer: Renderer) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text("{% set a = [] %}{{ a.append(1) }}"))
    assert caught.value.code == "template_unsafe"


@pytest.mark.parametrize(
    "body",
    [
        # One call the time budget cannot interrupt, quadratic in the text: once 22 s.
        "{{ ('一' * 14000).encode('punycode')|length }}",
        "{{ 'x'.encode(encoding='idna') }}",
        "{{ 'x'.encode('utf-8').decode('punycode') }}",
    ],
)
def test_check_refuses_codecs_that_are_not_plain_text(renderer: Renderer, body: str) -> None:
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text(body))
    assert caught.value.code == "template_unsafe"
    assert "codec" in caught.value.message
    text = sms_text("{{ '邻里'.encode('gbk')|length }} {{ 'ok'.encode()|length }}")
    renderer.check("invitation", "sms", "en", text)


@pytest.mark.parametrize("body", ['{{ "\\ud83d" }}', "{{ '%c' % 55296 }}"])
def test_check_refuses_text_that_is_not_unicode(renderer: Renderer, body: str) -> None:
    # Accepted, it made every preview and send of the event a 500.
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text(body))
    assert caught.value.code == "template_error"
    assert "not valid Unicode" in caught.value.message


def test_check_refuses_a_huge_string_as_too_costly(renderer: Renderer) -> None:
    with pytest.raises(RenderLimitError) as caught:
        renderer.check("invitation", "sms", "en", sms_text("{{ 'a' * 50000000 }}"))
    assert caught.value.code == "template_too_costly"
    assert caught.value.status == 400
    assert "makes more than 64 KB" in caught.value.message
    assert "template" in caught.value.fields


def test_check_refuses_nested_loops_as_too_costly(renderer: Renderer) -> None:
    source = sms_text(
        "{% for i in range(60000) %}{% for j in range(60000) %}{% endfor %}{% endfor %}"
    )
    with pytest.raises(RenderLimitError) as caught:
        renderer.check("invitation", "sms", "en", source)
    assert "takes more than 1 s" in caught.value.message


@pytest.mark.parametrize(
    "body",
    [
        "{{ 2 ** 10000000 }}",
        "{{ ['x' * 60000] * 2 }}",
        "{% for i in 'x' * 60000 %}{% for j in 'x' * 60000 %}{% endfor %}{% endfor %}",
        "{% for i in range(10**12) %}{% endfor %}",
        "{% for i in range(60000) %}0123456789{% endfor %}",
        "{% set a = 'x' * 60000 %}{{ a ~ a }}",
        "{% set a = 'x' * 60000 %}{% set b %}{{ a }}{{ a }}{% endset %}",
        "{% set ns = namespace(x='x') %}{% for i in range(64) %}{% set ns.x = [ns.x, ns.x] %}"
        "{% endfor %}",
        "{{ 'a' | center(1000000000) }}",
        "{{ 'a'.ljust(1000000000) }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ '%1000000000d' % 1 }}",
        "{% set a = 'a' * 60000 %}{{ a.replace('a', a) }}",
        "{% set a = 'a' * 60000 %}{{ [a, a] | join }}",
        "{{ [1] | batch(1000000000, 'x') | list }}",
        "{% macro m() %}{% for i in range(60000) %}{% endfor %}{% endmacro %}"
        "{% for i in range(10) %}{{ m() }}{% endfor %}",
    ],
)
def test_check_refuses_other_ways_of_taking_too_long_or_too_much(
    renderer: Renderer, body: str
) -> None:
    with pytest.raises(RenderLimitError):
        renderer.check("invitation", "sms", "en", sms_text(body))


def test_render_limits_apply_to_overrides_at_send_time_too(renderer: Renderer) -> None:
    source = sms_text("{% if resident.name == 'Big' %}{{ 'a' * 70000 }}{% endif %}ok")
    context = sample_context("en")
    assert renderer.render("invitation", "sms", "en", context, source=source).text == "ok"
    context["resident"]["name"] = "Big"
    with pytest.raises(RenderLimitError):
        renderer.render("invitation", "sms", "en", context, source=source)


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments", "per_segment"),
    [
        ("hello", "GSM-7", 5, 1, 160),
        ("", "GSM-7", 0, 1, 160),
        ("a" * 160, "GSM-7", 160, 1, 160),
        ("a" * 161, "GSM-7", 161, 2, 153),
        ("a" * 306, "GSM-7", 306, 2, 153),
        ("a" * 307, "GSM-7", 307, 3, 153),
        ("€", "GSM-7", 2, 1, 160),
        ("a" * 158 + "€", "GSM-7", 160, 1, 160),
        ("a" * 159 + "€", "GSM-7", 161, 2, 153),
        ("{[]}", "GSM-7", 8, 1, 160),
        ("邻" * 70, "UCS-2", 70, 1, 70),
        ("邻" * 71, "UCS-2", 71, 2, 67),
        ("邻" * 134, "UCS-2", 134, 2, 67),
        ("邻" * 135, "UCS-2", 135, 3, 67),
        ("hello 😀", "UCS-2", 8, 1, 70),
        ("a" * 66 + "😀" + "a" * 2, "UCS-2", 70, 1, 70),
    ],
)
def test_sms_length_counts_encoding_units_and_segments(
    text: str, encoding: str, characters: int, segments: int, per_segment: int
) -> None:
    length = sms_length(text)
    assert (length.encoding, length.characters, length.segments, length.per_segment) == (
        encoding,
        characters,
        segments,
        per_segment,
    )


def test_sms_length_never_splits_an_escape_or_surrogate_pair() -> None:
    # 152 plain septets then "€": the pair cannot straddle the 153-septet boundary.
    assert sms_length("a" * 152 + "€" + "a" * 152).segments == 3
    # 66 units then an emoji: it moves whole into the second part.
    assert sms_length("a" * 66 + "😀" + "邻" * 66).segments == 3


def operations(run: Any) -> int:
    """How many Python and C functions `run()` calls: work counted, not timed."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        run()
    except ValidationError:
        pass
    finally:
        sys.setprofile(None)
    return count


def flat_list(item: str, items: int) -> str:
    return "{% set a = 3**124000 %}{% set b = 3**62000 %}{{ [" + ", ".join([item] * items) + "] }}"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        # The finding: a flat list of big-number divisions passed the check.
        (flat_list("a//b > 0", 40), "makes a number over 4,096 bits"),
        ("{{ 2 ** 5000 }}", "makes a number over 4,096 bits"),
        ("{% set a = 2 ** 4000 %}{{ a * a }}", "makes a number over 4,096 bits"),
        ("{{ ('9' * 4000) | int > 0 }}", "makes a number over 4,096 bits"),
        ("{{ 0x" + "f" * 1100 + " > 0 }}", "makes a number over 4,096 bits"),
        ("{{ 1.5 | round(10000000, 'ceil') }}", "makes a number over 4,096 bits"),
        # Numbers within the size, but too much arithmetic on them: counted, not timed.
        (
            "{% set a = 3**2500 %}{% set b = 3**1250 %}{{ [" + ", ".join(["a//b"] * 2000) + "] }}",
            "digit operations",
        ),
        (
            "{% set a = 3**2500 %}{% for i in range(60000) %}{{ a % 7**900 > 0 }}{% endfor %}",
            "digit operations",
        ),
        (
            "{% set a = 3**2500 %}{% for i in range(60000) %}{% if a / 7**1300 > 1 %}{% endif %}"
            "{% endfor %}",
            "digit operations",
        ),
        (
            "{% set b = 3**1290 %}{% for i in range(60000) %}{{ (b * b) > (b * 2) }}{% endfor %}",
            "digit operations",
        ),
        ("{{ 'x' * 70000 }}", "makes more than 64 KB"),
        ("{{ [1, 2] * 40000 }}", "makes more than 64 KB"),
        ("{% set a = 'x' * 40000 %}{{ a + a }}", "makes more than 64 KB"),
        ("{% set a = [1] * 30000 %}{{ a + a }}", "makes more than 64 KB"),
        ("{{ range(2 ** 4000) | list }}", "range() gives at most"),
        ("{{ 'a' | center(1000000000) }}", "makes more than 64 KB"),
    ],
)
def test_check_refuses_each_costly_operator_before_it_runs(
    renderer: Renderer, body: str, problem: str
) -> None:
    with pytest.raises(RenderLimitError) as caught:
        renderer.check("invitation", "sms", "en", sms_text(body))
    assert caught.value.code == "template_too_costly"
    assert caught.value.status == 400
    assert problem in caught.value.message


def test_render_refuses_a_flat_list_of_divisions_at_its_first_item(renderer: Renderer) -> None:
    source = sms_text(flat_list("a//b > 0", 4000))
    context = sample_context("en")
    # Compiled (and refused) once, so what is counted below is the render alone.
    with pytest.raises(RenderLimitError):
        renderer.render("invitation", "sms", "en", context, source=source)
    spent = operations(lambda: renderer.render("invitation", "sms", "en", context, source=source))
    # Refused at 3**124000, before any of the 4,000 items: a few hundred calls, where
    # building the list did 4,000 divisions of 196,000-bit numbers (51 s).
    assert spent < 1_000


def test_check_has_no_shift_operators(renderer: Renderer) -> None:
    for body in ("{{ 1 << 4000 }}", "{{ 1 >> 4000 }}"):
        with pytest.raises(ValidationError) as caught:
            renderer.check("invitation", "sms", "en", sms_text(body))
        assert caught.value.code == "template_syntax"


def test_render_override_comparisons_and_arithmetic_still_work(renderer: Renderer) -> None:
    body = (
        "{{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ 'a' in 'abc' }} {{ 1 not in [2] }} "
        "{{ 7 // 2 }} {{ 7 % 3 }} {{ 7 / 2 }} {{ 2 - 5 }} {{ 2 ** 10 }} {{ 'a' + 'b' }} "
        "{{ 2 ** 4095 > 0 }} {{ 1.25 | round(1, 'ceil') }} {{ 3 > 5 > undefined_name }}"
    )
    rendered = renderer.render(
        "invitation", "sms", "en", sample_context("en"), source=sms_text(body)
    )
    assert rendered.text == "True False True True 3 1 3.5 -3 1024 ab True 1.3 False"


@pytest.mark.parametrize("body", ["{{ range }}", "{{ 'x'.upper }}", "{{ resident.name.split }}"])
def test_check_refuses_printing_a_function(renderer: Renderer, body: str) -> None:
    # A preview showed "<function _bounded_range …>": a function printed is a mistake
    # (a call's parentheses forgotten), refused when the template is checked.
    with pytest.raises(ValidationError) as caught:
        renderer.check("invitation", "sms", "en", sms_text(body))
    assert caught.value.code == "template_error"
    assert "prints a function" in caught.value.message
    renderer.check("invitation", "sms", "en", sms_text("{{ range(2)|list }} {{ 'x'.upper() }}"))
