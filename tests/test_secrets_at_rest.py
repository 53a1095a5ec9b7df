"""Webhook signing secrets sealed at rest: absent from the database's bytes, still signing,
sealed when an older Linli left them in plain text, and re-sealed by key rotation."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.core.secretbox import SecretBox, SecretKeyError
from service.core.webhook_rules import new_secret
from service.store import Store
from service.store import recipients as recipients_sql
from service.store import subscriptions as subscription_sql
from tests.community import answer, hooks_on, published_event, resident, subscribe
from tests.conftest import MakeApi
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.processes import linli

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
STAMP = "2026-11-28T02:00:00.000000Z"


def _on_disk(db: Path) -> bytes:
    """Every byte SQLite keeps for `db`: the file, its write-ahead log and shared memory."""
    return b"".join(
        p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name) and p.is_file()
    )


def _absent(secret: str, raw: bytes) -> bool:
    """Neither the secret nor its random part (after whsec_) is in `raw`."""
    return secret.encode() not in raw and secret.removeprefix("whsec_").encode() not in raw


async def test_secrets_webhook_secrets_are_not_in_the_database_file(
    make_api: MakeApi, db_path: Path
) -> None:
    first, second, contact_secret = new_secret(), new_secret(), new_secret()
    async with WebhookReceiver(second) as hook:
        api = await make_api(**hooks_on())
        person = await resident(api, "张伟", "3-2-1501", ("sms", "+8613812345678"))
        status, contact = await api.post(
            f"/api/v1/residents/{person}/contacts",
            json={"channel": "webhook", "address": hook.url, "signing_secret": contact_secret},
        )
        assert status == 201, contact
        event_id = await published_event(api)
        subscription = await subscribe(api, hook.url, "rsvp.changed", secret=first)
        status, rotated = await api.patch(
            f"/api/v1/subscriptions/{subscription}", json={"signing_secret": second}
        )
        assert status == 200, rotated
        await answer(api, event_id, person, "yes")
        await hook.wait_for(1)
        # Read back from its sealed form, the new secret still signs (the old one too).
        [delivery] = hook.deliveries
        assert delivery.valid and delivery.body["type"] == "rsvp.changed"
        raw = _on_disk(db_path)
    for secret in (first, second, contact_secret):
        assert _absent(secret, raw)


def _old_database(path: Path) -> dict[str, str]:
    """A database as an older Linli left it: webhook secrets in plain text."""
    secrets = {name: new_secret() for name in ("contact", "previous", "subscription")}
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        "INSERT INTO households (id, unit, created_at, updated_at)"
        f" VALUES (1, '3-2-1501', '{STAMP}', '{STAMP}');"
        "INSERT INTO residents (id, household_id, name, language, created_at, updated_at)"
        f" VALUES (1, 1, '张伟', 'zh-CN', '{STAMP}', '{STAMP}');"
    )
    conn.execute(
        "INSERT INTO contacts (id, resident_id, channel, address, rank, created_at,"
        " signing_secret, previous_secret, previous_secret_until)"
        " VALUES (7, 1, 'webhook', 'https://8.8.8.8/hook', 0, ?, ?, ?, '2099-01-01')",
        (STAMP, secrets["contact"], secrets["previous"]),
    )
    conn.execute(
        "INSERT INTO subscriptions (id, url, event_types, signing_secret, created_at)"
        " VALUES (3, 'https://8.8.8.8/sub', '[]', ?, ?)",
        (secrets["subscription"], STAMP),
    )
    conn.close()
    return secrets


def _stored(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT signing_secret FROM contacts UNION ALL SELECT previous_secret FROM contacts"
        " UNION ALL SELECT signing_secret FROM subscriptions"
    ).fetchall()
    conn.close()
    return [row[0] for row in rows]


async def _read_back(store: Store) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The secrets the worker would sign with: the contact's and the subscription's."""
    reach = await recipients_sql.contact(store.reader, 7, NOW)
    targets = await subscription_sql.targets(store.reader, [3], NOW)
    assert reach is not None
    return reach.secrets, targets[3].secrets


async def test_secrets_an_older_plaintext_database_is_sealed_at_start(tmp_path: Path) -> None:
    path, secret_file = tmp_path / "linli.db", tmp_path / "linli.secret"
    async with Store(path):  # the schema, as an older Linli made it
        pass
    secrets = _old_database(path)
    async with Store(path, secret_file=secret_file) as store:
        assert await _read_back(store) == (
            (secrets["contact"], secrets["previous"]),
            (secrets["subscription"],),
        )
    sealed = _stored(path)
    assert all(value.startswith("enc1:") for value in sealed)
    for secret in secrets.values():
        assert _absent(secret, _on_disk(path))
    async with Store(path, secret_file=secret_file) as store:  # again: nothing changes
        assert (await _read_back(store))[1] == (secrets["subscription"],)
    assert _stored(path) == sealed


async def test_secrets_rotate_reseals_under_the_new_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "linli.db"
    old_file, new_file = tmp_path / "var" / "linli.secret", tmp_path / "new.secret"
    async with Store(path):
        pass
    secrets = _old_database(path)
    async with Store(path, secret_file=old_file):
        pass
    before = _stored(path)

    # The default server.secret_file is var/linli.secret, under the working directory.
    done = linli("secrets", "rotate", "--new-secret-file", str(new_file), "--db", str(path),
                 cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "sealed 3 secrets" in done.stderr
    after = _stored(path)
    assert all(v.startswith("enc1:") for v in after) and not set(after) & set(before)
    async with Store(path, secret_file=new_file) as store:
        assert await _read_back(store) == (
            (secrets["contact"], secrets["previous"]),
            (secrets["subscription"],),
        )

    # The old secret file no longer opens them: a coded error, at start, not a crash.
    with pytest.raises(SecretKeyError) as raised:
        await Store(path, secret_file=old_file).open()
    assert raised.value.code == "secret_key_mismatch"
    again = linli("secrets", "rotate", "--new-secret-file", str(new_file), "--db", str(path),
                  cwd=tmp_path)  # fmt: skip
    assert again.returncode == 1
    assert "secret_key_mismatch" in again.stderr and "Traceback" not in again.stderr
    assert _stored(path) == after


def test_secrets_a_sealed_value_opens_only_where_it_was_sealed() -> None:
    box = SecretBox(b"k" * 32)
    sealed = box.seal("whsec_abc", "contacts.signing_secret#1")
    assert sealed.startswith("enc1:") and "whsec_abc" not in sealed
    assert box.seal("whsec_abc", "contacts.signing_secret#1") != sealed  # a fresh nonce
    assert box.open(sealed, "contacts.signing_secret#1") == "whsec_abc"
    for elsewhere in ("contacts.signing_secret#2", "subscriptions.signing_secret#1"):
        with pytest.raises(SecretKeyError):
            box.open(sealed, elsewhere)
    with pytest.raises(SecretKeyError):
        SecretBox(b"j" * 32).open(sealed, "contacts.signing_secret#1")
