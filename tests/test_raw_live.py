"""
Live capture tests on loopback (root only): a real twisted.web server, real
clients in a subprocess, L{twisted_gor.raw.input.RawInput} capturing; and the
same through the real C{gor} command writing a file.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from twisted.internet import reactor as globalReactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web import resource, server

from tests.support import listenLocal, waitUntil
from twisted_gor.testing import MessageCollector
from twisted_gor.framing import RecordDecoder
from twisted_gor.message import Message
from twisted_gor.raw.input import RawInput, RawInputConfig

CLIENT = r'''
import socket, sys, time
mode, host, port, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
sent, recv = [], []

def connect():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((host, port))
    return s

class Reader:
    def __init__(self, s):
        self.s, self.buf = s, b""
    def fill(self):
        data = self.s.recv(1 << 20)
        if not data:
            raise EOFError()
        self.buf += data
    def response(self, head=False):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        end = self.buf.index(b"\r\n\r\n") + 4
        headers = self.buf[:end].lower()
        status = int(headers[9:12])
        length = 0
        if b"content-length:" in headers and not head and status not in (204, 304):
            length = int(headers.split(b"content-length:")[1].split(b"\r\n")[0])
        while len(self.buf) < end + length:
            self.fill()
        message, self.buf = self.buf[: end + length], self.buf[end + length :]
        recv.append(message)
        return message

def send(s, data):
    sent.append(data)
    s.sendall(data)

def get(path, method=b"GET", extra=b""):
    return method + b" " + path + b" HTTP/1.1\r\nHost: test\r\n" + extra + b"\r\n"

if mode == "single":
    for i in range(5):
        s = connect()
        send(s, get(b"/single/%d" % i, extra=b"Connection: close\r\n"))
        Reader(s).response()
        s.close()
elif mode == "keepalive":
    s = connect(); r = Reader(s)
    for i in range(10):
        send(s, get(b"/ka/%d" % i)); r.response()
    s.close()
elif mode == "pipelined":
    s = connect(); r = Reader(s)
    reqs = [get(b"/p/%d" % i) for i in range(4)]
    sent.extend(reqs); s.sendall(b"".join(reqs))
    for i in range(4):
        r.response()
    s.close()
elif mode == "chunked":
    s = connect(); r = Reader(s)
    send(s, b"POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"5\r\nhello\r\n", b"1", b"0\r\n", b"0123456789abcdef\r\n", b"3\r\nend\r", b"\n", b"0\r\n\r\n"):
        time.sleep(0.02)
        sent[-1] += piece
        s.sendall(piece)
    r.response()
    s.close()
elif mode == "big":
    s = connect(); r = Reader(s)
    body = bytes(range(256)) * (5000000 // 256) + b"tail"
    send(s, b"POST /big HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    r.response()
    s.close()
elif mode == "nobody":
    s = connect(); r = Reader(s)
    send(s, get(b"/head", b"HEAD")); r.response(head=True)
    send(s, get(b"/nocontent")); r.response()
    send(s, get(b"/notmodified")); r.response()
    send(s, get(b"/after")); r.response()
    s.close()
open(prefix + ".sent", "wb").write(b"".join(sent))
open(prefix + ".recv", "wb").write(b"".join(recv))
open(prefix + ".count", "w").write("%d %d" % (len(sent), len(recv)))
'''


class Site(resource.Resource):
    """
    Answers GET/HEAD/POST; /nocontent is 204, /notmodified is 304.
    """

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        if request.path == b"/nocontent":
            request.setResponseCode(204)
            return b""
        if request.path == b"/notmodified":
            request.setResponseCode(304)
            return b""
        return b"hello " + request.path

    def render_POST(self, request: Any) -> bytes:
        return b"got %d bytes" % (len(request.content.read()),)




def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class LiveCaptureTests(TestCase):
    """
    Capture real loopback traffic with track-response: every request and
    response byte-exact, ids paired.
    """

    timeout = 60

    def setUp(self) -> None:
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")

    async def _capture(self, mode: str, host: str = "127.0.0.1") -> None:
        listening, port = listenLocal(server.Site(Site()), host, globalReactor)
        self.addCleanup(listening.stopListening)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raw = RawInput(RawInputConfig(address=address, trackResponse=True, bufferSize=32 << 20), reactor=globalReactor)
        collector = MessageCollector()
        raw.setReceiver(collector)
        raw.privilegedStartService()
        raw.startService()
        self.addCleanup(raw.stopService)
        prefix = self.mktemp()
        from twisted.internet.utils import getProcessOutputAndValue

        out, err, code = await getProcessOutputAndValue(
            sys.executable, ["-c", CLIENT, mode, host, str(port), prefix], env=os.environ
        )
        self.assertEqual(code, 0, err.decode())
        sent = open(prefix + ".sent", "rb").read()
        received = open(prefix + ".recv", "rb").read()
        nsent, nrecv = map(int, open(prefix + ".count").read().split())
        # the client is done; the capture may still be reading its packets
        await waitUntil(
            lambda: len(collector.messages) >= nsent + nrecv,
            30,
            describe=lambda: f"{len(collector.messages)} of {nsent + nrecv} messages captured; {raw.stats.format()}",
        )
        requests = [m for m in collector.messages if m.type == 1]
        responses = [m for m in collector.messages if m.type == 2]
        self.assertEqual(b"".join(m.payload for m in requests), sent)
        self.assertEqual(b"".join(m.payload for m in responses), received)
        self.assertEqual(len(requests), nsent)
        self.assertEqual([m.id for m in requests], [m.id for m in responses])
        self.assertEqual(raw.stats.total("dropped"), 0, raw.stats.format())

    async def test_single(self) -> None:
        """
        One request per connection.
        """
        await self._capture("single")

    async def test_keepAlive(self) -> None:
        """
        Ten requests on one kept-alive connection.
        """
        await self._capture("keepalive")

    async def test_pipelined(self) -> None:
        """
        Four pipelined requests sent at once.
        """
        await self._capture("pipelined")

    async def test_chunkedUpload(self) -> None:
        """
        A chunked upload with chunk pieces in separate packets.
        """
        await self._capture("chunked")

    async def test_bigPost(self) -> None:
        """
        A 5 MB POST body.
        """
        await self._capture("big")

    async def test_noBody(self) -> None:
        """
        HEAD, 204 and 304 responses (no body) keep the connection in step.
        """
        await self._capture("nobody")

    async def test_ipv6(self) -> None:
        """
        Keep-alive requests over IPv6 loopback.
        """
        if not _ipv6():
            raise SkipTest("no IPv6 loopback")
        await self._capture("keepalive", "::1")


def _readGor(path: str) -> list[Message]:
    """
    Every record in the file at C{path}.
    """
    decoder = RecordDecoder(lambda offset, reason: None)
    with open(path, "rb") as f:
        messages = decoder.feed(f.read())
    decoder.finish()
    return messages + decoder.feed(b"")


def _recordsSoFar(path: str) -> int:
    """
    How many records C{gor} has written to C{path} so far: none while the
    file does not exist yet (the first poll can come before gor creates it).
    """
    try:
        return len(_readGor(path))
    except FileNotFoundError:
        return 0


class GorCommandTests(TestCase):
    """
    The real C{gor} command: a pcap file (no root) and a live capture (root)
    written to C{--output-file}.
    """

    timeout = 90

    async def test_pcapFile(self) -> None:
        """
        C{gor --input-raw FILE.pcap:80 --output-file F} writes the pairs and
        exits 0 at the end of the file.
        """
        from tests.pcapgen import Conversation, writePcap
        from tests.support import runGor

        c = Conversation().handshake()
        req = b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        c.send(req, sizes=[5]).send(resp, False).close()
        pcapPath = os.path.abspath(self.mktemp() + ".pcap")
        writePcap(pcapPath, c.packets)
        out = os.path.abspath(self.mktemp() + ".gor")
        result = await runGor("--input-raw", pcapPath + ":80", "--input-raw-track-response", "--output-file", out, timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        messages = _readGor(out)
        self.assertEqual([(m.type, m.payload) for m in messages], [(1, req), (2, resp)])
        self.assertEqual(messages[0].id, messages[1].id)

    async def test_liveToFile(self) -> None:
        """
        C{gor --input-raw 127.0.0.1:PORT --input-raw-track-response
        --output-file F}: every request and response byte-exact, ids paired.
        """
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        from tests.support import startGor

        listening, port = listenLocal(server.Site(Site()), "127.0.0.1", globalReactor)
        self.addCleanup(listening.stopListening)
        out = os.path.abspath(self.mktemp() + ".gor")
        gor = startGor(
            "--input-raw", f"127.0.0.1:{port}", "--input-raw-track-response", "--output-file", out,
            "--output-file-flush-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(80)
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            prefix = os.path.abspath(self.mktemp())
            for mode in ("keepalive", "pipelined", "nobody"):
                _, err, code = await getProcessOutputAndValue(
                    sys.executable, ["-c", CLIENT, mode, "127.0.0.1", str(port), prefix + mode], env=os.environ
                )
                self.assertEqual(code, 0, err.decode())
            counts = [open(prefix + mode + ".count").read().split() for mode in ("keepalive", "pipelined", "nobody")]
            total = sum(int(n) for pair in counts for n in pair)
            # every request and response captured and on disk
            await waitUntil(
                lambda: _recordsSoFar(out) >= total,
                30,
                describe=lambda: f"{_recordsSoFar(out)} of {total} records written:\n{gor.logText}",
            )
        finally:
            gor.signal("INT")
        result = await ended
        messages = _readGor(out)
        sent = b"".join(open(prefix + mode + ".sent", "rb").read() for mode in ("keepalive", "pipelined", "nobody"))
        received = b"".join(open(prefix + mode + ".recv", "rb").read() for mode in ("keepalive", "pipelined", "nobody"))
        requests = [m for m in messages if m.type == 1]
        responses = [m for m in messages if m.type == 2]
        self.assertEqual(b"".join(m.payload for m in requests), sent, result.errText)
        self.assertEqual(b"".join(m.payload for m in responses), received)
        self.assertEqual([m.id for m in requests], [m.id for m in responses])


    async def test_stopKeepsWhatWasCaptured(self) -> None:
        """
        Requests answered just before C{gor} is told to stop are in the file:
        the buffer timeout (1 s here, so that the requests are surely still in
        a kernel block when the signal comes) keeps them in the ring, and
        stopping reads the ring for one more timeout before it closes the
        capture.
        """
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        from tests.support import startGor

        listening, port = listenLocal(server.Site(Site()), "127.0.0.1", globalReactor)
        self.addCleanup(listening.stopListening)
        out = os.path.abspath(self.mktemp() + ".gor")
        gor = startGor("--input-raw", f"127.0.0.1:{port}", "--input-raw-buffer-timeout", "1s", "--output-file", out)
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(60)
        prefix = os.path.abspath(self.mktemp())
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            _, err, code = await getProcessOutputAndValue(
                sys.executable, ["-c", CLIENT, "keepalive", "127.0.0.1", str(port), prefix], env=os.environ
            )
            self.assertEqual(code, 0, err.decode())
        finally:
            gor.signal("INT")  # at once: the last requests are still in the ring
        result = await ended
        self.assertEqual(result.rc, 0, result.errText)
        requests = [m for m in _readGor(out) if m.type == 1]
        self.assertEqual(b"".join(m.payload for m in requests), open(prefix + ".sent", "rb").read(), result.errText)


class CountingSite(Site):
    """
    Counts the requests it answers.
    """

    def __init__(self) -> None:
        Site.__init__(self)
        self.count = 0

    def render_GET(self, request: Any) -> bytes:
        self.count += 1
        return Site.render_GET(self, request)


class SelfCaptureTests(TestCase):
    """
    Replaying to the captured port does not capture the replay again.
    """

    timeout = 90

    async def test_replayToCapturedPort(self) -> None:
        """
        C{gor --input-raw 127.0.0.1:P --output-http http://127.0.0.1:P}: each
        request reaches the server twice (original and replay), never more,
        and the replays are counted as skipped self-capture.
        """
        if os.geteuid() != 0:
            raise SkipTest("needs root (CAP_NET_RAW) to capture on loopback; CI runs as root")
        from twisted.internet.utils import getProcessOutputAndValue

        from tests.support import startGor

        site = CountingSite()
        listening, port = listenLocal(server.Site(site), "127.0.0.1", globalReactor)
        self.addCleanup(listening.stopListening)
        gor = startGor(
            "--input-raw", f"127.0.0.1:{port}", "--output-http", f"http://127.0.0.1:{port}",
            "--stats", "--stats-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        ended = gor.wait(80)
        try:
            await gor.waitForLog(": capturing on", timeout=30)
            prefix = os.path.abspath(self.mktemp())
            _, err, code = await getProcessOutputAndValue(
                sys.executable, ["-c", CLIENT, "keepalive", "127.0.0.1", str(port), prefix], env=os.environ
            )
            self.assertEqual(code, 0, err.decode())
            # Rather than waiting to see that no third copy arrives: wait until
            # the capture saw all ten replays and skipped them as its own.
            await waitUntil(
                lambda: site.count >= 20 and gor.counters("input_raw").get("skipped.self_capture", 0) >= 10,
                30,
                describe=lambda: f"{site.count} requests served:\n{gor.logText}",
            )
        finally:
            gor.signal("INT")
        result = await ended
        self.assertEqual(site.count, 20, result.errText)
        self.assertIn("skipped.self_capture=10", result.errText)
