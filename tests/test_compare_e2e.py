# -*- test-case-name: tests.test_compare_e2e -*-
"""
C{--output-compare} through the real C{gor} command: offline on a recording
that holds requests with both responses, and replaying recorded production
traffic to a staging server started by the test.
"""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web import resource, server

from tests.support import ROOT_REASON, isRoot, runGor, startGor
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message


def response(status: int, body: bytes, headers: bytes = b"Content-Type: application/json\r\n") -> bytes:
    """
    A raw response with a Content-Length.
    """
    return b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n" % (status, headers, len(body)) + body


def chunkedGzip(body: bytes) -> bytes:
    """
    A raw JSON response, gzip content coding in one chunk.
    """
    data = gzip.compress(body)
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    )


def request(path: bytes) -> bytes:
    """
    A raw GET request.
    """
    return b"GET " + path + b" HTTP/1.1\r\nHost: prod.example\r\n\r\n"


def recording(entries: list[tuple[bytes, bytes | None, bytes | None]]) -> bytes:
    """
    .gor records: for each C{(path, original, replayed)}, a request with id
    C{id<n>} then the responses given.
    """
    out = []
    ts = 1_700_000_000_000_000_000
    for n, (path, original, replayed) in enumerate(entries):
        id_ = b"%024x" % (n + 1)
        out.append(encodeMessage(Message(1, id_, ts + n * 1000, -1, request(path))))
        if original is not None:
            out.append(encodeMessage(Message(2, id_, ts + n * 1000 + 10, 10, original)))
        if replayed is not None:
            out.append(encodeMessage(Message(3, id_, ts + n * 1000 + 20, 10, replayed)))
    return b"".join(out)


class OfflineTests(TestCase):
    """
    A recording with types 1, 2 and 3 compared without any network.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_exactReport(self) -> Any:
        """
        The report of a small recording, exactly: a status difference, a JSON
        difference (with an ignored field), a byte difference, an identical
        endpoint (gzip+chunked against plain), and an unpaired request.
        """
        f = os.path.abspath(self.mktemp())
        report = os.path.abspath(self.mktemp())
        with open(f, "wb") as out:
            out.write(
                recording(
                    [
                        (b"/users/17?x=1", response(200, b'{"a":1}'), response(404, b'{"a":1}')),
                        (
                            b"/items/0f8fad5b-d9cb-469f-a165-70867728950e",
                            response(200, b'{"items":[{"price":1},{"price":9.99}],"ts":1}'),
                            chunkedGzip(b'{"items":[{"price":1},{"price":10.5}],"ts":2}'),
                        ),
                        (b"/page", response(200, b"<p>hello</p>", b""), response(200, b"<p>help</p>", b"")),
                        (b"/same", response(200, b'{"k":[1,2]}'), chunkedGzip(b'{"k": [1, 2]}')),
                        (b"/lost", response(200, b"{}"), None),
                    ]
                )
            )
        result = yield runGor(
            "--input-file", f, "--output-compare", report, "--compare-ignore", "$.ts", timeout=30
        )
        self.assertEqual(result.rc, 0, result.errText)
        with open(report) as r:
            content = json.load(r)

        def sample(id_: str, path: str, a: str, b: str) -> dict[str, Any]:
            return {"count": 1, "samples": [{"id": id_, "differences": [{"path": path, "original": a, "replayed": b}]}]}

        self.assertEqual(
            content,
            {
                "totals": {
                    "compared": 4,
                    "same": 1,
                    "differs.body": 2,
                    "differs.header": 0,
                    "differs.status": 1,
                    "unpaired.no_replay": 1,
                },
                "endpoints": {
                    "GET /users/{id}": {
                        "compared": 1,
                        "same": 0,
                        "differs": {"status": sample("%024x" % 1, "status", "200", "404")},
                    },
                    "GET /items/{id}": {
                        "compared": 1,
                        "same": 0,
                        "differs": {"body": sample("%024x" % 2, "$.items[1].price", "9.99", "10.5")},
                    },
                    "GET /page": {
                        "compared": 1,
                        "same": 0,
                        "differs": {
                            "body": sample("%024x" % 3, "$ (byte 6; 12 vs 11 bytes)", "<p>hello</p>", "<p>help</p>")
                        },
                    },
                    "GET /lost": {
                        "compared": 0,
                        "same": 0,
                        "unpaired": {"no_replay": {"count": 1, "samples": [{"id": "%024x" % 5}]}},
                    },
                },
                "identical": {"GET /same": 1},
                "settings": {"compare_headers": [], "ignore": ["$.ts"]},
            },
        )
        self.assertIn("compare: GET /users/{id}: 1 compared, 0 same, status differs 1", result.errText)
        self.assertIn("compare: 4 compared, 1 same, 3 differ (status 1, header 0, body 2), 1 unpaired", result.errText)


class Staging(resource.Resource):
    """
    A staging server: most endpoints answer like production, some do not
    (or, with C{production=True}, production itself).
    """

    isLeaf = True

    def __init__(self, production: bool = False) -> None:
        resource.Resource.__init__(self)
        self.production = production

    def render_GET(self, request: Any) -> Any:
        path = request.path
        prod = self.production
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"x-version", b"1")
        if path == b"/users/1":
            return b'{"id":1,"name":"ann","generated":"%s"}' % (b"prod" if prod else b"staging")
        if path == b"/users/2":
            return b'{"id":2,"name":"bob","plan":{"price":%d},"generated":"x"}' % (10 if prod else 12)
        if path == b"/orders/5":
            request.setResponseCode(200 if prod else 503)
            return b'{"error":"down"}'
        if path == b"/config":
            request.setHeader(b"x-version", b"1" if prod else b"2")
            return b'{"flags":[]}'
        if path == b"/feed":
            # Chunked and gzip-encoded, same content as production's plain body.
            request.setHeader(b"content-encoding", b"gzip")
            request.write(gzip.compress(b'{"entries":[1,2,3]}'))
            request.finish()
            return server.NOT_DONE_YET
        request.setResponseCode(404)
        return b"{}"


class ReplayTests(TestCase):
    """
    Recorded production traffic (requests and responses) replayed to a real
    staging server, compared with what production answered.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_namesExactlyTheDifferences(self) -> Any:
        """
        The report names the endpoints that answer differently (status, a JSON
        field, a compared header) with the differing paths, and nothing for
        the identical ones, including one served chunked and gzip-encoded.
        """
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor

        site = server.Site(Staging())
        listening = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        port = listening.getHost().port
        prodHeaders = b"Content-Type: application/json\r\nX-Version: 1\r\n"
        entries: list[tuple[bytes, bytes | None, bytes | None]] = []
        for _ in range(3):
            entries += [
                (b"/users/1", response(200, b'{"id":1,"name":"ann","generated":"prod-clock"}', prodHeaders), None),
                (b"/users/2?v=1", response(200, b'{"id":2,"name":"bob","plan":{"price":10},"generated":"y"}', prodHeaders), None),
                (b"/orders/5", response(200, b'{"error":"down"}', prodHeaders), None),
                (b"/config", response(200, b'{"flags":[]}', prodHeaders), None),
                (b"/feed", response(200, b'{"entries": [1, 2, 3]}', prodHeaders), None),
            ]
        f = os.path.abspath(self.mktemp())
        report = os.path.abspath(self.mktemp())
        with open(f, "wb") as out:
            out.write(recording(entries))
        result = yield runGor(
            "--input-file", f,
            "--output-http", f"http://127.0.0.1:{port}",
            "--output-compare", report,
            "--compare-header", "X-Version",
            "--compare-ignore", "$.generated",
            timeout=30,
        )
        self.assertEqual(result.rc, 0, result.errText)
        with open(report) as r:
            content = json.load(r)
        totals = content["totals"]
        self.assertEqual(
            (totals["compared"], totals["same"], totals["differs.status"], totals["differs.body"], totals["differs.header"]),
            (15, 6, 3, 3, 3),
        )
        self.assertEqual(sum(v for k, v in totals.items() if k.startswith("unpaired.")), 0)
        self.assertEqual(content["identical"], {"GET /feed": 3})
        endpoints = content["endpoints"]
        self.assertEqual(sorted(endpoints), ["GET /config", "GET /orders/{id}", "GET /users/{id}"])

        def only(name: str, category: str) -> list[dict[str, str]]:
            entry = endpoints[name]
            self.assertEqual(list(entry["differs"]), [category])
            self.assertEqual(entry["differs"][category]["count"], 3)
            samples = entry["differs"][category]["samples"]
            self.assertEqual(len(samples), 3)
            return samples[0]["differences"]

        self.assertEqual(only("GET /orders/{id}", "status"), [{"path": "status", "original": "200", "replayed": "503"}])
        self.assertEqual(only("GET /config", "header"), [{"path": "header:x-version", "original": "1", "replayed": "2"}])
        # /users/1 and /users/2 fold into one endpoint: only /users/2 differs.
        self.assertEqual(endpoints["GET /users/{id}"]["compared"], 6)
        self.assertEqual(endpoints["GET /users/{id}"]["same"], 3)
        self.assertEqual(only("GET /users/{id}", "body"), [{"path": "$.plan.price", "original": "10", "replayed": "12"}])


class SplitTests(TestCase):
    """
    The comparison observes every request even when --split-output shares the
    requests between two staging servers.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_splitBetweenTwoTargets(self) -> Any:
        """
        Each target gets half the requests; every pair is compared.
        """
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor

        class Counting(Staging):
            served = 0

            def render_GET(self, request: Any) -> Any:
                self.served += 1
                return Staging.render_GET(self, request)

        targets = [Counting(), Counting()]
        ports = []
        for target in targets:
            listening = reactor.listenTCP(0, server.Site(target), interface="127.0.0.1")
            self.addCleanup(listening.stopListening)
            ports.append(listening.getHost().port)
        prodHeaders = b"Content-Type: application/json\r\nX-Version: 1\r\n"
        entries: list[tuple[bytes, bytes | None, bytes | None]] = []
        for _ in range(4):
            entries += [
                (b"/orders/5", response(200, b'{"error":"down"}', prodHeaders), None),
                (b"/feed", response(200, b'{"entries": [1, 2, 3]}', prodHeaders), None),
            ]
        f = os.path.abspath(self.mktemp())
        report = os.path.abspath(self.mktemp())
        with open(f, "wb") as out:
            out.write(recording(entries))
        result = yield runGor(
            "--input-file", f,
            "--output-http", f"http://127.0.0.1:{ports[0]}",
            "--output-http", f"http://127.0.0.1:{ports[1]}",
            "--split-output",
            "--output-compare", report,
            timeout=30,
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual([t.served for t in targets], [4, 4])
        with open(report) as r:
            totals = json.load(r)["totals"]
        self.assertEqual((totals["compared"], totals["same"], totals["differs.status"]), (8, 4, 4))


class LiveTests(TestCase):
    """
    Live: capture production's traffic and responses, replay each request to
    staging, compare.
    """

    timeout = 90

    async def test_captureAndReplay(self) -> None:
        """
        C{gor --input-raw PROD --output-http STAGING --output-compare R}
        (response tracking implied on both sides) reports the same endpoints
        as the offline replay.
        """
        if not isRoot():
            raise SkipTest(ROOT_REASON)
        from twisted.internet import reactor as _reactor
        from twisted.web.client import Agent, HTTPConnectionPool, readBody

        reactor: Any = _reactor
        prod = reactor.listenTCP(0, server.Site(Staging(production=True)), interface="127.0.0.1")
        self.addCleanup(prod.stopListening)
        staging = reactor.listenTCP(0, server.Site(Staging()), interface="127.0.0.1")
        self.addCleanup(staging.stopListening)
        report = os.path.abspath(self.mktemp())
        gor = startGor(
            "--input-raw", f"127.0.0.1:{prod.getHost().port}",
            "--output-http", f"http://127.0.0.1:{staging.getHost().port}",
            "--output-compare", report,
            "--compare-header", "X-Version",
            "--compare-ignore", "$.generated",
            "--stats", "--stats-interval", "200ms",
        )
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(60)
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            pool = HTTPConnectionPool(reactor, persistent=False)
            agent = Agent(reactor, pool=pool)
            for path in (b"/users/1", b"/users/2?v=1", b"/orders/5", b"/config", b"/feed"):
                url = b"http://127.0.0.1:%d%s" % (prod.getHost().port, path)
                answer = await agent.request(b"GET", url)
                await readBody(answer)
            # The counters shown by --stats: every pair compared.
            await gor.waitForLog("compared=5 ", timeout=30)
        finally:
            gor.signal("INT")
        result = await ended
        with open(report) as r:
            content = json.load(r)
        self.assertEqual(content["totals"]["compared"], 5, result.errText)
        self.assertEqual(content["identical"], {"GET /feed": 1})
        endpoints = content["endpoints"]
        self.assertEqual(sorted(endpoints), ["GET /config", "GET /orders/{id}", "GET /users/{id}"])
        self.assertEqual(list(endpoints["GET /orders/{id}"]["differs"]), ["status"])
        self.assertEqual(list(endpoints["GET /config"]["differs"]), ["header"])
        [sample] = endpoints["GET /users/{id}"]["differs"]["body"]["samples"]
        self.assertEqual(sample["differences"], [{"path": "$.plan.price", "original": "10", "replayed": "12"}])
