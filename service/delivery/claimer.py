"""Who holds a lease, and whether that process is known to be gone.

A worker writes its identity — host name, process id, and the process's start time as the
kernel counts it — beside each lease it takes. A claim is taken back before its lease
lapses only when the claimer is proven dead: on this same host, its process id no longer
runs, or runs a process started at another time (the id was reused; in a container a
restarted server often has the same id as the one before). Anything else — another host,
a process we cannot see — waits out the lease. A stopped heartbeat is no such proof: a
worker stalled by a long pause still holds its claimed messages in memory and would send
them when it wakes, so taking its claims back early could send a message twice.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Claimer:
    """A worker's identity as written beside its leases: "host|pid|start|instance"."""

    host: str
    pid: int
    start: str  # the process's start in clock ticks since boot; "" where unknown
    instance: str  # one worker of several in a process (tests run many apps in one)

    def __str__(self) -> str:
        return f"{self.host}|{self.pid}|{self.start}|{self.instance}"

    @classmethod
    def parse(cls, text: str) -> Claimer | None:
        """The claimer written as `text`, or None for anything else."""
        parts = text.split("|")
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])


def process_start(pid: int | str) -> str:
    """The process's start time in clock ticks since boot (Linux /proc), "" where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    # Field 22; the command name (field 2) may hold spaces and parentheses: count from
    # the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


@cache
def _host() -> str:
    return socket.gethostname()


def this_worker() -> Claimer:
    """A new identity for a worker of this process."""
    return Claimer(_host(), os.getpid(), process_start("self"), uuid.uuid4().hex[:12])


def is_gone(text: str) -> bool:
    """Whether the worker that wrote `text` is known to be dead (see the module's note)."""
    claimer = Claimer.parse(text)
    if claimer is None or claimer.host != _host() or claimer.pid <= 0:
        return False
    if claimer.pid == os.getpid():
        # One process per id at a time: another start is an earlier incarnation.
        mine = process_start("self")
        return bool(mine and claimer.start and claimer.start != mine)
    try:
        os.kill(claimer.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's: its start time tells whether it is the claimer
    except OSError:
        return False
    now_running = process_start(claimer.pid)
    return bool(claimer.start and now_running and now_running != claimer.start)
