# -*- test-case-name: tests.test_http_fastpath -*-
"""
The replay client's per-request fast paths (L{twisted_gor.http.fastpath}):
the pure versions against the shared framer they shortcut, the compiled twin
against the pure versions (differential, on well-formed, malformed,
truncated and oversized inputs), and both through the real C{gor} command.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import REPO, environment, runGor
from twisted_gor._http1 import MAX_HEAD
from twisted_gor._httphead import setHost
from twisted_gor.http import fastpath
from twisted_gor.http.client import ResponseParser

try:
    from twisted_gor.http import _cfastpath
except ImportError:  # pragma: no cover - depends on the build
    _cfastpath = None  # type: ignore[assignment]

NOT_BUILT = "the compiled twin twisted_gor.http._cfastpath is not built (pip install -e . or setup.py build_ext --inplace)"

RESPONSES = [
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\ncontent-LENGTH:3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length:\t 3 \t\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\nabcdefg",
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Lengthx: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nX-Content-Length: 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n",
    b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, CLOSE\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection: clo\r\nConnection: se\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection : close\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nConnection:\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nConnection: te\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.0 200 OK\r\nConnection: keep-\r\nConnection: alive\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.9 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 abc OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1  200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1\t200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1x200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.x 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1x1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200\tOK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 O\rK\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nX: a\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nX: a\rContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\n\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1",
    b"HTTP/1.",
    b"HTTP/",
    b"HTTP",
    b"",
    b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10) + b"\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD - 60) + b"\r\nContent-Length: 1\r\n\r\nx",
    b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"b" * 300000,
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n\xff",
    b"HTTP/1.1 200 \xe9t\xe9\r\nContent-Length: 1\r\n\r\nx",
]

REQUESTS = [
    b"GET /bench?i=1 HTTP/1.1\r\nHost: prod.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n",
    b"GET / HTTP/1.1\r\nhost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHOST:a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:\t a \t\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost :a\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-Host: b\r\nHost: a\r\nHost: c\r\n\r\n",
    b"GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\nHost: body\r\n",
    b"GET / HTTP/1.1\r\nX: 1\nHost: a\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a",
    b"GET / HTTP/1.1\r\n",
    b"GET / HTTP/1.1",
    b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
    b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
    b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"FOO / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    b"HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://old.example/x HTTP/1.1\r\nHost: old.example\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: \xe9\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n",
    b"",
]


class PureFastPathTests(SynchronousTestCase):
    """
    The pure fast paths answer what the shared framer and header helpers do.
    """

    def test_frameMatchesFramer(self) -> None:
        """
        Whenever L{fastpath.frameResponsePure} answers, a parser fed the same
        bytes one at a time (the general path) ends the response at the same
        byte with the same status and reuse.
        """
        answered = 0
        for data in RESPONSES:
            for isHead in (False, True):
                found = fastpath.frameResponsePure(data, isHead)
                if found is None:
                    continue
                answered += 1
                parser = ResponseParser(isHead, 1 << 30)
                for i in range(len(data)):
                    parser.feed(data[i : i + 1])
                    if parser.done:
                        break
                self.assertTrue(parser.done, data)
                self.assertEqual((parser.size, parser.status, parser.closeAfter), found, data)
        self.assertTrue(answered > 20, answered)

    def test_hostMatchesSetHost(self) -> None:
        """
        L{fastpath.setOriginHost} rewrites what it accepts as
        L{twisted_gor._httphead.setHost} does, and declines everything else.
        """
        for payload in REQUESTS:
            got = fastpath.setOriginHost(payload, b"t:1")
            if got is not None:
                self.assertEqual(got, setHost(payload, b"http", b"t:1"), payload)
        self.assertIsNone(fastpath.setOriginHost(b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", b"t"))
        self.assertIsNone(fastpath.setOriginHost(b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", b"t"))
        self.assertEqual(
            fastpath.setOriginHost(b"GET / HTTP/1.1\r\nHost:  a \r\n\r\n", b"t:1"), b"GET / HTTP/1.1\r\nHost:  t:1 \r\n\r\n"
        )

    def test_parserQuick(self) -> None:
        """
        L{ResponseParser.quick} gives the parser that feeding the whole read
        to a fresh one gives, kept bytes included (cut at C{keep}).
        """
        for data in RESPONSES:
            for keep in (0, -1, 5, 1 << 20):
                quick = ResponseParser.quick(data, False, keep)
                if quick is None:
                    continue
                full = ResponseParser(False, keep)
                full.feed(data)
                self.assertEqual(
                    (quick.done, quick.status, quick.size, quick.closeAfter, quick.truncated, quick.rawBytes(), quick.keep),
                    (full.done, full.status, full.size, full.closeAfter, full.truncated, full.rawBytes(), full.keep),
                    (data, keep),
                )


def _segments() -> Any:
    pieces = [
        b"HTTP/1.1 ", b"HTTP/1.0 ", b"HTTP/1.", b"200", b"204", b"304", b"100", b"101", b"20", b" OK", b"\r\n", b"\n",
        b"\r", b"Content-Length: 2\r\n", b"content-length:0\r\n", b"Content-Length: 2, 2\r\n", b"Content-Length: 1\r\n",
        b"Content-Length :2\r\n", b"Content-Length: x\r\n", b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n",
        b"connection: Keep-Alive\r\n", b"Connection :close\r\n", b"X: y\r\n", b"ok", b"\r\n\r\n", b"2\r\nok\r\n0\r\n\r\n",
        b" ", b"\t", b":", b"\xff",
    ]
    return st.lists(st.one_of(st.sampled_from(pieces), st.binary(max_size=6)), max_size=14).map(b"".join)


@st.composite
def _requests(draw: Any) -> bytes:
    method = draw(st.sampled_from([b"GET", b"POST", b"HEAD", b"CONNECT", b"FOO", b"get", b""]))
    target = draw(st.sampled_from([b"/", b"/a?b=1", b"*", b"http://x/y", b"", b"/a b"]))
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"HTTP/1.1 "]))
    sep = draw(st.sampled_from([b" ", b"  "]))
    headers = draw(
        st.lists(
            st.sampled_from(
                [b"Host: a\r\n", b"host:b\r\n", b"HOST :c\r\n", b"Host:\t\r\n", b"X: 1\r\n", b"X: 2\n", b"Hos: t\r\n",
                 b"\r\n", b"\n", b"Host: \xe9 \r\n", b"Host", b"\r"]
            ),
            max_size=5,
        )
    )
    tail = draw(st.binary(max_size=4))
    return method + sep + target + b" " + version + b"\r\n" + b"".join(headers) + tail


class CompiledTwinTests(SynchronousTestCase):
    """
    The compiled twin answers exactly what the pure version does.
    """

    if _cfastpath is None:
        skip = NOT_BUILT

    def assertSameFrame(self, data: bytes) -> None:
        for isHead in (False, True):
            self.assertEqual(
                repr(_cfastpath.frameResponse(data, isHead)), repr(fastpath.frameResponsePure(data, isHead)), (data, isHead)
            )

    def assertSameHost(self, payload: bytes) -> None:
        for netloc in (b"t:1", b""):
            self.assertEqual(_cfastpath.setOriginHost(payload, netloc), fastpath.setOriginHost(payload, netloc), payload)

    def test_responsesAndPrefixes(self) -> None:
        """
        Every response of the corpus, and every prefix of it (a read cut
        anywhere), framed the same way.
        """
        for data in RESPONSES:
            self.assertSameFrame(data)
            if len(data) < 400:
                for i in range(len(data)):
                    self.assertSameFrame(data[:i])

    def test_requestsAndPrefixes(self) -> None:
        """
        Every request of the corpus, and every prefix of it, prepared the same way.
        """
        for payload in REQUESTS:
            self.assertSameHost(payload)
            for i in range(len(payload)):
                self.assertSameHost(payload[:i])

    @settings(max_examples=3000, deadline=None)
    @given(_segments())
    def test_generatedResponses(self, data: bytes) -> None:
        """
        Generated well-formed and malformed responses: the same answers.
        """
        self.assertSameFrame(data)

    @settings(max_examples=3000, deadline=None)
    @given(_requests())
    def test_generatedRequests(self, payload: bytes) -> None:
        """
        Generated requests: the same rewrite, or both decline.
        """
        self.assertSameHost(payload)

    def test_types(self) -> None:
        """
        Arguments other than bytes are refused, as by the pure versions' slicing.
        """
        self.assertRaises(TypeError, _cfastpath.frameResponse, "HTTP/1.1 200 OK\r\n\r\n", False)
        self.assertRaises(TypeError, _cfastpath.setOriginHost, b"GET / HTTP/1.1\r\n\r\n", "t")


class SelectionTests(SynchronousTestCase):
    """
    C{TWISTED_GOR_PURE=1} selects the pure versions; otherwise the compiled ones when built.
    """

    def compiledIn(self, pure: bool) -> str:
        env = environment()
        env.pop("TWISTED_GOR_PURE", None)
        if pure:
            env["TWISTED_GOR_PURE"] = "1"
        return subprocess.run(
            [sys.executable, "-c", "from twisted_gor.http import fastpath as f; print(f.COMPILED, f.frameResponse.__module__)"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()

    def test_pure(self) -> None:
        """
        With C{TWISTED_GOR_PURE=1} the pure versions are used.
        """
        self.assertEqual(self.compiledIn(True), "False twisted_gor.http.fastpath")

    def test_compiled(self) -> None:
        """
        Without it, the compiled ones.
        """
        if _cfastpath is None:
            raise self.skipTest(NOT_BUILT)
        self.assertEqual(self.compiledIn(False), "True twisted_gor.http._cfastpath")


VARIED = [
    # (path, response the server sends, whether gor counts it as succeeded)
    (b"/cl", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    (b"/chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", True),
    (b"/nobody", b"HTTP/1.1 204 No Content\r\n\r\n", True),
    (b"/interim", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx", True),
    (b"/close", b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", True),
    (b"/http10", b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", True),
    (b"/split", b"HTTP/1.1 200 OK\r\nContent-Len|gth: 3\r\n\r\nab|c", True),
    (b"/bad", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", False),
    (b"/garbage", b"nonsense\r\n\r\n", False),
]


class EndToEndTests(TestCase):
    """
    Through the real C{gor}: the same bytes reach the target and the same
    outcomes are counted on the compiled path and on the pure one.
    """

    timeout = 120

    @defer.inlineCallbacks
    def replayVaried(self, pure: bool) -> Any:
        from tests.test_http_e2e import counters, gorFile, startServer

        old = os.environ.get("TWISTED_GOR_PURE")
        if pure:
            os.environ["TWISTED_GOR_PURE"] = "1"
        else:
            os.environ.pop("TWISTED_GOR_PURE", None)
        self.addCleanup(lambda: os.environ.__setitem__("TWISTED_GOR_PURE", old) if old is not None else os.environ.pop("TWISTED_GOR_PURE", None))
        server = startServer(self, "ok")
        answers = {path: response for path, response, _ in VARIED}
        server.protocol = _variedServer(answers)
        payloads = [b"GET %s?n=%d HTTP/1.1\r\nHost: prod\r\nX-N: %d\r\n\r\n" % (path, n, n) for n in range(3) for path, _, _ in VARIED]
        payloads.append(b"HEAD /cl HTTP/1.1\r\nhost: prod\r\n\r\n")
        path = gorFile(payloads, os.path.join(tempfile.mkdtemp(), "in.gor"))
        result = yield runGor(
            "--input-file", path, "--output-http", f"127.0.0.1:{server.port}", "--output-http-workers", "1", timeout=90
        )
        self.assertEqual(result.rc, 0, result.errText)
        return server.requests, counters(result.errText, "output_http"), server.port, payloads

    @defer.inlineCallbacks
    def test_sameOnBothPaths(self) -> Any:
        """
        Every request is sent with only its Host changed, in order, on both
        paths; what succeeds and what fails (bad_response) is counted alike.
        """
        compiledRun = yield self.replayVaried(False)
        pureRun = yield self.replayVaried(True)
        for requests, c, port, payloads in (compiledRun, pureRun):
            self.assertEqual(
                requests, [p.replace(b"Host: prod", b"Host: 127.0.0.1:%d" % port).replace(b"host: prod", b"host: 127.0.0.1:%d" % port) for p in payloads]
            )
            ok = 3 * sum(1 for _, _, good in VARIED if good) + 1
            self.assertEqual((c["sent"], c["succeeded"], c.get("failed.bad_response", 0)), (len(payloads), ok, len(payloads) - ok))
        self.assertEqual(compiledRun[1], pureRun[1])


def _variedServer(answers: dict[bytes, bytes]) -> Any:
    from tests.test_http_e2e import RecordingServer

    class Varied(RecordingServer):
        """
        Records requests like L{RecordingServer}; answers each by its path, a
        C{|} in the answer splitting it over two writes.
        """

        def dataReceived(self, data: bytes) -> None:
            self.buf += data
            f: Any = self.factory
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                request, self.buf = self.buf[: end + 4], self.buf[end + 4 :]
                f.requests.append(request)
                path = request.split(b" ", 2)[1].split(b"?")[0]
                answer = answers.get(path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                if request.startswith(b"HEAD "):
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                assert self.transport is not None
                first, _, rest = answer.partition(b"|")
                self.transport.write(first)
                if rest:
                    from twisted.internet import reactor

                    # the rest after 50 ms: the client reads it separately
                    f.calls.append(reactor.callLater(0.05, self.transport.write, rest.replace(b"|", b"")))

    return Varied

