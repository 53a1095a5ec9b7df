"""Settings: defaults documented in config/default.toml, overrides, and clear refusals."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from service.core.errors import SettingsError
from service.settings import env_name, load_settings, setting_paths

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOML = ROOT / "config" / "default.toml"


def _flatten(table: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_settings_every_key_the_code_reads_is_documented_with_its_default() -> None:
    documented = _flatten(tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8")))
    in_code = {path: default for path, (_, default) in setting_paths().items()}
    assert set(in_code) == set(documented), "config/default.toml and service/settings.py differ"
    for path, default in in_code.items():
        shown = list(default) if isinstance(default, tuple) else default
        assert documented[path] == shown, f"{path}: default.toml says {documented[path]!r}"


def test_settings_every_documented_key_has_a_comment() -> None:
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[index - 1].lstrip().startswith("#"), f"undocumented: {line}"


def test_settings_default_file_loads_as_config(tmp_path: Path) -> None:
    assert load_settings(DEFAULT_TOML) == load_settings()


def test_settings_file_then_env_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "linli.toml"
    config.write_text('[server]\nport = 9000\nhost = "0.0.0.0"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.server.port == 9000
    assert settings.public_url == "http://127.0.0.1:9000"
    settings = load_settings(config, env={"LINLI_SERVER_PORT": "9100", "PATH": "/bin"})
    assert settings.server.port == 9100
    settings = load_settings(
        config, env={"LINLI_SERVER_PORT": "9100"}, overrides={"server.port": 9200}
    )
    assert settings.server.port == 9200
    assert load_settings(env={"LINLI_SERVER_ACCESS_LOG": "no"}).server.access_log is False


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("[server]\nport = 70000\n", {}, "server.port: must be between 1 and 65535"),
        ("[server]\nprot = 8080\n", {}, "server.prot: unknown setting in [server]"),
        ("[sever]\nport = 8080\n", {}, "sever: unknown setting in the top level"),
        ('[server]\nport = "eighty"\n', {}, "server.port: expected a whole number"),
        ('[store]\nsynchronous = "SOMETIMES"\n', {}, "store.synchronous: must be one of"),
        ('[community]\ntimezone = "Mars/Olympus"\n', {}, "community.timezone: unknown time zone"),
        ('[community]\nphone_region = "XX"\n', {}, "community.phone_region: unknown phone region"),
        ("", {"LINLI_SERVER_PROT": "1"}, "LINLI_SERVER_PROT: unknown environment setting"),
        ("", {"LINLI_SERVER_PORT": "x"}, "server.port: expected a whole number"),
        ("[server\n", {}, "is not valid TOML"),
    ],
)
def test_settings_bad_values_name_the_key(
    tmp_path: Path, toml: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "linli.toml"
    config.write_text(toml, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(config, env=env)
    assert message in str(caught.value)


def test_settings_env_names_are_derived_from_paths() -> None:
    assert env_name("server.port") == "LINLI_SERVER_PORT"
    assert env_name("store.busy_timeout_ms") == "LINLI_STORE_BUSY_TIMEOUT_MS"


def test_settings_bad_value_stops_the_program_with_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[server]\nport = 0\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "service", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == ["linli: config error: server.port: must be between 1 and 65535 (got 0)"]
