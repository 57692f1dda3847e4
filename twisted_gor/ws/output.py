# -*- test-case-name: tests.test_ws -*-
"""
C{--output-ws URL}: forward requests and original responses to a WebSocket
server, one binary message each (see L{twisted_gor.ws} for the decisions).
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from twisted.application.internet import backoffPolicy
from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.queuestats import QueueStats
from twisted_gor.redact import redactURL

if TYPE_CHECKING:
    from twisted_gor.ws.protocol import _Client

DEFAULT_WORKERS = 10
DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024
DEFAULT_STOP_TIMEOUT = 5.0


def fnv1a32(data: bytes) -> int:
    """
    FNV-1a, 32 bits (GoReplay's sticky connection choice).
    """
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


@dataclass(frozen=True)
class WebSocketTarget:
    """
    A parsed C{--output-ws} URL.

    @ivar url: the URL without userinfo (what the handshake requests).
    @ivar host: the host to connect to.
    @ivar port: the port (80 or 443 by default).
    @ivar secure: C{wss://}.
    @ivar authorization: the C{Authorization} header value, or L{None}.
    @ivar shown: the URL as logs show it (password hidden).
    """

    url: str
    host: str
    port: int
    secure: bool
    authorization: str | None
    shown: str


def parseWebSocketURL(raw: str) -> WebSocketTarget:
    """
    Parse a C{ws://} or C{wss://} URL.

    @raise ValueError: not such a URL (the message never holds the password).
    """
    parts = urlsplit(raw)
    shown = redactURL(raw)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"expected a ws:// or wss:// URL, got {shown!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ValueError(f"invalid port in {shown!r}") from None
    if not host:
        raise ValueError(f"no host in {shown!r}")
    secure = parts.scheme == "wss"
    if port is None:
        port = 443 if secure else 80
    authorization = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        # GoReplay encodes url.User.String(): "user" or "user:password".
        authorization = "Basic " + base64.b64encode(unquote(userinfo).encode("utf-8")).decode("ascii")
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return WebSocketTarget(url, host, port, secure, authorization, shown)


@implementer(IPushProducer)
class _Worker:
    """
    One persistent connection slot; the producer of its transport.
    """

    def __init__(self, output: "WSOutput", index: int, queue: deque[bytes]) -> None:
        self.output = output
        self.index = index
        self.queue = queue
        self.protocol: _Client | None = None
        self.connecting: _Client | None = None
        self.attempt: Deferred[Any] | None = None
        self.retryCall: Any = None
        self.failures = 0
        self.writable = False
        self.stopping = False
        self._stopped: list[Deferred[None]] = []
        target = output.target
        headers = {"Authorization": target.authorization} if target.authorization else None
        # autobahn is imported only when an --output-ws is built (every other
        # gor run saves its import time and memory)
        from autobahn.twisted.websocket import WebSocketClientFactory

        from twisted_gor.ws.protocol import _Client

        self.factory = WebSocketClientFactory(target.url, headers=headers, reactor=output.reactor)
        self.factory.protocol = _Client
        self.protocolClass: type[_Client] = _Client
        self.factory.setProtocolOptions(openHandshakeTimeout=5, closeHandshakeTimeout=1)

    # -- connection ----------------------------------------------------

    def start(self) -> None:
        self.stopping = False
        self._connect()

    def _connect(self) -> None:
        self.retryCall = None
        if self.stopping:
            return
        output = self.output

        def build(addr: Any) -> _Client:
            protocol: Any = self.factory.buildProtocol(addr)
            assert isinstance(protocol, self.protocolClass)
            protocol.worker = self
            self.connecting = protocol
            return protocol

        from twisted.internet.protocol import Factory

        factory = Factory.forProtocol(self.protocolClass)
        factory.buildProtocol = build  # type: ignore[method-assign]
        self.attempt = output.endpoint().connect(factory)
        self.attempt.addCallbacks(self._attemptDone, self._attemptFailed)

    def _attemptDone(self, protocol: Any) -> None:
        self.attempt = None

    def _attemptFailed(self, failure: Failure) -> None:
        self.attempt = None
        self.connecting = None
        if self.stopping and failure.check(CancelledError):
            self._finishStop()
            return
        self.output._failed("failed.connect", failure.getErrorMessage())
        self._retry()

    def _retry(self) -> None:
        if self.stopping:
            self._finishStop()
            return
        self.failures += 1
        delay = self.output.retryPolicy(self.failures)
        self.retryCall = self.output.reactor.callLater(delay, self._connect)

    def opened(self, protocol: _Client) -> None:
        self.protocol = protocol
        self.connecting = None
        self.failures = 0
        self.writable = True
        protocol.registerProducer(self, True)
        self.output._opened(self)
        self.flush()

    def closed(self, protocol: _Client, wasClean: bool, reason: str | None) -> None:
        if protocol is self.connecting:
            self.connecting = None
        if self.protocol is protocol:
            self.protocol = None
            self.writable = False
            self.output._closed(self, wasClean)
        elif not protocol.opened and not self.stopping:
            self.output._failed("failed.handshake", reason or "connection lost")
        self._retry()

    # -- producer ------------------------------------------------------

    def pauseProducing(self) -> None:
        self.writable = False

    def resumeProducing(self) -> None:
        if self.protocol is not None:
            self.writable = True
            self.flush()

    def stopProducing(self) -> None:
        self.writable = False

    # -- data ----------------------------------------------------------

    def flush(self) -> None:
        """
        Send queued messages while the transport takes them.
        """
        protocol = self.protocol
        queue = self.queue
        sent = size = 0
        while queue and protocol is not None and self.writable:
            data = queue.popleft()
            protocol.sendMessage(data, isBinary=True)
            sent += 1
            size += len(data)
        if sent:
            self.output._sent(sent, size)

    # -- stopping ------------------------------------------------------

    def stop(self) -> Deferred[None]:
        """
        Stop reconnecting; close the connection with a WebSocket close.
        """
        self.stopping = True
        if self.retryCall is not None and self.retryCall.active():
            self.retryCall.cancel()
        self.retryCall = None
        live = self.protocol or self.connecting
        d: Deferred[None] = Deferred()
        self._stopped.append(d)
        if live is not None and live.transport is not None:
            if live.opened:
                live.sendClose(code=1000)
            else:
                live.transport.loseConnection()
        elif self.attempt is not None:
            self.attempt.cancel()
        else:
            self._stopped.remove(d)
            return succeed(None)
        return d

    def abort(self) -> None:
        """
        Drop the connection now.
        """
        for live in (self.protocol, self.connecting):
            if live is not None and live.transport is not None:
                live.transport.abortConnection()  # type: ignore[attr-defined]

    def _finishStop(self) -> None:
        stopped, self._stopped = self._stopped, []
        for d in stopped:
            d.callback(None)


class WSOutput(OutputBase):
    """
    The C{--output-ws} client.
    """

    acceptedTypes = frozenset({1, 2})
    log = Logger()

    def __init__(
        self,
        target: WebSocketTarget,
        reactor: Any = None,
        workers: int = DEFAULT_WORKERS,
        sticky: bool = False,
        queueBytes: int = DEFAULT_QUEUE_BYTES,
        tlsCreator: Any = None,
        stopTimeout: float = DEFAULT_STOP_TIMEOUT,
        statsInterval: float | None = None,
    ) -> None:
        OutputBase.__init__(self, f"output_ws({target.shown})")
        self.target = target
        self.reactor = resolveReactor(reactor)
        self.sticky = sticky
        self.tlsCreator = tlsCreator
        self.stopTimeout = stopTimeout
        self.sent = 0
        self.stats.track("sent", lambda: self.sent)
        flow = self.flow
        flow.maxBytes = max(1, queueBytes)
        flow.highBytes, flow.lowBytes = max(1, flow.maxBytes * 9 // 10), flow.maxBytes // 2
        shared: deque[bytes] = deque()
        self.workers = [_Worker(self, i, deque() if sticky else shared) for i in range(max(1, workers))]
        self._next = 0
        self.openCount = 0
        self._everOpen = False
        self._warnedDown = False
        self._drained: list[Deferred[None]] = []
        self.retryPolicy = backoffPolicy(initialDelay=0.2, maxDelay=2.0, factor=1.5)
        self.queueStats = QueueStats("output_ws", self.reactor, statsInterval) if statsInterval else None

    def endpoint(self) -> Any:
        """
        The client endpoint of one connection (TLS-wrapped for C{wss://}).
        """
        from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

        endpoint = HostnameEndpoint(self.reactor, self.target.host, self.target.port, timeout=5)
        if self.tlsCreator is not None:
            return wrapClientTLS(self.tlsCreator, endpoint)
        return endpoint

    def startService(self) -> None:
        """
        Start every worker's reconnecting connection.
        """
        OutputBase.startService(self)
        for worker in self.workers:
            worker.start()
        if self.queueStats is not None:
            self.queueStats.start()

    # -- connection events -----------------------------------------------

    def _opened(self, worker: _Worker) -> None:
        self.openCount += 1
        self.stats.increment("connections.opened")
        self.stats.set("connections.active", self.openCount)
        if self.openCount == 1:
            again = " again" if self._everOpen else ""
            if not self._everOpen or self._warnedDown:
                self.log.info("output_ws: connected to {url}{again}", url=self.target.shown, again=again)
            self._everOpen = True
            self._warnedDown = False

    def _closed(self, worker: _Worker, wasClean: bool) -> None:
        self.openCount -= 1
        self.stats.increment("connections.closed")
        if not wasClean and not worker.stopping:
            self.stats.increment("connections.broken")
        self.stats.set("connections.active", self.openCount)
        if self.openCount == 0 and self.running:
            self._warnedDown = True
            self.log.warn(
                "output_ws: every connection to {url} closed; queueing up to {n} bytes while reconnecting",
                url=self.target.shown,
                n=self.flow.maxBytes,
            )

    def _failed(self, key: str, error: str) -> None:
        self.stats.increment(key)
        count = self.stats[key]
        if count == 1 or count % 100 == 0:
            self.log.warn(
                "output_ws: {what} {url} failed ({count} so far, retrying with backoff): {error}",
                what="handshake with" if key == "failed.handshake" else "connecting to",
                url=self.target.shown,
                count=count,
                error=error,
            )

    # -- messages --------------------------------------------------------

    def _pick(self, message: Message) -> _Worker:
        workers = self.workers
        n = len(workers)
        if self.sticky:
            return workers[fnv1a32(message.id) % n]
        start = self._next
        for step in range(n):
            worker = workers[(start + step) % n]
            if worker.writable:
                self._next = (start + step + 1) % n
                return worker
        self._next = (start + 1) % n
        return workers[start]

    def write(self, message: Message) -> None:
        """
        Send (or queue) one message as one binary WebSocket message: meta
        line, newline, payload. Drop and count it when the queue is full.
        """
        stats = self.stats
        if message.type not in self.acceptedTypes:
            stats.increment("dropped.type")
            return
        if self.queueStats is not None:
            self.queueStats.sample(self.flow.messages)
        data = b"".join((message.meta(), b"\n", message.payload))
        flow = self.flow
        if not flow.fits(len(data)):
            stats.increment("dropped.queue_full")
            return
        flow.add(len(data))
        worker = self._pick(message)
        worker.queue.append(data)
        if worker.writable:
            worker.flush()
        else:
            for other in self.workers:
                if other.writable and other.queue is worker.queue:
                    other.flush()
                    break
        stats.set("queued", flow.messages)

    def _sent(self, count: int, size: int) -> None:
        self.sent += count
        self.flow.remove(size, count)
        self.stats.set("queued", self.flow.messages)
        if self.flow.messages == 0 and self._drained:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    # -- stopping --------------------------------------------------------

    def stopService(self) -> Deferred[None]:
        """
        Deliver what is queued (for up to the stop timeout), then close.
        """
        OutputBase.stopService(self)
        if self.queueStats is not None:
            self.queueStats.stop()
        drained: Deferred[None] = Deferred()
        if self.flow.messages == 0:
            drained.callback(None)
        else:
            self._drained.append(drained)

        def timedOut() -> None:
            if self.flow.messages:
                self.log.warn(
                    "output_ws: {n} messages still queued after {t}s; dropping them",
                    n=self.flow.messages,
                    t=self.stopTimeout,
                )
                self.stats.increment("dropped.stop_timeout", self.flow.messages)
                for queue in {id(w.queue): w.queue for w in self.workers}.values():
                    queue.clear()
                self.flow.release()
                self.stats.set("queued", 0)
            if not drained.called:
                drained.callback(None)

        timer = self.reactor.callLater(self.stopTimeout, timedOut)

        def closeAll(_: Any) -> Deferred[Any]:
            if timer.active():
                timer.cancel()
            closing = DeferredList([w.stop() for w in self.workers], consumeErrors=True)
            # a server that never answers the close: abort after 2 s
            abort = self.reactor.callLater(2.0, self._abortAll)
            closing.addBoth(lambda r: (abort.active() and abort.cancel(), r)[1])
            return closing

        drained.addCallback(closeAll)
        drained.addCallback(lambda _: None)
        return drained


    def _abortAll(self) -> None:
        # a server that never answers the close: drop the connections, and
        # stop waiting for them whatever happens next
        for worker in self.workers:
            worker.abort()
            worker._finishStop()


def clientTLSCreator(host: str, skipVerify: bool) -> Any:
    """
    The TLS connection creator of a C{wss://} target.
    """
    from twisted.internet import ssl

    if skipVerify:
        return ssl.CertificateOptions(verify=False)
    return ssl.optionsForClientTLS(host)


@dataclass
class WSOutputConfig:
    """
    Configuration of one C{--output-ws}.
    """

    target: WebSocketTarget
    limit: Limit | None = None
    workers: int = DEFAULT_WORKERS
    sticky: bool = False
    skipVerify: bool = False
    queueBytes: int = DEFAULT_QUEUE_BYTES
    stopTimeout: float = DEFAULT_STOP_TIMEOUT
    showStats: bool = False

    def build(self, context: BuildContext) -> WSOutput:
        """
        Build the output.
        """
        tls = clientTLSCreator(self.target.host, self.skipVerify) if self.target.secure else None
        interval = context.config.statsInterval if self.showStats and context.config.stats else None
        return WSOutput(
            self.target,
            context.reactor,
            workers=self.workers,
            sticky=self.sticky,
            queueBytes=self.queueBytes,
            tlsCreator=tls,
            stopTimeout=self.stopTimeout,
            statsInterval=interval,
        )
