"""Settings: typed defaults in code, documented in config/default.toml, overridden by a
TOML file and LINLI_* environment variables, validated once at start."""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from channels.registry import CHANNELS

from .core.config import at_least, between, not_empty, one_of, setting, url_or_empty
from .core.errors import SettingsError
from .core.mail_settings import MailInSettings
from .core.points import PassbookSettings
from .core.retention import RetentionSettings

ENV_PREFIX: Final = "LINLI_"
# Every channel's table name, stand-ins included, in the order listed.
CHANNEL_TABLES: Final = tuple(spec.name for spec in CHANNELS)


def _timezone(value: Any) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def _region(value: Any) -> str | None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        return f"unknown phone region {value!r} (expected an ISO 3166 code such as CN)"
    return None


def _networks(value: Any) -> str | None:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP address or network such as 10.0.0.0/8"
    return None


def _clock_time(value: Any) -> str | None:
    hours, _, minutes = str(value).partition(":")
    if hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
        return None
    return "must be a time of day as HH:MM"


def _retry_schedule(value: Any) -> str | None:
    if not value:
        return "must list at least one delay"
    if any(v < 0 for v in value):
        return "delays must not be negative"
    return None


def _channel_names(value: Any) -> str | None:
    unknown = [v for v in value if v not in CHANNEL_TABLES]
    return f"unknown channel(s) {', '.join(unknown)}" if unknown else None


@dataclass(frozen=True)
class ServerSettings:
    """[server]: where the HTTP server listens and how it answers."""

    host: str = setting("127.0.0.1", not_empty)
    port: int = setting(8080, between(1, 65535))
    public_url: str = setting("", url_or_empty)
    max_body_bytes: int = setting(1_048_576, between(1024, 104_857_600))
    access_log: bool = setting(True)
    secret_file: str = setting("var/linli.secret", not_empty)
    trusted_proxies: tuple[str, ...] = setting((), _networks)


@dataclass(frozen=True)
class StoreSettings:
    """[store]: the embedded SQLite database."""

    path: str = setting("var/linli.db", not_empty)
    synchronous: str = setting("FULL", one_of("OFF", "NORMAL", "FULL", "EXTRA"))
    busy_timeout_ms: int = setting(5000, between(0, 600_000))
    batch_max: int = setting(256, between(1, 10_000))


@dataclass(frozen=True)
class CommunitySettings:
    """[community]: who we are and where."""

    name: str = setting("学府雍景湾", not_empty)
    timezone: str = setting("Asia/Shanghai", _timezone)
    phone_region: str = setting("CN", _region)
    default_language: str = setting("zh-CN", one_of("zh-CN", "en"))


@dataclass(frozen=True)
class DeliverySettings:
    """[delivery]: the outbox worker."""

    run_in_server: bool = setting(True)
    retry_schedule_s: tuple[float, ...] = setting(
        (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0), _retry_schedule
    )
    jitter: float = setting(0.2, between(0, 1))
    lease_s: float = setting(60.0, at_least(1))
    poll_interval_s: float = setting(1.0, at_least(0.01))
    reminder_interval_s: float = setting(5.0, at_least(0.01))
    claim_batch: int = setting(200, between(1, 10_000))
    enqueue_batch: int = setting(500, between(1, 10_000))
    quiet_start: str = setting("21:00", _clock_time)
    quiet_end: str = setting("08:00", _clock_time)
    quiet_channels: tuple[str, ...] = setting(("sms", "telegram"), _channel_names)


if TYPE_CHECKING:

    class ChannelsSettings:
        """[channels.*]: one table per registered channel (its own settings class)."""

        def __getattr__(self, name: str) -> Any: ...

else:
    # Built from the channel table, so a channel's settings are declared once, in its
    # module (channels/<name>.py); mypy sees each table as Any.
    ChannelsSettings = make_dataclass(
        "ChannelsSettings",
        [(spec.name, spec.settings, field(default_factory=spec.settings)) for spec in CHANNELS],
        frozen=True,
        namespace={
            "__doc__": "[channels.*]: one table per channel; a channel not enabled is not offered."
        },
    )


@dataclass(frozen=True)
class LogSettings:
    """[log]: what the process prints."""

    level: str = setting("INFO", one_of("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Settings:
    """Every setting Linli reads, grouped as in config/default.toml."""

    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    community: CommunitySettings = field(default_factory=CommunitySettings)
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    # Declared in core/retention.py, shared with the chore that applies it.
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # Declared in core/points.py, shared with the passbook's rules and housekeeping.
    passbook: PassbookSettings = field(default_factory=PassbookSettings)
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)
    # Declared in core/mail_settings.py, shared with service/mailin.
    mail_in: MailInSettings = field(default_factory=MailInSettings)
    log: LogSettings = field(default_factory=LogSettings)

    @property
    def public_url(self) -> str:
        """The base URL printed and put in links, without a trailing slash."""
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        host = self.server.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.server.port}"

    @property
    def tz(self) -> ZoneInfo:
        """The community's time zone, in which times are shown and naive input is read."""
        return ZoneInfo(self.community.timezone)


def _section_type(tp: Any) -> type | None:
    """The dataclass a field holds, if the field is a section."""
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return tp
    return None


def _fields(cls: type, prefix: str = "") -> list[tuple[str, Any, dataclasses.Field[Any]]]:
    """Every leaf setting below `cls` as (section.key, python type, dataclass field)."""
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, Any, dataclasses.Field[Any]]] = []
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        sub = _section_type(hints[f.name])
        if sub is not None:
            out.extend(_fields(sub, path + "."))
        else:
            out.append((path, hints[f.name], f))
    return out


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default if f.default is not dataclasses.MISSING else None


def setting_paths(cls: type = Settings) -> dict[str, tuple[type, Any]]:
    """Every leaf setting as `section.key` -> (python type, default)."""
    return {path: (tp, _default(f)) for path, tp, f in _fields(cls)}


def secret_paths() -> set[str]:
    """The settings whose values must never be shown or logged."""
    return {path for path, _, f in _fields(Settings) if f.metadata.get("secret")}


def _coerce(path: str, tp: Any, value: Any, *, from_env: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        raise SettingsError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{path}: expected a whole number, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise SettingsError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise SettingsError(f"{path}: expected a string, got {value!r}")
    if typing.get_origin(tp) is tuple:
        item = typing.get_args(tp)[0]
        if from_env and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            return tuple(
                _coerce(f"{path}[{i}]", item, v, from_env=from_env) for i, v in enumerate(value)
            )
        kind = "strings" if item is str else "numbers"
        raise SettingsError(f"{path}: expected a list of {kind}, got {value!r}")
    raise SettingsError(f"{path}: unsupported setting type {tp!r}")  # a bug in this module


def _build(cls: type, raw: Mapping[str, Any], prefix: str, env_keys: set[str]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            where = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
            raise SettingsError(f"{prefix}{key}: unknown setting in {where}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = f"{prefix}{f.name}"
        tp = hints[f.name]
        sub = _section_type(tp)
        if sub is not None:
            section = raw.get(f.name, {})
            if not isinstance(section, Mapping):
                raise SettingsError(f"{path}: expected a table [{path}]")
            values[f.name] = _build(sub, section, path + ".", env_keys)
            continue
        if f.name not in raw:
            continue
        value = _coerce(path, tp, raw[f.name], from_env=path in env_keys)
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise SettingsError(f"{path}: {problem} (got {value!r})")
        values[f.name] = value
    return cls(**values)


def env_name(path: str) -> str:
    """The environment variable that overrides a setting: server.port -> LINLI_SERVER_PORT."""
    return ENV_PREFIX + path.replace(".", "_").upper()


def _set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    *sections, key = path.split(".")
    node = raw
    for name in sections:
        child = node.setdefault(name, {})
        if not isinstance(child, dict):
            raise SettingsError(f"{name}: expected a table")
        node = child
    node[key] = value


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the TOML file, then LINLI_* variables, then `overrides` (CLI flags)."""
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            with open(config_file, "rb") as fh:
                raw = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"--config: file not found: {config_file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"--config: {config_file} is not valid TOML: {exc}") from None
    by_env = {env_name(path): path for path in setting_paths()}
    env_keys: set[str] = set()
    for name, value in (env or {}).items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = by_env.get(name)
        if path is None:
            raise SettingsError(f"{name}: unknown environment setting")
        _set_path(raw, path, value)
        env_keys.add(path)
    for path, value in (overrides or {}).items():
        if value is not None:
            _set_path(raw, path, value)
    settings: Settings = _build(Settings, raw, "", env_keys)
    _check_mail_in(settings.mail_in)
    return settings


def _check_mail_in(mail: MailInSettings) -> None:
    """The settings of [mail_in] that only make sense together."""
    if (mail.smtp_enabled or mail.imap_enabled) and not mail.reply_address:
        raise SettingsError(
            "mail_in.reply_address: must be set when the SMTP receiver or IMAP reader is enabled"
        )
    if mail.imap_enabled and not (mail.imap_host and mail.imap_username):
        raise SettingsError("mail_in.imap_host: IMAP needs imap_host and imap_username")
