"""The database's files: private modes, and backups taken while the server writes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import tempfile
from pathlib import Path
from typing import Final

from ..core.errors import ServiceError

# Owner read and write only: the database holds residents' names, phone numbers and
# addresses, like the secret file beside it.
PRIVATE_MODE: Final = 0o600


def make_private(path: Path) -> None:
    """Create the database file with mode PRIVATE_MODE if missing, and set that mode on it
    and on its -wal and -shm if an older Linli left them readable to others.

    SQLite gives the -wal, -shm and -journal files it creates the mode of the database
    file, whatever the umask, so a private database keeps them private too."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        with contextlib.suppress(FileNotFoundError):
            if stat.S_IMODE(os.stat(path.with_name(name)).st_mode) != PRIVATE_MODE:
                os.chmod(path.with_name(name), PRIVATE_MODE)


class BackupError(ServiceError):
    """A backup could not be taken; nothing was left at the destination."""

    code = "backup_failed"


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(source: str | Path, destination: str | Path) -> int:
    """Copy a live database with SQLite's online backup API; returns the pages copied.

    The copy is taken in one step (pages=-1), inside one read transaction of the source: in
    WAL mode writers go on meanwhile and the copy is the database as of its start. Copied
    1,024 pages a step, SQLite restarted the copy whenever another connection wrote between
    two steps, and under a steady load it never finished. The copy is written to a
    temporary file (mode 0600, it holds residents' data) beside `destination`, checked,
    fsynced and renamed over it: `destination` is either the old backup or a whole new
    one, and a failure leaves nothing behind."""
    src_path, dest_path = Path(source), Path(destination)
    if not src_path.exists():
        raise FileNotFoundError(f"no database at {src_path}")
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600; SQLite then gives its journal the same mode.
    fd, name = tempfile.mkstemp(prefix=f".{dest_path.name}.", suffix=".tmp", dir=dest_path.parent)
    os.close(fd)
    temp = Path(name)
    try:
        pages = _copy(src_path, temp)
        _fsync(temp)
        temp.replace(dest_path)
        _fsync(dest_path.parent)  # the rename itself survives a power cut
    except BaseException:
        temp.unlink(missing_ok=True)
        Path(f"{temp}-journal").unlink(missing_ok=True)
        raise
    return pages


def _copy(source: Path, temp: Path) -> int:
    """Copy `source` into the empty file `temp` in one backup step; its page count."""
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            dest = sqlite3.connect(temp)
            try:
                src.backup(dest, pages=-1)
                ok = dest.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise BackupError(f"backup of {source} failed its integrity check: {ok}")
                return int(dest.execute("PRAGMA page_count").fetchone()[0])
            finally:
                dest.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from None
