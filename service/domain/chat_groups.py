"""Group destinations: a building's or the volunteers' group chat, posted to through its
WeCom, DingTalk or Feishu robot. A group has tags, and an event's audience reaches the
groups with any of its tags (every group when it has none), as it reaches residents.
Posts are short notices with one link; each resident still answers personally."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Final

from ..core.errors import ConflictError, NotFoundError, ValidationError
from ..core.models import ChatGroup, Event, GroupChannel, Language, MessageKind, Page
from ..core.text import check_name, check_text
from ..messages.compose import Composer
from ..messages.plan import room_name_of
from ..store import Store, Tx
from ..store import chat_groups as sql
from ..store import outbox as outbox_sql
from ..store.outbox import NewMessage
from .residents import clean_tags

NAME_MAX: Final = 60
CREDENTIAL_MAX: Final = 200
# What the robots' credentials look like: a WeCom key (a UUID), a DingTalk access token
# (hex), a Feishu hook id (a UUID); no spaces, slashes or URL syntax.
_CREDENTIAL: Final = re.compile(r"[A-Za-z0-9_-]{8,200}")
# What a URL pasted whole carries the credential in.
_PASTED: Final = {
    GroupChannel.WECOM: re.compile(r"[?&]key=([A-Za-z0-9_-]+)"),
    GroupChannel.DINGTALK: re.compile(r"[?&]access_token=([A-Za-z0-9_-]+)"),
    GroupChannel.FEISHU: re.compile(r"/hook/([A-Za-z0-9_-]+)"),
}


@dataclass(frozen=True)
class GroupInput:
    """A new group as given: its robot's URL or bare credential, and its signing secret."""

    name: str
    channel: str
    credential: str
    signing_secret: str = ""
    tags: Sequence[str] = ()
    language: str = "zh-CN"


def clean_credential(channel: GroupChannel, given: str) -> str:
    """The robot's credential from a bare key or token, or from the webhook URL an admin
    copied out of the app (so "paste the robot's address" is enough); else a 400."""
    given = given.strip()
    found = _PASTED[channel].search(given)
    value = found.group(1) if found else given
    if not _CREDENTIAL.fullmatch(value):
        raise ValidationError.field(
            "credential",
            "must be the robot's webhook address or its key/token (8-200 of A-Z a-z 0-9 _ -)",
        )
    return value


def clean_secret(channel: GroupChannel, given: str) -> str:
    """The signing secret ("" for none); WeCom robots have none, DingTalk's start SEC."""
    secret = check_text("signing_secret", given, CREDENTIAL_MAX)
    if secret and channel is GroupChannel.WECOM:
        raise ValidationError.field("signing_secret", "WeCom group robots have no signing secret")
    if secret and channel is GroupChannel.DINGTALK and not secret.startswith("SEC"):
        raise ValidationError.field("signing_secret", "a DingTalk robot's secret starts with SEC")
    if any(c.isspace() for c in secret):
        raise ValidationError.field("signing_secret", "must not contain spaces")
    return secret


def _channel(value: str) -> GroupChannel:
    try:
        return GroupChannel(value)
    except ValueError:
        choices = ", ".join(c.value for c in GroupChannel)
        raise ValidationError.field("channel", f"must be one of {choices}") from None


def _language(value: str) -> str:
    try:
        return Language(value).value
    except ValueError:
        choices = ", ".join(lang.value for lang in Language)
        raise ValidationError.field("language", f"must be one of {choices}") from None


async def create_group(store: Store, data: GroupInput, *, now: datetime) -> ChatGroup:
    """A new group destination; 409 group_name_taken when the name is another group's."""
    channel = _channel(data.channel)
    name = check_name("name", data.name, NAME_MAX)
    credential = clean_credential(channel, data.credential)
    secret = clean_secret(channel, data.signing_secret)
    tags = clean_tags(data.tags)
    language = _language(data.language)
    group_id = await store.write(
        partial(
            sql.insert,
            name=name,
            channel=channel.value,
            language=language,
            credential=credential,
            signing_secret=secret,
            tags=tags,
            now=now,
        )
    )
    if group_id is None:
        raise ConflictError(f"a group named {name!r} exists", code="group_name_taken")
    return await get_group(store, group_id)


async def get_group(store: Store, group_id: int) -> ChatGroup:
    """One group; 404 group_not_found."""
    found = await sql.get(store.reader, group_id)
    if found is None:
        raise NotFoundError(f"group {group_id} not found", code="group_not_found")
    return found


async def list_groups(store: Store, *, limit: int, offset: int) -> Page[ChatGroup]:
    """A page of groups by name, never with their credentials."""
    items, total = await sql.page(store.reader, limit=limit, offset=offset)
    return Page(items=tuple(items), total=total, limit=limit, offset=offset)


@dataclass(frozen=True)
class GroupChanges:
    """Fields of a group to change (None leaves one as it is)."""

    name: str | None = None
    tags: Sequence[str] | None = None
    language: str | None = None
    credential: str | None = None
    signing_secret: str | None = None
    enabled: bool | None = None


async def update_group(
    store: Store, group_id: int, changes: GroupChanges, *, now: datetime
) -> ChatGroup:
    """Change a group; a new credential or secret (the robot fixed) does not by itself
    enable a disabled group: `enabled: true` does."""
    group = await get_group(store, group_id)
    name = None if changes.name is None else check_name("name", changes.name, NAME_MAX)
    tags = None if changes.tags is None else clean_tags(changes.tags)
    language = None if changes.language is None else _language(changes.language)
    credential = (
        None if changes.credential is None else clean_credential(group.channel, changes.credential)
    )
    secret = (
        None
        if changes.signing_secret is None
        else clean_secret(group.channel, changes.signing_secret)
    )

    async def change(tx: Tx) -> bool:
        if not await sql.update(tx, group_id, name=name, language=language):
            return False
        if tags is not None:
            await sql.set_tags(tx, group_id, tags)
        if credential is not None or secret is not None:
            old = (await sql.targets(tx, [group_id]))[group_id].secrets
            await sql.set_credentials(
                tx,
                group_id,
                credential if credential is not None else old[0],
                secret if secret is not None else old[1],
            )
        if changes.enabled is True:
            await sql.enable(tx, group_id)
        elif changes.enabled is False:
            await sql.disable(tx, group_id, "turned off by staff", now)
        return True

    if not await store.write(change):
        raise ConflictError(f"a group named {name!r} exists", code="group_name_taken")
    return await get_group(store, group_id)


async def delete_group(store: Store, group_id: int) -> None:
    """Remove a group and its posts; 404 group_not_found."""
    if not await store.write(partial(sql.delete, group_id=group_id)):
        raise NotFoundError(f"group {group_id} not found", code="group_not_found")


async def credentials(store: Store, group_id: int) -> tuple[ChatGroup, tuple[str, ...]]:
    """A group and its robot's opened credentials, for a test post."""
    group = await get_group(store, group_id)
    found = await sql.targets(store.reader, [group_id])
    return group, found[group_id].secrets


async def post_to_groups(
    store: Store,
    composer: Composer,
    event: Event,
    kind: MessageKind,
    *,
    note: str,
    urgent: bool,
    now: datetime,
) -> list[NewMessage]:
    """Queue one post per enabled group of the event's audience whose robot is configured;
    the posts queued (an invitation already posted to a group is not posted again)."""
    groups = await sql.of_audience(store.reader, event.audience_tags)
    room = await room_name_of(store.reader, event)
    posts = [
        composer.group_post(event, room, group, kind, note=note, urgent=urgent, now=now)
        for group in groups
        if group.channel.value in composer.usable
    ]
    if not posts:
        return []

    async def queue(tx: Tx) -> list[NewMessage]:
        known = await outbox_sql.known_uids(tx, [p.uid for p in posts])
        fresh = [p for p in posts if p.uid not in known]
        await outbox_sql.insert_messages(tx, fresh, now)
        return fresh

    return await store.write(queue)
