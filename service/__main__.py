"""The `linli` command line: serve, worker, demo, token, staff, backup, secrets, passbook."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from . import __version__
from .core.clock import system_clock
from .core.errors import ServiceError, SettingsError, ValidationError
from .core.models import Role, Staff
from .settings import Settings, load_settings
from .store import Store, backup
from .store.tokens import TokenEntry

EXIT_USAGE = 2
T = TypeVar("T")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML file overriding config/default.toml")
    parser.add_argument("--db", metavar="PATH", help="SQLite database file (store.path)")


def build_parser() -> argparse.ArgumentParser:
    """The command line, one sub-command per job."""
    parser = argparse.ArgumentParser(
        prog="linli",
        description="Linli (邻里): notifications, RSVPs and check-ins for a residential community.",
    )
    parser.add_argument("--version", action="version", version=f"linli {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the web server", description="Run the web server.")
    _common(serve)
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="TCP port (server.port)")

    worker = sub.add_parser(
        "worker",
        help="run the delivery worker on its own",
        description="Run the delivery worker alone (set delivery.run_in_server = false for "
        "`linli serve` then). Stops cleanly on SIGINT or SIGTERM; a worker killed outright "
        "loses nothing: its leased messages are reclaimed when their lease lapses.",
    )
    _common(worker)
    worker.add_argument("--name", default="worker", help="name in logs and heartbeats")

    demo = sub.add_parser(
        "demo",
        help="create the demo community (idempotent)",
        description="Create the demo community: 3 buildings, 60 households, about 100 residents, "
        "the activity room and three published events. Running it again changes nothing. "
        "Prints the console sign-in, a demo organiser token and the door tablet's link; they "
        "are kept beside the database, named after it (var/linli.db: "
        "var/linli.demo-organiser.token, .demo-door.token, .demo-console.password).",
    )
    _common(demo)
    demo.add_argument("--host", help="the address `make run` serves on, for the printed links")
    demo.add_argument("--port", type=int, help="the port `make run` serves on")

    token = sub.add_parser("token", help="manage API tokens", description="Manage API tokens.")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser(
        "create",
        help="issue a new API token",
        description="Issue a new API token and print only the token on stdout. "
        "It is stored as a hash: keep it, it cannot be shown again.",
    )
    _common(create)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", required=True, help="who or what holds the token")
    create.add_argument("--room", help="the room a door token is bound to (name or id)")
    token_list = token_sub.add_parser(
        "list",
        help="list API tokens",
        description="One line per token, tab-separated under a header: id, name, role, room, "
        "created, last used, state (active, revoked or expired). Never the token or its hash.",
    )
    _common(token_list)
    revoke = token_sub.add_parser(
        "revoke",
        help="revoke an API token by id, or every token of a name",
        description="Revoke the token with this id (all digits), else every token issued "
        "under this name. It stops working at once in this database (a running server "
        "notices within a second). Revoking a revoked token changes nothing, says so, and "
        "exits 0; no matching token exits 1 (token_not_found).",
    )
    revoke.add_argument("which", metavar="ID|NAME", help="a token's id, or its holder's name")
    _common(revoke)

    staff = sub.add_parser(
        "staff", help="manage staff sign-in", description="Manage staff sign-in to the console."
    )
    staff_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    password = staff_sub.add_parser(
        "password",
        help="set a console user name and password",
        description="Create or update a staff member who signs in to /console as LOGIN. The "
        "password is asked twice on a terminal, or read as one line from stdin; it is stored "
        "as an argon2id hash. Their other console sessions end.",
    )
    _common(password)
    password.add_argument("login", metavar="LOGIN", help="the user name typed at sign-in")
    password.add_argument(
        "--name",
        default="",
        help="the staff member's name (default: whoever signs in as LOGIN already, else LOGIN)",
    )
    password.add_argument(
        "--role", default="organiser", choices=[Role.ORGANISER.value, Role.ADMIN.value]
    )
    staff_list = staff_sub.add_parser(
        "list",
        help="list staff members",
        description="One line per staff member, tab-separated under a header: login (- for "
        "token-only staff), name, role, created, disabled (no, or when). Never a password hash.",
    )
    _common(staff_list)
    disable = staff_sub.add_parser(
        "disable",
        help="stop a staff member from signing in",
        description="Disable the staff member who signs in as LOGIN: their console sessions "
        "end, their API tokens are revoked, and their password no longer signs in. "
        "`linli staff password LOGIN` enables them again (their old tokens stay revoked). "
        "Disabling twice changes nothing, says so, and exits 0; an unknown LOGIN exits 1 "
        "(staff_not_found).",
    )
    disable.add_argument("login", metavar="LOGIN", help="the user name they sign in with")
    _common(disable)

    bak = sub.add_parser(
        "backup",
        help="copy the live database to PATH",
        description="Take an online backup with SQLite's backup API, in one step, so writes "
        "going on meanwhile do not restart it; safe while the server runs. The file is "
        "written beside PATH with mode 0600 and renamed into place once complete.",
    )
    bak.add_argument("path", metavar="PATH", help="the backup file to write")
    _common(bak)

    secrets = sub.add_parser(
        "secrets",
        help="manage secrets sealed at rest",
        description="Manage secrets sealed at rest.",
    )
    secrets_sub = secrets.add_subparsers(dest="secrets_command", required=True, metavar="ACTION")
    rotate = secrets_sub.add_parser(
        "rotate",
        help="seal the stored secrets under a new secret file",
        description="With the server and workers stopped: open every secret sealed in the "
        "database (webhook signing secrets) with server.secret_file and seal it under "
        "NEW_SECRET_FILE (created, mode 0600, if missing), in one transaction. Then set "
        "server.secret_file to NEW_SECRET_FILE and start the server. Links signed with the "
        "old secret (RSVP, booking, unsubscribe, Telegram) stop working; residents get new "
        "ones with their next message.",
    )
    rotate.add_argument(
        "--new-secret-file", required=True, metavar="PATH", help="the server's new secret file"
    )
    _common(rotate)

    passbook = sub.add_parser(
        "passbook", help="the points passbook", description="The points passbook (积分存折)."
    )
    passbook_sub = passbook.add_subparsers(dest="passbook_command", required=True, metavar="ACTION")
    verify = passbook_sub.add_parser(
        "verify",
        help="prove the books: every posting sums to zero, every balance is its lines' sum",
        description="Read the whole journal: check that every posting has two or more lines "
        "summing to zero and that every account's cached balance equals the sum of its "
        "lines. Exits 0 when all hold, else 1 naming the first drift. Safe while the "
        "server runs (it only reads).",
    )
    _common(verify)
    return parser


def _settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    overrides["store.path"] = args.db
    return load_settings(args.config, os.environ, overrides)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log.level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def _serve(args: argparse.Namespace) -> int:
    from .app import create_app

    settings = _settings(args, **{"server.host": args.host, "server.port": args.port})
    _configure_logging(settings)
    app = create_app(settings)
    base = settings.public_url
    print(f"Linli is serving {settings.community.name} at {base}/", flush=True)
    print(f"  console: {base}/console  (organisers sign in here)", flush=True)
    print(f"  health:  {base}/healthz", flush=True)
    print(f"  API:     {base}/api/v1/  (reference: {base}/api/v1/openapi.json)", flush=True)
    print(f"  metrics: {base}/metrics", flush=True)
    web.run_app(
        app,
        host=settings.server.host,
        port=settings.server.port,
        access_log=None,
        print=None,
        handle_signals=True,
    )
    return 0


async def _with_store(settings: Settings) -> Store:
    store = Store(
        settings.store.path,
        synchronous=settings.store.synchronous,
        busy_timeout_ms=settings.store.busy_timeout_ms,
        batch_max=settings.store.batch_max,
        secret_file=settings.server.secret_file,
    )
    await store.open()
    return store


def _worker(args: argparse.Namespace) -> int:
    import signal

    from .dispatch import Delivery
    from .messages.sandbox import TemplateSandbox

    settings = _settings(args)
    _configure_logging(settings)
    delivery = Delivery.build(settings)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        store = await _with_store(settings)
        try:
            # The worker renders fallbacks and reminders, with overrides: in the sandbox.
            async with (
                TemplateSandbox().running() as sandbox,
                delivery.started(
                    store, system_clock, run_worker=True, name=args.name, sandbox=sandbox
                ),
            ):
                await stop.wait()
        finally:
            await store.close()

    asyncio.run(run())
    return 0


def _on_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, run `work` on it, close it."""

    async def run() -> T:
        store = await _with_store(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _when(moment: datetime | None, settings: Settings) -> str:
    """A time as the command line shows it: local to the community, to the minute."""
    return "-" if moment is None else moment.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Tab-separated lines under a header (names may be Chinese: no column padding)."""
    for row in (header, *rows):
        print("\t".join(cell.replace("\t", " ") for cell in row))


def _token_create(args: argparse.Namespace) -> int:
    from .domain.auth import issue_token

    settings = _settings(args)
    room: str | int | None = args.room
    if isinstance(room, str) and room.isdigit():
        room = int(room)

    async def work(store: Store) -> str:
        _, token = await issue_token(
            store, role=Role(args.role), name=args.name, room=room, now=system_clock()
        )
        return token

    print(_on_store(settings, work))
    return 0


def _token_row(entry: TokenEntry, settings: Settings, now: datetime) -> tuple[str, ...]:
    """id, name, role, room, created, last used, state: never the token or its hash."""
    token = entry.token
    if token.revoked_at is not None:
        state = f"revoked {_when(token.revoked_at, settings)}"
    elif token.expires_at is not None and token.expires_at <= now:
        state = f"expired {_when(token.expires_at, settings)}"
    else:
        state = "active"
    created, used = _when(token.created_at, settings), _when(token.last_used_at, settings)
    return (str(token.id), token.name, token.role.value, entry.room or "-", created, used, state)


def _token_list(args: argparse.Namespace) -> int:
    from .domain.auth import token_entries

    settings = _settings(args)
    now = system_clock()
    rows = [_token_row(e, settings, now) for e in _on_store(settings, token_entries)]
    _table(("id", "name", "role", "room", "created", "last used", "state"), rows)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from .domain.auth import revoke_tokens

    settings = _settings(args)
    now = system_clock()
    for found in _on_store(settings, lambda store: revoke_tokens(store, args.which, now)):
        token = found.token
        if found.already:
            when = _when(token.revoked_at, settings)
            print(f"token {token.id} ({token.name}) was already revoked on {when}", file=sys.stderr)
        else:
            print(f"token {token.id} ({token.name}) revoked", file=sys.stderr)
    return 0


def _token(args: argparse.Namespace) -> int:
    actions = {"create": _token_create, "list": _token_list, "revoke": _token_revoke}
    return actions[args.token_command](args)


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoAccess, ensure_demo

    settings = _settings(args)
    _configure_logging(settings)

    async def run() -> DemoAccess:
        store = await _with_store(settings)
        try:
            return await ensure_demo(store, settings, now=system_clock())
        finally:
            await store.close()

    access = asyncio.run(run())
    base = f"http://{args.host or settings.server.host}:{args.port or settings.server.port}"
    print(f"Organiser's console: {base}/console")
    print(f"  sign in as: {access.login}   password: {access.password}")
    print(f"Demo organiser token: {access.organiser_token}")
    print(f"Demo door tablet: {base}/tablet?token={access.door_token} (activity room)")
    print(f"Points store counter: {base}/counter?token={access.counter_token}")
    files = access.files
    print(f"Kept beside the database (the only copies): {files.console_password},")
    print(f"  {files.organiser_token}, {files.door_token}, {files.counter_token}")
    return 0


def _read_password() -> str:
    """The new password: asked twice on a terminal, else one line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise ValidationError.field("password", "the two entries differ", code="password_mismatch")
    return first


def _staff_password(args: argparse.Namespace) -> int:
    from .domain.console_auth import set_password

    settings = _settings(args)
    password = _read_password()

    async def work(store: Store) -> int:
        return await set_password(
            store,
            login=args.login,
            password=password,
            name=args.name,
            role=Role(args.role),
            now=system_clock(),
        )

    _on_store(settings, work)
    print(f"{args.login}: password set; sign in at /console", file=sys.stderr)
    return 0


def _staff_row(staff: Staff, settings: Settings) -> tuple[str, ...]:
    """login, name, role, created, disabled: never a password hash."""
    disabled = "no" if staff.disabled_at is None else _when(staff.disabled_at, settings)
    created = _when(staff.created_at, settings)
    return (staff.login or "-", staff.name, staff.role.value, created, disabled)


def _staff_list(args: argparse.Namespace) -> int:
    from .domain.console_auth import list_staff

    settings = _settings(args)
    rows = [_staff_row(member, settings) for member in _on_store(settings, list_staff)]
    _table(("login", "name", "role", "created", "disabled"), rows)
    return 0


def _staff_disable(args: argparse.Namespace) -> int:
    from .domain.console_auth import disable_staff

    settings = _settings(args)
    now = system_clock()
    staff, already, revoked = _on_store(
        settings, lambda store: disable_staff(store, args.login, now)
    )
    if already:
        when = _when(staff.disabled_at, settings)
        print(f"{staff.login} ({staff.name}) was already disabled on {when}", file=sys.stderr)
    else:
        print(
            f"{staff.login} ({staff.name}) disabled: sessions ended, {revoked} API token(s)"
            " revoked",
            file=sys.stderr,
        )
    return 0


def _staff(args: argparse.Namespace) -> int:
    actions = {"password": _staff_password, "list": _staff_list, "disable": _staff_disable}
    return actions[args.staff_command](args)


def _backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    pages = backup(settings.store.path, args.path)
    print(f"backed up {settings.store.path} to {args.path} ({pages} pages)", file=sys.stderr)
    return 0


def _secrets_rotate(args: argparse.Namespace) -> int:
    from .core.secret import load_or_create

    settings = _settings(args)
    try:
        new_secret = load_or_create(args.new_secret_file)
    except ValueError as exc:  # not a hex secret of 128 bits or more
        raise SettingsError(str(exc)) from None

    async def run() -> int:
        store = await _with_store(settings)  # opening checks the current secret file
        try:
            return await store.rotate_secrets(new_secret)
        finally:
            await store.close()

    count = asyncio.run(run())
    print(
        f"sealed {count} secrets under {args.new_secret_file}; now set server.secret_file ="
        f" {args.new_secret_file!r} and start the server",
        file=sys.stderr,
    )
    return 0


def _passbook_verify(args: argparse.Namespace) -> int:
    from .domain import passbook

    drift, (postings, lines, accounts) = _on_store(
        _settings(args), lambda store: passbook.verify(store.reader)
    )
    if drift is not None:
        print(f"linli: passbook drift: {drift.what} {drift.id}: {drift.detail}", file=sys.stderr)
        return 1
    print(f"passbook ok: {postings} postings, {lines} lines, {accounts} accounts balance")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `linli` console script."""
    args = build_parser().parse_args(argv)
    commands = {
        "serve": _serve,
        "worker": _worker,
        "demo": _demo,
        "token": _token,
        "staff": _staff,
        "backup": _backup,
        "secrets": _secrets_rotate,
        "passbook": _passbook_verify,
    }
    try:
        return commands[args.command](args)
    except SettingsError as exc:
        print(f"linli: config error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ServiceError as exc:
        print(f"linli: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (FileNotFoundError, PermissionError) as exc:
        print(f"linli: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
