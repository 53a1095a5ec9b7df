"""Whose leases a restart may take back at once: only a claimer proven dead on this host."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

from service.delivery.claimer import Claimer, is_gone, process_start, this_worker


def test_only_a_claimer_proven_dead_is_gone() -> None:
    me = this_worker()
    assert not is_gone(str(me))
    assert not is_gone(str(this_worker()))  # another worker of this live process
    assert Claimer.parse(str(me)) == me
    # An earlier incarnation with this process's id (a restarted container's pid 1).
    assert is_gone(str(replace(me, start="1", instance="old")))
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    assert is_gone(str(replace(me, pid=exited.pid, start="")))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        alive = replace(me, pid=running.pid, start=process_start(running.pid))
        assert not is_gone(str(alive))
        if alive.start:  # where /proc tells start times: the id reused by another process
            assert is_gone(str(replace(alive, start=str(int(alive.start) - 1))))
    finally:
        running.kill()
        running.wait()
    # Another host, or anything unreadable: never proven, the lease is waited out.
    assert not is_gone(str(replace(me, host="elsewhere", pid=exited.pid)))
    assert not is_gone("server")
    assert not is_gone(f"{me.host}|0||x")
