"""Composing: every kind of outbox row comes out of service/messages/compose.py with the
same typed extras, the parts a resident sees are made at compose time, and a row queued
before the extras were typed still sends."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from service.core.checkin_codes import qr_png
from service.core.clock import to_db
from service.core.extras import CHECKIN_QR_CID, Extras
from service.keys import store_key
from tests.community import (
    SECRET,
    TUE,
    answer,
    book,
    hooks_on,
    published_event,
    resident,
    room,
    subscribe,
)
from tests.conftest import Api, MakeApi, PinnedClock
from tests.fakes.smtp import SmtpSink
from tests.fakes.webhook_receiver import WebhookReceiver

EMAIL = "wang.fang@example.org"
# Every key a stored row's extras may have, and nothing else (no untyped bag).
KEYS = {"rsvp_url", "unsubscribe_url", "status_callback", "ttl_s", "ics", "buttons"}


def email_to(sink: SmtpSink) -> dict[str, Any]:
    """A real SMTP channel sending to the sink on 127.0.0.1."""
    return {
        "channels.email.enabled": True,
        "channels.email.port": sink.port,
        "channels.email.security": "none",
    }


async def rows(api: Api) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """The stored rows by kind: (channel, extras as stored)."""
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for row in await api.client.app[store_key].reader.fetchall(
        "SELECT kind, channel, extra FROM messages JOIN message_bodies ON message_id = id"
        " ORDER BY id"
    ):
        found.setdefault(row["kind"], []).append((row["channel"], json.loads(row["extra"])))
    return found


def parts(mail: EmailMessage) -> dict[str, EmailMessage]:
    """A mail's leaf parts by content type."""
    return {part.get_content_type(): part for part in mail.walk() if not part.is_multipart()}


async def test_compose_every_kind_of_row_carries_typed_extras(make_api: MakeApi) -> None:
    async with SmtpSink() as sink, WebhookReceiver(SECRET) as hook:
        api = await make_api(**email_to(sink), **hooks_on())
        await subscribe(api, hook.url, "rsvp.changed")
        person = await resident(api, "王芳", "2-1-301", ("email", EMAIL))
        event_id = await published_event(api)
        await api.post(f"/api/v1/events/{event_id}/send")  # the invitation
        await answer(api, event_id, person, "yes")  # a follow-up, and an integration event
        room_id = await room(api)
        status, made = await book(api, room_id, f"{TUE}T14:00", f"{TUE}T16:00", resident_id=person)
        assert status == 201, made
        code = made["bookings"][0]["checkin_code"]
        mails = await sink.wait_for(3)
        await hook.wait_for(1)

    stored = await rows(api)
    assert {"invitation", "rsvp_confirmation", "integration", "booking_confirmation"} <= set(stored)
    for kind, found in stored.items():
        for channel, extra in found:
            assert set(extra) - {"attachments"} <= KEYS, (kind, extra)
            typed = Extras.from_json(extra)
            assert typed.to_json() == extra  # nothing lost on the way through the types
            if channel == "email":
                assert typed.rsvp_url and typed.unsubscribe_url, kind
    # An integrator's event is a body, no extras.
    assert stored["integration"] == [("webhook", {})]

    invitation = next(m for m in mails if "text/calendar" in parts(m.message)).message
    assert "BEGIN:VCALENDAR" in parts(invitation)["text/calendar"].get_content()
    # The booking confirmation's QR was drawn when it was composed, and mailed inline.
    booked = [m.message for m in mails if code in m.message.get_body(("plain",)).get_content()]
    assert booked, [m.message["Subject"] for m in mails]
    image = parts(booked[0])["image/png"]
    assert image["Content-ID"] == f"<{CHECKIN_QR_CID}>"
    assert image.get_content() == qr_png(code)
    [(_, confirmation)] = stored["booking_confirmation"]
    assert confirmation["attachments"][0]["content_id"] == CHECKIN_QR_CID


async def test_compose_a_row_queued_before_typed_extras_still_sends(
    make_api: MakeApi, clock: PinnedClock
) -> None:
    async with SmtpSink() as sink:
        api = await make_api(**email_to(sink))
        person = await resident(api, "王芳", "2-1-301", ("email", EMAIL))
        store = api.client.app[store_key]
        contact = await store.reader.fetchone(
            "SELECT id FROM contacts WHERE resident_id = ?", (person,)
        )
        assert contact is not None
        # As the outbox held a yes confirmation before: the door code, not its picture.
        old = {"rsvp_url": "https://x.example/r", "checkin_qr": "K7M4AC"}
        now = to_db(clock())

        async def queue(tx: Any) -> None:
            await tx.execute(
                "INSERT INTO messages (uid, group_uid, resident_id, contact_id, kind, channel,"
                " address, language, send_after, created_at, updated_at)"
                " VALUES ('msg_old', 'msg_old', ?, ?, 'rsvp_confirmation', 'email', ?, 'zh-CN',"
                " ?, ?, ?)",
                (person, contact["id"], EMAIL, now, now, now),
            )
            await tx.execute(
                "INSERT INTO message_bodies (message_id, subject, body_text, body_html, extra)"
                " SELECT id, '报名确认', ?, ?, ? FROM messages WHERE uid = 'msg_old'",
                ("签到码：K7M4AC", f'<img src="cid:{CHECKIN_QR_CID}">', json.dumps(old)),
            )

        await store.write(queue)
        [mail] = await sink.wait_for(1)

    image = parts(mail.message)["image/png"]
    assert image["Content-ID"] == f"<{CHECKIN_QR_CID}>"
    assert image.get_content() == qr_png("K7M4AC")
