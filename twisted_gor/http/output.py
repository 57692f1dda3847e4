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

A target that is down gets no socket per request: its L{Circuit} opens
after 5 failures in a row (refused, unreachable, timeouts) and further
requests are counted as C{failed.target_down} while one probe at a time
finds out whether it is back (see L{twisted_gor.http.circuit}).

Nothing is retried. Failures are counted by reason: C{failed.refused},
C{failed.timeout} (no complete response in time), C{failed.connect_timeout}
(the connection itself was not established in time), C{failed.reset}, C{failed.tls} (untrusted certificate,
handshake failure; the first is logged), C{failed.bad_response},
C{failed.dns}, C{failed.connect}. When the queue is full new requests are dropped and
counted as C{dropped.queue_full}; the output's L{twisted_gor.flow.FlowControl}
pauses pausable inputs at three quarters of the queue (messages or bytes) and
resumes them at a quarter, so a file replay slows down instead of losing
requests.

With C{sessions} (C{--recognize-tcp-sessions}) requests carrying session data
are replayed session by session, each on its own connection, by
L{twisted_gor.http.sessions.SessionScheduler}; the others as above.
"""

from __future__ import annotations

import base64
import ipaddress
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar
from urllib.parse import unquote, urlsplit

from twisted.internet import error as ierror
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.protocol import Factory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._interfaces import IMessageReceiver, IReplayObserver, IReplaySource, IResponseSource
from twisted_gor._writenow import WriteBatch
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor import _httphead as proto
from twisted_gor.config import REPLAY_RESULTS, REPLAYED_RESPONSES, BuildContext, Capabilities
from twisted_gor.failurelog import FailureLog
from twisted_gor.http.circuit import CLOSED, PROBING, Circuit
from twisted_gor.http.client import HttpClientProtocol, ResponseParser
from twisted_gor.http.fastpath import setOriginHostFast
from twisted_gor.http.sessions import ReplaySession, SessionScheduler
from twisted_gor.queuestats import QueueStats
from twisted_gor.redact import redactURL
from twisted_gor.selfports import SelfPorts
from twisted_gor.limiter import Limit
from twisted_gor.message import REQUEST, Message, ReplayResult

DEFAULT_DYNAMIC_MAX = 500
"""Upper bound of dynamically scaled workers when none is given."""

MAX_PENDING_CONNECTS = 8
"""Dynamic scaling adds no worker while this many connections are being
opened: a target that refuses or does not accept sees a handful of attempts,
not one per queued request, before its circuit opens."""


SESSION_WINDOW = 8
"""With sessions, the queue holds at least this many requests per session
that may run at once (C{--output-http-queue-len} if larger)."""


@dataclass(frozen=True)
class Target:
    """
    A parsed C{--output-http} URL.

    @ivar url: the value as given; it may hold a password, so it is left out
        of the repr and shown only through L{displayURL}.
    """

    url: str = field(repr=False)
    scheme: str
    host: str
    port: int
    netloc: bytes
    basePath: bytes = b""
    authorization: bytes | None = field(default=None, repr=False)

    @property
    def displayURL(self) -> str:
        """
        The URL as logged: its password hidden (L{twisted_gor.redact.redactURL}).
        """
        return redactURL(self.url)

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
class HttpOutputConfig(Capabilities):
    """
    Configuration of one C{--output-http}.

    Provides C{REPLAYED_RESPONSES} (when wanted, responses are tracked as if
    C{trackResponse} were set) and C{REPLAY_RESULTS} (observers are connected
    by the service).

    @ivar workers: > 0 fixed workers (unless C{workersMin} is set, then
        C{workersMin..workers}); <= 0 dynamic between C{workersMin} (at least
        1) and C{workersMax} (L{DEFAULT_DYNAMIC_MAX} when 0).
    @ivar trackResponse: emit replayed responses as type-3 messages.
    @ivar queueLen: requests waiting for a worker, at most.
    @ivar queueBytes: bytes of requests waiting for a worker, at most.
    @ivar responseBuffer: bytes kept of each response, at most.
    @ivar responseBudget: bytes of responses kept at once by all the workers
        together, at most (each request in flight reserves up to
        C{responseBuffer} of it).
    @ivar sessions: replay captured sessions faithfully
        (C{--recognize-tcp-sessions}, see L{twisted_gor.http.sessions}); at
        most the maximum of L{workerRange} sessions run at once.
    @ivar sessionTimeout: seconds a session may stay idle before it is cut.
    """

    target: Target
    limit: Limit | None = None
    workers: int = -1
    workersMin: int = 0
    workersMax: int = 0
    workerTimeout: float = 2.0
    queueLen: int = 100
    queueBytes: int = 64 * 1024 * 1024
    timeout: float = 5.0
    redirects: int = 0
    trackResponse: bool = False
    skipVerify: bool = False
    responseBuffer: int = 5 * 1024 * 1024
    responseBudget: int = 64 * 1024 * 1024
    originalHost: bool = False
    showStats: bool = False
    statsInterval: float = 5.0
    sessions: bool = False
    sessionTimeout: float = 60.0

    provides: ClassVar[frozenset[str]] = frozenset({REPLAYED_RESPONSES, REPLAY_RESULTS})

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
        config = self
        if REPLAYED_RESPONSES in context.enabled and not self.trackResponse:
            config = replace(self, trackResponse=True)
        showStats = self.showStats and context.config.stats
        if self.showStats and not showStats:
            HttpOutput.log.warn("--output-http-stats: nothing is printed without --stats (add --stats, as GoReplay needs)")
        return HttpOutput(config, context.reactor, showStats=showStats, selfPorts=context.selfPorts)


KEEP_FLOOR = 64 * 1024
"""
Bytes of a response kept even when the response budget is spent (not
counted in it): the budget bounds big bodies, not the heads and small
bodies of many workers.
"""


class _ClientFactory(Factory):
    noisy = False

    def __init__(self, worker: "_Worker") -> None:
        self.worker = worker

    def buildProtocol(self, addr: Any) -> HttpClientProtocol:
        protocol = HttpClientProtocol(self.worker, self.worker.output.keep)
        protocol.selfPorts = self.worker.output.selfPorts
        protocol.batch = self.worker.output.batch
        return protocol


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
        self.redirectsLeft = 0
        self.stopped = False
        self.closing: HttpClientProtocol | None = None
        self.reserved = 0
        self.session: ReplaySession | None = None

    @property
    def busy(self) -> bool:
        return self.message is not None

    @property
    def startNs(self) -> int:
        """
        When the current request was taken, in ns since the epoch.
        """
        return int(self.startedAt * 1e9)

    def take(self, message: Message, payload: bytes) -> None:
        self.message = message
        self.payload = payload
        self.isHead = payload.startswith(b"HEAD ")
        output = self.output
        self.startedAt = output.seconds()
        self.redirectsLeft = output.redirects
        client = self.client
        if client is not None and client.connected and output.keep <= 0:
            client.sendRequest(payload, self.isHead)  # _sendOn, inlined: the usual case
            return
        self._send()

    def _sendOn(self, client: HttpClientProtocol) -> None:
        """
        Send the current request on C{client}, with its share of the
        output's response budget as the response's C{keep}.
        """
        output = self.output
        if output.keep > 0:
            output.release(self)
            client.sendRequest(self.payload, self.isHead, output.reserve(self))
        else:
            client.sendRequest(self.payload, self.isHead)

    def _send(self) -> None:
        client = self.client
        if client is not None and client.connected:
            self._sendOn(client)
            return
        self.client = None
        if self.closing is not None:
            # the connection given up on is not closed yet: a worker never
            # holds two sockets; clientDisconnected sends this request
            return
        d = self.output.connect(self)
        self.connecting = d
        d.addCallbacks(self._connected, self._connectFailed, callbackArgs=(d,), errbackArgs=(d,))

    def _connected(self, client: HttpClientProtocol, attempt: Deferred[Any]) -> None:
        if attempt is not self.connecting:
            client.abort()  # a connection given up on (timeout, stop)
            return
        self.connecting = None
        self.client = client
        if self.session is not None:
            self.session.established += 1
        if self.message is not None and client.connected:
            self._sendOn(client)
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
        if self.closing is client:
            self.closing = None
            if self.message is not None and self.client is None and self.connecting is None and not self.stopped:
                self._send()

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
            self.closing = client
            self.client = None
            client.cancel()
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
        self.output.release(self)

    def _finish(self, status: int, parser: ResponseParser | None, error: str | None) -> None:
        message = self.message
        assert message is not None
        self.message = None
        # The reservation is held while the kept bytes are turned into the
        # result (a new request taken meanwhile reserves afresh).
        held, self.reserved = self.reserved, 0
        try:
            self.output.completed(self, message, status, parser, error)
        finally:
            self.output.budgetFree += held

    def finishSession(self) -> None:
        """
        The session of this worker ended: close its connection as the
        client did (a FIN; a reset when a request is still outstanding).
        """
        self.stopped = True
        if self.connecting is not None:
            d, self.connecting = self.connecting, None
            d.cancel()
        client, self.client = self.client, None
        if client is not None:
            if self.message is None:
                client.close()
            else:
                client.abort()
        self.output.release(self)

    def stop(self) -> None:
        self.stopped = True
        if self.connecting is not None:
            d, self.connecting = self.connecting, None
            d.cancel()
        if self.client is not None:
            self.client.abort()
            self.client = None
        self.output.release(self)


_DOWN_WORDS = {
    "refused": "refusing connections",
    "connect_timeout": "not accepting connections",
    "timeout": "not answering",
    "connect": "unreachable",
    "dns": "not resolving",
    "reset": "resetting connections",
}


@implementer(IResponseSource, IReplaySource)
class HttpOutput(OutputBase):
    """
    One C{--output-http} target: a bounded queue and its workers.
    """

    acceptedTypes = frozenset({REQUEST})
    log = Logger()

    def __init__(
        self, config: HttpOutputConfig, reactor: Any = None, showStats: bool = False, selfPorts: SelfPorts | None = None
    ) -> None:
        OutputBase.__init__(self, f"output_http({config.target.displayURL})")
        self.config = config
        self.reactor = resolveReactor(reactor)
        self.queue: deque[Message] = deque()
        self.workers: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.minWorkers, self.maxWorkers = config.workerRange()
        queueLen = config.queueLen
        if config.sessions:
            # every session that may run at once gets its next requests at
            # hand (bytes still bound them): a 100-request window shared by
            # 50 sessions replayed 1,000 x 10 requests 3.8x slower
            queueLen = max(queueLen, SESSION_WINDOW * self.maxWorkers)
        self.flow.highMessages = max(1, (queueLen * 3) // 4)
        self.flow.lowMessages = queueLen // 4
        self.flow.maxMessages = queueLen
        self.flow.highBytes = max(1, (config.queueBytes * 3) // 4)
        self.flow.lowBytes = config.queueBytes // 4
        self.flow.maxBytes = config.queueBytes
        self.responseReceiver: IMessageReceiver | None = None
        self.observers: list[IReplayObserver] = []
        self.selfPorts = SelfPorts() if selfPorts is None else selfPorts
        self.queueStats = QueueStats("output_http", self.reactor, self.config.statsInterval)
        self.showStats = showStats
        self.keep = config.responseBuffer if (config.trackResponse or config.redirects) else 0
        self.budgetFree = config.responseBudget
        self._sweeper: LoopingCall | None = None
        self._drained: list[Deferred[None]] = []
        self._lastScaleDown = 0.0
        self._tlsWarned = False
        self._endpointFactory = self._makeEndpoint()
        self.circuit = Circuit(self.reactor)
        self.pendingConnects = 0
        self.sessions: SessionScheduler | None = None
        if config.sessions:
            self.sessions = SessionScheduler(
                self.reactor,
                self.stats,
                self.flow,
                self._sessionWorker,
                self._prepare,
                maxActive=self.maxWorkers,
                maxWaitingBytes=config.queueBytes,
                idleTimeout=config.sessionTimeout,
                requestTimeout=config.timeout,
                allow=self.circuit.allow,
            )

        stats = self.stats
        stats.gauge("queue")
        stats.gauge("workers")
        stats.gauge("inflight", lambda: sum(1 for w in self.workers if w.message is not None))
        stats.gauge("connections.open", lambda: sum(1 for w in self.workers if w.client is not None))
        self.latency = stats.histogram("latency")
        self.failureLog = FailureLog(str(self.name), self.reactor)
        # per-request counters bumped as attributes (shown through track)
        self._sent = 0
        self._succeeded = 0
        stats.track("sent", lambda: self._sent)
        stats.track("succeeded", lambda: self._succeeded)
        self.seconds = self.reactor.seconds
        # requests of one reactor turn are sent together at its end
        self.batch = WriteBatch(self.reactor)
        self.redirects = config.redirects
        target = config.target
        # origin-form requests get only their Host set: one compiled step
        self._hostOnly = (
            target.netloc if not (target.basePath or config.originalHost or target.authorization is not None) else None
        )

    def _sessionWorker(self, session: ReplaySession) -> _Worker:
        worker = _Worker(self)
        worker.session = session
        return worker

    # --- configuration -------------------------------------------------
    def setResponseReceiver(self, receiver: IMessageReceiver) -> None:
        """
        See L{IResponseSource.setResponseReceiver}.
        """
        self.responseReceiver = receiver

    def addReplayObserver(self, observer: IReplayObserver) -> None:
        """
        See L{IReplaySource.addReplayObserver}: tell C{observer} of every
        replayed request (responses are kept for observers, up to
        C{responseBuffer} bytes).
        """
        self.observers.append(observer)
        if not self.keep:
            self.keep = self.config.responseBuffer

    def reserve(self, worker: _Worker) -> int:
        """
        Reserve the C{keep} of C{worker}'s next response from the budget
        shared by all the workers: C{responseBuffer} bytes, or what is left
        (counted as C{responses.budget_limited}; the response is cut there,
        as by C{responseBuffer}).

        @return: the keep for L{HttpClientProtocol.sendRequest}: > 0 bytes,
            or -1 (keep none) when the budget is spent; never 0 (keep all).
        """
        want = self.keep
        granted = min(want, self.budgetFree)
        if granted < want:
            self.stats.increment("responses.budget_limited")
        if granted <= 0:
            # Spent: still keep a small floor (outside the budget), so that
            # many small responses in flight at once are not lost whole.
            return min(want, KEEP_FLOOR) if KEEP_FLOOR > 0 else -1
        self.budgetFree -= granted
        worker.reserved = granted
        return max(granted, min(want, KEEP_FLOOR))

    def release(self, worker: _Worker) -> None:
        """
        Give C{worker}'s reservation back to the budget (idempotent).
        """
        held, worker.reserved = worker.reserved, 0
        self.budgetFree += held

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
        if worker.session is not None and worker.session.established:
            self.stats.increment("sessions.reconnected")
        self.pendingConnects += 1
        d: Deferred[Any] = self._endpointFactory().connect(_ClientFactory(worker))

        def done(result: Any) -> Any:
            self.pendingConnects -= 1
            return result

        return d.addBoth(done)

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
        if not message.payload or self.sessions is not None:
            field = message.session
            if field is not None:
                if self.sessions is None or self.sessions.write(message, field):
                    # (a close record without --recognize-tcp-sessions: not a request)
                    return
        queue = self.queue
        self.queueStats.sample(len(queue))
        if not queue and self.idle and self.circuit.state == CLOSED:
            # A worker is free and nothing waits: hand it over at once.
            payload = self._prepare(message.payload)
            if payload is not None:
                self.idle.pop().take(message, payload)
            return
        size = len(message.payload)
        if not self.flow.fits(size):
            self.stats.increment("dropped.queue_full")
            return
        queue.append(message)
        self.flow.add(size)
        if self.idle or len(self.workers) < self.maxWorkers:
            # (else every worker is busy: _dispatch would take nothing)
            self._dispatch()

    def _prepare(self, payload: bytes) -> bytes | None:
        netloc = self._hostOnly
        if netloc is not None:
            prepared = setOriginHostFast(payload, netloc)
            if prepared is not None:
                return prepared
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
        flow = self.flow
        circuit = self.circuit
        while queue:
            if circuit.state == PROBING:
                # One probe is out: what comes meanwhile waits for its answer
                # (bounded by the queue), so a target that is back loses nothing.
                break
            if not idle:
                if len(self.workers) < self.maxWorkers and self.pendingConnects < MAX_PENDING_CONNECTS:
                    self._addWorker()
                else:
                    break
            message = queue.popleft()
            payload = self._prepare(message.payload)
            if payload is None:
                pass
            elif circuit.state != CLOSED and not circuit.allow():
                # The target is down and not due for a probe: count the
                # request at once instead of spending a socket on it.
                self.stats.increment("sent")
                self.stats.increment("failed.target_down")
                self.failureLog.failed("target_down")
            else:
                idle.pop().take(message, payload)
            # Last: under the low watermark this resumes the inputs, which
            # may write (and take an idle worker) before it returns.
            flow.remove(len(message.payload))
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
        self._sent += 1
        if error is not None:
            stats.increment("failed." + error)
            self.failureLog.failed(error)
            if self.circuit.failed(error):
                stats.increment("circuit.opened")
                self.log.warn(
                    "{name}: target {reason} ({n} requests in a row); backing off: requests are counted as"
                    " failed.target_down, one probe at a time up to every {max}s",
                    name=self.name,
                    reason=_DOWN_WORDS.get(error, error),
                    n=self.circuit.threshold,
                    max=self.circuit.maxDelay,
                )
        else:
            self._succeeded += 1
            self.latency.observe(self.seconds() - worker.startedAt)
            circuit = self.circuit
            if (circuit.failures or circuit.state != CLOSED) and circuit.succeeded():
                self.log.info("{name}: target answering again; replaying", name=self.name)
        tracking = self.config.trackResponse and self.responseReceiver is not None
        if tracking or self.observers:
            # One result per replay: observers get it, and the type-3
            # message (when tracking) is derived from it.
            rtt = int((self.seconds() - worker.startedAt) * 1e9)
            raw = parser.rawBytes() if parser is not None else None
            result = ReplayResult(message, worker.payload, status, raw, worker.startNs, rtt, error)
            if self.observers:
                self._notify(result)
            if tracking:
                replayed = result.asMessage()
                if replayed is not None:
                    assert self.responseReceiver is not None
                    self.responseReceiver.messageReceived(replayed)
                    stats.increment("responses")
        if worker.session is not None:
            assert self.sessions is not None
            self.sessions.answered(worker.session)
            return
        if worker.stopped:
            return
        self.idle.append(worker)
        if self.queue or self._drained:
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
                observer.replayed(result)
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
        if self.sessions is not None:
            self.sessions.sweep(now)
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
        if self.sessions is not None and self.sessions.busy:
            # sessions finish first (they may take longer than one timeout:
            # each of their requests waits for the previous answer)
            self.sessions.drain().addCallback(lambda _: self._stopWorkers(d))
        else:
            self._stopWorkers(d)

        def closeAll(result: object) -> None:
            if self._sweeper is not None and self._sweeper.running:
                self._sweeper.stop()
            for worker in self.workers:
                worker.stop()
            self.stats.set("queue", len(self.queue))
            self.failureLog.stop()

        d.addCallback(closeAll)
        return d

    def _stopWorkers(self, d: Deferred[None]) -> None:
        if not self.queue and not any(w.busy for w in self.workers):
            d.callback(None)
        else:
            self._drained.append(d)
            call = self.reactor.callLater(self.config.timeout + 0.5, self._giveUp, d)
            d.addBoth(lambda r: (call.active() and call.cancel(), r)[1])

    def _giveUp(self, d: Deferred[None]) -> None:
        left = len(self.queue) + sum(1 for w in self.workers if w.busy)
        self.queue.clear()
        self.flow.release()
        for worker in self.workers:
            if worker.busy:
                worker.abandon()
        if left:
            self.stats.increment("dropped.shutdown", left)
        if d in self._drained:
            self._drained.remove(d)
        if not d.called:
            d.callback(None)

