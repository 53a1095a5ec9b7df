"""Settings: typed defaults in code, documented in config/default.toml, overridden by a
TOML file and LINLI_* environment variables, validated once at start."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from .errors import SettingsError

ENV_PREFIX: Final = "LINLI_"
Check = Callable[[Any], str | None]


def _between(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low} and {high}"

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


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


def _url_or_empty(value: Any) -> str | None:
    if value == "" or value.startswith(("http://", "https://")):
        return None
    return "must start with http:// or https://, or be empty"


def _not_empty(value: Any) -> str | None:
    return None if str(value).strip() else "must not be empty"


def _setting(default: Any, check: Check | None = None) -> Any:
    return field(default=default, metadata={"check": check} if check else {})


@dataclass(frozen=True)
class ServerSettings:
    """[server]: where the HTTP server listens and how it answers."""

    host: str = _setting("127.0.0.1", _not_empty)
    port: int = _setting(8080, _between(1, 65535))
    public_url: str = _setting("", _url_or_empty)
    max_body_bytes: int = _setting(1_048_576, _between(1024, 104_857_600))
    access_log: bool = _setting(True)


@dataclass(frozen=True)
class StoreSettings:
    """[store]: the embedded SQLite database."""

    path: str = _setting("var/linli.db", _not_empty)
    synchronous: str = _setting("FULL", _one_of("OFF", "NORMAL", "FULL", "EXTRA"))
    busy_timeout_ms: int = _setting(5000, _between(0, 600_000))
    batch_max: int = _setting(256, _between(1, 10_000))


@dataclass(frozen=True)
class CommunitySettings:
    """[community]: who we are and where."""

    name: str = _setting("学府雍景湾", _not_empty)
    timezone: str = _setting("Asia/Shanghai", _timezone)
    phone_region: str = _setting("CN", _region)
    default_language: str = _setting("zh-CN", _one_of("zh-CN", "en"))


@dataclass(frozen=True)
class LogSettings:
    """[log]: what the process prints."""

    level: str = _setting("INFO", _one_of("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Settings:
    """Every setting Linli reads, grouped as in config/default.toml."""

    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    community: CommunitySettings = field(default_factory=CommunitySettings)
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


def setting_paths(cls: type = Settings, prefix: str = "") -> dict[str, tuple[type, Any]]:
    """Every leaf setting as `section.key` -> (python type, default)."""
    hints = typing.get_type_hints(cls)
    out: dict[str, tuple[type, Any]] = {}
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        path = f"{prefix}{f.name}"
        sub = _section_type(tp)
        if sub is not None:
            out.update(setting_paths(sub, path + "."))
        else:
            default = f.default if f.default is not dataclasses.MISSING else None
            out[path] = (tp, default)
    return out


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
    if typing.get_origin(tp) is list:
        if from_env and isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise SettingsError(f"{path}: expected a list of strings, got {value!r}")
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
    return settings
