# -*- test-case-name: tests.test_export_elasticsearch -*-
"""
C{--output-http-elasticsearch}: one Elasticsearch document per replayed request.

The output takes requests (type 1) and replayed responses (type 3), pairs them
by id in a bounded map whose entries expire, and sends a document with
GoReplay's fields (request method, URL, headers of interest; response status,
headers of interest, size; the round trip in real milliseconds) through the
Elasticsearch 7/8 C{_bulk} API, in batches. Nothing here blocks or grows
without bound: the document queue has a length limit, at most one bulk request
is in flight, and every drop or failure is counted. Replay continues whatever
Elasticsearch does.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._httphead import getHeaders, headersEnd
from twisted_gor._interfaces import IReplayObserver
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import REPLAY_RESULTS, BuildContext, Capabilities
from twisted_gor.limiter import Limit
from twisted_gor.message import REPLAYED_RESPONSE, REQUEST, Message, ReplayResult

_REQUEST_HEADERS = {
    b"accept-language": "Req_Accept-Language",
    b"accept": "Req_Accept",
    b"accept-encoding": "Req_Accept-Encoding",
    b"if-modified-since": "Req_If-Modified-Since",
    b"connection": "Req_Connection",
    b"cookie": "Req_Cookies",
    b"host": "Req_Host",
}
_RESPONSE_HEADERS = {
    b"content-length": "Resp_Content-Length",
    b"content-type": "Resp_Content-Type",
    b"transfer-encoding": "Resp_Transfer-Encoding",
    b"content-encoding": "Resp_Content-Encoding",
    b"expires": "Resp_Expires",
    b"cache-control": "Resp_Cache-Control",
    b"vary": "Resp_Vary",
    b"set-cookie": "Resp_Set-Cookie",
}


@dataclass(frozen=True)
class ElasticsearchTarget:
    """
    Where documents go.

    @ivar baseURL: scheme, host, port and path prefix, without the index.
    @ivar index: the index name (last path segment of the flag value).
    @ivar authorization: a C{Basic ...} header value when credentials were given.
    """

    baseURL: str
    index: str
    authorization: str | None = field(default=None, repr=False)

    @property
    def bulkURL(self) -> str:
        """
        The C{_bulk} endpoint.
        """
        return self.baseURL.rstrip("/") + "/_bulk"


def parseElasticsearchURL(value: str) -> ElasticsearchTarget:
    """
    Parse C{host:port/index} (the seed's form, plain HTTP) or
    C{http(s)://[user:pass@]host[:port]/[path/]index}.

    @raise ValueError: no host or no index.
    """
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported scheme {parts.scheme!r} (use http or https)")
    if not parts.hostname:
        raise ValueError(f"no host in {value!r} (expected host:port/index_name)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in {value!r}") from None
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise ValueError(f"no index name in {value!r} (expected host:port/index_name)")
    index = segments[-1]
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None else f"{host}:{port}"
    prefix = "/".join(segments[:-1])
    base = f"{parts.scheme}://{netloc}/{prefix}"
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
    return ElasticsearchTarget(base, index, authorization)


def _head(payload: bytes) -> tuple[list[bytes], list[tuple[bytes, bytes]], int]:
    """
    The start line's words, the header fields (with the core head parser of
    L{twisted_gor._httphead}) and the index where the body starts (-1 when
    the head is incomplete).
    """
    end = headersEnd(payload)
    nl = payload.find(b"\n")
    first = payload[: nl if nl >= 0 else len(payload)].rstrip(b"\r")
    return first.split(b" "), getHeaders(payload if end < 0 else payload[:end]), end


def _text(value: bytes) -> str:
    return value.decode("latin-1").strip()


def requestFields(payload: bytes) -> dict[str, str]:
    """
    The request fields of a document (GoReplay's C{Req_*}), from raw HTTP bytes.
    """
    first, headers, _ = _head(payload)
    fields: dict[str, str] = {
        "Req_Method": _text(first[0]) if first else "",
        "Req_URL": _text(first[1]) if len(first) > 1 else "",
        "Req_User-Agent": "",
    }
    for name, raw in headers:
        key = name.strip().lower()
        if key == b"user-agent":
            fields["Req_User-Agent"] = _text(raw)
            continue
        label = _REQUEST_HEADERS.get(key)
        if label is not None:
            text = _text(raw)
            if text:
                fields[label] = text if label not in fields else fields[label] + "; " + text
    return fields


def responseFields(payload: bytes) -> dict[str, Any]:
    """
    The response fields of a document (GoReplay's C{Resp_*}, plus C{Resp_Size}).
    """
    first, headers, end = _head(payload)
    status = _text(first[1]) if len(first) > 1 else ""
    fields: dict[str, Any] = {
        "Resp_Proto": _text(first[0]) if first else "",
        "Resp_Status": status,
        "Resp_Status-Code": status,
    }
    fields["Resp_Size"] = len(payload) - end if end >= 0 else 0
    for name, raw in headers:
        label = _RESPONSE_HEADERS.get(name.strip().lower())
        if label is not None:
            text = _text(raw)
            if text:
                fields[label] = text if label not in fields else fields[label] + ", " + text
    return fields


def rfc3339(ns: int) -> str:
    """
    A Unix time in nanoseconds as RFC 3339 UTC with nine fractional digits.
    """
    seconds, fraction = divmod(ns, 1_000_000_000)
    when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def buildDocument(
    request: dict[str, str],
    response: bytes | None,
    latency: int,
    start: int,
    id_: bytes,
    now: float,
    error: str | None = None,
) -> dict[str, Any]:
    """
    One document: the request's fields, the replayed response's fields, the
    round trip in real milliseconds (GoReplay's is wrong above one second),
    and C{Error} when the replay failed without a response.
    """
    doc: dict[str, Any] = dict(request)
    if response is not None:
        doc.update(responseFields(response))
    if error is not None:
        doc["Error"] = error
    doc["RTT"] = round(latency / 1e6, 3) if latency >= 0 else -1.0
    doc["ID"] = id_.decode("ascii", "replace")
    doc["Replay_Timestamp"] = rfc3339(start)
    doc["Timestamp"] = rfc3339(int(now * 1e9))
    return doc


class _PendingRequests:
    """
    Request fields by id, bounded in size, entries expiring after C{ttl}.
    """

    def __init__(self, maxSize: int, ttl: float) -> None:
        self.maxSize = maxSize
        self.ttl = ttl
        self._items: OrderedDict[bytes, tuple[float, dict[str, str]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, id_: bytes, now: float, fields: dict[str, str]) -> int:
        """
        Remember a request; return how many old entries were evicted for room.
        """
        items = self._items
        items.pop(id_, None)
        items[id_] = (now, fields)
        evicted = 0
        while len(items) > self.maxSize:
            items.popitem(last=False)
            evicted += 1
        return evicted

    def pop(self, id_: bytes) -> dict[str, str] | None:
        """
        Take a request's fields, if still remembered.
        """
        entry = self._items.pop(id_, None)
        return entry[1] if entry is not None else None

    def expire(self, now: float) -> int:
        """
        Forget requests older than the TTL; return how many.
        """
        items = self._items
        expired = 0
        limit = now - self.ttl
        while items:
            id_, (seen, _) = next(iter(items.items()))
            if seen >= limit:
                break
            items.popitem(last=False)
            expired += 1
        return expired


@implementer(IReplayObserver)
class ElasticsearchOutput(OutputBase):
    """
    Export replayed request/response pairs to Elasticsearch.

    Built from the command line it is C{observed}: fed by the replays'
    L{IReplayObserver} channel, taking nothing from the pipeline (so
    C{--split-output} never hands requests to it). Unobserved (embedders), it
    pairs requests with type-3 messages from the pipeline instead.
    """

    acceptedTypes: frozenset[int] = frozenset({REQUEST, REPLAYED_RESPONSE})
    observesAll = True
    log = Logger()

    def __init__(
        self,
        target: ElasticsearchTarget,
        reactor: Any = None,
        batchSize: int = 500,
        flushInterval: float = 1.0,
        queueLen: int = 10_000,
        pendingMax: int = 100_000,
        pendingTTL: float = 60.0,
        requestTimeout: float = 10.0,
        stopTimeout: float = 5.0,
        httpClient: Any = None,
        observed: bool = False,
    ) -> None:
        OutputBase.__init__(self, f"output_elasticsearch({target.baseURL.rstrip('/')}/{target.index})")
        self.target = target
        if observed:
            # fed by HTTP outputs' observers: take nothing from the pipeline
            # (so --split-output never hands requests to this exporter)
            self.acceptedTypes = frozenset()
        self.reactor = resolveReactor(reactor)
        self.stats.gauge("pending")
        self.stats.gauge("queued")
        self.batchSize = batchSize
        self.flushInterval = flushInterval
        self.queueLen = queueLen
        self.requestTimeout = requestTimeout
        self.stopTimeout = stopTimeout
        self.pending = _PendingRequests(pendingMax, pendingTTL)
        self.documents: deque[bytes] = deque()
        self.inFlight: Deferred[None] | None = None
        self._timer: IDelayedCall | None = None
        self._lastExpiry = 0.0
        self._client = httpClient
        self._pool: Any = None
        self._failuresLogged = 0
        self._action = json.dumps({"index": {"_index": target.index}}).encode("utf-8") + b"\n"

    def startService(self) -> None:
        """
        Create the HTTP client (a private connection pool).
        """
        OutputBase.startService(self)
        if self._client is None:
            from treq.client import HTTPClient
            from twisted.web.client import Agent, HTTPConnectionPool

            self._pool = HTTPConnectionPool(self.reactor, persistent=True)
            self._pool.maxPersistentPerHost = 2
            self._pool.retryAutomatically = False
            self._client = HTTPClient(Agent(self.reactor, pool=self._pool))

    def write(self, message: Message) -> None:
        """
        Remember requests; turn a replayed response into a queued document.
        """
        now = self.reactor.seconds()
        stats = self.stats
        if now - self._lastExpiry >= 1.0:
            self._lastExpiry = now
            expired = self.pending.expire(now)
            if expired:
                stats.increment("dropped.unanswered_expired", expired)
        if message.type == REQUEST:
            evicted = self.pending.add(message.id, now, requestFields(message.payload))
            if evicted:
                stats.increment("dropped.unanswered_evicted", evicted)
            stats.set("pending", len(self.pending))
            return
        if message.type != REPLAYED_RESPONSE:
            stats.increment("dropped.type")
            return
        request = self.pending.pop(message.id)
        stats.set("pending", len(self.pending))
        if request is None:
            stats.increment("dropped.unpaired_response")
            return
        self._enqueue(buildDocument(request, message.payload, message.latency, message.timestamp, message.id, now))

    def replayed(self, result: ReplayResult) -> None:
        """
        See L{IReplayObserver.replayed}: document the bytes actually sent and
        the response received (or the failure).
        """
        fields = requestFields(result.sent or result.request.payload)
        doc = buildDocument(
            fields, result.response, result.rtt, result.start, result.request.id, self.reactor.seconds(), result.error
        )
        if result.error is not None:
            self.stats.increment("documents.failed_replay")
        self._enqueue(doc)

    def _enqueue(self, doc: dict[str, Any]) -> None:
        stats = self.stats
        if not self.running:
            stats.increment("dropped.stopped")
            return
        if len(self.documents) >= self.queueLen:
            stats.increment("dropped.queue_full")
            return
        self.documents.append(self._action + json.dumps(doc, separators=(",", ":")).encode("utf-8") + b"\n")
        stats.increment("documents")
        stats.set("queued", len(self.documents))
        if len(self.documents) >= self.batchSize:
            self._flush()
        elif self._timer is None:
            self._timer = self.reactor.callLater(self.flushInterval, self._flushTimer)

    def _flushTimer(self) -> None:
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        if self.inFlight is not None or not self.documents:
            return
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        count = min(self.batchSize, len(self.documents))
        batch = [self.documents.popleft() for _ in range(count)]
        self.stats.set("queued", len(self.documents))
        self.inFlight = self._send(batch)

    def _send(self, batch: list[bytes]) -> Deferred[None]:
        headers = {b"Content-Type": [b"application/x-ndjson"]}
        if self.target.authorization:
            headers[b"Authorization"] = [self.target.authorization.encode("ascii")]
        count = len(batch)
        d = self._client.post(
            self.target.bulkURL,
            data=b"".join(batch),
            headers=headers,
            timeout=self.requestTimeout,
        )

        def gotResponse(response: Any) -> Any:
            code = response.code
            body = response.content()
            body.addCallback(lambda content: self._bulkResult(code, content, count))
            return body

        def failed(failure: Failure) -> None:
            self.stats.increment("failed.connection", count)
            self._logFailure("Elasticsearch unreachable: {error}", error=failure.getErrorMessage())

        def proceed(_: Any) -> None:
            self.inFlight = None
            if len(self.documents) >= self.batchSize or (self.documents and not self.running):
                self._flush()
            elif self.documents and self._timer is None and self.running:
                self._timer = self.reactor.callLater(self.flushInterval, self._flushTimer)

        d.addCallback(gotResponse)
        d.addErrback(failed)
        d.addCallback(proceed)
        d.addErrback(lambda f: self.log.failure("Elasticsearch export failed", f))
        return d

    def _bulkResult(self, code: int, content: bytes, count: int) -> None:
        if code >= 300:
            self.stats.increment(f"failed.http_{code}", count)
            self._logFailure("Elasticsearch refused a batch: HTTP {code} {body}", code=code, body=content[:200])
            return
        try:
            result = json.loads(content)
        except ValueError:
            self.stats.increment("failed.bad_reply", count)
            self._logFailure("Elasticsearch sent an unreadable bulk reply: {body}", body=content[:200])
            return
        rejected = 0
        reason = ""
        if result.get("errors"):
            for item in result.get("items", ()):
                action: Any = next(iter(item.values()), {}) if isinstance(item, dict) else {}
                if isinstance(action, dict) and action.get("error") is not None:
                    rejected += 1
                    reason = reason or json.dumps(action.get("error"))[:200]
        if rejected:
            self.stats.increment("failed.rejected", rejected)
            self._logFailure("Elasticsearch rejected {n} documents: {reason}", n=rejected, reason=reason)
        self.stats.increment("sent", count - rejected)

    def _logFailure(self, format: str, **kw: Any) -> None:
        self._failuresLogged += 1
        if self._failuresLogged <= 5 or self._failuresLogged % 100 == 0:
            self.log.warn("output_elasticsearch: " + format, **kw)

    def stopService(self) -> Deferred[None]:
        """
        Send what is queued (bounded by the stop timeout), count the rest.
        """
        OutputBase.stopService(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        self.stats.increment("dropped.unanswered_at_exit", len(self.pending))
        done: Deferred[None] = Deferred()
        deadline = self.reactor.seconds() + self.stopTimeout

        def step(_: Any = None) -> None:
            if done.called:
                return
            if self.inFlight is not None:
                self.inFlight.addBoth(lambda _: self.reactor.callLater(0, step))
                return
            if self.documents and self.reactor.seconds() < deadline:
                self._flush()
                step()
                return
            finish()

        def finish() -> None:
            if done.called:
                return
            if self.documents:
                self.stats.increment("dropped.stop_timeout", len(self.documents))
                self.documents.clear()
            if self.inFlight is not None:
                self.inFlight.cancel()
            closing = self._pool.closeCachedConnections() if self._pool is not None else succeed(None)
            closing.addBoth(lambda _: done.callback(None))

        timer = self.reactor.callLater(self.stopTimeout, finish)
        done.addBoth(lambda r: (timer.cancel() if timer.active() else None, r)[1])
        step()
        return done


@dataclass
class ElasticsearchOutputConfig(Capabilities):
    """
    Configuration of C{--output-http-elasticsearch}: requires
    C{REPLAY_RESULTS} (an C{--output-http} to observe).
    """

    target: ElasticsearchTarget
    limit: Limit | None = None
    batchSize: int = 500
    flushInterval: float = 1.0
    queueLen: int = 10_000

    requires: ClassVar[frozenset[str]] = frozenset({REPLAY_RESULTS})
    label: ClassVar[str] = "--output-http-elasticsearch"

    def build(self, context: BuildContext) -> ElasticsearchOutput:
        """
        Build the output (the service connects it to the replays).
        """
        output = ElasticsearchOutput(
            self.target,
            context.reactor,
            batchSize=self.batchSize,
            flushInterval=self.flushInterval,
            queueLen=self.queueLen,
            observed=True,
        )
        return output
