"""
C{--middleware} and C{--middleware-python} through the real C{gor} command,
with real child processes (L{tests.mw_child}), real files and real HTTP
targets on loopback; C{--prettify-http} at a real target.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sys
import tempfile
from typing import Any

from twisted.internet import defer, reactor as _reactor
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests.support import REPO, PeakRssSampler, fileRecords, listenLocal, runGor, startGor, waitUntil
from tests.test_http_e2e import counters, startServer
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message

reactor: Any = _reactor

MS = 1_000_000
SEC = 1_000_000_000
OPTIONS = b"OPTIONS / HTTP/1.1\r\nHost: example.org\r\n\r\n"


def child(mode: str) -> str:
    """
    The C{--middleware} value running L{tests.mw_child} in C{mode}.
    """
    return f"{sys.executable} {os.path.join(REPO, 'tests', 'mw_child.py')} {mode}"


def record(path: str, messages: list[Message]) -> str:
    """
    Write C{messages} as a .gor file.
    """
    with open(path, "wb") as f:
        for m in messages:
            f.write(encodeMessage(m))
    return path


def requests(count: int, gap: int = 0, payload: bytes = OPTIONS, start: int = SEC) -> list[Message]:
    """
    C{count} requests with ids C{%024x}, C{gap} ns apart.
    """
    return [Message(1, b"%024x" % i, start + i * gap, -1, payload) for i in range(count)]


class _Base(TestCase):
    timeout = 120

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)


class ProtocolTests(_Base):
    """
    GoReplay's middleware behaviours MW1-MW3, and what gor adds: no line
    limit, counted garbage, logged stderr.
    """

    @defer.inlineCallbacks
    def test_echoByteIdentical(self) -> Any:
        """
        MW1: an echo middleware, 5 OPTIONS requests: the output file is byte
        for byte the input file; every message is counted sent and received.
        """
        source = record(self.path("in.gor"), requests(5))
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware", child("echo"))
        self.assertEqual(result.rc, 0, result.errText)
        with open(source, "rb") as a, open(out, "rb") as b:
            self.assertEqual(a.read(), b.read())
        stats = counters(result.errText, "middleware")
        self.assertEqual((stats.get("sent"), stats.get("received")), (5, 5), stats)
        self.assertNotIn("injected", stats)
        self.assertNotIn("dropped_by_middleware", stats)

    @defer.inlineCallbacks
    def test_changed(self) -> Any:
        """
        A middleware that changes requests: the outputs get the changed
        bytes, and the built-in modifiers apply to what it emits (the header
        it adds is there for --http-allow-header to match).
        """
        source = record(self.path("in.gor"), requests(3))
        out = self.path("out.gor")
        result = yield runGor(
            "--input-file", source, "--output-file", out, "--middleware", child("rewrite"),
            "--http-allow-header", "X-Mw: 1",
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        payloads = [m.payload for m in fileRecords(out)]
        self.assertEqual(payloads, [b"OPTIONS / HTTP/1.1\r\nX-Mw: 1\r\nHost: example.org\r\n\r\n"] * 3)

    @defer.inlineCallbacks
    def test_drop(self) -> Any:
        """
        MW2: a request the middleware does not echo is dropped, and counted
        as dropped_by_middleware.
        """
        messages = requests(4)
        messages[1] = messages[1].replace(payload=b"GET /drop HTTP/1.1\r\nHost: a\r\n\r\n")
        messages[3] = messages[3].replace(payload=b"GET /drop/2 HTTP/1.1\r\nHost: a\r\n\r\n")
        source = record(self.path("in.gor"), messages)
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware", child("drop"))
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual([m.id for m in fileRecords(out)], [messages[0].id, messages[2].id])
        stats = counters(result.errText, "middleware")
        self.assertEqual(stats.get("dropped_by_middleware"), 2, stats)
        self.assertEqual(stats.get("received"), 2, stats)
        self.assertRegex(result.errText, r"summary: read=4 emitted=4 skipped=0 dropped=2 ")

    @defer.inlineCallbacks
    def test_inject(self) -> Any:
        """
        MW2: an extra well-formed line is a new message in the outputs,
        counted as injected.
        """
        source = record(self.path("in.gor"), requests(3))
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware", child("inject"))
        self.assertEqual(result.rc, 0, result.errText)
        got = fileRecords(out)
        self.assertEqual(len(got), 6)
        injected = [m for m in got if m.id.startswith(b"inj")]
        self.assertEqual(sorted(m.id for m in injected), [b"inj%024x" % i for i in range(3)])
        self.assertEqual({m.payload for m in injected}, {b"GET /injected HTTP/1.1\r\nHost: x\r\n\r\n"})
        stats = counters(result.errText, "middleware")
        self.assertEqual((stats.get("received"), stats.get("injected")), (3, 3), stats)

    @defer.inlineCallbacks
    def test_malformed(self) -> Any:
        """
        MW3 and garbage: lines that are not hex, of odd length, without a
        meta line, or ending in CRLF are counted as malformed and skipped;
        the good lines still go through; gor exits 0.
        """
        source = record(self.path("in.gor"), requests(5))
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware", child("garbage"))
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(fileRecords(out)), 5)
        stats = counters(result.errText, "middleware")
        self.assertEqual(stats.get("malformed"), 20, stats)
        self.assertEqual(stats.get("received"), 5, stats)
        self.assertIn("skipped a malformed line (not hex)", result.errText)

    @defer.inlineCallbacks
    def test_tenMegabytes(self) -> Any:
        """
        A 10 MiB message (random body) goes through the middleware and into
        the output byte for byte: no line length limit (GoReplay's old
        releases cut lines at about 32 KB).
        """
        size = 10 * 1024 * 1024
        body = os.urandom(size)
        payload = b"POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size + body
        messages = [*requests(1), Message(1, b"b" * 24, SEC + 1, -1, payload), *requests(1, start=SEC + 2)]
        source = record(self.path("in.gor"), messages)
        out = self.path("out.gor")
        result = yield runGor(
            "--input-file", source, "--output-file", out, "--middleware", child("echo"), "--copy-buffer-size", "16mb",
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        got = fileRecords(out)
        self.assertEqual(len(got), 3)
        self.assertEqual(got[1].payload, payload)
        self.assertEqual(counters(result.errText, "middleware").get("received"), 3)

    @defer.inlineCallbacks
    def test_stderrLogged(self) -> Any:
        """
        The middleware's stderr is in gor's log, line by line, naming it.
        """
        source = record(self.path("in.gor"), requests(3))
        result = yield runGor("--input-file", source, "--output-null", "--middleware", child("stderr"))
        self.assertEqual(result.rc, 0, result.errText)
        for i in (1, 2, 3):
            self.assertRegex(result.errText, rf"middleware \S+ \S+mw_child.py stderr stderr: middleware saw message {i}\n")


class TypesTests(_Base):
    """
    Original (type 2) and replayed (type 3) responses reach the middleware
    with their request's id.
    """

    @defer.inlineCallbacks
    def test_typesTwoAndThree(self) -> Any:
        """
        A request and its original response from a file, replayed with
        --output-http-track-response: the middleware sees types 1, 2 and 3
        with the same id, and echoes all three into the output file.
        """
        server = startServer(self)
        rid = b"a" * 24
        messages = [
            Message(1, rid, SEC, -1, b"GET /a HTTP/1.1\r\nHost: prod\r\n\r\n"),
            Message(2, rid, SEC + MS, 5 * MS, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nprod"),
            # a later request keeps the input going while the replay answers
            Message(1, b"z" * 24, SEC + 1500 * MS, -1, b"GET /z HTTP/1.1\r\nHost: prod\r\n\r\n"),
        ]
        source = record(self.path("in.gor"), messages)
        out = self.path("out.gor")
        result = yield runGor(
            "--input-file", source, "--output-http", f"http://127.0.0.1:{server.port}",
            "--output-http-track-response", "--middleware", child("types"), "--output-file", out,
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        for kind in (1, 2, 3):
            self.assertIn(f"stderr: seen {kind} {rid.decode()}", result.errText)
        kinds = sorted(m.type for m in fileRecords(out) if m.id == rid)
        self.assertEqual(kinds, [1, 2, 3])
        replayed = [m for m in fileRecords(out) if m.type == 3]
        self.assertEqual(replayed[0].payload, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Srv: rec\r\n\r\nok")


class BackpressureTests(_Base):
    """
    A slow middleware pauses the file input; nothing is lost and gor's
    memory stays bounded.
    """

    @defer.inlineCallbacks
    def test_slowMiddlewareBounded(self) -> Any:
        """
        800 requests of 64 KiB (100 MiB of hex lines) as fast as the file
        can be read, through a middleware that sleeps 2 ms per message, with
        a 2 MiB budget: every message arrives, the stage paused the input,
        nothing is dropped, and gor's peak RSS stays far below the 100 MiB
        it would queue without backpressure.
        """
        count = 800
        body = b"x" * (64 * 1024)
        payload = b"POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        source = record(self.path("in.gor"), requests(count, payload=payload))
        out = self.path("out.gor")
        gor = startGor(
            "--input-file", source + "|max", "--output-file", out, "--middleware", child("slow 0.002"),
            "--middleware-buffer-size", "2mb",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        assert gor.pid is not None
        pid = gor.pid
        sampler = PeakRssSampler(reactor, pid, 0.05)
        self.addCleanup(sampler.stop)
        result = yield gor.wait(100)
        sampler.stop()
        self.assertEqual(result.rc, 0, result.errText)
        stats = counters(result.errText, "middleware")
        self.assertEqual((stats.get("sent"), stats.get("received")), (count, count), stats)
        self.assertGreater(stats.get("paused", 0), 0, stats)
        self.assertNotIn("dropped.queue_full", stats)
        self.assertEqual(len(fileRecords(out)), count)
        self.assertTrue(sampler.peaks, "no RSS sample")
        # about 75 MB here; 156 MB with --middleware-buffer-size 1gb
        self.assertLess(sampler.peak, 90 * 1024, f"peak RSS {sampler.peak} kB")


    @defer.inlineCallbacks
    def test_liveInputDropsCounted(self) -> Any:
        """
        A live input (--input-http cannot pause its clients) faster than the
        middleware: what does not fit the budget is dropped and counted as
        dropped.queue_full; everything else comes back; every request is
        accounted for.
        """
        from tests.support import freePort
        from tests.test_http_e2e import sendRequests

        count = 3000
        port = freePort()
        out = self.path("out.gor")
        gor = startGor(
            "--input-http", f"127.0.0.1:{port}", "--output-file", out, "--middleware", child("slow 0.01"),
            "--middleware-buffer-size", "64kb", "--middleware-timeout", "60s",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        yield gor.waitForLog("input-http listening")
        body = b"x" * 1024
        yield sendRequests(port, b"POST /live HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body, count)
        gor.signal("TERM")
        result = yield gor.wait(90)
        self.assertEqual(result.rc, 0, result.errText)
        stats = counters(result.errText, "middleware")
        dropped = stats.get("dropped.queue_full", 0)
        self.assertGreater(dropped, 0, stats)
        self.assertEqual(stats.get("sent", 0) + dropped, count, stats)
        self.assertEqual(stats.get("received"), stats.get("sent"), stats)
        self.assertEqual(len(fileRecords(out)), stats.get("sent"))


class ExitTests(_Base):
    """
    A middleware that exits or is killed stops gor with exit code 1 and a
    message naming it, after delivering what it wrote.
    """

    @defer.inlineCallbacks
    def test_exits(self) -> Any:
        """
        A middleware exiting with status 7 after 3 messages, while the file
        still has 17 to replay: gor logs the status, delivers the 3, stops
        and exits 1 naming the middleware.
        """
        source = record(self.path("in.gor"), requests(20, gap=100 * MS))
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware", child("exit 3 7"))
        self.assertEqual(result.rc, 1, result.errText)
        self.assertRegex(result.errText, r"middleware \S+ \S+mw_child.py exit 3 7: exited with status 7 while gor was running")
        self.assertRegex(result.errText, r"summary: exit 1: middleware failed: middleware '\S+ \S+mw_child.py exit 3 7' exited with status 7")
        self.assertEqual(len(fileRecords(out)), 3)

    @defer.inlineCallbacks
    def test_killed(self) -> Any:
        """
        MW1's second half: the middleware killed with SIGKILL: gor says so
        and exits 1, without hanging.
        """
        source = record(self.path("in.gor"), requests(100, gap=100 * MS))
        gor = startGor("--input-file", source, "--output-null", "--middleware", child("echo"))
        self.addCleanup(gor.killIfRunning)
        yield waitUntil(lambda: re.search(r"started \(pid (\d+)\)", gor.logText), 30, describe=lambda: gor.logText)
        match = re.search(r"started \(pid (\d+)\)", gor.logText)
        assert match is not None
        os.kill(int(match.group(1)), signal.SIGKILL)
        result = yield gor.wait(30)
        self.assertEqual(result.rc, 1, result.errText)
        self.assertIn("echo: was killed by signal 9 while gor was running", result.errText)


class PrettifyTests(_Base):
    """
    C{--prettify-http} at a real target, and in what the middleware gets.
    """

    @defer.inlineCallbacks
    def test_gzipAndChunked(self) -> Any:
        """
        A gzipped POST and a chunked POST: the target receives them with
        plain bodies, a correct Content-Length and no Transfer-Encoding or
        Content-Encoding; the middleware saw them prettified too.
        """
        server = startServer(self)
        text = b'{"hello": "world", "n": 1}'
        packed = gzip.compress(text)
        gz = b"POST /gz HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
        chunked = (
            b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"4\r\nWiki\r\n5\r\npedia\r\ne\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
        )
        source = record(self.path("in.gor"), [Message(1, b"g" * 24, SEC, -1, gz), Message(1, b"c" * 24, SEC, -1, chunked)])
        result = yield runGor(
            "--input-file", source, "--output-http", f"http://127.0.0.1:{server.port}", "--prettify-http",
            "--middleware", child("plain"),
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        got = sorted(server.requests)
        self.assertEqual(len(got), 2, result.errText)
        # output-http sets Host to the target's
        byPath = {r.split(b" ", 2)[1]: re.sub(rb"Host: [^\r]*", b"Host: a", r) for r in got}
        self.assertEqual(
            byPath[b"/gz"], b"POST /gz HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(text) + text
        )
        self.assertEqual(
            byPath[b"/chunked"], b"POST /chunked HTTP/1.1\r\nContent-Length: 23\r\nHost: a\r\n\r\nWikipedia in\r\n\r\nchunks."
        )
        self.assertEqual(result.errText.count("stderr: plain"), 2, result.errText)
        self.assertNotIn("stderr: encoded", result.errText)
        self.assertEqual(counters(result.errText, "prettify").get("prettified"), 2)


class _Staging(Resource):
    """
    A target that issues its own tokens: C{POST /login} answers
    C{{"token": "stg-N"}}; C{GET /secret} is 200 only with
    C{Authorization: Bearer} one of them, else 401.
    """

    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.issued: list[str] = []
        self.secrets: list[tuple[int, str]] = []

    def render(self, request: Any) -> bytes:
        if request.path == b"/login":
            token = f"stg-{len(self.issued) + 1}-{os.urandom(4).hex()}"
            self.issued.append(token)
            request.setHeader(b"content-type", b"application/json")
            return json.dumps({"token": token}).encode()
        auth = (request.getHeader(b"authorization") or b"").decode()
        token = auth.partition("Bearer ")[2]
        status = 200 if token in self.issued else 401
        self.secrets.append((status, token))
        request.setResponseCode(status)
        return b"secret" if status == 200 else b"no"


def tokenRecording(path: str) -> str:
    """
    Production's traffic: two logins (production answered prod-1, prod-2),
    each followed 1.5 s later by requests carrying production's token.
    """

    def login(i: int, at: int, token: str) -> list[Message]:
        rid = b"login%019d" % i
        body = json.dumps({"token": token}).encode()
        return [
            Message(1, rid, at, -1, b"POST /login HTTP/1.1\r\nHost: prod\r\nContent-Length: 0\r\n\r\n"),
            Message(2, rid, at + MS, MS, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body),
        ]

    def secret(i: int, at: int, token: str) -> Message:
        return Message(1, b"secret%018d" % i, at, -1, b"GET /secret HTTP/1.1\r\nHost: prod\r\nAuthorization: Bearer %s\r\n\r\n" % token.encode())

    messages = [
        *login(1, SEC, "prod-1"),
        secret(1, SEC + 1500 * MS, "prod-1"),
        *login(2, SEC + 1600 * MS, "prod-2"),
        secret(2, SEC + 3100 * MS, "prod-2"),
        secret(3, SEC + 3200 * MS, "prod-1"),
    ]
    return record(path, messages)


class TokenModifierTests(_Base):
    """
    The example token modifier (examples/), as a program and in process,
    against a target issuing its own tokens.
    """

    @defer.inlineCallbacks
    def check(self, *middleware: str) -> Any:
        staging = _Staging()
        site = Site(staging)
        listening, port = listenLocal(site)
        self.addCleanup(listening.stopListening)
        source = tokenRecording(self.path("prod.gor"))
        result = yield runGor(
            "--input-file", source, "--output-http", f"http://127.0.0.1:{port}", "--output-http-track-response",
            *middleware,
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(staging.issued), 2, result.errText)
        first, second = staging.issued
        self.assertEqual(staging.secrets, [(200, first), (200, second), (200, first)], result.errText)
        return result

    def test_external(self) -> Any:
        """
        examples/token_modifier.py as --middleware: every secret request
        reaches staging with the token staging issued for its login.
        """
        return self.check("--middleware", f"{sys.executable} {os.path.join(REPO, 'examples', 'token_modifier.py')}")

    def test_inProcess(self) -> Any:
        """
        examples/token_modifier_inprocess.py as --middleware-python: the same.
        """
        return self.check("--middleware-python", "examples.token_modifier_inprocess:TokenModifier")

    @defer.inlineCallbacks
    def test_withoutMiddleware(self) -> Any:
        """
        The control: without the middleware staging refuses production's
        tokens (so the tests above can fail).
        """
        staging = _Staging()
        listening, port = listenLocal(Site(staging))
        self.addCleanup(listening.stopListening)
        source = tokenRecording(self.path("prod.gor"))
        result = yield runGor("--input-file", source, "--output-http", f"http://127.0.0.1:{port}")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual([s for s, _ in staging.secrets], [401, 401, 401])


class InProcessTests(_Base):
    """
    C{--middleware-python}: the same semantics without a child.
    """

    @defer.inlineCallbacks
    def test_dropChangeInject(self) -> Any:
        """
        Dropped, changed and injected messages, counted as for a program.
        """
        messages = requests(3)
        messages[1] = messages[1].replace(payload=b"GET /drop HTTP/1.1\r\nHost: a\r\n\r\n")
        messages[2] = messages[2].replace(payload=b"GET /inject HTTP/1.1\r\nHost: a\r\n\r\n")
        source = record(self.path("in.gor"), messages)
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware-python", "tests.mw_inprocess:DropInject")
        self.assertEqual(result.rc, 0, result.errText)
        got = fileRecords(out)
        self.assertEqual(
            [(m.id, m.payload) for m in got],
            [
                (messages[0].id, b"OPTIONS / HTTP/1.1\r\nX-Mw: 1\r\nHost: example.org\r\n\r\n"),
                (messages[2].id, b"GET /inject HTTP/1.1\r\nX-Mw: 1\r\nHost: a\r\n\r\n"),
                (b"inj" + messages[2].id, b"GET /injected HTTP/1.1\r\nHost: x\r\n\r\n"),
            ],
        )
        stats = counters(result.errText, "middleware")
        self.assertEqual(
            (stats.get("sent"), stats.get("received"), stats.get("injected"), stats.get("dropped_by_middleware")),
            (3, 2, 1, 1),
            stats,
        )

    @defer.inlineCallbacks
    def test_deferred(self) -> Any:
        """
        A middleware answering with Deferreds: everything arrives, also what
        is still pending when the file is exhausted.
        """
        source = record(self.path("in.gor"), requests(50))
        out = self.path("out.gor")
        result = yield runGor("--input-file", source, "--output-file", out, "--middleware-python", "tests.mw_inprocess:Later")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(fileRecords(out)), 50)
        self.assertEqual(counters(result.errText, "middleware").get("received"), 50)


class UsageTests(_Base):
    """
    Bad middleware flags exit 2 with one line naming the flag.
    """

    @defer.inlineCallbacks
    def usage(self, *args: str) -> Any:
        result = yield runGor("--input-dummy", "x", "--output-null", *args, timeout=30)
        self.assertEqual(result.rc, 2, result.errText)
        lines = result.errText.strip().splitlines()
        self.assertEqual(len(lines), 1, result.errText)
        return lines[0]

    @defer.inlineCallbacks
    def test_unknownProgram(self) -> Any:
        """
        A program that does not exist.
        """
        line = yield self.usage("--middleware", "no-such-program-here --flag")
        self.assertIn("--middleware: command not found: 'no-such-program-here'", line)

    @defer.inlineCallbacks
    def test_badPython(self) -> Any:
        """
        A module that cannot be imported; a name that is no middleware; no colon.
        """
        line = yield self.usage("--middleware-python", "no_such_module_xyz:Thing")
        self.assertIn("--middleware-python: cannot import 'no_such_module_xyz'", line)
        line = yield self.usage("--middleware-python", "tests.mw_inprocess:notAMiddleware")
        self.assertIn("does not provide IMiddleware", line)
        line = yield self.usage("--middleware-python", "tests.mw_inprocess")
        self.assertIn("expected MODULE:NAME", line)

    @defer.inlineCallbacks
    def test_both(self) -> Any:
        """
        Only one middleware at a time.
        """
        line = yield self.usage("--middleware", child("echo"), "--middleware-python", "tests.mw_inprocess:Later")
        self.assertIn("only one middleware", line)
