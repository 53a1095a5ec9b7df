"""Stencils: a send's messages filled in from one rendering per template and shape are the
same, byte for byte, as rendering each in full; a template that reads a resident's value
(rather than only printing it) is rendered in full."""

from __future__ import annotations

import pytest

from service.core.models import MessageKind
from service.dispatch import composer_for
from service.messages.catalog import CHANNELS, KINDS, LANGUAGES
from service.messages.compose import Composer
from service.messages.render import Rendered, Renderer
from service.messages.stencil import Stencils
from service.settings import load_settings
from service.store.recipients import Reach, Recipient
from tests.mail import community_event

# The email tests' event, with markup in its title.
EVENT = community_event(title="跳蚤市场 <b>&")
# Names a template must carry exactly: markup, quotes, a backslash, CJK, whitespace that a
# block's tidying changes, and a private-use character like the stencil's own sentinels.
NAMES = [
    "王芳",
    'O\'Brien "Bob" <x>&y',
    "Li Ming",
    "a\\b",
    "  lead",
    "x\ny",
    "李\u3000四",
    "\ue000",
    "张三",
    "Zoë",
]
ANSWERS = [None, "yes", "no", "maybe", "pending", "waitlisted"]


@pytest.fixture(scope="module")
def composer() -> Composer:
    settings = load_settings(None, {}, {})
    return composer_for(settings, b"k" * 32, Renderer(), frozenset(CHANNELS))


def _contexts(
    composer: Composer, kind: str, channel: str, language: str, *, varied: bool = True
) -> list[dict]:  # type: ignore[type-arg]
    """Thirty residents' contexts: `varied`, in every shape and with awkward names; else
    all alike but for their own values, as most of a real send is."""
    contexts = []
    for n in range(30):
        answer = ANSWERS[n % len(ANSWERS)] if varied else "yes"
        if kind == "invitation":
            answer = None
        person = Recipient(
            100 + n,
            NAMES[n % len(NAMES)] if varied else f"居民{n}",
            language,
            f"1-{n}-0{n}",
            invitation_id=500 + n if answer else None,
            answer=answer,
            party_size=1 + n % 3 if varied else 1,
            checkin_code=f"K{n:03d}" if answer == "yes" else None,
        )
        contact = Reach(n, 100 + n, channel, "r@example.org", 0, False, False, ())
        contexts.append(
            composer.context(
                EVENT,
                None,
                person,
                MessageKind(kind),
                contact=contact if n % 3 or not varied else None,
                note="带 <note> & 'quotes'",
                urgent=bool(n % 2) and varied,
            )
        )
    return contexts


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("kind", [k for k in KINDS if not k.startswith("booking")])
def test_shipped_templates_filled_from_stencils_match_full_renderings(
    composer: Composer, kind: str, channel: str, language: str
) -> None:
    for varied in (True, False):
        stencils = Stencils(composer.renderer)
        contexts = _contexts(composer, kind, channel, language, varied=varied)
        for context in contexts:
            full = composer.renderer.render(kind, channel, language, context)
            assert stencils.render(kind, channel, language, context) == full
    # Residents alike but for their own values share one stencil: only the first two
    # messages were rendered in full (and compared with the stencil's).
    assert stencils.filled == len(contexts) - 2


READING = [
    "{{ resident.name|upper }}",
    "{% if resident.id == 125 %}the one{% endif %}",
    "{{ resident.name[:2] }}",
    "{{ resident.name|length }}",
    "{{ resident.id + 1 }}",
    "{{ resident.id * 2 }}",
    "{{ resident.name|urlencode }}",
    "{{ '%.2s'|format(resident.name) }}",
    "{{ '{:>12}'.format(resident.name) }}",
    "{{ resident.name|truncate(5, true, '') }}",
    "{{ resident.name|replace('a', 'b') }}",
    "{{ resident.name|tojson }}",
    "{{ resident.name|wordcount }}",
    "{% if 'i' in resident.name %}i{% endif %}",
    "{{ resident.name|title }}",
    "{{ resident.name|center(20) }}",
    "{{ resident.id|string|length }}",
    "{{ resident.name|list|first }}",
    "{{ resident.name|reverse }}",
    "{{ resident.unit.split('-')[1] }}",
    "{% for c in resident.name %}[{{ c }}]{% endfor %}",
    "{{ links.rsvp|urlize }}",
    "{{ {resident.name: 1}|tojson }}",
    "{{ resident.id|filesizeformat }}",
    "{{ resident.name|e }} {{ resident.name|lower }}",
    "{% set n = resident.id %}{% if n > 103 %}big{% endif %}",
    "{{ resident.id is divisibleby 2 }}",
    "{{ links.actions.yes[-3:] if links.actions else '' }}",
    # A join or |string makes plain text of a marker, which then reads without spoiling:
    # these once sent the third resident on the first two's branch.
    "{% if (resident.name ~ '')|length > 5 %}LONG{% else %}SHORT{% endif %}",
    "{% if '<' in (resident.name ~ '') %}markup{% endif %}",
    "{{ (resident.id|string)[-1] }}",
]


@pytest.mark.parametrize("body", READING)
def test_an_override_reading_a_residents_value_matches_full_renderings(
    composer: Composer, body: str
) -> None:
    source = f"{{% block text %}}Hi {{{{ resident.name }}}}: {body}{{% endblock %}}"
    stencils = Stencils(composer.renderer)
    outputs: list[Rendered] = []
    contexts = _contexts(composer, "update", "sms", "en", varied=False)
    for n, context in enumerate(contexts):
        # The first two (checked in full) agree on a length or markup branch; later ones not.
        context["resident"]["name"] = ["Li Ming", "Zoë Wu", "A<b>", "ab"][n % 4]
    for context in contexts:
        full = composer.renderer.render("update", "sms", "en", context, source=source)
        got = stencils.render("update", "sms", "en", context, source=source)
        assert got == full, body
        outputs.append(got)
    assert len({o.text for o in outputs}) > 1  # the residents' messages do differ


def test_an_override_is_rendered_in_full_for_every_message(
    composer: Composer,
) -> None:
    # Even one that only prints values: what an organiser writes is never stencilled.
    source = (
        "{% block subject %}For {{ resident.name }}{% endblock %}"
        "{% block text %}{{ resident.name }} / {{ resident.unit }} / {{ links.rsvp }}"
        "{% endblock %}"
        '{% block html %}<p title="{{ resident.name }}">{{ resident.name }}</p>'
        '{{ resident.name|safe }}<a href="{{ links.rsvp }}">{{ resident.id }}</a>'
        "{% endblock %}"
    )
    stencils = Stencils(composer.renderer)
    contexts = _contexts(composer, "update", "email", "en", varied=False)
    awkward = ['O\'Brien "Bob" <x>&y', "a\\b", "王芳", "<script>alert(1)</script>", "Zoë"]
    for n, context in enumerate(contexts):
        context["resident"]["name"] = awkward[n % len(awkward)]
    for context in contexts:
        full = composer.renderer.render("update", "email", "en", context, source=source)
        assert stencils.render("update", "email", "en", context, source=source) == full
    assert stencils.filled == 0
