"""
Tests for L{twisted_gor.http.circuit}: dead and refusing targets cost
nothing, and a target that comes back is replayed to again.
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor.framing import encodeMessage
from twisted_gor.http.circuit import CLOSED, OPEN, PROBING, Circuit
from twisted_gor.message import REQUEST, Message

from tests.support import freePort, runGor, startGor

reactor: Any = _reactor


class CircuitTests(SynchronousTestCase):
    """
    The state machine on a fake clock.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.circuit = Circuit(self.clock, threshold=3, initialDelay=1.0, maxDelay=4.0)

    def test_opensAfterThreshold(self) -> None:
        """
        Three down-failures in a row open it; the third says so.
        """
        c = self.circuit
        self.assertEqual([c.failed("refused"), c.failed("refused"), c.failed("timeout")], [False, False, True])
        self.assertEqual((c.state, c.lastReason), (OPEN, "timeout"))
        self.assertFalse(c.allow())

    def test_successResetsCount(self) -> None:
        """
        A success between failures keeps it closed.
        """
        c = self.circuit
        c.failed("refused")
        c.failed("refused")
        self.assertFalse(c.succeeded())
        c.failed("refused")
        c.failed("refused")
        self.assertEqual(c.state, CLOSED)

    def test_otherFailuresDoNotCount(self) -> None:
        """
        A bad response or a TLS failure is not a sign the target is down.
        """
        for _ in range(10):
            self.assertFalse(self.circuit.failed("bad_response"))
            self.circuit.failed("tls")
        self.assertEqual(self.circuit.state, CLOSED)

    def test_probeAndBackoff(self) -> None:
        """
        Open, one request is let through when due; a failed probe doubles the
        delay up to the maximum; a successful one closes and resets it.
        """
        c = self.circuit
        for _ in range(3):
            c.failed("refused")
        self.clock.advance(0.9)
        self.assertFalse(c.allow())
        self.clock.advance(0.1)
        self.assertTrue(c.allow())
        self.assertEqual(c.state, PROBING)
        self.assertFalse(c.allow())
        delays = []
        for _ in range(4):
            c.failed("refused")
            delays.append(c.delay)
            self.clock.advance(c.delay)
            self.assertTrue(c.allow())
        self.assertEqual(delays, [2.0, 4.0, 4.0, 4.0])
        self.assertTrue(c.succeeded())
        self.assertEqual((c.state, c.delay), (CLOSED, 1.0))
        self.assertTrue(c.allow())


def writeRequests(path: str, count: int, gapMs: int) -> None:
    with open(path, "wb") as f:
        for i in range(count):
            payload = b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
            f.write(encodeMessage(Message(REQUEST, b"%024x" % i, 1_000_000_000 + i * gapMs * 1_000_000, -1, payload)))


def summary(text: str) -> dict[str, int]:
    [line] = [line for line in text.splitlines() if "summary: output_http(" in line]
    return {k: int(v) for k, v in re.findall(r"([a-z_.]+)=(\d+)", line.split("):", 1)[1])}


class DeadTargetTests(TestCase):
    """
    Through the real command.
    """

    timeout = 60

    async def test_refusingTarget(self) -> None:
        """
        3,000 requests to a port that refuses: a handful of connection
        attempts, every request accounted for, one warning.
        """
        path = os.path.abspath(self.mktemp())
        writeRequests(path, 3000, 0)
        result = await runGor("--input-file", path + "|max", "--output-http", f"http://127.0.0.1:{freePort()}")
        self.assertEqual(result.rc, 0, result.errText)
        counts = summary(result.errText)
        self.assertEqual(counts["sent"], 3000)
        self.assertEqual(counts["failed.refused"] + counts["failed.target_down"], 3000)
        self.assertLess(counts["connections"], 50)
        self.assertEqual(result.errText.count("target refusing connections"), 1)

    async def test_blackHole(self) -> None:
        """
        A target that accepts and never answers: gor never has more sockets
        open than workers, and once the circuit opens no more requests wait
        on it.
        """
        from twisted.internet.task import LoopingCall

        port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        path = os.path.abspath(self.mktemp())
        writeRequests(path, 1000, 1)
        gor = startGor(
            "--input-file", path, "--output-http", f"http://127.0.0.1:{port.getHost().port}",
            "--output-http-workers", "4", "--output-http-timeout", "200ms",
        )
        peak = [0]

        def sample() -> None:
            try:
                links = [os.readlink(f"/proc/{gor.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{gor.pid}/fd")]
            except OSError:
                return  # exited, or an fd closed while listing
            peak[0] = max(peak[0], sum(1 for link in links if link.startswith("socket:")))

        sampler = LoopingCall(sample)
        sampler.clock = reactor
        sampler.start(0.005)
        result = await gor.wait()
        sampler.stop()
        self.assertEqual(result.rc, 0, result.errText)
        counts = summary(result.errText)
        self.assertEqual(counts["sent"], 1000)
        self.assertEqual(counts["failed.timeout"] + counts["failed.target_down"], 1000)
        self.assertGreater(counts["failed.target_down"], 900)
        self.assertGreater(peak[0], 0)
        self.assertLessEqual(peak[0], 4)
        self.assertIn("target not answering", result.errText)

    async def test_targetComesBack(self) -> None:
        """
        A target refusing at first, then listening: gor backs off, probes, and
        replays the rest to it.
        """
        from twisted.web.resource import Resource
        from twisted.web.server import Site

        class Hello(Resource):
            isLeaf = True

            def render_GET(self, request: Any) -> bytes:
                return b"hello"

        number = freePort()
        path = os.path.abspath(self.mktemp())
        writeRequests(path, 600, 10)
        gor = startGor("--input-file", path, "--output-http", f"http://127.0.0.1:{number}")
        await gor.waitForLog("backing off")
        port = reactor.listenTCP(number, Site(Hello()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        result = await gor.wait()
        self.assertEqual(result.rc, 0, result.errText)
        counts = summary(result.errText)
        self.assertGreater(counts["succeeded"], 100)
        self.assertEqual(counts["sent"], 600)
        self.assertEqual(
            counts["succeeded"] + counts.get("failed.refused", 0) + counts.get("failed.target_down", 0), 600
        )
        self.assertIn("target answering again", result.errText)
