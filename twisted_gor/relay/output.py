# -*- test-case-name: tests.test_relay_unit -*-
"""
C{--output-tcp HOST:PORT}: forward requests and original responses to another
gor's C{--input-tcp}, framed exactly as GoReplay frames them.

Between twisted-gors the link acknowledges (see L{twisted_gor.relay}): a
record stays in the bounded queue, counted by the output's L{FlowControl},
until the receiver acknowledges it (C{sent}); records of a broken connection
are sent again after reconnecting (C{resent}). Against a GoReplay receiver
(plain mode) records count as C{written} once handed to the transport, and
when such a connection breaks the records among its last send-buffer's worth
of bytes are counted C{lost.in_flight} (an estimate: nothing tells).

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

import os
from collections import deque
from dataclasses import dataclass
from typing import Any

from twisted.application.internet import backoffPolicy
from twisted.internet.defer import CancelledError
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHandshakeListener, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor.selfports import SelfPorts
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.queuestats import QueueStats
from twisted_gor.relay import ACK_PREFIX, BANNER_BUSY, BANNER_OK, CLOSING, END_RECORD, HELLO_PREFIX, MAX_LINE

DEFAULT_WORKERS = 10
DEFAULT_QUEUE_LEN = 10_000
DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024
DEFAULT_STOP_TIMEOUT = 5.0
DEFAULT_ACK_WAIT = 1.0
DEFAULT_IN_FLIGHT_ESTIMATE = 256 * 1024

Entry = tuple["bytes | int", bytes]
"""
A record and its mark: in the queue 0 (never sent) or its delivery id
C{b"<conn>:<k>"} (sent before); in flight on an ack-mode connection C{k}
(the C{k}th record sent fresh there) or the delivery id.
"""


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

    Once connected (over TLS: once the handshake completed) it writes the
    hello record and waits up to the output's C{ackWait} for the receiver's
    banner: L{BANNER_OK} turns on ack mode (acknowledgements, resends
    marked), L{BANNER_BUSY} closes and backs off, silence (a GoReplay
    receiver, which drops the hello as a record without payload) or anything
    else means plain GoReplay framing. No record is written before that, so
    a refused certificate or a busy receiver never swallows messages.

    @ivar writable: the transport's buffer has room (not paused by it).
    @ivar ready: the mode is chosen; records may be written.
    @ivar mode: L{None} while negotiating, then C{"ack"} or C{"plain"}.
    @ivar inflight: ack mode: the records written, from position C{base} of
        this connection's stream; the first C{acked} are acknowledged (a
        list and a position, so that acknowledging a batch costs no Python
        loop).
    @ivar marks: ack mode: delivery ids of the resent records, by position.
    """

    def __init__(self, worker: "_Worker") -> None:
        self.worker = worker
        self.writable = False
        self.ready = False
        self.secured = False
        self.mode: str | None = None
        self.acking = False
        self.local: tuple[str, int] | None = None
        self.paused = False
        self.busy = False
        self.closing = False
        self.lines = b""
        self.waitCall: Any = None
        self.inflight: list[bytes] = []
        self.base = 0
        self.acked = 0
        self.marks: dict[int, bytes] = {}
        self.resentAcked = 0
        self.number = b""
        self.recent: deque[int] = deque()
        self.recentBytes = 0
        self.recentLimit = DEFAULT_IN_FLIGHT_ESTIMATE

    def connectionMade(self) -> None:
        """
        Register our endpoint (capture must ignore it); negotiate (after the
        TLS handshake, if any).
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
        self.recentLimit = _sendBufferSize(self.transport) + 64 * 1024
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]
        if self.worker.output.tlsCreator is None:
            self._secured()

    def handshakeCompleted(self) -> None:
        """
        The TLS handshake succeeded: negotiate.
        """
        self._secured()

    def _secured(self) -> None:
        if self.secured:
            return
        self.secured = True
        output = self.worker.output
        wait = output.ackWait
        if wait <= 0:
            self._choose("plain")
            return
        # a record without payload: a GoReplay receiver drops it
        output.ackConnections += 1
        self.number = b"%d" % output.ackConnections
        self.transport.write(HELLO_PREFIX + output.session + b" " + self.number + SEPARATOR)  # type: ignore[union-attr]
        self.waitCall = self.worker.output.reactor.callLater(wait, self._waitExpired)
        if self.lines:
            self.dataReceived(b"")

    def _waitExpired(self) -> None:
        self.waitCall = None
        if self.mode is None and not self.busy:
            self._choose("plain")

    def _cancelWait(self) -> None:
        if self.waitCall is not None and self.waitCall.active():
            self.waitCall.cancel()
        self.waitCall = None

    def _choose(self, mode: str) -> None:
        self._cancelWait()
        self.mode = mode
        self.acking = mode == "ack"
        output = self.worker.output
        output.stats.increment("connections." + mode)
        self.ready = True
        self.writable = not self.paused
        self.worker.connected(self)

    def dataReceived(self, data: bytes) -> None:
        """
        The receiver's banner, then (ack mode) acknowledgements and
        L{CLOSING}; a plain receiver's bytes are ignored and counted.
        """
        output = self.worker.output
        if self.mode == "plain" or self.busy:
            output.stats.increment("unexpected_bytes", len(data))
            return
        lines = self.lines + data
        if not self.secured:
            self.lines = lines
            return
        while self.mode != "plain" and not self.busy:
            newline = lines.find(b"\n")
            if newline < 0:
                if len(lines) > MAX_LINE:
                    output.stats.increment("unexpected_bytes", len(lines))
                    lines = b""
                    if self.mode is None:
                        self._choose("plain")
                break
            line, lines = lines[: newline + 1], lines[newline + 1 :]
            self._line(line)
        self.lines = lines

    def _line(self, line: bytes) -> None:
        output = self.worker.output
        if self.mode is None:
            if line == BANNER_OK:
                self._choose("ack")
            elif line == BANNER_BUSY:
                self._cancelWait()
                self.busy = True
                output._refusedBusy()
                self.transport.loseConnection()  # type: ignore[union-attr]
            else:
                output.stats.increment("unexpected_bytes", len(line))
                self._choose("plain")
        elif line.startswith(ACK_PREFIX):
            try:
                count = int(line[len(ACK_PREFIX) :])
            except ValueError:
                count = -1
            self._acknowledged(count)
        elif line == CLOSING:
            self._closing()
        else:
            output.stats.increment("unexpected_bytes", len(line))

    def _acknowledged(self, count: int) -> None:
        new = count - self.acked
        inflight = self.inflight
        start = self.acked - self.base
        if new <= 0 or start + new > len(inflight):
            self.worker.output.stats.increment("failed.bad_ack")
            return
        size = sum(map(len, inflight[start : start + new]))
        self.acked = count
        if self.marks:
            for position in [p for p in self.marks if p < count]:
                del self.marks[position]
                self.resentAcked += 1
        if start + new >= 4096 and start + new >= len(inflight) // 2:
            del inflight[: start + new]
            self.base = count
        self.worker.output._acknowledged(new, size)

    def unacknowledged(self) -> list[Entry]:
        """
        Forget the records written and not acknowledged; return them with
        their delivery ids (to be sent again).
        """
        number = self.number
        resends = self.resentAcked
        marks = self.marks
        entries: list[Entry] = []
        for index, data in enumerate(self.inflight[self.acked - self.base :]):
            position = self.acked + index
            mark = marks.get(position)
            if mark is None:
                mark = b"%s:%d" % (number, position - resends + 1)
            else:
                resends += 1
            entries.append((mark, data))
        self.inflight, self.marks = [], {}
        self.base = self.acked
        return entries

    def _closing(self) -> None:
        """
        The receiver stops: write nothing more but the end marker; records
        not acknowledged by the close are sent again elsewhere.
        """
        if self.closing:
            return
        self.closing = True
        self.writable = False
        self.worker.output.stats.increment("closed.by_receiver")
        self.transport.write(END_RECORD)  # type: ignore[union-attr]

    def send(self, mark: bytes | int, data: bytes) -> None:
        """
        Write one record; C{mark} is 0 for a record never sent before, else
        its delivery id C{<conn>:<k>} (record C{k} sent fresh on ack-mode
        connection C{conn} of this session).
        """
        output = self.worker.output
        if self.acking:
            if mark:
                assert isinstance(mark, bytes)
                output.resent += 1
                self.marks[self.base + len(self.inflight)] = mark
                self.transport.writeSequence((b"#R%s\n" % mark, data))  # type: ignore[union-attr]
            else:
                self.transport.write(data)  # type: ignore[union-attr]
            self.inflight.append(data)
            return
        if mark:
            output.resent += 1
        self.transport.write(data)  # type: ignore[union-attr]
        size = len(data)
        output.written += 1
        output.flow.remove(size)
        recent = self.recent
        recent.append(size)
        self.recentBytes += size
        while self.recentBytes > self.recentLimit and len(recent) > 1:
            self.recentBytes -= recent.popleft()

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
        if self.ready and not self.closing:
            self.writable = True
            self.worker.flush()

    def stopProducing(self) -> None:
        """
        The transport is going away.
        """
        self.writable = False

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        """
        Unregister; records not acknowledged go back to the queue (ack mode)
        or are counted C{lost.in_flight} (plain mode, unless we closed); the
        worker's service reconnects.
        """
        self._cancelWait()
        self.writable = False
        worker = self.worker
        output = worker.output
        if self.local is not None:
            output.selfPorts.remove(*self.local)
        if self.ready:
            if self.acking and len(self.inflight) > self.acked - self.base:
                inflight = self.unacknowledged()
                worker.requeue(inflight)
            elif self.recent and not worker.stopping:
                output.stats.increment("lost.in_flight", len(self.recent))
            self.recent.clear()
            worker.disconnected(self)
            return
        if not (self.busy or worker.stopping):
            if not self.secured and (reason is None or not reason.check(ConnectionDone, ConnectionLost)):
                output._connectFailed(reason, "failed.tls_handshake")
            else:
                # cut by the receiver (stopping, or not a twisted-gor at all)
                # before the link was ready: nothing was written
                output.stats.increment("closed.before_ready")
        worker.lostBeforeReady(self)


def _sendBufferSize(transport: Any) -> int:
    """
    The socket's send buffer (what the kernel may still hold when a plain
    connection breaks), or a default when the transport hides its socket.
    """
    import socket

    for candidate in (transport, getattr(transport, "transport", None)):
        if candidate is None:
            continue
        try:
            handle = candidate.getHandle()
            return int(handle.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF))
        except Exception:
            continue
    return DEFAULT_IN_FLIGHT_ESTIMATE


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

    def __init__(self, output: "TCPOutput", index: int, queue: deque[Entry]) -> None:
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
        count = 0
        send = protocol.send
        while queue and protocol.writable:
            mark, data = queue.popleft()
            count += 1
            send(mark, data)
        if count:
            self.output._dequeued()

    def requeue(self, entries: list[Entry]) -> None:
        """
        Records a broken connection did not get acknowledged: first in line
        again (they are still counted by the flow).
        """
        self.queue.extendleft(reversed(entries))
        self.output._requeued(len(entries))


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
        ackWait: float = DEFAULT_ACK_WAIT,
    ) -> None:
        """
        @param ackWait: how long a new connection waits for a twisted-gor
            receiver's banner before using plain framing (0: always plain).
        """
        OutputBase.__init__(self, f"output_tcp({host}:{port})")
        self.ackWait = ackWait
        self.session = os.urandom(8).hex().encode("ascii")
        self.ackConnections = 0
        self.acknowledged = 0
        self.written = 0
        self.resent = 0
        self.stats.track("sent", lambda: self.acknowledged)
        self.stats.track("written", lambda: self.written)
        self.stats.track("resent", lambda: self.resent)
        self.stats.gauge("connections.active")
        self.stats.gauge("queued")
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
        shared: deque[Entry] = deque()
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
        Send (or queue) one framed message; drop and count when the queue
        (which also holds what is not acknowledged yet) is full.
        """
        stats = self.stats
        if message.type not in self.acceptedTypes:
            stats.increment("dropped.type")
            return
        if self.queueStats is not None:
            self.queueStats.sample(self.queued)
        data = encodeMessage(message)
        flow = self.flow
        if not flow.fits(len(data)):
            if self.connectedCount == 0:
                self._noteDown()
            stats.increment("dropped.queue_full")
            return
        flow.add(len(data))
        worker = self._pick(message)
        protocol = worker.protocol
        if protocol is not None and protocol.writable and not worker.queue:
            if protocol.acking:
                # the common case inline: a fresh record on an ack-mode link
                protocol.transport.write(data)  # type: ignore[union-attr]
                protocol.inflight.append(data)
            else:
                protocol.send(0, data)
            return
        if self.connectedCount == 0:
            self._noteDown()
        worker.queue.append((0, data))
        if worker.writable():
            worker.flush()
            return
        stats.set("queued", flow.messages)

    @property
    def queued(self) -> int:
        """
        Messages held: waiting for a connection or for their acknowledgement.
        """
        return self.flow.messages

    @property
    def queuedBytes(self) -> int:
        """
        Bytes held: waiting for a connection or for their acknowledgement.
        """
        return self.flow.bytes

    def _refusedBusy(self) -> None:
        self.stats.increment("refused.busy")
        count = self.stats["refused.busy"]
        if count == 1 or count % 100 == 0:
            self.log.warn(
                "output_tcp: {host}:{port} is at its connection limit ({count} refusals so far); "
                "keeping the records and retrying with backoff",
                host=self.host,
                port=self.port,
                count=count,
            )

    def _acknowledged(self, count: int, size: int) -> None:
        self.acknowledged += count
        self.flow.remove(size, count)
        self._dequeued()

    def _requeued(self, count: int) -> None:
        self.stats.set("queued", self.flow.messages)
        for worker in self.workers:
            if worker.writable():
                worker.flush()

    def _dequeued(self) -> None:
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
                    "output_tcp: {n} messages still queued or unacknowledged after {t}s; dropping them",
                    n=self.queued,
                    t=self.stopTimeout,
                )
                queues = {id(w.queue): w.queue for w in self.workers}
                waiting = sum(len(q) for q in queues.values())
                unacknowledged = self.queued - waiting
                self.stats.increment("dropped.stop_timeout", waiting)
                if unacknowledged > 0:
                    self.stats.increment("unacknowledged.stop_timeout", unacknowledged)
                for queue in queues.values():
                    queue.clear()
                for worker in self.workers:
                    for live in (worker.protocol, worker.transportProtocol):
                        if live is not None:
                            live.unacknowledged()
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
    ackWait: float = DEFAULT_ACK_WAIT

    def build(self, context: BuildContext) -> TCPOutput:
        """
        Build the output.
        """
        tls = clientTLSCreator(self.host, self.skipVerify, self.caCertificate) if self.secure else None
        interval = context.config.statsInterval if self.showStats and context.config.stats else None
        if self.showStats and interval is None:
            TCPOutput.log.warn("--output-tcp-stats: nothing is printed without --stats (add --stats, as GoReplay needs)")
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
            ackWait=self.ackWait,
        )
