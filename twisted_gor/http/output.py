# -*- test-case-name: tests.test_http_output -*-
"""
C{--output-http}: replay requests to a target over persistent connections.

Each output has a bounded queue and a set of workers; a worker owns at most
one persistent connection and has one request in flight at a time. The bytes
sent are the captured request with only these changes:

 - C{Host} is set to the target's C{host[:port]} (absolute-form targets get
   their scheme and authority replaced instead), unless
   C{--http-original-host} or a C{--http-set-header Host:...} was given;
 - credentials in the target URL set C{Authorization: Basic ...}, replacing
   the captured one;
 - a target URL with a path (C{http://staging/base}) prefixes that path to
   every origin-form request-target (C{/x?y} -> C{/base/x?y}). GoReplay HEAD
   instead sends every request to that one URL; keeping the request's own
   path is what users expect (reference §7.1).

Nothing is retried. Failures are counted by reason: C{failed.refused},
C{failed.timeout} (no complete response in time), C{failed.connect_timeout}
(the connection itself was not established in time), C{failed.reset}, C{failed.tls} (untrusted certificate,
handshake failure; the first is logged), C{failed.bad_response},
C{failed.dns}, C{failed.connect}. When the queue is full new requests are dropped and
counted as C{dropped.queue_full}; the pipeline is asked to pause pausable
inputs at the high-water mark and to resume them at the low-water mark, so a
file replay slows down instead of losing requests.
"""

from __future__ import annotations

import base64
import ipaddress
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from twisted.internet import error as ierror
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._interfaces import IMessageReceiver, IResponseSource
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor import _httphead as proto
from twisted_gor.http.client import HttpClientProtocol, ResponseParser
from twisted_gor.queuestats import QueueStats
from twisted_gor.limiter import Limit
from twisted_gor.message import REPLAYED_RESPONSE, REQUEST, Message

DEFAULT_DYNAMIC_MAX = 500
"""Upper bound of dynamically scaled workers when none is given."""


@dataclass(frozen=True)
class Target:
    """
    A parsed C{--output-http} URL.
    """

    url: str
    scheme: str
    host: str
    port: int
    netloc: bytes
    basePath: bytes = b""
    authorization: bytes | None = None

    @property
    def secure(self) -> bool:
        """
        Whether this is an https target.
        """
        return self.scheme == "https"


def parseTarget(value: str) -> Target:
    """
    Parse an C{--output-http} value (scheme optional, C{http} by default).

    @raise ValueError: with a message saying what is wrong.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty URL")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {parts.scheme!r} in {value!r} (http or https)")
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as e:
        raise ValueError(f"invalid URL {value!r}: {e}") from None
    if not host:
        raise ValueError(f"no host in {value!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"a query or fragment is not supported in the target URL {value!r}")
    if port is None:
        port = 443 if scheme == "https" else 80
    netloc = parts.netloc.rpartition("@")[2]
    authorization = None
    if parts.username is not None:
        credentials = unquote(parts.username) + ":" + unquote(parts.password or "")
        authorization = b"Basic " + base64.b64encode(credentials.encode("utf-8"))
    basePath = parts.path.rstrip("/").encode("utf-8")
    return Target(
        url=value,
        scheme=scheme,
        host=host,
        port=port,
        netloc=netloc.encode("idna") if not netloc.isascii() else netloc.encode("ascii"),
        basePath=basePath,
        authorization=authorization,
    )


@dataclass
class ReplayResult:
    """
    What an observer of an HTTP output is told about each replayed request.

    @ivar request: the message as received from the pipeline.
    @ivar sent: the bytes actually sent.
    @ivar status: the response status, or 0 when it failed.
    @ivar response: the response bytes (as kept), or L{None}.
    @ivar start: replay start, Unix ns.
    @ivar rtt: round trip, ns.
    @ivar error: the failure reason, or L{None}.
    """

    request: Message
    sent: bytes
    status: int
    response: bytes | None
    start: int
    rtt: int
    error: str | None = None


Observer = Callable[[ReplayResult], None]


@dataclass
class HttpOutputConfig:
    """
    Configuration of one C{--output-http}.

    @ivar workers: > 0 fixed workers (unless C{workersMin} is set, then
        C{workersMin..workers}); <= 0 dynamic between C{workersMin} (at least
        1) and C{workersMax} (L{DEFAULT_DYNAMIC_MAX} when 0).
    @ivar trackResponse: emit replayed responses as type-3 messages.
    @ivar observers: called with a L{ReplayResult} for every replayed request.
    """

    target: Target
    limit: Limit | None = None
    workers: int = -1
    workersMin: int = 0
    workersMax: int = 0
    workerTimeout: float = 2.0
    queueLen: int = 100
    timeout: float = 5.0
    redirects: int = 0
    trackResponse: bool = False
    skipVerify: bool = False
    responseBuffer: int = 5 * 1024 * 1024
    originalHost: bool = False
    showStats: bool = False
    statsInterval: float = 5.0
    observers: list[Observer] = field(default_factory=list)

    def workerRange(self) -> tuple[int, int]:
        """
        C{(min, max)} workers.
        """
        if self.workers > 0:
            low = self.workersMin if self.workersMin > 0 else self.workers
            return min(low, self.workers), self.workers
        low = max(1, self.workersMin)
        high = self.workersMax if self.workersMax > 0 else DEFAULT_DYNAMIC_MAX
        return low, max(low, high)

    def build(self, context: BuildContext) -> "HttpOutput":
        """
        Build the output.
        """
        showStats = self.showStats and bool(getattr(context.config, "stats", False))
        return HttpOutput(self, context.reactor, showStats=showStats)


class _ClientFactory(Factory):
    noisy = False

    def __init__(self, worker: "_Worker") -> None:
        self.worker = worker

    def buildProtocol(self, addr: Any) -> HttpClientProtocol:
        return HttpClientProtocol(self.worker, self.worker.output.keep)


class _Worker:
    """
    Sends one request at a time over its own persistent connection.
    """

    def __init__(self, output: "HttpOutput") -> None:
        self.output = output
        self.client: HttpClientProtocol | None = None
        self.connecting: Deferred[Any] | None = None
        self.message: Message | None = None
        self.payload = b""
        self.isHead = False
        self.startedAt = 0.0
        self.startNs = 0
        self.redirectsLeft = 0
        self.stopped = False

    @property
    def busy(self) -> bool:
        return self.message is not None

    def take(self, message: Message, payload: bytes) -> None:
        self.message = message
        self.payload = payload
        self.isHead = payload.startswith(b"HEAD ")
        self.startedAt = self.output.reactor.seconds()
        self.startNs = int(self.startedAt * 1e9)
        self.redirectsLeft = self.output.config.redirects
        self._send()

    def _send(self) -> None:
        client = self.client
        if client is not None and client.connected:
            client.sendRequest(self.payload, self.isHead)
            return
        self.client = None
        d = self.output.connect(self)
        self.connecting = d
        d.addCallbacks(self._connected, self._connectFailed, callbackArgs=(d,), errbackArgs=(d,))

    def _connected(self, client: HttpClientProtocol, attempt: Deferred[Any]) -> None:
        if attempt is not self.connecting:
            client.abort()  # a connection given up on (timeout, stop)
            return
        self.connecting = None
        self.client = client
        if self.message is not None and client.connected:
            client.sendRequest(self.payload, self.isHead)
        elif self.stopped:
            client.abort()

    def _connectFailed(self, failure: Failure, attempt: Deferred[Any]) -> None:
        if attempt is not self.connecting:
            return
        self.connecting = None
        if failure.check(ierror.ConnectionRefusedError):
            reason = "refused"
        elif failure.check(ierror.TimeoutError):
            reason = "connect_timeout"
        elif failure.check(ierror.UserError, ierror.ConnectingCancelledError):
            reason = "timeout"
        elif failure.check(ierror.DNSLookupError):
            reason = "dns"
        else:
            reason = "connect"
        if self.message is not None:
            self._finish(0, None, reason)

    # IClientListener
    def clientConnected(self, client: HttpClientProtocol) -> None:
        pass

    def responseDone(self, client: HttpClientProtocol, parser: ResponseParser) -> None:
        if self.message is None:
            return
        if self.redirectsLeft > 0 and parser.status in (301, 302, 303, 307, 308):
            if self._redirect(parser):
                return
        self._finish(parser.status, parser, None)

    def requestFailed(self, client: HttpClientProtocol, reason: str, failure: Failure | None) -> None:
        if reason == "tls":
            self.output.tlsFailed(failure)
        if self.message is not None:
            self._finish(0, None, reason)

    def clientDisconnected(self, client: HttpClientProtocol) -> None:
        if self.client is client:
            self.client = None

    def _redirect(self, parser: ResponseParser) -> bool:
        head = parser.rawBytes() if parser.keep else b""
        location = proto.getHeader(head, b"Location") if head else None
        if not location:
            return False
        target = self.output.config.target
        if location.startswith((b"http://", b"https://")):
            parts = urlsplit(location.decode("latin-1"))
            if (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)) != (target.host, target.port):
                # Only same-target redirects are followed: a replay must not
                # wander off to another host (production, a login service).
                self.output.stats.increment("redirects.other_host")
                return False
            path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            newTarget = path.encode("latin-1")
        elif location.startswith(b"/"):
            newTarget = location
        else:
            return False
        payload = proto.setRequestTarget(self.payload, newTarget)
        if parser.status == 303 or (parser.status in (301, 302) and proto.method(payload) == b"POST"):
            payload = b"GET" + payload[len(proto.method(payload)) :]
            end = proto.headersEnd(payload)
            payload = payload[:end] if end > 0 else payload
            payload = proto.deleteHeader(proto.deleteHeader(payload, b"Content-Length"), b"Transfer-Encoding")
        self.redirectsLeft -= 1
        self.payload = payload
        self.output.stats.increment("redirects")
        self._send()
        return True

    def timedOut(self) -> None:
        """
        The request took longer than the timeout: C{failed.connect_timeout}
        when the connection was still being established (a target that does
        not accept: SYNs dropped, full listen queue), C{failed.timeout} when
        it was waiting for the response.
        """
        reason = "connect_timeout" if self.connecting is not None else "timeout"
        client = self.client
        if client is not None:
            client.cancel()
            self.client = None
        if self.connecting is not None:
            d, self.connecting = self.connecting, None
            d.cancel()
        if self.message is not None:
            self._finish(0, None, reason)

    def abandon(self) -> None:
        """
        Forget the current request (shutdown) and drop the connection.
        """
        self.message = None
        if self.connecting is not None:
            d, self.connecting = self.connecting, None
            d.cancel()
        if self.client is not None:
            self.client.cancel()
            self.client = None

    def _finish(self, status: int, parser: ResponseParser | None, error: str | None) -> None:
        message = self.message
        assert message is not None
        self.message = None
        self.output.completed(self, message, status, parser, error)

    def stop(self) -> None:
        self.stopped = True
        if self.connecting is not None:
            d, self.connecting = self.connecting, None
            d.cancel()
        if self.client is not None:
            self.client.abort()
            self.client = None


@implementer(IResponseSource)
class HttpOutput(OutputBase):
    """
    One C{--output-http} target: a bounded queue and its workers.
    """

    acceptedTypes = frozenset({REQUEST})
    log = Logger()

    def __init__(self, config: HttpOutputConfig, reactor: Any = None, showStats: bool = False) -> None:
        OutputBase.__init__(self, f"output_http({config.target.url})")
        self.config = config
        self.reactor = resolveReactor(reactor)
        self.queue: deque[Message] = deque()
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.minWorkers, self.maxWorkers = config.workerRange()
        self.high = max(1, (config.queueLen * 3) // 4)
        self.low = config.queueLen // 4
        self.pausedUpstream = False
        self.responseReceiver: IMessageReceiver | None = None
        self.observers: list[Observer] = list(config.observers)
        self.queueStats = QueueStats("output_http", self.reactor, self.config.statsInterval)
        self.showStats = showStats
        self.keep = config.responseBuffer if (config.trackResponse or config.observers or config.redirects) else 0
        self._sweeper: LoopingCall | None = None
        self._drained: list[Deferred[None]] = []
        self._lastScaleDown = 0.0
        self._tlsWarned = False
        self._endpointFactory = self._makeEndpoint()

    # --- configuration -------------------------------------------------
    def setResponseReceiver(self, receiver: IMessageReceiver) -> None:
        """
        See L{IResponseSource.setResponseReceiver}.
        """
        self.responseReceiver = receiver

    def addObserver(self, observer: Observer) -> None:
        """
        Call C{observer} with a L{ReplayResult} for every replayed request
        (responses are kept for observers, up to C{responseBuffer} bytes).
        """
        self.observers.append(observer)
        if not self.keep:
            self.keep = self.config.responseBuffer

    def _makeEndpoint(self) -> Callable[[], Any]:
        target = self.config.target
        reactor = self.reactor
        timeout = max(0.1, self.config.timeout)
        host = target.host
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is None:
            def plain() -> Any:
                return HostnameEndpoint(reactor, host, target.port, timeout=timeout)
        elif ip.version == 4:
            def plain() -> Any:
                return TCP4ClientEndpoint(reactor, host, target.port, timeout=timeout)
        else:
            def plain() -> Any:
                return TCP6ClientEndpoint(reactor, host, target.port, timeout=timeout)
        if not target.secure:
            return plain
        from twisted_gor.http.tls import clientCreator

        creator = clientCreator(host, self.config.skipVerify)

        def secure() -> Any:
            return wrapClientTLS(creator, plain())

        return secure

    def connect(self, worker: _Worker) -> Deferred[Any]:
        """
        Open a connection for C{worker}.
        """
        self.stats.increment("connections")
        return self._endpointFactory().connect(_ClientFactory(worker))

    # --- service -------------------------------------------------------
    def startService(self) -> None:
        OutputBase.startService(self)
        for _ in range(self.minWorkers):
            self._addWorker()
        self._sweeper = LoopingCall(self._sweep)
        self._sweeper.clock = self.reactor
        self._sweeper.start(min(0.1, max(0.01, self.config.timeout / 10)), now=False)
        if self.showStats:
            self.queueStats.start()

    def _addWorker(self) -> _Worker:
        worker = _Worker(self)
        self.workers.append(worker)
        self.idle.append(worker)
        return worker

    # --- writing -------------------------------------------------------
    def write(self, message: Message) -> None:
        """
        Queue a request (never blocks; drops and counts when full).
        """
        if message.type != REQUEST:
            return
        queue = self.queue
        self.queueStats.sample(len(queue))
        if len(queue) >= self.config.queueLen:
            self.stats.increment("dropped.queue_full")
            return
        queue.append(message)
        self._dispatch()
        if not self.pausedUpstream and len(queue) >= self.high and self.backpressure is not None:
            self.pausedUpstream = True
            self.backpressure.pause(self)

    def _prepare(self, payload: bytes) -> bytes | None:
        if not proto.isRequestLine(payload):
            self.stats.increment("dropped.not_http")
            return None
        if payload.startswith(b"CONNECT "):
            self.stats.increment("skipped.connect")
            return None
        config = self.config
        target = config.target
        if target.basePath:
            path = proto.requestTarget(payload) or b""
            if path.startswith(b"/"):
                payload = proto.setRequestTarget(payload, target.basePath + path)
        if not config.originalHost:
            payload = proto.setHost(payload, target.scheme.encode("ascii"), target.netloc)
        if target.authorization is not None:
            payload = proto.setHeader(payload, b"Authorization", target.authorization)
        return payload

    def _dispatch(self) -> None:
        queue = self.queue
        idle = self.idle
        while queue:
            if not idle:
                if len(self.workers) < self.maxWorkers:
                    self._addWorker()
                else:
                    break
            message = queue.popleft()
            payload = self._prepare(message.payload)
            if payload is None:
                continue
            idle.pop().take(message, payload)
        if self.pausedUpstream and len(queue) <= self.low and self.backpressure is not None:
            self.pausedUpstream = False
            self.backpressure.resume(self)
        if not queue and self._drained and not any(w.busy for w in self.workers):
            drained, self._drained = self._drained, []
            for d in drained:
                d.callback(None)

    def completed(
        self, worker: _Worker, message: Message, status: int, parser: ResponseParser | None, error: str | None
    ) -> None:
        """
        A worker is done with C{message} (successfully or not).
        """
        stats = self.stats
        stats.increment("sent")
        if error is not None:
            stats.increment("failed." + error)
        else:
            stats.increment("succeeded")
        now = self.reactor.seconds()
        rtt = int((now - worker.startedAt) * 1e9)
        if parser is not None and (self.config.trackResponse or self.observers):
            raw = parser.rawBytes()
            if self.config.trackResponse and self.responseReceiver is not None:
                self.responseReceiver.messageReceived(Message(REPLAYED_RESPONSE, message.id, worker.startNs, rtt, raw))
                stats.increment("responses")
            if self.observers:
                result = ReplayResult(message, worker.payload, status, raw, worker.startNs, rtt, error)
                self._notify(result)
        elif error is not None and self.observers:
            self._notify(ReplayResult(message, worker.payload, 0, None, worker.startNs, rtt, error))
        if worker.stopped:
            return
        self.idle.append(worker)
        self._dispatch()

    def tlsFailed(self, failure: Failure | None) -> None:
        """
        A TLS handshake or record failed (counted as C{failed.tls} by the
        worker); log the first one, since it usually means configuration.
        """
        if self._tlsWarned:
            return
        self._tlsWarned = True
        hint = "" if self.config.skipVerify else " (self-signed or private CA? --output-http-skip-verify)"
        self.log.warn(
            "{name}: TLS failed: {error}; such requests are counted as failed.tls{hint}",
            name=self.name,
            error=failure.getErrorMessage() if failure is not None else "unknown",
            hint=hint,
        )

    def _notify(self, result: ReplayResult) -> None:
        for observer in self.observers:
            try:
                observer(result)
            except Exception:
                self.log.failure("output-http observer failed")

    def _sweep(self) -> None:
        now = self.reactor.seconds()
        deadline = now - self.config.timeout
        for worker in self.workers:
            if worker.message is not None and worker.startedAt < deadline:
                worker.timedOut()
        self.stats.set("queue", len(self.queue))
        self.stats.set("workers", len(self.workers))
        if (
            len(self.workers) > self.minWorkers
            and not self.queue
            and now - self._lastScaleDown >= self.config.workerTimeout
        ):
            self._lastScaleDown = now
            for worker in self.idle:
                if not worker.busy:
                    self.idle.remove(worker)
                    self.workers.remove(worker)
                    worker.stop()
                    break

    def stopService(self) -> Deferred[None]:
        """
        Let queued and in-flight requests finish, up to the timeout; what is
        left is counted as C{dropped.shutdown}.
        """
        OutputBase.stopService(self)
        self.queueStats.stop()
        d: Deferred[None] = Deferred()
        if not self.queue and not any(w.busy for w in self.workers):
            d.callback(None)
        else:
            self._drained.append(d)
            call = self.reactor.callLater(self.config.timeout + 0.5, self._giveUp, d)
            d.addBoth(lambda r: (call.active() and call.cancel(), r)[1])

        def closeAll(result: object) -> None:
            if self._sweeper is not None and self._sweeper.running:
                self._sweeper.stop()
            for worker in self.workers:
                worker.stop()
            self.stats.set("queue", len(self.queue))

        d.addCallback(closeAll)
        return d

    def _giveUp(self, d: Deferred[None]) -> None:
        left = len(self.queue) + sum(1 for w in self.workers if w.busy)
        self.queue.clear()
        for worker in self.workers:
            if worker.busy:
                worker.abandon()
        if left:
            self.stats.increment("dropped.shutdown", left)
        if d in self._drained:
            self._drained.remove(d)
        if not d.called:
            d.callback(None)

