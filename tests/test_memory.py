"""
Memory bounded in bytes (issue 9 item 3): the read-ahead of C{--input-file},
the byte budget of C{--output-http}'s queue, the cap on the connections a
capture tracks.
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource

from twisted_gor._blockingio import SynchronousWorker
from twisted_gor.files.input import CHUNK_SIZE, FileInput, FileInputConfig
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryOutput

from tests.support import PeakRssSampler, freePort, runGor

MS = 1_000_000
GAP = 200_000
MiB = 1 << 20


def bigRecord(i: int, ts: int, size: int) -> bytes:
    head = b"POST /%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (i, size)
    return encodeMessage(Message(1, b"r%d" % i, ts, -1, head + b"b" * size))


def counters(text: str, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.search(r"summary: (\S+): (.*)$", line)
        if m and m.group(1).startswith(prefix):
            found = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split()) if v.isdigit()}
    return found


class FileReadAheadTests(SynchronousTestCase):
    """
    C{--input-file} reads ahead at most C{readAheadSize} bytes (plus one
    chunk), and nothing while paused; nothing is lost or stalled by it.
    """

    def write(self, records: list[bytes]) -> str:
        path = self.mktemp() + ".gor"
        with open(path, "wb") as f:
            f.write(b"".join(records))
        return path

    def replay(self, paths: list[str], **kw: object) -> tuple[FileInput, MemoryOutput, Clock]:
        clock = Clock()
        clock.advance(1000)
        config = FileInputConfig(pattern=paths[0], paths=paths, **kw)  # type: ignore[arg-type]
        fileInput = FileInput(config, clock)
        fileInput.workerFactory = SynchronousWorker
        out = MemoryOutput()
        Pipeline([(out, None)], clock=clock).connectInput(fileInput)
        self.addCleanup(fileInput.stopService)
        return fileInput, out, clock

    def test_boundedInBytes(self) -> None:
        """
        40 records of 1 MiB, one a second: with the default 16 MiB budget the
        input holds about 17 MiB read ahead, not the whole file (the old
        read-ahead of 4,096 records read all of it); every record still comes
        out, in order, though the budget holds fewer records than the read
        depth.
        """
        path = self.write([bigRecord(i, 5_000 * MS + i * 1000 * MS, MiB) for i in range(40)])
        fileInput, out, clock = self.replay([path])
        fileInput.startService()
        clock.advance(0)
        budget = 16 * MiB  # FileInputConfig.readAheadSize
        self.assertLessEqual(fileInput.stats["bytes"], budget + 2 * CHUNK_SIZE)
        self.assertEqual(len(out.messages), 1)
        for _ in range(45):
            clock.advance(1.0)
            self.assertLessEqual(fileInput.stats["bytes"] - sum(len(m.payload) for m in out.messages), budget + 2 * CHUNK_SIZE)
        self.assertEqual([m.id for m in out.messages], [b"r%d" % i for i in range(40)])

    def test_noReadingWhilePaused(self) -> None:
        """
        A paused input reads at most the chunk in flight; resumed, it reads
        and emits everything.
        """
        path = self.write([bigRecord(i, 5_000 * MS + i * MS, 64 * 1024) for i in range(100)])
        fileInput, out, clock = self.replay([path], speed=float("inf"))
        fileInput.pauseProducing()
        fileInput.startService()
        for _ in range(10):
            clock.advance(0.1)
        self.assertLessEqual(fileInput.stats["bytes"], CHUNK_SIZE)
        self.assertEqual(out.messages, [])
        fileInput.resumeProducing()
        for _ in range(10):
            clock.advance(0)
        self.assertEqual(len(out.messages), 100)

    def test_mergeWithinBudget(self) -> None:
        """
        Two files whose records interleave, with a budget smaller than one
        chunk: each file still reads (one with nothing held always may), the
        merge emits every record in timestamp order.
        """
        a = self.write([bigRecord(i, 5_000 * MS + (2 * i) * MS, 10_000) for i in range(50)])
        b = self.write([bigRecord(100 + i, 5_000 * MS + (2 * i + 1) * MS, 10_000) for i in range(50)])
        fileInput, out, clock = self.replay([a, b], speed=float("inf"), readAheadSize=20_000)
        fileInput.startService()
        for _ in range(20):
            clock.advance(0)
        self.assertEqual(len(out.messages), 100)
        stamps = [m.timestamp for m in out.messages]
        self.assertEqual(stamps, sorted(stamps))


class FlagsTests(SynchronousTestCase):
    """
    The new byte budgets are flags whose defaults are the config types'.
    """

    def test_flags(self) -> None:
        """
        C{--input-file-read-ahead-size} and C{--output-http-queue-size} set
        the config; C{--help} shows their defaults.
        """
        from twisted_gor.cli.tap import Options
        from twisted_gor.http.output import HttpOutputConfig

        path = os.path.abspath(self.mktemp())
        with open(path, "wb"):
            pass
        options = Options()
        options.parseOptions(
            ["--input-file", path, "--input-file-read-ahead-size", "2mb",
             "--output-http", "http://h:1", "--output-http-queue-size", "1mb"]
        )
        config = options.config
        assert config is not None
        self.assertEqual(config.inputs[0].readAheadSize, 2 * MiB)  # type: ignore[attr-defined]
        [http] = [o for o in config.outputs if isinstance(o, HttpOutputConfig)]
        self.assertEqual(http.queueBytes, MiB)
        text = " ".join(str(Options()).split())
        self.assertIn("--input-file-read-ahead-size", text)
        self.assertIn("--output-http-queue-size", text)
        self.assertIn("(default 16mb)", text[text.index("--input-file-read-ahead-size"):])
        self.assertIn("(default 64mb)", text[text.index("--output-http-queue-size"):])


class QueueSizeCommandTests(TestCase):
    """
    C{--output-http-queue-size} through the real command.
    """

    @defer.inlineCallbacks
    def test_overflowCounted(self) -> Any:
        """
        Requests larger than the queue's byte budget are dropped and counted
        as C{dropped.queue_full} in the exit summary; with the default budget
        none are.
        """
        path = os.path.abspath(self.mktemp()) + ".gor"
        with open(path, "wb") as f:
            f.write(b"".join(bigRecord(i, 5_000 * MS + i * MS, 100_000) for i in range(20)))
        port = freePort()
        small = yield runGor(
            "--input-file", path + "|max", "--output-http", f"127.0.0.1:{port}",
            "--output-http-queue-size", "64kb", "--output-http-timeout", "1s",
        )
        c = counters(small.errText, "output_http")
        # none fits the queue; only one handed straight to a free worker is sent
        self.assertEqual(c.get("dropped.queue_full", 0) + c.get("sent", 0), 20, small.errText)
        self.assertGreaterEqual(c.get("dropped.queue_full", 0), 10, small.errText)
        default = yield runGor(
            "--input-file", path + "|max", "--output-http", f"127.0.0.1:{port}", "--output-http-timeout", "1s",
        )
        c = counters(default.errText, "output_http")
        self.assertEqual(c.get("dropped.queue_full", 0), 0, default.errText)
        # all sent and failed (refused, or counted at once once the target's circuit opened)
        self.assertEqual(c.get("failed.refused", 0) + c.get("failed.target_down", 0), 20, default.errText)


class ConnectionCapTests(TestCase):
    """
    C{--input-raw-max-connections} through the real command, on a generated
    pcap file.
    """

    def capture(self) -> str:
        """
        2,000 SYNs from distinct addresses with three real requests among
        them, 0.2 ms apart: one whose handshake comes first and whose request comes after
        all the SYNs (its connection is evicted while idle), one in the
        middle, one at the end.
        """
        from tests.pcapgen import SYN, Conversation, writePcap

        start = 1_600_000_000_000_000_000
        packets: list[tuple[int, bytes]] = []
        early = Conversation(client=("10.1.0.1", 40001), start=start, step=1000).handshake()
        packets += early.packets
        early.packets = []
        for i in range(2000):
            address = f"11.0.{i // 250}.{i % 250 + 1}"
            frame = Conversation(client=(address, 30000 + i)).frame(True, i * 7919, 0, SYN)
            packets.append((start + 1_000_000 + i * GAP, frame))
        middle = Conversation(client=("10.1.0.2", 40002), start=start + 1_000_000 + 1000 * GAP + 500, step=10)
        middle.handshake().send(b"GET /middle HTTP/1.1\r\nHost: a\r\n\r\n").close()
        packets += middle.packets
        early.now = start + 1_000_000 + 2000 * GAP + 1000
        early.send(b"GET /early HTTP/1.1\r\nHost: a\r\n\r\n").close()
        packets += early.packets
        late = Conversation(client=("10.1.0.3", 40003), start=early.now + 1000)
        late.handshake().send(b"POST /late HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok").close()
        packets += late.packets
        packets.sort(key=lambda p: p[0])
        path = os.path.abspath(self.mktemp()) + ".pcap"
        writePcap(path, packets)
        return path

    @defer.inlineCallbacks
    def test_evictionCountedRequestsKept(self) -> Any:
        """
        With at most 100 connections the SYNs evict connections, counted as
        C{dropped.evicted_connections} in the exit summary and in C{--stats};
        the three real requests still come out.
        """
        path = self.capture()
        result = yield runGor(
            "--input-raw", path + ":80", "--input-raw-engine", "pcap_file", "--input-raw-max-connections", "100",
            "--input-raw-original-timing", "--output-stdout", "--stats", "--stats-interval", "100ms",
        )
        c = counters(result.errText, "input_raw")
        self.assertGreaterEqual(c.get("dropped.evicted_connections", 0), 1900, result.errText)
        out = result.out
        for path_ in (b"GET /early ", b"GET /middle ", b"POST /late "):
            self.assertIn(path_, out, result.errText)
        self.assertEqual(out.count(b"HTTP/1.1\r\nHost: a"), 3)
        self.assertRegex(result.errText, r"stats: input_raw\(.*dropped\.evicted_connections=\d+")


class EvictionTests(SynchronousTestCase):
    """
    L{Tracker.evict}: the least recently active connections go first, idle
    ones before those holding a partial message.
    """

    def test_idleOldestFirst(self) -> None:
        """
        With room for 8 connections, a connection in the middle of a request
        survives 100 later SYNs and its request completes; the idle ones
        are evicted and counted.
        """
        import socket

        from twisted_gor.raw.decode import ACK, PSH, SYN
        from twisted_gor.raw.reassembly import Tracker
        from twisted_gor.stats import Counters

        emitted: list[bytes] = []
        stats = Counters()
        tracker = Tracker(lambda t, i, ts, lat, p: emitted.append(p), stats, frozenset({80}), maxConnections=8)
        server = socket.inet_aton("10.0.0.2")

        def seg(ts: int, client: int, sport: int, seq: int, flags: int, payload: bytes = b"") -> None:
            src = socket.inet_aton(f"11.0.{client >> 8}.{client & 255}")
            tracker.segment(ts, (src, server, sport, 80, seq, 1, flags, payload, False))

        seg(1, 1, 1000, 99, SYN)
        seg(2, 1, 1000, 100, PSH | ACK, b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab")
        for i in range(100):
            seg(10 + i, 2 + i, 2000 + i, 5, SYN)
        self.assertLessEqual(len(tracker.connections), 8)
        self.assertGreaterEqual(stats["dropped.evicted_connections"], 93)
        seg(200, 1, 1000, 100 + 38 + 2, PSH | ACK, b"cd")
        self.assertEqual(len(emitted), 1)
        self.assertTrue(emitted[0].endswith(b"abcd"))


class InputHttpBodyBoundTests(TestCase):
    """
    C{--input-http} keeps at most C{--copy-buffer-size} of a request, however
    large the upload, and counts the cut.
    """

    timeout = 90

    @defer.inlineCallbacks
    def test_hugePostBounded(self) -> Any:
        """
        A 96 MiB POST with C{--copy-buffer-size 1mb}: the recording holds the
        first 1 MiB, the cut is counted, and gor's peak RSS stays far below
        the upload's size (it held the whole body before).
        """
        from tests.support import startGor
        from tests.test_http_e2e import sendRequests
        from twisted_gor.framing import iterMessages

        port = freePort()
        out = os.path.abspath(self.mktemp())
        gor = startGor("--input-http", f"127.0.0.1:{port}", "--output-file", out, "--copy-buffer-size", "1mb")
        self.addCleanup(gor.signal, "KILL")
        yield gor.waitForLog("input-http listening")
        size = 96 * 1024 * 1024
        request = b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
        yield sendRequests(port, request, 1)
        with open(f"/proc/{gor.pid}/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        gor.signal("TERM")
        result = yield gor.wait(60)
        with open(out, "rb") as f:
            [message] = list(iterMessages(f.read()))
        self.assertEqual(len(message.payload), 1024 * 1024)
        self.assertTrue(message.payload.startswith(b"POST /upload HTTP/1.1\r\n"))
        self.assertRegex(result.errText, r"summary: pipeline:.*truncated=1")
        self.assertLess(peak, 60 * 1024, f"peak RSS {peak} kB")


class _BigResource(Resource):
    """
    Answers every request with the same big body.
    """

    isLeaf = True

    def __init__(self, body: bytes) -> None:
        Resource.__init__(self)
        self.body = body
        self.requests = 0

    def render(self, request: Any) -> bytes:
        self.requests += 1
        return self.body


class ResponseBudgetTests(TestCase):
    """
    C{--output-http-response-budget}: the responses kept by
    C{--output-http-track-response} share one budget across the workers.
    """

    timeout = 120

    @defer.inlineCallbacks
    def test_bigResponsesBounded(self) -> Any:
        """
        20 workers replaying to a target answering 2 MiB bodies, with an 8 MiB
        budget: the cuts are counted as C{responses.budget_limited}, every
        request is accounted for, and gor's peak RSS stays far below the
        40 MiB the workers would keep without the budget (plus their copies).
        """
        from twisted.internet import reactor
        from twisted.web.server import Site

        from tests.support import listenLocal, startGor
        from tests.test_http_e2e import counters as summary

        count = 80
        resource = _BigResource(b"x" * (2 * MiB))
        site = Site(resource)
        site.displayTracebacks = False
        listening, port = listenLocal(site)
        self.addCleanup(listening.stopListening)
        source = os.path.abspath(self.mktemp())
        with open(source, "wb") as f:
            for i in range(count):
                f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000, -1, b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)))
        out = os.path.abspath(self.mktemp())
        gor = startGor(
            "--input-file", source + "|max", "--output-http", f"http://127.0.0.1:{port}",
            "--output-http-workers", "20", "--output-http-track-response",
            "--output-http-response-budget", "8mb", "--output-file", out,
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        assert gor.pid is not None
        pid = gor.pid
        sampler = PeakRssSampler(reactor, pid, 0.02)
        self.addCleanup(sampler.stop)
        result = yield gor.wait(90)
        sampler.stop()
        self.assertEqual(result.rc, 0, result.errText)
        stats = summary(result.errText, "output_http")
        self.assertTrue(stats.get("responses.budget_limited", 0) > 0, stats)
        self.assertEqual(stats.get("sent"), count, stats)
        self.assertEqual(stats.get("succeeded"), count, stats)
        self.assertEqual(resource.requests, count)
        self.assertTrue(sampler.peaks, "no RSS sample")
        peak = sampler.peak
        # About 62 MB (106 MB without a budget). Samples taken before the
        # child's exec read the test runner's peak (up to 250 MB late in a
        # run); peakRss skips those.
        self.assertLess(peak, 100 * 1024, f"peak RSS {peak} kB; {stats}")
