"""SQL for group destinations (group chats posted to through their robots) and their tags;
the robot's credential and signing secret are sealed for their row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from ..core.clock import from_db, opt_from_db, to_db
from ..core.models import ChatGroup, GroupChannel, Language
from .core import Db, Row, Tx, marks
from .sealed import seal, unseal

_COLUMNS = (
    "g.id, g.name, g.channel, g.language, g.created_at, g.disabled_at, g.disabled_reason,"
    " g.signing_secret != '' AS signed,"
    " (SELECT json_group_array(tag) FROM (SELECT tag FROM chat_group_tags t"
    "  WHERE t.group_id = g.id ORDER BY tag)) AS tags"
)


@dataclass(frozen=True)
class Target:
    """Where the worker posts a group's message, as it stands when claimed; shaped like a
    contact's Reach (opted_out, disabled, secrets): secrets are (credential, signing secret)."""

    id: int
    disabled: bool
    secrets: tuple[str, ...]
    opted_out: bool = False


def _group(row: Row) -> ChatGroup:
    return ChatGroup(
        id=row["id"],
        name=row["name"],
        channel=GroupChannel(row["channel"]),
        language=Language(row["language"]),
        tags=tuple(json.loads(row["tags"])),
        created_at=from_db(row["created_at"]),
        disabled_at=opt_from_db(row["disabled_at"]),
        disabled_reason=row["disabled_reason"],
        signed=bool(row["signed"]),
    )


async def insert(
    tx: Tx,
    *,
    name: str,
    channel: str,
    language: str,
    credential: str,
    signing_secret: str,
    tags: Sequence[str],
    now: datetime,
) -> int | None:
    """A new group's id; None when the name is taken."""
    taken = await tx.fetchone("SELECT 1 FROM chat_groups WHERE name = ?", (name,))
    if taken is not None:
        return None
    group_id = await tx.execute(
        "INSERT INTO chat_groups (name, channel, language, credential, created_at)"
        " VALUES (?, ?, ?, '', ?)",
        (name, channel, language, to_db(now)),
    )
    await set_credentials(tx, group_id, credential, signing_secret)
    await set_tags(tx, group_id, tags)
    return group_id


async def set_credentials(tx: Tx, group_id: int, credential: str, signing_secret: str) -> None:
    """Seal and store the robot's credential and signing secret ("" for none)."""
    await tx.execute(
        "UPDATE chat_groups SET credential = ?, signing_secret = ? WHERE id = ?",
        (
            seal(tx.box, "chat_groups", "credential", group_id, credential),
            seal(tx.box, "chat_groups", "signing_secret", group_id, signing_secret)
            if signing_secret
            else "",
            group_id,
        ),
    )


async def set_tags(tx: Tx, group_id: int, tags: Sequence[str]) -> None:
    """Replace the group's tags."""
    await tx.execute("DELETE FROM chat_group_tags WHERE group_id = ?", (group_id,))
    for tag in tags:
        await tx.execute(
            "INSERT INTO chat_group_tags (group_id, tag) VALUES (?, ?)", (group_id, tag)
        )


async def update(tx: Tx, group_id: int, *, name: str | None, language: str | None) -> bool:
    """Change the fields given; False when the new name is another group's."""
    if name is not None:
        taken = await tx.fetchone(
            "SELECT 1 FROM chat_groups WHERE name = ? AND id != ?", (name, group_id)
        )
        if taken is not None:
            return False
    await tx.execute(
        "UPDATE chat_groups SET name = COALESCE(?, name), language = COALESCE(?, language)"
        " WHERE id = ?",
        (name, language, group_id),
    )
    return True


async def get(db: Db, group_id: int) -> ChatGroup | None:
    """One group, without its credentials."""
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM chat_groups g WHERE g.id = ?", (group_id,))
    return None if row is None else _group(row)


async def page(db: Db, *, limit: int, offset: int) -> tuple[list[ChatGroup], int]:
    """A page of groups by name, and how many there are."""
    total = await db.fetchone("SELECT COUNT(*) AS n FROM chat_groups")
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM chat_groups g ORDER BY g.name, g.id LIMIT ? OFFSET ?",
        (limit, offset),
    )
    return [_group(row) for row in rows], int(total["n"]) if total else 0


async def of_audience(db: Db, tags: Sequence[str]) -> list[ChatGroup]:
    """The enabled groups an audience reaches, as it reaches residents: every group when
    `tags` is empty, else those with any of them."""
    where = "g.disabled_at IS NULL"
    if tags:
        where += (
            " AND EXISTS (SELECT 1 FROM chat_group_tags t WHERE t.group_id = g.id"
            f" AND t.tag IN ({marks(len(tags))}))"
        )
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM chat_groups g WHERE {where} ORDER BY g.id", tuple(tags)
    )
    return [_group(row) for row in rows]


async def delete(tx: Tx, group_id: int) -> bool:
    """Remove a group (its posts go with it); False when there was none."""
    await tx.execute("DELETE FROM chat_groups WHERE id = ?", (group_id,))
    return await tx.changes() == 1


async def disable(tx: Tx, group_id: int, reason: str, now: datetime) -> None:
    """Stop posting to a group (its robot refused the key or signature)."""
    await tx.execute(
        "UPDATE chat_groups SET disabled_at = ?, disabled_reason = ?"
        " WHERE id = ? AND disabled_at IS NULL",
        (to_db(now), reason, group_id),
    )


async def enable(tx: Tx, group_id: int) -> None:
    """Post to a group again (its robot was fixed)."""
    await tx.execute(
        "UPDATE chat_groups SET disabled_at = NULL, disabled_reason = NULL WHERE id = ?",
        (group_id,),
    )


async def targets(db: Db, group_ids: Sequence[int]) -> dict[int, Target]:
    """Groups by id as the worker needs them: the opened credentials, in one query."""
    if not group_ids:
        return {}
    ids = sorted(set(group_ids))
    rows = await db.fetchall(
        "SELECT id, credential, signing_secret, disabled_at FROM chat_groups"
        f" WHERE id IN ({marks(len(ids))})",
        ids,
    )
    return {row["id"]: _target(db, row) for row in rows}


def _target(db: Db, row: Row) -> Target:
    credential = unseal(db.box, "chat_groups", "credential", row["id"], row["credential"]) or ""
    secret = unseal(db.box, "chat_groups", "signing_secret", row["id"], row["signing_secret"])
    return Target(
        id=row["id"],
        disabled=row["disabled_at"] is not None,
        secrets=(credential, secret or ""),
    )
