"""The API against its own OpenAPI document, by property-based testing (Schemathesis on
Hypothesis): requests generated from the served document for every operation in it, valid
ones and ones the document forbids, each answer checked for its status, Content-Type and
body against the document. A fixed seed and a bounded number of examples keep it the same
on every run and fast; the operations come from the document, so a new route is walked as
soon as it is declared."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import negative_data_rejection

from service.app import create_app
from service.core.models import Role
from service.domain import auth
from service.keys import openapi_key, store_key
from service.settings import load_settings
from tests.conftest import START, PinnedClock, base_overrides

# Generated cases per operation beyond Schemathesis' deterministic coverage cases.
EXAMPLES: Final = 12
SEED: Final = 20261128
# How many of each object the community has: a generated id maps onto 1..SEEDED + 1, so
# most name an object and some name none (a 404).
SEEDED: Final = 3


class Served:
    """The real app factory served on 127.0.0.1 from a thread with its own event loop (the
    generated requests are made synchronously), with a token per role."""

    def __init__(self, tmp: Path) -> None:
        overrides = base_overrides(tmp, tmp / "linli.db")
        overrides["channels.webhook.allow_private"] = ["127.0.0.0/8"]
        self.app = create_app(load_settings(overrides=overrides), clock=PinnedClock(START))
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self.app)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self._run(site.start())
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.tokens = {role: self._run(self._token(role)) for role in (Role.ADMIN, Role.ORGANISER)}

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    async def _token(self, role: Role, **kw: Any) -> str:
        _, token = await auth.issue_token(
            self.app[store_key], role=role, name=f"{role} 测试", now=START, **kw
        )
        return token

    def add_door(self, room: str) -> None:
        """A door token for `room` (which must exist)."""
        self.tokens[Role.DOOR] = self._run(self._token(Role.DOOR, room=room))

    def token_for(self, roles: list[str] | None) -> str | None:
        """A token that may call an operation with these `x-roles` (None: public)."""
        if roles is None:
            return None
        for role in (Role.ORGANISER, Role.ADMIN, Role.DOOR):
            if str(role) in roles:
                return self.tokens[role]
        raise AssertionError(f"no token for {roles}")

    def close(self) -> None:
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


def _seed(served: Served) -> None:
    """SEEDED of each object, so that generated ids name real ones: residents (with
    contacts), rooms with a booking each, events (sent: messages exist), subscriptions."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {served.tokens[Role.ORGANISER]}"

    def post(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        resp = session.post(served.url + path, json=body)
        assert resp.status_code in (200, 201), (path, resp.text)
        found: dict[str, Any] = resp.json()
        return found

    for n in range(1, SEEDED + 1):
        post(
            "/api/v1/residents",
            {
                "name": f"居民{n}",
                "unit": f"1-1-10{n}",
                "contacts": [
                    {"channel": "sms", "address": f"1380013800{n}"},
                    {"channel": "email", "address": f"r{n}@example.org"},
                ],
            },
        )
        room = post("/api/v1/rooms", {"name": f"活动室{n}", "capacity": 20})
        post(
            f"/api/v1/rooms/{room['id']}/bookings",
            {
                "resident_id": n,
                "starts_at": f"2026-12-0{n}T10:00+08:00",
                "ends_at": f"2026-12-0{n}T11:00+08:00",
            },
        )
        event = post(
            "/api/v1/events",
            {
                "kind": "meeting",
                "title": f"院会{n}",
                "starts_at": f"2026-12-0{n + 4}T09:00",
                "ends_at": f"2026-12-0{n + 4}T11:00",
            },
        )
        post(f"/api/v1/events/{event['id']}/publish")
        post(f"/api/v1/events/{event['id']}/send")
        post(
            "/api/v1/subscriptions",
            {"url": f"http://127.0.0.1:9/hook{n}", "event_types": ["rsvp.changed"]},
        )
    served.add_door("活动室1")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server = Served(tmp_path_factory.mktemp("contract"))
    try:
        _seed(server)
        yield server
    finally:
        server.close()


def _document() -> dict[str, Any]:
    """The document the app factory builds (and serves): building it opens no store."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides=base_overrides(Path(tmp), Path(tmp) / "linli.db"))
        found: dict[str, Any] = create_app(settings)[openapi_key]
    return found


# Loaded when the module is, so each operation is a test of its own.
schema = schemathesis.openapi.from_dict(
    _document(), config=schemathesis.Config.from_dict({"seed": SEED})
)


def _onto_seeded(value: Any) -> Any:
    # A positive id names a seeded object most of the time; others stay as generated.
    return 1 + value % (SEEDED + 1) if isinstance(value, int) and value >= 1 else value


# Refusals of requests the document allows, each a rule JSON Schema cannot state: a
# relation between two fields, a value judged by a library or by the present, a file's
# contents. Only a 400 naming one of these (field, words) is taken; any other refusal
# of valid input still fails. Each entry is a known gap between the document and the API.
RULES_NOT_IN_SCHEMA: Final = (
    ("ends_at", "must be after starts_at"),  # two fields compared
    ("to", "must be after from"),
    ("opening_hours.", "ends before it starts"),
    ("opening_hours.", "overlap"),
    # A contact's address, judged per channel: libphonenumber's metadata (per region),
    # email-validator, a Telegram chat id, a URL's parts.
    ("address", "is not a phone number"),
    ("address", "is not a valid phone number"),
    ("address", "is not a valid email address"),
    ("address", "is not a Telegram chat id"),
    ("address", "webhook URL must"),
    ("address", "is not a URL"),
    ("expires_at", "must be in the future"),  # judged against the clock
    ("rsvp_deadline", "must be before"),
    (None, "year must be between 1900 and 9998"),  # a date-time's year, not its format
    (None, "the first row must name the columns"),  # a CSV file's contents
    (None, "column"),
)


def _names(name: str, field: str | None) -> bool:
    """Whether an error's field `name` is `field`: contacts.0.address is an address, and
    `opening_hours.` stands for every day's."""
    if field is None:
        return True
    if field.endswith("."):
        return name.startswith(field)
    return name == field or name.endswith("." + field)


def _rule_not_in_schema(response: requests.Response) -> bool:
    if response.status_code != 400:
        return False
    error = response.json()["error"]
    said = list(error.get("fields", {}).items()) or [("", error["message"])]
    if error["code"] == "bad_header":  # a CSV file's header row, named column by column
        said = [("", error["message"])]
    return all(
        any(words in problem and _names(name, field) for field, words in RULES_NOT_IN_SCHEMA)
        for name, problem in said
    )


def _untrimmed(value: Any) -> bool:
    """Whether a text in the request has whitespace at an end: the API trims it before
    checking lengths (so "  x  " fits a maxLength of 1, and " " misses a minLength of 1),
    which a JSON Schema length cannot say."""
    if isinstance(value, str):
        return value != value.strip()
    if isinstance(value, dict):
        return any(_untrimmed(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_untrimmed(v) for v in value)
    return False


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_does_what_the_document_says(case: Any, served: Served) -> None:
    if case.path_parameters:
        case.path_parameters = {k: _onto_seeded(v) for k, v in case.path_parameters.items()}
    token = served.token_for(case.operation.definition.raw.get("x-roles"))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = case.call(base_url=served.url, headers=headers)
    excused = [positive_data_acceptance] if _rule_not_in_schema(response) else []
    if _untrimmed([case.body, case.query]):
        excused += [positive_data_acceptance, negative_data_rejection]
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=excused,
        transport_kwargs={"base_url": served.url, "headers": headers},
    )
