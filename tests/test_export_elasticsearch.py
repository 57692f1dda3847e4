"""
Tests of C{--output-http-elasticsearch}: URL parsing, documents, pairing, and
export to a real Elasticsearch-compatible server (noida-db) started by the test.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from twisted.internet import defer, reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web import resource, server

from twisted_gor.message import Message
from twisted_gor.export.elasticsearch import (
    ElasticsearchOutput,
    parseElasticsearchURL,
    requestFields,
    responseFields,
)
from tests.support import GorProcess, freePort, waitUntil

reactor: Any = _reactor

REQUEST = (
    b"GET /path?q=1 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8\r\nAccept: */*\r\n"
    b"Cookie: a=1\r\nAccept-Language: en\r\n\r\n"
)
RESPONSE = b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nVary: Accept\r\n\r\nnope!"


def pair(i: int, latency: int = 1_500_000_000) -> tuple[Message, Message]:
    """
    A request and its replayed response.
    """
    id_ = b"%024x" % i
    return (
        Message(1, id_, 1_700_000_000_000_000_000, -1, REQUEST.replace(b"/path", b"/p%d" % i)),
        Message(3, id_, 1_700_000_000_100_000_000, latency, RESPONSE),
    )


class URLTests(SynchronousTestCase):
    """
    GoReplay's URL cases (reference 4.13), plus the seed's scheme-less form.
    """

    def test_forms(self) -> None:
        """
        Index = last path segment; scheme-less means http; credentials become Basic auth.
        """
        t = parseElasticsearchURL("localhost:9200/gor")
        self.assertEqual((t.baseURL, t.index, t.bulkURL), ("http://localhost:9200/", "gor", "http://localhost:9200/_bulk"))
        self.assertEqual(parseElasticsearchURL("http://localhost/gor").index, "gor")
        self.assertEqual(parseElasticsearchURL("https://localhost.local:9200/gor").baseURL, "https://localhost.local:9200/")
        t = parseElasticsearchURL("http://localhost.local:9200/pathtoElastic/gor")
        self.assertEqual((t.index, t.bulkURL), ("gor", "http://localhost.local:9200/pathtoElastic/_bulk"))
        t = parseElasticsearchURL("http://user:password@localhost.local:9200/gor")
        self.assertEqual(t.authorization, "Basic dXNlcjpwYXNzd29yZA==")
        self.assertNotIn("password", t.baseURL)

    def test_errors(self) -> None:
        """
        No index, no host or another scheme is rejected.
        """
        for bad in ("http://localhost:9200", "http://localhost:9200/", "ftp://h/i", "http:///gor"):
            self.assertRaises(ValueError, parseElasticsearchURL, bad)


class DocumentTests(SynchronousTestCase):
    """
    The fields of one document.
    """

    def test_fields(self) -> None:
        """
        Request and response headers of interest; empty ones omitted;
        User-Agent always present.
        """
        req = requestFields(REQUEST)
        self.assertEqual(req["Req_Method"], "GET")
        self.assertEqual(req["Req_URL"], "/path?q=1")
        self.assertEqual(req["Req_Host"], "shop.example")
        self.assertEqual(req["Req_Cookies"], "a=1")
        self.assertNotIn("Req_Connection", req)
        self.assertEqual(requestFields(b"POST / HTTP/1.1\r\n\r\n")["Req_User-Agent"], "")
        resp = responseFields(RESPONSE)
        self.assertEqual(
            (resp["Resp_Status"], resp["Resp_Status-Code"], resp["Resp_Proto"], resp["Resp_Size"]),
            ("404", "404", "HTTP/1.1", 5),
        )
        self.assertEqual(resp["Resp_Content-Type"], "text/plain")
        self.assertNotIn("Resp_Expires", resp)


class FakeResponse:
    def __init__(self, code: int, body: bytes) -> None:
        self.code = code
        self._body = body

    def content(self) -> Deferred[bytes]:
        return defer.succeed(self._body)


class FakeClient:
    """
    Records bulk posts; answers them when told.
    """

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, Deferred[Any]]] = []

    def post(self, url: str, data: bytes, headers: Any, timeout: float) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.posts.append((url, data, d))
        return d


class OutputLogicTests(SynchronousTestCase):
    """
    Pairing, batching and counting, with a fake HTTP client and a fake clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.client = FakeClient()
        self.output = ElasticsearchOutput(
            parseElasticsearchURL("es:9200/gor"),
            self.clock,
            batchSize=3,
            flushInterval=1.0,
            queueLen=5,
            pendingMax=4,
            pendingTTL=10.0,
            httpClient=self.client,
        )
        self.output.startService()

    def test_pairsAndBatches(self) -> None:
        """
        One document per replayed request, sent as one _bulk batch with the
        index action and no _type; RTT is in real milliseconds.
        """
        for i in range(3):
            req, resp = pair(i)
            self.output.write(req)
            self.output.write(resp)
        [(url, data, d)] = self.client.posts
        self.assertEqual(url, "http://es:9200/_bulk")
        lines = data.splitlines()
        self.assertEqual(len(lines), 6)
        self.assertEqual(json.loads(lines[0]), {"index": {"_index": "gor"}})
        doc = json.loads(lines[1])
        self.assertEqual(doc["RTT"], 1500.0)
        self.assertEqual(doc["Resp_Status"], "404")
        self.assertEqual(doc["Req_URL"], "/p0?q=1")
        d.callback(FakeResponse(200, json.dumps({"errors": False, "items": [{}] * 3}).encode()))
        self.assertEqual(self.output.stats["sent"], 3)

    def test_observedReplays(self) -> None:
        """
        Results from an HTTP output's observer become documents directly (the
        bytes actually sent, the response or the error).
        """
        from twisted_gor import ReplayResult

        req, resp = pair(1)
        ok = ReplayResult(request=req, sent=req.payload.replace(b"/p1", b"/rewritten"), status=404,
                          response=RESPONSE, start=resp.timestamp, rtt=2_500_000, error=None)
        failed = ReplayResult(request=req, sent=req.payload, status=0, response=None, start=resp.timestamp,
                              rtt=5_000_000_000, error="timeout")
        self.output.replayed(ok)
        self.output.replayed(failed)
        self.clock.advance(1.0)
        lines = self.client.posts[0][1].splitlines()
        first, second = json.loads(lines[1]), json.loads(lines[3])
        self.assertEqual((first["Req_URL"], first["Resp_Status"], first["RTT"]), ("/rewritten?q=1", "404", 2.5))
        self.assertEqual((second["Error"], second["RTT"]), ("timeout", 5000.0))
        self.assertNotIn("Resp_Status", second)
        self.assertEqual(self.output.stats["documents.failed_replay"], 1)

    def test_timerFlushAndRejections(self) -> None:
        """
        A partial batch goes after the flush interval; rejected items and HTTP
        errors are counted.
        """
        req, resp = pair(1)
        self.output.write(req)
        self.output.write(resp)
        self.assertEqual(self.client.posts, [])
        self.clock.advance(1.0)
        [(_, _, d)] = self.client.posts
        reply = {"errors": True, "items": [{"index": {"status": 400, "error": {"type": "document_parsing_exception"}}}]}
        d.callback(FakeResponse(200, json.dumps(reply).encode()))
        self.assertEqual(self.output.stats["failed.rejected"], 1)
        req, resp = pair(2)
        self.output.write(req)
        self.output.write(resp)
        self.clock.advance(1.0)
        self.client.posts[-1][2].callback(FakeResponse(429, b"too many"))
        self.assertEqual(self.output.stats["failed.http_429"], 1)

    def test_unreachableCounted(self) -> None:
        """
        A connection failure counts the batch's documents; later batches still go.
        """
        for i in range(3):
            for m in pair(i):
                self.output.write(m)
        self.client.posts[0][2].errback(ConnectionRefusedError("refused"))
        self.assertEqual(self.output.stats["failed.connection"], 3)
        for i in range(3, 6):
            for m in pair(i):
                self.output.write(m)
        self.assertEqual(len(self.client.posts), 2)

    def test_boundedPendingAndQueue(self) -> None:
        """
        Unanswered requests are evicted beyond the bound and expire after the TTL;
        unpaired responses and queue overflow are counted.
        """
        for i in range(6):
            self.output.write(pair(i)[0])
        self.assertEqual(self.output.stats["dropped.unanswered_evicted"], 2)
        self.output.write(pair(0)[1])
        self.assertEqual(self.output.stats["dropped.unpaired_response"], 1)
        self.clock.advance(11)
        self.output.write(pair(99)[0])
        self.assertEqual(self.output.stats["dropped.unanswered_expired"], 4)
        # 3 go in flight (never answered), 5 queue, the rest overflow
        for i in range(100, 110):
            for m in pair(i):
                self.output.write(m)
        self.assertEqual(self.output.stats["dropped.queue_full"], 2)

    def test_stopBounded(self) -> None:
        """
        Stopping with a batch in flight that never completes ends after the
        stop timeout and counts what was left.
        """
        for i in range(5):
            for m in pair(i):
                self.output.write(m)
        d = self.output.stopService()
        self.assertNoResult(d)
        self.clock.advance(5.0)
        self.successResultOf(d)
        self.assertEqual(self.output.stats["dropped.stop_timeout"], 2)
        self.assertEqual(self.output.stats["failed.connection"], 3)


def noidaAvailable() -> bool:
    return shutil.which("noida-db") is not None


class NoidaServer:
    """
    noida-db's Elasticsearch listener on a loopback port, in a temp data dir.
    """

    def __init__(self) -> None:
        self.port = freePort()
        self.dataDir = tempfile.mkdtemp(prefix="gor-es-")
        self.process: GorProcess | None = None

    @inlineCallbacks
    def start(self) -> Any:
        exe = shutil.which("noida-db")
        assert exe is not None
        argv = [exe, "start", "--data-dir", self.dataDir, "--only", "elasticsearch", "--elasticsearch-port", str(self.port)]
        self.process = GorProcess(reactor, argv).start()
        yield self._waitReady()

    def _client(self) -> Any:
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        return HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))

    def _waitReady(self) -> Deferred[None]:
        treq = self._client()

        @inlineCallbacks
        def answers() -> Any:
            try:
                response = yield treq.get(f"http://127.0.0.1:{self.port}/", timeout=2)
                yield response.content()
            except Exception:
                return False
            return True

        return waitUntil(
            answers,
            30,
            interval=0.1,
            describe=lambda: "noida-db did not start: " + (self.process.errText if self.process else ""),
            clock=reactor,
        )

    @inlineCallbacks
    def query(self, method: str, path: str, body: Any = None) -> Any:
        treq = self._client()
        url = f"http://127.0.0.1:{self.port}{path}"
        if body is None:
            response = yield treq.request(method, url, timeout=10)
        else:
            response = yield treq.request(method, url, json=body, timeout=10)
        content = yield response.content()
        return json.loads(content)

    @inlineCallbacks
    def stop(self) -> Any:
        if self.process is not None:
            self.process.signal("INT")
            yield self.process.wait(10)
        shutil.rmtree(self.dataDir, ignore_errors=True)


class RealElasticsearchTests(TestCase):
    """
    Export to a real Elasticsearch-8-compatible server.
    """

    timeout = 60

    def setUp(self) -> Any:
        if not noidaAvailable():
            raise SkipTest("noida-db is not installed")
        self.es = NoidaServer()
        self.addCleanup(self.es.stop)
        return self.es.start()

    @inlineCallbacks
    def test_directMessages(self) -> Any:
        """
        Requests and replayed responses written to the output are all indexed,
        each with its status and latency.
        """
        output = ElasticsearchOutput(
            parseElasticsearchURL(f"127.0.0.1:{self.es.port}/gor"), reactor, batchSize=40, flushInterval=0.1
        )
        output.startService()
        for i in range(100):
            req, resp = pair(i, latency=(i + 1) * 1_000_000)
            output.write(req)
            output.write(resp)
        yield output.stopService()
        self.assertEqual(output.stats["sent"], 100, output.stats.format())
        yield self.es.query("POST", "/gor/_refresh")
        count = yield self.es.query("GET", "/gor/_count")
        self.assertEqual(count["count"], 100)
        found = yield self.es.query("POST", "/gor/_search", {"size": 200, "query": {"match_all": {}}})
        docs = {h["_source"]["Req_URL"]: h["_source"] for h in found["hits"]["hits"]}
        self.assertEqual(len(docs), 100)
        for i in range(100):
            doc = docs[f"/p{i}?q=1"]
            self.assertEqual(doc["Resp_Status"], "404")
            self.assertEqual(doc["RTT"], float(i + 1))

    @inlineCallbacks
    def test_rejectedDocumentsCounted(self) -> Any:
        """
        Documents the server refuses (a mapping conflict) are counted as
        rejected, the others are indexed.
        """
        yield self.es.query("POST", "/gor2/_doc", {"Resp_Status": {"nested": 1}})
        output = ElasticsearchOutput(parseElasticsearchURL(f"127.0.0.1:{self.es.port}/gor2"), reactor, flushInterval=0.1)
        output.startService()
        for i in range(5):
            for m in pair(i):
                output.write(m)
        yield output.stopService()
        self.assertEqual(output.stats["failed.rejected"] + output.stats["sent"], 5, output.stats.format())
        self.assertGreater(output.stats["failed.rejected"], 0, output.stats.format())
        self.flushLoggedErrors()


class DownTests(TestCase):
    """
    Elasticsearch down or refusing: counted, never blocking.
    """

    timeout = 30

    @inlineCallbacks
    def test_down(self) -> Any:
        """
        Nothing listens: every batch is counted as a connection failure and
        stopping is bounded.
        """
        output = ElasticsearchOutput(parseElasticsearchURL(f"127.0.0.1:{freePort()}/gor"), reactor, flushInterval=0.05)
        output.startService()
        for i in range(10):
            for m in pair(i):
                output.write(m)
        yield waitUntil(
            lambda: output.stats["failed.connection"] >= 10, 20, describe=lambda: output.stats.format(), clock=reactor
        )
        yield output.stopService()
        self.assertEqual(output.stats["failed.connection"], 10)

    @inlineCallbacks
    def test_refusing(self) -> Any:
        """
        A server answering 503 to _bulk: counted by status code.
        """

        class Refuse(resource.Resource):
            isLeaf = True

            def render_POST(self, request: Any) -> bytes:
                request.setResponseCode(503)
                return b'{"error":"unavailable"}'

        port = reactor.listenTCP(0, server.Site(Refuse()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        output = ElasticsearchOutput(
            parseElasticsearchURL(f"http://u:p@127.0.0.1:{port.getHost().port}/gor"), reactor, flushInterval=0.05
        )
        output.startService()
        for i in range(4):
            for m in pair(i):
                output.write(m)
        yield output.stopService()
        self.assertEqual(output.stats["failed.http_503"], 4)



class _Target(resource.Resource):
    """
    A replay target: 200 for even paths, 404 for odd ones; counts requests.
    """

    isLeaf = True

    def __init__(self) -> None:
        resource.Resource.__init__(self)
        self.paths: list[bytes] = []

    def render(self, request: Any) -> bytes:
        self.paths.append(request.uri)
        number = int(request.uri.rsplit(b"/", 1)[-1])
        if number % 2:
            request.setResponseCode(404)
        return b"item %d" % number


def writeRequests(path: str, count: int) -> None:
    from twisted_gor.framing import encodeMessage

    with open(path, "wb") as f:
        for i in range(count):
            payload = b"GET /item/%d HTTP/1.1\r\nHost: shop\r\nUser-Agent: test/%d\r\n\r\n" % (i, i)
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i * 1000, -1, payload)))


class EndToEndTests(TestCase):
    """
    C{gor --input-file --output-http --output-http-elasticsearch} with a real
    replay target and a real Elasticsearch-compatible server.
    """

    timeout = 90
    count = 60

    def setUp(self) -> None:
        self.target = _Target()
        self.port = reactor.listenTCP(0, server.Site(self.target), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.port2 = reactor.listenTCP(0, server.Site(self.target), interface="127.0.0.1")
        self.addCleanup(self.port2.stopListening)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.source = os.path.join(self.dir, "in.gor")
        writeRequests(self.source, self.count)

    def gor(self, esURL: str, *extra: str) -> Deferred[Any]:
        from tests.support import runGor

        return runGor(
            "--input-file", self.source + "|10000%",
            "--output-http", f"http://127.0.0.1:{self.port.getHost().port}",
            *extra,
            "--output-http-elasticsearch", esURL,
            "--output-http-elasticsearch-flush-interval", "100ms",
            timeout=60,
        )

    @inlineCallbacks
    def test_export(self) -> Any:
        """
        Every replayed request is found in the index with its status and latency,
        without asking for --output-http-track-response, also when
        --split-output shares the requests between two HTTP outputs.
        """
        if not noidaAvailable():
            raise SkipTest("noida-db is not installed")
        es = NoidaServer()
        self.addCleanup(es.stop)
        yield es.start()
        result = yield self.gor(
            f"127.0.0.1:{es.port}/gor", "--output-http", f"http://127.0.0.1:{self.port2.getHost().port}", "--split-output"
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(self.target.paths), self.count)
        yield es.query("POST", "/gor/_refresh")
        count = yield es.query("GET", "/gor/_count")
        self.assertEqual(count["count"], self.count, result.errText)
        found = yield es.query("POST", "/gor/_search", {"size": 500, "query": {"match_all": {}}})
        docs = {h["_source"]["Req_URL"]: h["_source"] for h in found["hits"]["hits"]}
        for i in range(self.count):
            doc = docs[f"/item/{i}"]
            self.assertEqual(doc["Resp_Status"], "404" if i % 2 else "200")
            self.assertEqual(doc["Req_User-Agent"], f"test/{i}")
            self.assertGreater(doc["RTT"], 0)
            self.assertLess(doc["RTT"], 60_000)
        odd = yield es.query("POST", "/gor/_count", {"query": {"match": {"Resp_Status": "404"}}})
        self.assertEqual(odd["count"], self.count // 2)

    @inlineCallbacks
    def test_elasticsearchDown(self) -> Any:
        """
        Nothing listens at the Elasticsearch address: the replay is complete
        anyway and every document is counted as failed.
        """
        result = yield self.gor(f"http://127.0.0.1:{freePort()}/gor")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(self.target.paths), self.count)
        self.assertIn(f"failed.connection={self.count}", result.errText)
