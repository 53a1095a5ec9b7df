"""The demo community: 3 buildings, 60 households, about 100 residents, the activity room,
three published events from the community's own story, and the points passbook's goods and
history (demo_passbook.py). Idempotent."""

from __future__ import annotations

import logging
import os
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Final

from . import demo_consultation, demo_passbook
from .core.errors import AuthenticationError, ConflictError
from .core.models import Channel, EventKind, Language, Role
from .domain import auth, console_auth, counter, events, residents, rooms
from .domain.events import EventInput
from .domain.residents import ContactInput, ResidentInput
from .settings import Settings
from .store import Store

log = logging.getLogger("linli.demo")

BUILDINGS: Final = 3
ENTRANCES: Final = 2
FLOORS: Final = 10
SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜"
)
# Space-separated so the list stays readable; split once below.
_GIVEN_TEXT: Final = (
    "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 建华 文 华"
    " 红 玉兰 志强 建国 海燕 晓东 子涵 雨桐 浩然 梓萱 一诺 欣怡 宇轩 思远 淑珍 国庆 春梅"
)
GIVEN: Final = tuple(_GIVEN_TEXT.split())
MOBILE_PREFIXES: Final = ("138", "139", "150", "151", "186", "187", "177", "199")
ORGANISER: Final = "演示组织者"
DOOR: Final = "活动室门口平板"
COUNTER: Final = "积分超市柜台"
ROOM: Final = "活动室"
CONSOLE_LOGIN: Final = "demo"


@dataclass(frozen=True)
class DemoAccess:
    """How to get into the demo: the organiser's console sign-in and API token, and the
    door tablet's token."""

    organiser_token: str
    door_token: str
    counter_token: str
    login: str
    password: str
    files: DemoFiles


@dataclass(frozen=True)
class DemoFiles:
    """Where a demo database's credentials are kept: beside it, named after it, so that a
    second database (`make run DB=var/other.db`) never overwrites the first one's (tokens
    are stored hashed: these files are their only copy)."""

    organiser_token: Path
    door_token: Path
    console_password: Path
    counter_token: Path

    @classmethod
    def beside(cls, db_path: str | Path) -> DemoFiles:
        """var/linli.db -> var/linli.demo-organiser.token, .demo-door.token,
        .demo-console.password, .demo-counter.token."""
        db = Path(db_path)
        return cls(
            db.with_name(f"{db.stem}.demo-organiser.token"),
            db.with_name(f"{db.stem}.demo-door.token"),
            db.with_name(f"{db.stem}.demo-console.password"),
            db.with_name(f"{db.stem}.demo-counter.token"),
        )


def _units() -> list[str]:
    """60 unit labels, building-entrance-flat: 1-1-101 … 3-2-1001."""
    return [
        f"{b}-{e}-{floor}01"
        for b in range(1, BUILDINGS + 1)
        for e in range(1, ENTRANCES + 1)
        for floor in range(1, FLOORS + 1)
    ]


def demo_residents() -> list[ResidentInput]:
    """The demo's residents; the same list every time (a fixed seed)."""
    rng = random.Random(20261128)
    people: list[ResidentInput] = []
    number = 0
    for index, unit in enumerate(_units()):
        building = unit.split("-")[0]
        household_size = 2 if index % 3 != 0 else 1  # 40 couples, 20 living alone: 100
        surname = rng.choice(SURNAMES)
        names: list[str] = []
        while len(names) < household_size:
            # The second person often keeps their own surname, as is usual in China.
            family = surname if not names else rng.choice(SURNAMES)
            name = family + rng.choice(GIVEN)
            if name not in names:
                names.append(name)
        for name in names:
            number += 1
            phone = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
            contacts = [ContactInput(Channel.SMS, phone)]
            if number % 2 == 0:
                contacts.append(ContactInput(Channel.EMAIL, f"resident{number:03d}@example.com"))
            tags = [f"building-{building}"]
            if number % 5 == 0:
                tags.append("volunteer")
            if number % 7 == 0:
                tags.append("elder")
            if number % 4 == 1:
                tags.append("parent")
            people.append(
                ResidentInput(
                    name=name,
                    unit=unit,
                    # A few residents read English (a teacher, a returnee family).
                    language=Language.EN if number % 17 == 0 else Language.ZH_CN,
                    tags=tuple(tags),
                    contacts=tuple(contacts),
                )
            )
    return people


def _at(day: date, clock_time: time, settings: Settings) -> datetime:
    return datetime.combine(day, clock_time, tzinfo=settings.tz)


def _next_weekday(today: date, weekday: int) -> date:
    """The first `weekday` (Monday 0) at least three days after today."""
    day = today + timedelta(days=3)
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def demo_events(room_id: int, settings: Settings, now: datetime) -> list[EventInput]:
    """The three published events, dated from `now` so they are always ahead."""
    today = now.astimezone(settings.tz).date()
    saturday, wednesday = _next_weekday(today, 5), _next_weekday(today, 2)
    sunday = saturday + timedelta(days=1)
    return [
        EventInput(
            kind=EventKind.FLEA_MARKET,
            title="跳蚤市场：旧物换新家",
            description="把家里闲置的玩具、图书和小家电带来，和邻居们交换或低价出售。"
            "孩子们可以自己摆摊，收入可捐给小区爱心基金。",
            location="小区中心广场",
            starts_at=_at(saturday, time(9), settings),
            ends_at=_at(saturday, time(12), settings),
            capacity=150,
            max_party_size=4,
            rsvp_deadline=_at(saturday - timedelta(days=1), time(20), settings),
        ),
        EventInput(
            kind=EventKind.MEETING,
            title="板凳会：活动室使用规则与加装电梯",
            description="居民议事：一起修订活动室使用规则，并听取加装电梯的意见。"
            "欢迎带上你的想法，也欢迎带上小板凳。",
            room_id=room_id,
            starts_at=_at(wednesday, time(19), settings),
            ends_at=_at(wednesday, time(20, 30), settings),
            max_party_size=2,
            rsvp_deadline=_at(wednesday, time(12), settings),
        ),
        EventInput(
            kind=EventKind.VOLUNTEER,
            title="志愿服务日：清洁家园",
            description="清理楼道杂物、修剪绿化、为独居老人送菜。参加可获积分存折积分。",
            location="东门集合",
            starts_at=_at(sunday, time(8, 30), settings),
            ends_at=_at(sunday, time(11, 30), settings),
            capacity=30,
            max_party_size=1,
            audience_tags=("volunteer",),
        ),
    ]


async def ensure_demo(store: Store, settings: Settings, *, now: datetime) -> DemoAccess:
    """Create whatever of the demo community is missing; returns a working organiser token,
    the organiser's console password and a door tablet token for the activity room, each
    kept in a file beside the database and named after it (see DemoFiles)."""
    region = settings.community.phone_region
    default_language = Language(settings.community.default_language)
    room = await rooms.ensure_room(store, name=ROOM, capacity=40, location="3号楼一层", now=now)
    created = 0
    for person in demo_residents():
        try:
            await residents.create_resident(
                store, person, region=region, default_language=default_language, now=now
            )
            created += 1
        except ConflictError:
            pass  # already there from an earlier run
    existing = await events.list_events(
        store, status=[], starts_from=None, starts_before=None, limit=500, offset=0
    )
    titles = {event.title for event in existing.items}
    for spec in demo_events(room.id, settings, now):
        if spec.title in titles:
            continue
        event = await events.create_event(store, spec, now=now)
        await events.publish_event(store, event.id, now=now)
        created += 1
    created += await demo_consultation.ensure_consultation(store, now=now)
    log.info("demo: %d objects created", created)
    files = DemoFiles.beside(settings.store.path)
    organiser = await _kept_token(store, files.organiser_token, now, Role.ORGANISER, ORGANISER)
    door = await _kept_token(store, files.door_token, now, Role.DOOR, DOOR, room=room.id)
    password = await _kept_password(store, files.console_password, now)
    await demo_passbook.ensure_passbook(store, settings, now=now)
    shop = await _kept_counter_token(store, files.counter_token, now)
    return DemoAccess(organiser, door, shop, CONSOLE_LOGIN, password, files)


async def _kept_password(store: Store, password_file: Path, now: datetime) -> str:
    """The demo organiser's console password: the one kept in `password_file` while it
    still signs in, else a new random one written there."""
    kept = _read_token(password_file)
    if kept and await console_auth.password_matches(store, CONSOLE_LOGIN, kept):
        return kept
    password = secrets.token_urlsafe(9)  # 12 characters, 72 bits: a demo, typed by hand
    await console_auth.set_password(
        store, login=CONSOLE_LOGIN, password=password, name=ORGANISER, role=Role.ORGANISER, now=now
    )
    _write_token(password_file, password)
    return password


async def _kept_token(
    store: Store, token_file: Path, now: datetime, role: Role, name: str, room: int | None = None
) -> str:
    """The token kept in `token_file` if it still works, else a new one written there.

    Tokens are stored hashed, so the demo keeps its own copy outside the database."""
    kept = _read_token(token_file)
    if kept:
        try:
            await auth.authenticate(store, kept, now)
            return kept
        except AuthenticationError:
            pass
    _, token = await auth.issue_token(store, role=role, name=name, now=now, room=room)
    _write_token(token_file, token)
    return token


async def _kept_counter_token(store: Store, token_file: Path, now: datetime) -> str:
    """The points store's counter token kept in `token_file` while it works, else a new
    one written there."""
    kept = _read_token(token_file)
    if kept:
        try:
            await counter.counter(store.reader, kept, now)
            return kept
        except AuthenticationError:
            pass
    issued = await counter.issue_counter_token(
        store, name=COUNTER, created_by="demo", now=now, expires_at=None
    )
    _write_token(token_file, issued.token)
    return issued.token


def _read_token(token_file: Path) -> str | None:
    """The token saved by an earlier run, if any."""
    try:
        return token_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write_token(token_file: Path, token: str) -> None:
    """Save the token readable by its owner only (mode 0600)."""
    token_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
