"""Contacts: canonical addresses, and a resident's contacts through the API."""

from __future__ import annotations

from typing import Any

import pytest

from service.core.errors import ValidationError
from service.core.models import Channel
from service.domain.contacts import canonical_address
from tests.conftest import Api, PinnedClock

R = "/api/v1/residents"


@pytest.mark.parametrize(
    ("channel", "raw", "stored"),
    [
        (Channel.SMS, "138 1234 5678", "+8613812345678"),
        (Channel.SMS, "+86 138-1234-5678", "+8613812345678"),
        (Channel.SMS, "0086 13812345678", "+8613812345678"),
        (Channel.SMS, "１３８１２３４５６７８", "+8613812345678"),
        (Channel.SMS, "(010) 6552 9988", "+861065529988"),
        (Channel.SMS, "+1 (650) 253-0000", "+16502530000"),
        (Channel.EMAIL, " Zhang.Wei@Example.COM ", "zhang.wei@example.com"),
        (Channel.EMAIL, "张三@例子.中国", "张三@例子.中国"),
        (Channel.TELEGRAM, "123456789", "123456789"),
        (Channel.TELEGRAM, "-1001234567890", "-1001234567890"),
        (
            Channel.WEBHOOK,
            " https://hooks.example.org/linli?k=1 ",
            "https://hooks.example.org/linli?k=1",
        ),
        (Channel.WEBHOOK, "http://127.0.0.1:9000/in", "http://127.0.0.1:9000/in"),
    ],
)
def test_contacts_canonical_address(channel: Channel, raw: str, stored: str) -> None:
    assert canonical_address(channel, raw, region="CN") == stored


def test_contacts_national_numbers_are_read_in_the_region() -> None:
    assert canonical_address(Channel.SMS, "(650) 253-0000", region="US") == "+16502530000"


@pytest.mark.parametrize(
    ("channel", "raw", "reason"),
    [
        (Channel.SMS, "", "must not be empty"),
        (Channel.SMS, "12345", "not a valid phone number"),
        (Channel.SMS, "call me", "not a phone number"),
        (Channel.SMS, "1" * 3000, "at most 2048"),
        (Channel.EMAIL, "zhang.example.com", "not a valid email address"),
        (Channel.EMAIL, "a@b", "not a valid email address"),
        (Channel.EMAIL, "Zhang Wei <zw@example.com>", "not a valid email address"),
        (Channel.TELEGRAM, "@zhangwei", "not a Telegram chat id"),
        (Channel.TELEGRAM, "12.5", "not a Telegram chat id"),
        (Channel.WEBHOOK, "ftp://example.org/x", "http:// or https://"),
        (Channel.WEBHOOK, "https:///path-only", "must name a host"),
        (Channel.WEBHOOK, "https://exa mple.org/", "spaces"),
        (Channel.WEBHOOK, "http://[::1/", "not a URL"),
        (Channel.WEBHOOK, "http://example.org:99999/", "not a URL"),
        (Channel.WEBHOOK, "example.org/hook", "http:// or https://"),
    ],
)
def test_contacts_bad_address_names_the_field_and_the_reason(
    channel: Channel, raw: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        canonical_address(channel, raw, region="CN")
    assert list(caught.value.fields) == ["address"]
    assert reason in caught.value.fields["address"]


async def _resident(api: Api, **fields: Any) -> dict[str, Any]:
    status, body = await api.post(R, json={"name": "张伟", "unit": "3-2-1501", **fields})
    assert status == 201, body
    return dict(body)


async def test_contacts_add_list_and_duplicate(api: Api) -> None:
    resident = await _resident(api, contacts=[{"channel": "sms", "address": "13812345678"}])
    path = f"{R}/{resident['id']}/contacts"
    status, email = await api.post(path, json={"channel": "email", "address": "ZW@Example.com"})
    assert status == 201
    assert email["address"] == "zw@example.com" and email["rank"] == 1
    assert email["opted_out"] is False and email["opted_out_at"] is None

    status, page = await api.get(path)
    assert status == 200
    assert [c["address"] for c in page["items"]] == ["+8613812345678", "zw@example.com"]

    # The same number typed another way is the same contact.
    status, body = await api.post(path, json={"channel": "sms", "address": "+86 138 1234 5678"})
    assert status == 409 and body["error"]["code"] == "contact_exists"
    status, body = await api.post(path, json={"channel": "sms", "address": "12345"})
    assert status == 400 and list(body["error"]["fields"]) == ["address"]
    status, body = await api.post(
        f"{R}/9999/contacts", json={"channel": "telegram", "address": "1"}
    )
    assert status == 404 and body["error"]["code"] == "resident_not_found"


async def test_contacts_duplicate_in_one_request_conflicts(api: Api) -> None:
    status, body = await api.post(
        R,
        json={
            "name": "李娜",
            "unit": "1-1-101",
            "contacts": [
                {"channel": "sms", "address": "13812345678"},
                {"channel": "sms", "address": "138-1234-5678"},
            ],
        },
    )
    assert status == 409 and body["error"]["code"] == "contact_exists"
    assert "contacts.1.address" in body["error"]["fields"]


async def test_contacts_opt_out_and_back_in(api: Api, clock: PinnedClock) -> None:
    resident = await _resident(api, contacts=[{"channel": "sms", "address": "13812345678"}])
    contact = resident["contacts"][0]
    path = f"{R}/{resident['id']}/contacts/{contact['id']}"
    clock.advance(hours=1)
    status, out = await api.patch(path, json={"opted_out": True})
    assert status == 200
    assert out["opted_out"] is True
    assert out["opted_out_at"] == "2026-11-28T11:00:00+08:00"
    # Opting out again keeps the first time.
    clock.advance(hours=1)
    status, again = await api.patch(path, json={"opted_out": True})
    assert again["opted_out_at"] == out["opted_out_at"]
    status, back = await api.patch(path, json={"opted_out": False})
    assert status == 200 and back["opted_out"] is False and back["opted_out_at"] is None


async def test_contacts_created_opted_out(api: Api) -> None:
    resident = await _resident(
        api, contacts=[{"channel": "email", "address": "a@example.com", "opted_out": True}]
    )
    assert resident["contacts"][0]["opted_out_at"] == "2026-11-28T10:00:00+08:00"


async def test_contacts_change_address(api: Api) -> None:
    resident = await _resident(
        api,
        contacts=[
            {"channel": "sms", "address": "13812345678"},
            {"channel": "sms", "address": "13987654321"},
        ],
    )
    first, second = resident["contacts"]
    path = f"{R}/{resident['id']}/contacts/{first['id']}"
    status, changed = await api.patch(path, json={"address": "150 0000 1111"})
    assert status == 200 and changed["address"] == "+8615000001111"
    assert changed["channel"] == "sms" and changed["rank"] == 0
    status, body = await api.patch(path, json={"address": second["address"]})
    assert status == 409 and body["error"]["code"] == "contact_exists"
    status, body = await api.patch(path, json={"address": "not a number"})
    assert status == 400 and "address" in body["error"]["fields"]
    status, body = await api.patch(f"{R}/{resident['id']}/contacts/9999", json={"opted_out": True})
    assert status == 404 and body["error"]["code"] == "contact_not_found"


async def test_contacts_reorder_and_delete(api: Api) -> None:
    resident = await _resident(
        api,
        contacts=[
            {"channel": "sms", "address": "13812345678"},
            {"channel": "email", "address": "zw@example.com"},
            {"channel": "telegram", "address": "42"},
        ],
    )
    sms, email, telegram = (c["id"] for c in resident["contacts"])
    order = f"{R}/{resident['id']}/contacts/order"
    status, updated = await api.put(order, json={"contact_ids": [telegram, sms, email]})
    assert status == 200
    assert [(c["id"], c["rank"]) for c in updated["contacts"]] == [
        (telegram, 0),
        (sms, 1),
        (email, 2),
    ]
    for bad in ([telegram, sms], [telegram, sms, email, email], [telegram, sms, 9999]):
        status, body = await api.put(order, json={"contact_ids": bad})
        assert status == 400 and "contact_ids" in body["error"]["fields"], bad

    status, _ = await api.delete(f"{R}/{resident['id']}/contacts/{sms}")
    assert status == 204
    _, got = await api.get(f"{R}/{resident['id']}")
    assert [(c["id"], c["rank"]) for c in got["contacts"]] == [(telegram, 0), (email, 1)]
    status, body = await api.delete(f"{R}/{resident['id']}/contacts/{sms}")
    assert status == 404 and body["error"]["code"] == "contact_not_found"
