"""Shared helpers of the passbook's tests: households made straight in the store, and the
API calls most passbook tests begin with."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.store import Store, Tx
from service.store.households import insert_household
from tests.conftest import Api

CHECKINS = "/api/v1/checkins"
POSTINGS = "/api/v1/passbook/postings"
ITEMS = "/api/v1/store/items"
# The pinned clock is 10:00 in Shanghai: these events are today.
TODAY = {"starts_at": "2026-11-28T14:00", "ends_at": "2026-11-28T16:00"}
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
LINLI = str(Path(sys.executable).parent / "linli")
ROOT = Path(__file__).resolve().parents[1]


async def households(store: Store, count: int) -> list[int]:
    """`count` new households, their ids."""

    async def txn(tx: Tx) -> list[int]:
        made = []
        for n in range(count):
            found = await insert_household(tx, f"1-{n + 1:04d}", "1", "", NOW)
            made.append(found.id)
        return made

    return await store.write(txn)


async def household_of(api: Api, resident_id: int) -> int:
    status, body = await api.get(f"/api/v1/residents/{resident_id}")
    assert status == 200, body
    return int(body["household_id"])


async def balance(api: Api, household: int) -> int:
    status, body = await api.get(f"/api/v1/passbook/households/{household}")
    assert status == 200, body
    return int(body["balance"])


async def credit(api: Api, household: int, points: int, key: str) -> dict[str, Any]:
    status, body = await api.post(
        POSTINGS,
        json={
            "kind": "bonus",
            "idempotency_key": key,
            "reason": "扫雪",
            "credits": [{"household_id": household, "points": points}],
        },
    )
    assert status in (200, 201), body
    return dict(body)


async def item(api: Api, name: str, price: int, stock: int, **more: Any) -> int:
    status, body = await api.post(
        ITEMS, json={"name": name, "price": price, "stock": stock, **more}
    )
    assert status == 201, body
    return int(body["id"])


def serve(config: Path, db: Path, port: int) -> subprocess.Popen[bytes]:
    """`linli serve` as its own process (to be SIGKILLed)."""
    return subprocess.Popen(
        [LINLI, "serve", "--config", str(config), "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def organiser_token(config: Path, db: Path) -> str:
    """A new organiser's API token, made by `linli token create`."""
    argv = [LINLI, "token", "create", "--role", "organiser", "--name", "t", "--db", str(db),
            "--config", str(config)]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()
