"""Organisers' templates run in the sandbox process: the server answers other clients
while one is checked or sent, a helper past its hard deadline is killed and replaced,
and normal overrides still render and send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from service.keys import sandbox_key
from service.messages.limits import RenderLimitError
from service.messages.samples import sample_context
from service.messages.sandbox import TemplateSandbox
from tests.community import EVENTS, published_event, resident
from tests.conftest import Api

# About 0.03 s a render (a margin of 30 against the 1 s limit, for a loaded machine):
# passes the check, and holds a helper a while for each message.
SLOW_BUT_FINE = (
    "{% block text %}{% set a = 'y' * 60000 %}{% for i in range(1000) %}"
    "{% if a.count('x') %}{% endif %}{% endfor %}Hi {{ resident.name }}{% endblock %}"
)
# Runs to the 1 s clock before it is refused.
RUNS_TO_THE_CLOCK = (
    "{% block text %}{% set a = 'y' * 60000 %}{% for i in range(60000) %}"
    "{% if a.count('x') %}{% endif %}{% endfor %}{% endblock %}"
)
# The finding's template, with the 40 items that used to pass the check.
DIVISIONS = (
    "{% block text %}{% set a = 3**124000 %}{% set b = 3**62000 %}{{ ["
    + ", ".join(["a//b > 0"] * 40)
    + "] }}{% endblock %}"
)


async def healthz_answered_first(api: Api, slow: Awaitable[Any]) -> Any:
    """Start `slow`, wait until the sandbox works on it, then ask /healthz: it must be
    answered while `slow` is still pending. Returns what `slow` returned."""
    task = asyncio.ensure_future(slow)
    sandbox = api.client.app[sandbox_key]
    for _ in range(5000):
        if sandbox.busy or task.done():
            break
        await asyncio.sleep(0.001)
    assert not task.done(), "finished before /healthz was asked"
    async with api.client.get("/healthz") as response:
        assert response.status == 200
    order = "healthz first" if not task.done() else "the template first"
    result = await task
    assert order == "healthz first"
    return result


async def test_saving_a_costly_template_leaves_the_server_answering(api: Api) -> None:
    event_id = await published_event(api)
    path = f"{EVENTS}/{event_id}/templates/invitation/sms/en"
    status, body = await healthz_answered_first(
        api, api.put(path, json={"source": RUNS_TO_THE_CLOCK})
    )
    assert status == 400 and body["error"]["code"] == "template_too_costly"
    assert "template" in body["error"]["fields"]

    status, body = await api.put(path, json={"source": DIVISIONS})
    assert status == 400 and body["error"]["code"] == "template_too_costly"
    assert "makes a number over 4,096 bits" in body["error"]["message"]


async def test_sending_with_a_costly_override_leaves_the_server_answering(api: Api) -> None:
    names = [f"Resident {n}" for n in range(8)]
    for n, name in enumerate(names):
        await resident(api, name, f"1-1-{101 + n}", ("sms", f"138001380{n:02d}"), language="en")
    event_id = await published_event(api)
    path = f"{EVENTS}/{event_id}/templates/invitation/sms/en"
    status, body = await api.put(path, json={"source": SLOW_BUT_FINE})
    assert status == 200, body

    status, report = await healthz_answered_first(api, api.post(f"{EVENTS}/{event_id}/send"))
    assert status == 200, report
    assert report["queued"] == len(names)
    _, deliveries = await api.get(f"{EVENTS}/{event_id}/deliveries?limit=50")
    texts = {m["body_text"] for m in deliveries["messages"]["items"]}
    assert texts == {f"Hi {name}" for name in names}


async def test_a_helper_past_its_hard_deadline_is_killed_and_replaced() -> None:
    # A hard deadline of 50 ms a render, under a template that takes about 0.5 s within
    # its soft limits: the helper is stopped mid-render, and the next round trip gets a
    # fresh one.
    sandbox = TemplateSandbox(seconds_per_render=0.05, grace_s=0)
    slow = SLOW_BUT_FINE.replace("range(1000)", "range(15000)")
    fine = "{% block text %}Hi {{ resident.name }}{% endblock %}"
    async with sandbox.running():
        try:
            await sandbox.render("invitation", "sms", "en", sample_context("en"), slow)
        except RenderLimitError as exc:
            assert exc.code == "template_too_costly"
            assert "stopped" in exc.message
        else:
            raise AssertionError("the helper was not stopped")
        again = await sandbox.render("invitation", "sms", "en", sample_context("en"), fine)
        assert again.text == "Hi Alex Chen"
        assert sandbox.started == 2  # the killed helper and its replacement
