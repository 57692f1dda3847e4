# -*- test-case-name: tests.test_relay_unit -*-
"""
C{--output-tcp HOST:PORT}: forward requests and original responses to another
gor's C{--input-tcp}, framed exactly as GoReplay frames them.

Several persistent connections (workers) are kept up, each reconnecting with
jittered exponential backoff when the receiver goes away (connection failures
are counted and logged sparingly, unlike L{ClientService}'s line per retry). Messages wait in a
bounded queue while no connection can take them: overflow is dropped and
counted, and the pipeline is asked to pause pausable inputs once the queue is
nearly full. Every connection registers this output as a streaming producer
of its transport, so a receiver that reads slowly pauses the writes (TCP flow
control) instead of filling memory; the reactor never blocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from twisted.application.internet import backoffPolicy
from twisted.internet.defer import CancelledError
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IHandshakeListener, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor.selfports import SelfPorts
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import encodeMessage
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.queuestats import QueueStats

DEFAULT_WORKERS = 10
DEFAULT_QUEUE_LEN = 10_000
DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024
DEFAULT_STOP_TIMEOUT = 5.0


def fnv1a32(data: bytes) -> int:
    """
    FNV-1a, 32 bits (GoReplay's sticky worker choice).
    """
    h = 0x811C9DC5
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


@implementer(IPushProducer, IHandshakeListener)
class RelayClientProtocol(Protocol):
    """
    One worker's connection; the transport's producer is this protocol.

    Over TLS nothing is written before the handshake completed, so a
    connection whose certificate is refused never swallows messages.

    @ivar writable: the transport's buffer has room (not paused by it).
    @ivar ready: connected (and, over TLS, handshake done).
    """

    def __init__(self, worker: "_Worker") -> None:
        self.worker = worker
        self.writable = False
        self.ready = False
        self.local: tuple[str, int] | None = None
        self.paused = False

    def connectionMade(self) -> None:
        """
        Register our endpoint (capture must ignore it) and start writing.
        """
        # The connection exists: there is no attempt left to cancel. (The
        # endpoint's Deferred fires only after this method, and cancelling it
        # from a stop triggered by what we write below would abort the
        # connection and its unsent buffer.)
        self.worker.attempt = None
        self.worker.transportProtocol = self
        host = self.transport.getHost()  # type: ignore[union-attr]
        ip, port = getattr(host, "host", None), getattr(host, "port", None)
        if isinstance(ip, str) and isinstance(port, int):
            self.local = (ip, port)
            self.worker.output.selfPorts.add(ip, port)
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]
        if self.worker.output.tlsCreator is None:
            self._ready()

    def handshakeCompleted(self) -> None:
        """
        The TLS handshake succeeded: start writing.
        """
        self._ready()

    def _ready(self) -> None:
        if self.ready:
            return
        self.ready = True
        self.writable = not self.paused
        self.worker.connected(self)

    def dataReceived(self, data: bytes) -> None:
        """
        A gor receiver never answers; ignore (and count) anything it sends.
        """
        self.worker.output.stats.increment("unexpected_bytes", len(data))

    def pauseProducing(self) -> None:
        """
        The transport's buffer is full: stop writing into it.
        """
        self.paused = True
        self.writable = False

    def resumeProducing(self) -> None:
        """
        The transport drained: write queued messages.
        """
        self.paused = False
        if self.ready:
            self.writable = True
            self.worker.flush()

    def stopProducing(self) -> None:
        """
        The transport is going away.
        """
        self.writable = False

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        """
        Unregister; the worker's service reconnects.
        """
        self.writable = False
        if self.local is not None:
            self.worker.output.selfPorts.remove(*self.local)
        if self.ready:
            self.worker.disconnected(self)
        else:
            self.worker.output._connectFailed(reason, "failed.tls_handshake")
            self.worker.lostBeforeReady(self)


class _WorkerFactory(Factory):
    noisy = False

    def __init__(self, worker: "_Worker") -> None:
        self.worker = worker

    def buildProtocol(self, addr: Any) -> RelayClientProtocol:
        protocol = RelayClientProtocol(self.worker)
        protocol.factory = self
        return protocol


class _Worker:
    """
    One persistent connection slot and the queue it drains.
    """

    def __init__(self, output: "TCPOutput", index: int, queue: deque[bytes]) -> None:
        self.output = output
        self.index = index
        self.queue = queue
        self.protocol: RelayClientProtocol | None = None
        self.transportProtocol: RelayClientProtocol | None = None
        self.attempt: Deferred[Any] | None = None
        self.retryCall: Any = None
        self.failures = 0
        self.stopping = False
        self._stopped: list[Deferred[None]] = []

    def start(self) -> None:
        """
        Connect, and keep reconnecting until L{stop}.
        """
        self.stopping = False
        self._connect()

    def _connect(self) -> None:
        self.retryCall = None
        if self.stopping:
            return
        attempt = self.output._endpoint().connect(_WorkerFactory(self))
        self.attempt = attempt
        attempt.addCallbacks(self._attemptDone, self._attemptFailed)

    def _attemptDone(self, protocol: RelayClientProtocol) -> None:
        self.attempt = None
        self.transportProtocol = protocol

    def _attemptFailed(self, failure: Failure) -> None:
        self.attempt = None
        if self.stopping and failure.check(CancelledError):
            return
        self.output._connectFailed(failure, "failed.connect")
        self._retry()

    def _retry(self) -> None:
        if self.stopping:
            self._finishStop()
            return
        self.failures += 1
        delay = self.output.retryPolicy(self.failures)
        self.retryCall = self.output.reactor.callLater(delay, self._connect)

    def lostBeforeReady(self, protocol: RelayClientProtocol) -> None:
        self.transportProtocol = None
        self._retry()

    def stop(self) -> Deferred[None]:
        """
        Stop reconnecting; close the connection once its buffer is written.
        """
        self.stopping = True
        if self.retryCall is not None and self.retryCall.active():
            self.retryCall.cancel()
        self.retryCall = None
        if self.attempt is not None:
            self.attempt.cancel()
        live = self.protocol or self.transportProtocol
        if live is None or live.transport is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._stopped.append(d)
        live.transport.loseConnection()
        return d

    def abort(self) -> None:
        """
        Drop the connection now (stop timeout).
        """
        live = self.protocol or self.transportProtocol
        if live is not None and live.transport is not None:
            live.transport.abortConnection()  # type: ignore[attr-defined]

    def _finishStop(self) -> None:
        stopped, self._stopped = self._stopped, []
        for d in stopped:
            d.callback(None)

    def writable(self) -> bool:
        protocol = self.protocol
        return protocol is not None and protocol.writable

    def connected(self, protocol: RelayClientProtocol) -> None:
        self.protocol = protocol
        self.failures = 0
        self.output._workerConnected(self)
        self.flush()

    def disconnected(self, protocol: RelayClientProtocol) -> None:
        if self.protocol is protocol:
            self.protocol = None
            self.transportProtocol = None
            self.output._workerDisconnected(self)
        self._retry()

    def flush(self) -> None:
        """
        Write queued messages while the transport takes them.
        """
        protocol = self.protocol
        queue = self.queue
        if protocol is None or not queue:
            return
        transport = protocol.transport
        assert transport is not None
        count = 0
        size = 0
        while queue and protocol.writable:
            data = queue.popleft()
            count += 1
            size += len(data)
            transport.write(data)
        if count:
            self.output._dequeued(count, size)


class TCPOutput(OutputBase):
    """
    The C{--output-tcp} client.
    """

    acceptedTypes = frozenset({1, 2})
    log = Logger()

    def __init__(
        self,
        host: str,
        port: int,
        reactor: Any = None,
        workers: int = DEFAULT_WORKERS,
        sticky: bool = False,
        queueLen: int = DEFAULT_QUEUE_LEN,
        queueBytes: int = DEFAULT_QUEUE_BYTES,
        tlsCreator: Any = None,
        stopTimeout: float = DEFAULT_STOP_TIMEOUT,
        statsInterval: float | None = None,
        endpointFactory: Any = None,
        selfPorts: SelfPorts | None = None,
    ) -> None:
        OutputBase.__init__(self, f"output_tcp({host}:{port})")
        self.host = host
        self.port = port
        self.selfPorts = SelfPorts() if selfPorts is None else selfPorts
        self.reactor = resolveReactor(reactor)
        self.sticky = sticky
        self.queueLen = max(1, queueLen)
        self.queueBytes = max(1, queueBytes)
        flow = self.flow
        flow.maxMessages, flow.maxBytes = self.queueLen, self.queueBytes
        flow.highMessages, flow.lowMessages = max(1, self.queueLen * 9 // 10), self.queueLen // 2
        flow.highBytes, flow.lowBytes = max(1, self.queueBytes * 9 // 10), self.queueBytes // 2
        self.tlsCreator = tlsCreator
        self.stopTimeout = stopTimeout
        self._endpointFactory = endpointFactory
        shared: deque[bytes] = deque()
        self.workers = [_Worker(self, i, deque() if sticky else shared) for i in range(max(1, workers))]
        self.connectedCount = 0
        self._next = 1 % len(self.workers)
        self._everConnected = False
        self._warnedDown = False
        self._drained: list[Deferred[None]] = []
        self.retryPolicy = backoffPolicy(initialDelay=0.2, maxDelay=2.0, factor=1.5)
        self.queueStats = QueueStats("output_tcp", self.reactor, statsInterval) if statsInterval else None

    # -- connections ---------------------------------------------------

    def _endpoint(self) -> Any:
        if self._endpointFactory is not None:
            return self._endpointFactory()
        from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS

        endpoint = HostnameEndpoint(self.reactor, self.host, self.port, timeout=5)
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

    def _workerConnected(self, worker: _Worker) -> None:
        self.connectedCount += 1
        self.stats.increment("connections.opened")
        self.stats.set("connections.active", self.connectedCount)
        if self.connectedCount == 1:
            if not self._everConnected:
                self.log.info("output_tcp: connected to {host}:{port}", host=self.host, port=self.port)
            elif self._warnedDown:
                self.log.info("output_tcp: connected to {host}:{port} again", host=self.host, port=self.port)
            else:
                self.log.debug("output_tcp: reconnected to {host}:{port}", host=self.host, port=self.port)
            self._everConnected = True
            self._warnedDown = False

    def _workerDisconnected(self, worker: _Worker) -> None:
        self.connectedCount -= 1
        self.stats.increment("connections.closed")
        self.stats.set("connections.active", self.connectedCount)
        if self.connectedCount == 0 and self.running:
            # routine when the receiver closes idle connections: only say it
            # when a message has to wait (see _noteDown)
            self.log.debug("output_tcp: every connection to {host}:{port} closed", host=self.host, port=self.port)

    def _noteDown(self) -> None:
        if not self._warnedDown:
            self._warnedDown = True
            self.log.warn(
                "output_tcp: no connection to {host}:{port}; buffering up to {n} messages while reconnecting",
                host=self.host,
                port=self.port,
                n=self.queueLen,
            )

    def _connectFailed(self, reason: Failure | None, key: str) -> None:
        self.stats.increment(key)
        count = self.stats[key]
        if count == 1 or count % 100 == 0:
            self.log.warn(
                "output_tcp: {what} {host}:{port} failed ({count} so far, retrying with backoff): {error}",
                what="TLS handshake with" if key == "failed.tls_handshake" else "connecting to",
                host=self.host,
                port=self.port,
                count=count,
                error=reason.getErrorMessage() if reason is not None else "connection lost",
            )

    # -- messages ------------------------------------------------------

    def _pick(self, message: Message) -> _Worker:
        workers = self.workers
        n = len(workers)
        if self.sticky:
            return workers[fnv1a32(message.id) % n]
        start = self._next
        for step in range(n):
            worker = workers[(start + step) % n]
            if worker.writable():
                self._next = (start + step + 1) % n
                return worker
        self._next = (start + 1) % n
        return workers[start]

    def write(self, message: Message) -> None:
        """
        Send (or queue) one framed message; drop and count when the queue is full.
        """
        stats = self.stats
        if message.type not in self.acceptedTypes:
            stats.increment("dropped.type")
            return
        if self.queueStats is not None:
            self.queueStats.sample(self.queued)
        data = encodeMessage(message)
        worker = self._pick(message)
        if not worker.queue and worker.writable():
            assert worker.protocol is not None and worker.protocol.transport is not None
            worker.protocol.transport.write(data)
            stats.increment("sent")
            return
        if self.connectedCount == 0:
            self._noteDown()
        flow = self.flow
        if not flow.fits(len(data)):
            stats.increment("dropped.queue_full")
            return
        worker.queue.append(data)
        flow.add(len(data))
        if worker.writable():
            worker.flush()
            return
        stats.set("queued", flow.messages)

    @property
    def queued(self) -> int:
        """
        Messages waiting for a connection.
        """
        return self.flow.messages

    @property
    def queuedBytes(self) -> int:
        """
        Bytes waiting for a connection.
        """
        return self.flow.bytes

    def _dequeued(self, count: int, size: int) -> None:
        self.flow.remove(size, count)
        self.stats.increment("sent", count)
        self.stats.set("queued", self.flow.messages)
        if self.flow.messages == 0 and self._drained:
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    # -- stopping ------------------------------------------------------

    def stopService(self) -> Deferred[None]:
        """
        Deliver what is queued (bounded by the stop timeout), then close.
        """
        OutputBase.stopService(self)
        if self.queueStats is not None:
            self.queueStats.stop()
        result: Deferred[None] = Deferred()
        drained: Deferred[None] = Deferred()
        if self.queued == 0:
            drained.callback(None)
        else:
            self._drained.append(drained)

        def timedOut() -> None:
            if self.queued:
                self.log.warn(
                    "output_tcp: {n} messages still queued after {t}s; dropping them",
                    n=self.queued,
                    t=self.stopTimeout,
                )
                self.stats.increment("dropped.stop_timeout", self.queued)
                for worker in self.workers:
                    worker.queue.clear()
                self.flow.release()
                self.stats.set("queued", 0)
            if not drained.called:
                drained.callback(None)
            for worker in self.workers:
                worker.abort()

        timer = self.reactor.callLater(self.stopTimeout, timedOut)

        def closeAll(_: Any) -> Deferred[Any]:
            stops = [w.stop() for w in self.workers]
            return DeferredList(stops, consumeErrors=True)

        def done(_: Any) -> None:
            if timer.active():
                timer.cancel()
            result.callback(None)

        drained.addCallback(closeAll)
        drained.addCallback(done)
        return result


def clientTLSCreator(host: str, skipVerify: bool, caCertificate: str | None = None) -> Any:
    """
    The TLS connection creator of C{--output-tcp-secure}.
    """
    from twisted.internet import ssl

    if skipVerify:
        return ssl.CertificateOptions(verify=False)
    if caCertificate is not None:
        with open(caCertificate, "rb") as f:
            trustRoot = ssl.Certificate.loadPEM(f.read())
        return ssl.optionsForClientTLS(host, trustRoot=trustRoot)
    return ssl.optionsForClientTLS(host)


@dataclass
class TCPOutputConfig:
    """
    Configuration of one C{--output-tcp}.
    """

    host: str
    port: int
    limit: Limit | None = None
    workers: int = DEFAULT_WORKERS
    sticky: bool = False
    queueLen: int = DEFAULT_QUEUE_LEN
    queueBytes: int = DEFAULT_QUEUE_BYTES
    secure: bool = False
    skipVerify: bool = False
    caCertificate: str | None = None
    stopTimeout: float = DEFAULT_STOP_TIMEOUT
    showStats: bool = False

    def build(self, context: BuildContext) -> TCPOutput:
        """
        Build the output.
        """
        tls = clientTLSCreator(self.host, self.skipVerify, self.caCertificate) if self.secure else None
        interval = context.config.statsInterval if self.showStats and context.config.stats else None
        return TCPOutput(
            self.host,
            self.port,
            context.reactor,
            workers=self.workers,
            sticky=self.sticky,
            queueLen=self.queueLen,
            queueBytes=self.queueBytes,
            tlsCreator=tls,
            stopTimeout=self.stopTimeout,
            statsInterval=interval,
            selfPorts=context.selfPorts,
        )
