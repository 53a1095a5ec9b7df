"""The console's residents pages: search, edit, contacts and opt-outs, CSV import."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from service.keys import store_key
from service.store.recipients import disable_contact
from tests.conftest import START, Api
from tests.console import ConsoleClient, Page


async def _resident(api: Api, **body: Any) -> dict[str, Any]:
    status, created = await api.post("/api/v1/residents", json=body)
    assert status == 201, created
    return dict(created)


async def _people(api: Api) -> dict[str, dict[str, Any]]:
    """张伟 (a phone), Tom (an email and a phone), 王芳 (tagged 长者)."""
    zhang = await _resident(
        api,
        name="张伟",
        unit="3-2-1501",
        tags=["volunteer", "building-3"],
        contacts=[{"channel": "sms", "address": "138 0013 8000"}],
    )
    tom = await _resident(
        api,
        name="Tom Smith",
        unit="1-1-101",
        language="en",
        tags=["parent"],
        contacts=[
            {"channel": "email", "address": "tom@example.com"},
            {"channel": "sms", "address": "139 0000 1111"},
        ],
    )
    wang = await _resident(api, name="王芳", unit="2-1-302", tags=["长者"])
    return {"zhang": zhang, "tom": tom, "wang": wang}


def _names(page: Page) -> list[str]:
    """The residents listed on a list page, in order."""
    return re.findall(r'<a href="/console/residents/\d+">([^<]*)</a>', page.text)


async def test_console_residents_search_by_name_unit_phone_and_tag(
    api: Api, console: ConsoleClient
) -> None:
    await _people(api)
    page = await console.get("/console/residents")
    assert page.status == 200
    assert _names(page) == ["Tom Smith", "王芳", "张伟"]  # ordered by unit
    assert page.has("+8613800138000") and page.has("tom@example.com")

    searches = {
        "张": ["张伟"],
        "3-2": ["张伟"],
        "1-1-101": ["Tom Smith"],
        "138 0013 8000": ["张伟"],
        "+86 138-0013-8000": ["张伟"],
        "13800138000": ["张伟"],
        "1111": ["Tom Smith"],  # some digits of a number
        "李": [],
    }
    for q, expected in searches.items():
        page = await console.get("/console/residents", params={"q": q})
        assert page.status == 200, (q, page.text)
        assert _names(page) == expected, q
    page = await console.get("/console/residents", params={"tag": "长者"})
    assert _names(page) == ["王芳"]
    page = await console.get("/console/residents", params={"q": "张", "tag": "parent"})
    assert _names(page) == []
    assert page.by_id("empty")


async def test_console_residents_pages_through_a_long_list(
    api: Api, console: ConsoleClient
) -> None:
    for n in range(55):
        await _resident(api, name=f"住户{n:02d}", unit=f"9-1-{100 + n}")
    first = await console.get("/console/residents")
    assert len(_names(first)) == 50 and 'rel="next"' in first.text
    link = re.search(r'href="([^"]*)" rel="next"', first.text)
    assert link
    second = await console.get(link.group(1).replace("&amp;", "&"))
    assert len(_names(second)) == 5 and 'rel="prev"' in second.text


async def test_console_resident_create_with_contacts_and_errors_beside_fields(
    api: Api, console: ConsoleClient
) -> None:
    form = {
        "name": "李娜",
        "unit": "5-1-201",
        "language": "zh-CN",
        "tags": "volunteer，长者",
        "contacts.0.channel": "sms",
        "contacts.0.address": "",
        "contacts.1.channel": "sms",
        "contacts.1.address": "12345",
    }
    page = await console.post("/console/residents/new", form)
    assert page.status == 400
    # The blank first row is skipped, but the error names the row it was typed in.
    assert "not a valid phone number" in (page.error_for("contacts.1.address") or "")
    assert 'value="李娜"' in page.text and 'value="12345"' in page.text
    _, listed = await api.get("/api/v1/residents")
    assert listed["total"] == 0

    form["contacts.1.address"] = "+86 137 0000 2222"
    page = await console.post("/console/residents/new", form)
    assert page.status == 200 and re.fullmatch(r"/console/residents/\d+", page.url)
    assert page.flash and "李娜" in page.flash
    _, listed = await api.get("/api/v1/residents")
    (created,) = listed["items"]
    assert created["tags"] == ["volunteer", "长者"]
    assert [c["address"] for c in created["contacts"]] == ["+8613700002222"]

    again = await console.post("/console/residents/new", form)
    assert again.status == 409
    assert again.error_for("name")


async def test_console_resident_edit_details(api: Api, console: ConsoleClient) -> None:
    zhang = (await _people(api))["zhang"]
    path = f"/console/residents/{zhang['id']}"
    page = await console.post(
        path,
        {"name": "张伟", "unit": "3-2-1502", "language": "en", "tags": "volunteer", "notes": "x"},
    )
    assert page.status == 200 and page.url == path
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert (found["unit"], found["language"], found["tags"]) == ("3-2-1502", "en", ["volunteer"])

    page = await console.post(path, {"name": "", "unit": "3-2-1502", "language": "en"})
    assert page.status == 400 and page.error_for("name")


async def test_console_contact_with_a_bad_phone_shows_the_error_and_changes_nothing(
    api: Api, console: ConsoleClient
) -> None:
    zhang = (await _people(api))["zhang"]
    (contact,) = zhang["contacts"]
    name = f"contact-{contact['id']}-address"
    page = await console.post(
        f"/console/residents/{zhang['id']}/contacts/{contact['id']}", {name: "138 00"}
    )
    assert page.status == 400
    assert "not a valid phone number" in (page.error_for(name) or "")
    assert 'value="138 00"' in page.text  # what was typed stays in the field
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["address"] == "+8613800138000"

    page = await console.post(
        f"/console/residents/{zhang['id']}/contacts/{contact['id']}", {name: "138 0013 9999"}
    )
    assert page.status == 200 and page.flash
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["address"] == "+8613800139999"

    # A bad address in the add form comes back beside that form's field.
    page = await console.post(
        f"/console/residents/{zhang['id']}/contacts", {"channel": "email", "address": "nope"}
    )
    assert page.status == 400 and page.error_for("address")
    page = await console.post(
        f"/console/residents/{zhang['id']}/contacts",
        {"channel": "email", "address": "ZW@Example.com"},
    )
    assert page.status == 200
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert [c["address"] for c in found["contacts"]] == ["+8613800139999", "zw@example.com"]


async def test_console_contact_order_sets_the_preferred_channel(
    api: Api, console: ConsoleClient
) -> None:
    tom = (await _people(api))["tom"]
    email, sms = tom["contacts"]
    assert email["channel"] == "email"
    page = await console.post(f"/console/residents/{tom['id']}/contacts/{sms['id']}/up", {})
    assert page.status == 200 and page.flash
    _, found = await api.get(f"/api/v1/residents/{tom['id']}")
    assert [c["channel"] for c in found["contacts"]] == ["sms", "email"]
    # The page lists them in the new order, the first marked preferred.
    assert page.text.index(f'id="contact-{sms["id"]}"') < page.text.index(
        f'id="contact-{email["id"]}"'
    )


async def test_console_opt_out_needs_confirmation_then_shows(
    api: Api, console: ConsoleClient
) -> None:
    zhang = (await _people(api))["zhang"]
    (contact,) = zhang["contacts"]
    action = f"/console/residents/{zhang['id']}/contacts/{contact['id']}/opt-out"
    page = await console.get(f"/console/residents/{zhang['id']}")
    assert f'action="{action}"' in page.text

    refused = await console.post(action, {})
    assert refused.status == 400
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["opted_out"] is False

    page = await console.post(action, {"confirm": "yes"})
    assert page.status == 200 and page.flash
    assert page.text.count("opted-out-mark") == 1
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["opted_out"] is True
    listed = await console.get("/console/residents")
    assert listed.has("已退订")

    # Opting back in needs no confirmation.
    page = await console.post(f"/console/residents/{zhang['id']}/contacts/{contact['id']}/opt-in")
    assert page.status == 200
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["opted_out"] is False


async def test_console_delete_needs_confirmation(api: Api, console: ConsoleClient) -> None:
    people = await _people(api)
    wang, tom = people["wang"], people["tom"]
    action = f"/console/residents/{wang['id']}/delete"
    assert (await console.post(action, {})).status == 400
    assert (await api.get(f"/api/v1/residents/{wang['id']}"))[0] == 200

    page = await console.post(action, {"confirm": "yes"})
    assert page.status == 200 and page.url == "/console/residents"
    assert page.flash and "王芳" in page.flash
    assert (await api.get(f"/api/v1/residents/{wang['id']}"))[0] == 404

    email = tom["contacts"][0]
    contact_action = f"/console/residents/{tom['id']}/contacts/{email['id']}/delete"
    assert (await console.post(contact_action, {})).status == 400
    await console.post(contact_action, {"confirm": "yes"})
    _, found = await api.get(f"/api/v1/residents/{tom['id']}")
    assert [c["channel"] for c in found["contacts"]] == ["sms"]


def _csv(text: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", text.encode("utf-8"), filename="residents.csv", content_type="text/csv")
    return form


async def test_console_import_shows_each_refused_row(api: Api, console: ConsoleClient) -> None:
    page = await console.get("/console/residents/import")
    assert page.status == 200 and 'enctype="multipart/form-data"' in page.text
    text = (
        "unit,name,phone,email,language,tags,telegram\n"
        "3-2-1501,张伟,138 1234 5678,zw@example.com,zh-CN,volunteer;building-3,\n"
        "3-2-1501,李娜,12345,,,,\n"
        "1-1-101,Tom Smith,+1 650 253 0000,,en,parent,123456\n"
        ",,,,fr,,\n"
    )
    page = await console.post("/console/residents/import", _csv(text))
    assert page.status == 200, page.text
    assert page.by_id("imported-created") == "新增 2 位"
    assert page.by_id("imported-skipped") == "2 行未导入"
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page.text)
    assert [(row, column) for row, column, _ in rows] == [
        ("3", "phone"),
        ("5", "unit"),
        ("5", "name"),
        ("5", "language"),
    ]
    assert "not a valid phone number" in rows[0][2]
    _, listed = await api.get("/api/v1/residents")
    assert sorted(r["name"] for r in listed["items"]) == ["Tom Smith", "张伟"]

    # The same file again changes nothing.
    page = await console.post("/console/residents/import", _csv(text))
    assert page.by_id("imported-unchanged") == "2 位无变化"


async def test_console_import_refuses_a_bad_file_beside_the_field(
    api: Api, console: ConsoleClient
) -> None:
    page = await console.post("/console/residents/import", _csv("who,what\n1,2\n"))
    assert page.status == 400 and "bad header row" in (page.error_for("file") or "")
    page = await console.post("/console/residents/import", {})
    assert page.status == 400 and page.error_for("file")
    _, listed = await api.get("/api/v1/residents")
    assert listed["total"] == 0


async def test_console_residents_render_in_both_languages(api: Api, console: ConsoleClient) -> None:
    zhang = (await _people(api))["zhang"]
    for path in (
        "/console/residents",
        "/console/residents/new",
        "/console/residents/import",
        f"/console/residents/{zhang['id']}",
    ):
        english = await console.get(path, params={"lang": "en"})
        chinese = await console.get(path, params={"lang": "zh-CN"})
        assert english.status == chinese.status == 200, path
        assert '<html lang="en">' in english.text and '<html lang="zh-CN">' in chinese.text
    english = await console.get(f"/console/residents/{zhang['id']}", params={"lang": "en"})
    assert english.has("Opt out") and english.has("Delete this resident")
    chinese = await console.get(f"/console/residents/{zhang['id']}", params={"lang": "zh-CN"})
    assert chinese.has("退订") and chinese.has("删除这位居民")


async def test_console_residents_unknown_resident_is_a_404_page(console: ConsoleClient) -> None:
    page = await console.get("/console/residents/999")
    assert page.status == 404


async def test_console_webhook_contact_shows_its_secret_once(
    api: Api, console: ConsoleClient
) -> None:
    wang = (await _people(api))["wang"]
    page = await console.post(
        f"/console/residents/{wang['id']}/contacts",
        {"channel": "webhook", "address": "https://hooks.example.com/linli"},
    )
    assert page.status == 200
    secret = re.search(r'id="secret-\d+">(whsec_[^<]+)<', page.text)
    assert secret
    again = await console.get(f"/console/residents/{wang['id']}")
    assert secret.group(1) not in again.text


async def test_console_household_view_lists_its_residents(api: Api, console: ConsoleClient) -> None:
    zhang = (await _people(api))["zhang"]
    await _resident(api, name="张小明", unit="3-2-1501")
    page = await console.get(
        "/console/residents", params={"household_id": str(zhang["household_id"]), "lang": "en"}
    )
    assert page.status == 200
    assert page.by_id("h-household") == "Household 3-2-1501"
    assert page.has("Building 3 · 2 residents")
    assert _names(page) == ["张伟", "张小明"]
    missing = await console.get("/console/residents", params={"household_id": "999"})
    assert missing.status == 404


async def test_console_enables_a_disabled_contact_with_a_reason_kept_in_its_history(
    api: Api, console: ConsoleClient
) -> None:
    zhang = (await _people(api))["zhang"]
    (contact,) = zhang["contacts"]
    store = api.client.app[store_key]
    await store.write(
        lambda tx: disable_contact(tx, contact["id"], "Twilio 21610: unsubscribed", START)
    )
    page = await console.get(f"/console/residents/{zhang['id']}")
    assert page.has("Twilio 21610: unsubscribed") and "disabled-mark" in page.text
    action = f"/console/residents/{zhang['id']}/contacts/{contact['id']}/enable"
    assert f'action="{action}"' in page.text

    name = f"contact-{contact['id']}-reason"
    refused = await console.post(action, {name: ""})
    assert refused.status == 400 and refused.error_for(name)
    page = await console.post(action, {name: "居民回复 START 恢复"})
    assert page.status == 200 and page.flash
    assert "disabled-mark" not in page.text
    assert page.has("居民回复 START 恢复") and page.has("Twilio 21610: unsubscribed")
    _, found = await api.get(f"/api/v1/residents/{zhang['id']}")
    assert found["contacts"][0]["disabled_at"] is None
    assert [c["change"] for c in found["contacts"][0]["history"]] == ["disabled", "enabled"]
