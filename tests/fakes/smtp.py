"""A real SMTP server (aiosmtpd) on 127.0.0.1 in the running event loop, for tests and the
email benchmark: it records every message, counts connections, and fails on request.

    async with SmtpSink() as sink:
        settings = replace(EmailChannelSettings(), enabled=True, host=sink.host,
                           port=sink.port, security="none")
        ...
        sink.fail_next(451)                    # the next RCPT gets "451 …"
        sink.fail_next(550, stage="DATA")      # the next end of DATA gets "550 …"
        [mail] = await sink.wait_for(1)
"""

from __future__ import annotations

import asyncio
import collections
import email
import email.policy
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .server import FakeServer, Misbehaviour

Stage = Literal["RCPT", "DATA"]

_DEFAULT_TEXT = {
    421: "4.3.2 Service shutting down, closing channel",
    450: "4.2.0 Mailbox busy",
    451: "4.3.0 Try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.7.1 Transaction failed",
}


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope, the bytes as sent, and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage


class SmtpSink(FakeServer):
    """An SMTP server that keeps what it is sent; `credentials` makes it require AUTH."""

    # How long `wait_for` and `wait_closed` wait; a benchmark may raise it.
    deadline_s = 5.0

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.messages: list[ReceivedMail] = []
        self.connections_opened = 0
        self.logins = 0
        self._credentials = credentials
        self._failures: dict[Stage, collections.deque[tuple[int, str]]] = {
            "RCPT": collections.deque(),
            "DATA": collections.deque(),
        }
        self._live: set[_Connection] = set()
        self._server: asyncio.Server | None = None
        self._misbehaviours: collections.deque[Misbehaviour] = collections.deque()
        self._stopping = asyncio.Event()

    def misbehave_next(self, how: Misbehaviour) -> None:
        """At the next end of DATA: "stall" answers only when the sink stops (the client
        times out), "break" writes half a reply line and closes the connection."""
        self._misbehaviours.append(how)

    @property
    def connections_open(self) -> int:
        """Connections a client holds open right now."""
        return len(self._live)

    def fail_next(
        self, code: int, *, stage: Stage = "RCPT", count: int = 1, text: str | None = None
    ) -> None:
        """Answer the next `count` RCPT commands (or ends of DATA) with `code`; a 421 also
        closes the connection, as RFC 5321 says it does."""
        reply = text or _DEFAULT_TEXT.get(code, "Failure on request")
        self._failures[stage].extend([(code, reply)] * count)

    def drop_connections(self) -> None:
        """Close every open connection from the server side, as an idle timeout would."""
        for connection in list(self._live):
            if connection.transport is not None:
                connection.transport.close()

    async def wait_for(self, count: int) -> list[ReceivedMail]:
        """The first `count` messages, once they have arrived."""
        await self._wait(lambda: len(self.messages) >= count, f"{count} messages")
        return self.messages[:count]

    async def wait_closed(self) -> None:
        """Return once no client holds a connection open."""
        await self._wait(lambda: not self._live, "all connections closed")

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1 (then in `self.port`)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._connection, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close the connections still open."""
        self._stopping.set()
        if self._server is None:
            return
        self._server.close()
        self.drop_connections()
        await self._server.wait_closed()
        self._server = None
        # Let connection_lost run, so no handler task outlives the event loop.
        await self.wait_closed()

    def _connection(self) -> _Connection:
        self.connections_opened += 1
        auth: dict[str, Any] = {}
        if self._credentials is not None:
            # Plain-text AUTH on loopback; aiosmtpd offers AUTH only over TLS without this.
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": False,
            }
        with warnings.catch_warnings():
            # aiosmtpd warns about plain-text AUTH on every connection; loopback is fine.
            warnings.simplefilter("ignore", UserWarning)
            return _Connection(
                self, _Handler(self), hostname="localhost", enable_SMTPUTF8=True, **auth
            )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self._credentials is not None
        user, password = self._credentials
        ok = (
            isinstance(data, LoginPassword)
            and data.login == user.encode()
            and data.password == password.encode()
        )
        if ok:
            self.logins += 1
        # handled=False: aiosmtpd itself then answers a failure with 535.
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def _wait(self, check: Callable[[], bool], what: str) -> None:
        await self._until(check, self.deadline_s, lambda: f"no {what} within {self.deadline_s:g} s")

    def _record(self, mail: ReceivedMail) -> None:
        self.messages.append(mail)
        self._changed.set()

    def _closed(self, connection: _Connection) -> None:
        self._live.discard(connection)
        self._changed.set()

    def _next_failure(self, stage: Stage, server: SMTP) -> str | None:
        queue = self._failures[stage]
        if not queue:
            return None
        code, text = queue.popleft()
        if code == 421 and server.transport is not None:
            # After the reply is written: close() flushes what is buffered first.
            asyncio.get_running_loop().call_soon(server.transport.close)
        return f"{code} {text}"


class _Connection(SMTP):
    """aiosmtpd's protocol, telling the sink when the connection ends."""

    def __init__(self, sink: SmtpSink, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._sink._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._sink._closed(self)


class _Handler:
    """aiosmtpd hooks: injected failures first, else accept and record."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        failure = self._sink._next_failure("RCPT", server)
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._sink._misbehaviours:
            how = self._sink._misbehaviours.popleft()
            if how == "stall":
                await self._sink._stopping.wait()
            elif server.transport is not None:
                server.transport.write(b"25")
                server.transport.close()
            return "451 4.3.0 Try again later"
        failure = self._sink._next_failure("DATA", server)
        if failure is not None:
            return failure
        raw = envelope.content
        assert isinstance(raw, bytes)  # decode_data is off
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self._sink._record(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                message=parsed,
            )
        )
        return "250 2.0.0 OK queued"
