"""The console's events pages: the event form (new, edit, refusals), the event page with
publish, update and cancel, and the message preview."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tests.community import EVENTS, outbox_files, published_event, resident, settled
from tests.conftest import Api
from tests.console import ConsoleClient

FORM = {
    "title": "中秋游园会",
    "kind": "activity",
    "description": "猜灯谜",
    "location": "中心广场",
    "room_id": "",
    "starts_at": "2026-12-05T09:00",
    "ends_at": "2026-12-05T12:00",
    "capacity": "50",
    "max_party_size": "3",
    "rsvp_deadline": "2026-12-04T18:00",
    "reminder_hours": "24, 2",
    "nudge_hours": "48",
}


def _utc(value: object) -> str:
    """An API time as 'YYYY-MM-DDTHH:MM' in UTC."""
    return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def _events(api: Api) -> list[dict[str, object]]:
    status, body = await api.get(EVENTS)
    assert status == 200, body
    return list(body["items"])


async def test_console_events_create_shows_in_api_with_utc_times(
    api: Api, console: ConsoleClient
) -> None:
    await resident(api, "王芳", "1-1-101", ("sms", "13800138001"), tags=["老人"])
    form = await console.get("/console/events/new")
    assert form.status == 200 and form.has("老人")
    assert form.has("时间按小区所在时区（Asia/Shanghai）填写。")  # the zone the pickers mean
    page = await console.post("/console/events/new", [*FORM.items(), ("audience_tags", "老人")])
    assert page.status == 200 and page.has("中秋游园会") and page.flash
    [event] = await _events(api)
    assert page.url == f"/console/events/{event['id']}"
    # 09:00 in Asia/Shanghai is 01:00 UTC.
    assert _utc(event["starts_at"]) == "2026-12-05T01:00"
    assert _utc(event["ends_at"]) == "2026-12-05T04:00"
    assert _utc(event["rsvp_deadline"]) == "2026-12-04T10:00"
    assert event["capacity"] == 50 and event["max_party_size"] == 3
    assert event["audience_tags"] == ["老人"] and event["status"] == "draft"
    listed = await console.get("/console/events")
    assert listed.has("中秋游园会")


async def test_console_events_bad_form_shows_errors_and_creates_nothing(
    api: Api, console: ConsoleClient
) -> None:
    bad = {**FORM, "title": "", "ends_at": "2026-12-05T08:00", "capacity": "-1"}
    page = await console.post("/console/events/new", bad)
    assert page.status == 400
    assert page.error_for("title")
    assert page.error_for("capacity")
    assert 'value="2026-12-05T08:00"' in page.text  # the typed values are kept
    assert await _events(api) == []
    # The end before the start is the domain's refusal, beside the end field.
    page = await console.post("/console/events/new", {**FORM, "ends_at": "2026-12-05T08:00"})
    assert page.status == 400 and page.error_for("ends_at")
    page = await console.post("/console/events/new", {**FORM, "starts_at": "nonsense"})
    assert page.status == 400 and page.error_for("starts_at")
    assert await _events(api) == []


async def test_console_events_edit_and_publish(api: Api, console: ConsoleClient) -> None:
    await console.post("/console/events/new", FORM)
    [event] = await _events(api)
    form = await console.get(f"/console/events/{event['id']}/edit")
    assert 'value="2026-12-05T09:00"' in form.text  # shown in the community's time
    page = await console.post(
        f"/console/events/{event['id']}/edit",
        {
            **FORM,
            "title": "游园会（改期）",
            "starts_at": "2026-12-06T14:00",
            "ends_at": "2026-12-06T16:00",
            "rsvp_deadline": "",
            "capacity": "",
        },
    )
    assert page.status == 200 and page.has("游园会（改期）")
    status, changed = await api.get(f"{EVENTS}/{event['id']}")
    assert _utc(changed["starts_at"]) == "2026-12-06T06:00"
    assert changed["rsvp_deadline"] is None and changed["capacity"] is None
    page = await console.post(f"/console/events/{event['id']}/publish", {})
    assert page.status == 200 and 'id="send-button"' in page.text
    status, changed = await api.get(f"{EVENTS}/{event['id']}")
    assert status == 200 and changed["status"] == "published"


async def test_console_events_preview_counts_chinese_sms_segments(
    api: Api, console: ConsoleClient
) -> None:
    rid = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    event_id = await published_event(api, description="请带上环保袋" * 10)
    page = await console.get(f"/console/events/{event_id}/preview?resident={rid}&channel=sms")
    assert page.status == 200
    shown = page.by_id("sms-length")
    assert shown and "UCS-2" in shown and "67" in shown
    en = await console.get(f"/console/events/{event_id}/preview?channel=email&lang=en")
    assert en.status == 200 and en.has("Channel")
    bad = await console.get(f"/console/events/{event_id}/preview?resident=99999")
    assert bad.status == 404 and bad.error_for("resident")


async def test_console_events_update_only_to_those_who_said_yes(
    api: Api, console: ConsoleClient
) -> None:
    yes = await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    await resident(api, "李娜", "3-2-1502", ("sms", "13800138002"))
    event_id = await published_event(api)
    status, report = await api.post(f"{EVENTS}/{event_id}/send")
    assert status == 200 and report["invited"] == 2
    await settled(api, event_id, total=2)
    status, _ = await api.post(
        f"{EVENTS}/{event_id}/answers", json={"resident_id": yes, "answer": "yes"}
    )
    assert status in (200, 201)
    page = await console.post(
        f"/console/events/{event_id}/notify",
        {"kind": "update", "audience": "yes", "note": "改到二楼", "urgent": "1"},
    )
    assert page.status == 200 and page.flash
    await settled(api, event_id, total=3)
    updates = [
        f.read_text(encoding="utf-8")
        for f in outbox_files(api, "sms")
        if "改到二楼" in f.read_text(encoding="utf-8")
    ]
    assert len(updates) == 1
    bad = await console.post(f"/console/events/{event_id}/notify", {"kind": "nonsense"})
    assert bad.status == 400 and bad.error_for("kind")


async def test_console_events_cancel_needs_confirmation(api: Api, console: ConsoleClient) -> None:
    event_id = await published_event(api)
    page = await console.post(f"/console/events/{event_id}/cancel", {})
    assert page.status == 400
    status, event = await api.get(f"{EVENTS}/{event_id}")
    assert event["status"] == "published"
    page = await console.post(f"/console/events/{event_id}/cancel", {"confirm": "yes"})
    assert page.status == 200 and page.by_id("event-status") in ("已取消", "Cancelled")
    status, event = await api.get(f"{EVENTS}/{event_id}")
    assert status == 200 and event["status"] == "cancelled"


async def test_console_events_pages_render_in_both_languages(
    api: Api, console: ConsoleClient
) -> None:
    event_id = await published_event(api)
    for lang, word in (("en", "Upcoming"), ("zh-CN", "即将举行")):
        page = await console.get(f"/console/events?lang={lang}")
        assert page.status == 200 and page.has(word)
        for path in ("", "/edit", "/preview"):
            page = await console.get(f"/console/events/{event_id}{path}?lang={lang}")
            assert page.status == 200, (path, lang)
        page = await console.get("/console/events/new")
        assert page.status == 200
    past = await console.get("/console/events?when=past&lang=en")
    assert past.status == 200 and past.has("No events here yet.")
    missing = await console.get("/console/events/9999")
    assert missing.status == 404


async def test_console_events_channels_are_chosen_on_the_form(
    api: Api, console: ConsoleClient
) -> None:
    form = await console.get("/console/events/new?lang=en")
    assert form.has("Channels") and 'id="channel-email"' in form.text
    page = await console.post(
        "/console/events/new", [*FORM.items(), ("channels", "email"), ("channels", "sms")]
    )
    assert page.status == 200 and page.flash
    [event] = await _events(api)
    assert event["channels"] == ["sms", "email"]
    edit = await console.get(f"/console/events/{event['id']}/edit")
    assert 'id="channel-sms" type="checkbox" name="channels" value="sms" checked' in edit.text
    assert 'value="telegram" checked' not in edit.text


def _cancel_form(page_html: str) -> list[tuple[str, str]]:
    """The cancel form's fields as a browser posts them untouched: hidden inputs, ticked
    boxes, and the confirmation button."""
    form = page_html.split('action="/console/events/')[-1]
    assert "/cancel" in form.split('"')[0], "the last form is the cancel form"
    form = form.split("</form>")[0]
    pairs = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form)
    pairs += re.findall(r'<input type="checkbox" name="(\w+)" value="([^"]*)" checked', form)
    return [p for p in pairs if p[0] != "csrf"] + [("confirm", "yes")]


async def test_console_cancel_notifies_the_invited_unless_unticked(
    api: Api, console: ConsoleClient
) -> None:
    await resident(api, "张伟", "3-2-1501", ("sms", "13800138000"))
    await resident(api, "李娜", "3-2-1502", ("sms", "13800138002"))
    told, untold = await published_event(api), await published_event(api, title="合唱排练")
    for event_id in (told, untold):
        status, _ = await api.post(f"{EVENTS}/{event_id}/send")
        assert status == 200
        await settled(api, event_id, total=2)

    page = await console.get(f"/console/events/{told}?lang=en")
    assert page.has("Notify the invited")
    form = _cancel_form(page.text)
    assert ("notify", "yes") in form  # ticked by default
    page = await console.post(f"/console/events/{told}/cancel", form)
    assert page.status == 200 and page.flash == (
        "The event is cancelled; 2 cancellation messages queued."
    )
    body = await settled(api, told, total=4)
    assert sorted(m["kind"] for m in body["messages"]["items"]).count("cancellation") == 2

    page = await console.get(f"/console/events/{untold}")
    unticked = [p for p in _cancel_form(page.text) if p != ("notify", "yes")]
    page = await console.post(f"/console/events/{untold}/cancel", unticked)
    assert page.status == 200 and page.by_id("event-status") in ("已取消", "Cancelled")
    status, body = await api.get(f"{EVENTS}/{untold}/deliveries")
    assert [m["kind"] for m in body["messages"]["items"]] == ["invitation", "invitation"]
