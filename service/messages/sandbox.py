"""The template sandbox: organisers' templates are checked and rendered apart from the
server, in long-lived helper processes that are killed when they overrun.

Jinja's sandbox and the limits in service/messages/render.py bound a template's work, but they
run inside the process that renders, between operations: one that escapes them (a bug,
a costly C call nobody thought of) would hold that process, and a thread cannot be
stopped. So an organiser's template (an override, `source` not None) is never rendered
on the server's event loop. Checking it when it is saved, and rendering it for every
recipient when its event is sent, are round trips to `python -m service.sandbox`: a fresh
interpreter (no aiohttp state, no store, no secret), fed requests on its stdin and
answering on its stdout. The caller awaits the answer with a hard deadline: 1 s per
render the round trip holds (the soft budget each render has inside the helper), plus
GRACE_S for compiling. Past it the helper is killed, the caller gets the usual 400
`template_too_costly`, and the next round trip starts a fresh helper.

A bulk send ships many recipients' contexts in one round trip (at most BATCH), so an
override costs an IPC per batch, not per message. Two helpers serve round trips, each one
at a time: one for bulk sends, one for checks and single messages (previews, fallbacks,
the confirmations queued inside an answer's transaction, which wait for theirs on the
store's writer thread, never on the event loop). Helpers start with their first round
trip, so a server without overrides runs none.

The shipped templates (templates/messages/) are ours, reviewed like code: they keep
rendering in-process, through stencils (service/messages/stencil.py), and never come here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import struct
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

from ..core.errors import ValidationError
from .limits import TIME_LIMIT, RenderLimitError
from .render import Rendered, Renderer

log = logging.getLogger("linli.sandbox")

# Contexts per round trip: a batch of renders is one pickle one way and one JSON the other.
BATCH: Final = 50
# Beyond 1 s a render: compiling a 64 KB template takes up to about 1 s on a slow core.
GRACE_S: Final = 2.0
# A fresh helper imports Jinja and the renderer; a loaded machine may take seconds.
START_S: Final = 30.0
_HEADER: Final = struct.Struct(">I")
# Where `python -m service.sandbox` finds the package, however the server was started.
_ROOT: Final = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Job:
    """One override to render for one recipient."""

    kind: str
    channel: str
    language: str
    source: str
    context: Mapping[str, Any]


def _stopped(seconds: float) -> RenderLimitError:
    problem = f"takes more than {TIME_LIMIT:g} s (stopped after {seconds:g} s)"
    return RenderLimitError(f"template: {problem}", fields={"template": problem})


def _error(found: Mapping[str, Any]) -> ValidationError:
    """The coded error the helper reported, as raised here."""
    kind = RenderLimitError if found["code"] == RenderLimitError.code else ValidationError
    return kind(found["message"], code=found["code"], fields=found["fields"])


class _Helper:
    """One helper process and the round trips it serves, one at a time."""

    def __init__(self, directory: Path | None, seconds_per_render: float, grace_s: float) -> None:
        self.directory = directory
        self.seconds_per_render = seconds_per_render
        self.grace_s = grace_s
        self.process: asyncio.subprocess.Process | None = None
        self.lock = asyncio.Lock()
        self.started = 0

    async def aclose(self) -> None:
        """Stop the helper: it exits when its stdin closes; killed if it does not."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def round_trip(self, request: tuple[str, Any], renders: int) -> list[Any]:
        """Send one request and await its answer within the hard deadline."""
        deadline = renders * self.seconds_per_render + self.grace_s
        async with self.lock:
            if self.process is None or self.process.returncode is not None:
                await self._start()
            process = self.process
            assert process is not None and process.stdin is not None
            body = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                async with asyncio.timeout(deadline):
                    process.stdin.write(_HEADER.pack(len(body)) + body)
                    await process.stdin.drain()
                    answer = await self._receive()
            except TimeoutError:
                log.warning("template sandbox overran %g s; killed", deadline)
                await self._kill()
                raise _stopped(deadline) from None
            except BaseException:
                # Cancelled or broken half-way: its answer would be read as the next one's.
                await self._kill()
                raise
        if "crash" in answer:
            raise RuntimeError(f"template sandbox: {answer['crash']}")
        results: list[Any] = answer["results"]
        return results

    async def _start(self) -> None:
        args = [] if self.directory is None else [str(self.directory)]
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "service.messages.sandbox",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=_ROOT,
        )
        self.started += 1
        try:
            await asyncio.wait_for(self._receive(), START_S)
        except BaseException:
            await self._kill()
            raise
        log.info("template sandbox started (pid %s)", self.process.pid)

    async def _kill(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def _receive(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            (size,) = _HEADER.unpack(await stdout.readexactly(_HEADER.size))
            found: dict[str, Any] = json.loads(await stdout.readexactly(size))
        except asyncio.IncompleteReadError:
            raise RuntimeError("the template sandbox exited") from None
        return found


class TemplateSandbox:
    """Organisers' templates checked and rendered in helper processes, started and stopped
    with the app (or `linli worker`). Two helpers, each started by its first round trip:
    one for bulk sends, one for single messages and checks, so a long send never keeps
    an organiser's save or a resident's confirmation waiting."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        seconds_per_render: float = TIME_LIMIT,
        grace_s: float = GRACE_S,
    ) -> None:
        directory = None if directory is None else directory.resolve()
        self._bulk = _Helper(directory, seconds_per_render, grace_s)
        self._single = _Helper(directory, seconds_per_render, grace_s)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def busy(self) -> bool:
        """Whether a round trip is under way."""
        return self._bulk.lock.locked() or self._single.lock.locked()

    @property
    def started(self) -> int:
        """Helpers started so far, restarts after a kill included."""
        return self._bulk.started + self._single.started

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[TemplateSandbox]:
        """The sandbox usable while open, its helpers stopped (and reaped) after. A server
        whose organisers never override a template never starts one."""
        self._loop = asyncio.get_running_loop()
        try:
            yield self
        finally:
            self._loop = None
            await self._bulk.aclose()
            await self._single.aclose()

    async def check(self, kind: str, channel: str, language: str, source: str) -> None:
        """Renderer.check in a helper: a 400 naming the problem, or None."""
        (found,) = await self._single.round_trip(("check", (kind, channel, language, source)), 2)
        if found is not None:
            raise _error(found)

    async def render(
        self, kind: str, channel: str, language: str, context: Mapping[str, Any], source: str
    ) -> Rendered:
        """One override rendered for one recipient; its coded error raised."""
        (found,) = await self._render(self._single, [Job(kind, channel, language, source, context)])
        if isinstance(found, ValidationError):
            raise found
        return found

    async def render_many(self, jobs: Sequence[Job]) -> list[Rendered | ValidationError]:
        """Each job rendered, or its coded error, in order; BATCH jobs a round trip."""
        return await self._render(self._bulk, jobs)

    def render_waiting(self, jobs: Sequence[Job]) -> list[Rendered | ValidationError]:
        """render_many for a thread that is not the event loop's (the store's writer, whose
        jobs cannot await): the round trip runs on the loop while this thread waits."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the template sandbox is not running")
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("render_waiting would block the event loop; await render")
        return asyncio.run_coroutine_threadsafe(self._render(self._single, jobs), loop).result()

    async def _render(
        self, helper: _Helper, jobs: Sequence[Job]
    ) -> list[Rendered | ValidationError]:
        results: list[Rendered | ValidationError] = []
        for start in range(0, len(jobs), BATCH):
            chunk = [
                (j.kind, j.channel, j.language, j.source, dict(j.context))
                for j in jobs[start : start + BATCH]
            ]
            for found in await helper.round_trip(("render", chunk), len(chunk)):
                if "error" in found:
                    results.append(_error(found["error"]))
                else:
                    subject, text, html, is_json = found["ok"]
                    results.append(Rendered(subject, text, html, is_json=is_json))
        return results


# ---------------------------------------------------------------- the helper's side


def _outcome(renderer: Renderer, kind: str, request: Any) -> list[Any]:
    """The answer to one request: per render, its result or its coded error."""
    if kind == "check":
        try:
            renderer.check(*request)
        except ValidationError as exc:
            return [_coded(exc)]
        return [None]
    results: list[Any] = []
    for kind_, channel, language, source, context in request:
        try:
            done = renderer.render(kind_, channel, language, context, source=source)
        except ValidationError as exc:
            results.append({"error": _coded(exc)})
        else:
            results.append({"ok": [done.subject, done.text, done.html, done.is_json]})
    return results


def _coded(exc: ValidationError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "fields": exc.fields}


def _write(out: BinaryIO, answer: Mapping[str, Any]) -> None:
    body = json.dumps(answer).encode()
    out.write(_HEADER.pack(len(body)) + body)
    out.flush()


def serve(directory: Path | None) -> None:
    """The helper's loop: a request on stdin, its answer on stdout, until stdin closes."""
    # Ctrl-C in a terminal reaches the whole process group: the server stops the helper.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Answers go on a copy of stdout; anything else printed goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    renderer = Renderer(directory)
    _write(out, {"ready": True})
    while True:
        header = source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        kind, request = pickle.loads(source.read(size))  # from the server: trusted
        try:
            _write(out, {"results": _outcome(renderer, kind, request)})
        except Exception as exc:  # a bug here must not leave the server waiting
            _write(out, {"crash": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    serve(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
