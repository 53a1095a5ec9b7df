"""SQL for organisers' per-event template overrides."""

from __future__ import annotations

from datetime import datetime

from ..core.clock import from_db, to_db
from .core import Db, Tx


async def template_override(
    db: Db, event_id: int, kind: str, channel: str, language: str
) -> str | None:
    """An organiser's template for one event, kind, channel and language, if any."""
    row = await db.fetchone(
        "SELECT source FROM event_templates WHERE event_id = ? AND kind = ? AND channel = ?"
        " AND language = ?",
        (event_id, kind, channel, language),
    )
    return None if row is None else str(row["source"])


async def template_overrides(db: Db, event_id: int) -> list[tuple[str, str, str, str, datetime]]:
    """(kind, channel, language, source, updated_at) of an event's overrides."""
    rows = await db.fetchall(
        "SELECT kind, channel, language, source, updated_at FROM event_templates"
        " WHERE event_id = ? ORDER BY kind, channel, language",
        (event_id,),
    )
    return [
        (r["kind"], r["channel"], r["language"], r["source"], from_db(r["updated_at"]))
        for r in rows
    ]


async def put_template(
    tx: Tx, event_id: int, kind: str, channel: str, language: str, source: str, now: datetime
) -> None:
    """Save (or replace) an override."""
    await tx.execute(
        "INSERT INTO event_templates (event_id, kind, channel, language, source, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id, kind, channel, language)"
        " DO UPDATE SET source = excluded.source, updated_at = excluded.updated_at",
        (event_id, kind, channel, language, source, to_db(now)),
    )


async def delete_template(tx: Tx, event_id: int, kind: str, channel: str, language: str) -> bool:
    """Drop an override; False when there was none."""
    await tx.execute(
        "DELETE FROM event_templates WHERE event_id = ? AND kind = ? AND channel = ?"
        " AND language = ?",
        (event_id, kind, channel, language),
    )
    return await tx.changes() == 1
