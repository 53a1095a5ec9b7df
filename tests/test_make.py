"""`make test` gets the browser tests' Chromium itself, or stops at once with one line saying
what to run. Run as `make -n` (nothing is executed, nothing installed or removed) with a
PATH that holds no Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make") or "/usr/bin/make"
NOBODY = 65534


def _bin(tmp_path: Path, *stubs: str) -> Path:
    """A PATH directory with `id` and the named stand-ins (never run: make -n) and no Chromium."""
    found = tmp_path / "bin"
    found.mkdir(parents=True)
    (found / "id").symlink_to(shutil.which("id") or "/usr/bin/id")
    for name in stubs:
        stub = found / name
        stub.write_text("#!/bin/sh\nexit 99\n", encoding="utf-8")
        stub.chmod(0o755)
    return found


def _make_n(
    target: str, path: Path, *, as_nobody: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """`make -n TARGET` on the project's Makefile (read from stdin, so that a user without
    access to this worktree can read it) with PATH=`path`."""
    argv = [MAKE, "-f", "-", "-n", target]
    if as_nobody:
        argv = [
            shutil.which("setpriv") or "/usr/bin/setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            *argv,
        ]
    return subprocess.run(
        argv,
        input=(ROOT / "Makefile").read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": str(path), "HOME": "/", **env},
        timeout=60,
    )


def _one_line_what_to_run(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "apt-get install -y --no-install-recommends chromium fonts-noto-cjk" in lines[0]
    assert "CHROMIUM_PATH" in lines[0]


def test_make_test_without_chromium_and_without_root_stops_with_one_line(tmp_path: Path) -> None:
    path = _bin(tmp_path, "apt-get")
    tmp_path.chmod(0o755)  # nobody walks to the PATH directory
    done = _make_n("test", path, as_nobody=os.geteuid() == 0)
    _one_line_what_to_run(done)


def test_make_test_without_chromium_and_without_apt_get_stops_with_one_line(
    tmp_path: Path,
) -> None:
    _one_line_what_to_run(_make_n("test", _bin(tmp_path)))


def test_make_test_without_chromium_as_root_with_apt_get_installs_it(tmp_path: Path) -> None:
    done = _make_n("chromium", _bin(tmp_path, "apt-get"))
    if os.geteuid() != 0:  # the same Makefile, run by a user: the one line instead
        _one_line_what_to_run(done)
        return
    assert done.returncode == 0, done.stderr
    assert "DEBIAN_FRONTEND=noninteractive" in done.stdout
    install = "apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium"
    assert f"{install} fonts-noto-cjk" in done.stdout


def test_make_test_with_chromium_on_path_or_named_installs_nothing(tmp_path: Path) -> None:
    path = _bin(tmp_path, "apt-get", "chromium")
    for env in ({}, {"CHROMIUM_PATH": str(path / "chromium")}):
        done = _make_n("chromium", path, **env)
        assert done.returncode == 0, done.stderr
        assert "apt-get" not in done.stdout + done.stderr
    named_but_missing = _make_n("chromium", _bin(tmp_path / "x", "apt-get"),
                                CHROMIUM_PATH=str(tmp_path / "nothing"))  # fmt: skip
    if os.geteuid() == 0:
        assert "apt-get install" in named_but_missing.stdout
    else:
        _one_line_what_to_run(named_but_missing)


def _one_line_dovecot(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "apt-get install -y --no-install-recommends dovecot-imapd" in lines[0]
    assert "DOVECOT_PATH" in lines[0]


def test_make_dovecot_missing_installs_as_root_else_stops_with_one_line(tmp_path: Path) -> None:
    # Named but missing: found nowhere, whatever this machine has in /usr/sbin.
    missing = {"DOVECOT_PATH": str(tmp_path / "nothing")}
    path = _bin(tmp_path, "apt-get")
    tmp_path.chmod(0o755)  # nobody walks to the PATH directory
    done = _make_n("dovecot", path, **missing)
    if os.geteuid() == 0:
        assert done.returncode == 0, done.stderr
        assert "DEBIAN_FRONTEND=noninteractive" in done.stdout
        install = "apt-get update -qq && apt-get install -y -qq --no-install-recommends"
        assert f"{install} dovecot-imapd" in done.stdout
        _one_line_dovecot(_make_n("dovecot", path, as_nobody=True, **missing))
    else:
        _one_line_dovecot(done)
    _one_line_dovecot(_make_n("dovecot", _bin(tmp_path / "x"), **missing))


def test_make_dovecot_named_installs_nothing(tmp_path: Path) -> None:
    path = _bin(tmp_path, "apt-get", "dovecot")
    done = _make_n("dovecot", path, DOVECOT_PATH=str(path / "dovecot"))
    assert done.returncode == 0, done.stderr
    assert "apt-get" not in done.stdout + done.stderr


def test_ci_run_simply_calls_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert "set -euo pipefail" in commands
    assert "export DEBIAN_FRONTEND=noninteractive" in commands
    assert not any("apt-get" in line for line in commands)
