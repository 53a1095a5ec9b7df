"""A TCP relay on 127.0.0.1 in front of a real server that can stall: while stalled it
keeps every connection open (and accepts new ones) but passes no byte either way, as a
half-open Wi-Fi link does; resumed, it passes what it held and carries on. Nothing in it
knows HTTP, so what a browser sees through it is what it would see on a dying network."""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class StallingRelay:
    """`async with StallingRelay(port) as relay:` relays relay.port to `port`; `stall()`
    and `resume()` stop and restart the flow on every connection, old and new."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def stall(self) -> None:
        """From now on no byte passes, on any connection; new ones are accepted and held."""
        self._flowing.clear()

    def resume(self) -> None:
        """Let the bytes flow again, those held first."""
        self._flowing.set()

    async def __aenter__(self) -> StallingRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                await self._flowing.wait()
                chunk = await source.read(65536)
                if not chunk:
                    break
                # A chunk read just before a stall waits here, not on the wire.
                await self._flowing.wait()
                sink.write(chunk)
                await sink.drain()
        sink.close()
