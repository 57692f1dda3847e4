"""
End-to-end tests of the gor-to-gor relay with real processes: C{gor
--input-file --output-tcp} feeding C{gor --input-tcp --output-file}, restarts,
TLS, and bad input against a running C{--input-tcp}.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, DeferredList, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from twisted_gor.framing import SEPARATOR, encodeMessage, iterMessages
from twisted_gor.message import Message
from tests.certs import makeCertificates
from tests.support import GOR, GorProcess, fileRecords, freePort, waitUntil

reactor: Any = _reactor

BASE_TS = 1_700_000_000_000_000_000


def records(count: int, start: int = 0, spacing: int = 10_000, offset: int = 0) -> list[Message]:
    """
    Requests and responses of varied sizes (some with binary bytes and newlines).
    """
    out = []
    for i in range(start, start + count):
        id_ = b"%024x" % i
        body = bytes((i * 7 + k) % 256 for k in range(i % 50)) + b"\n\nend"
        req = b"POST /r/%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)
        ts = BASE_TS + offset + (i - start) * spacing
        out.append(Message(1, id_, ts, -1, req))
        if i % 2 == 0:
            out.append(Message(2, id_, ts + 1, 12345, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    return out


def writeFile(path: str, messages: list[Message]) -> None:
    with open(path, "wb") as f:
        for m in messages:
            f.write(encodeMessage(m))


def readRecords(*paths: str) -> list[bytes]:
    """
    Every record (meta + payload) of the files, sorted.
    """
    found: list[bytes] = []
    for path in paths:
        if os.path.exists(path):
            with open(path, "rb") as f:
                found.extend(m.meta() + b"\n" + m.payload for m in iterMessages(f.read()))
    return sorted(found)


def expected(messages: list[Message]) -> list[bytes]:
    return sorted(m.meta() + b"\n" + m.payload for m in messages)


def gor(*args: str) -> GorProcess:
    return GorProcess(reactor, [*GOR, *args]).start()


class RelayTestBase(TestCase):
    """
    Helpers: a temp dir, receivers, cleanup of every process started.
    """

    timeout = 60

    def setUp(self) -> None:
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.processes: list[GorProcess] = []
        self.addCleanup(self._stopAll)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def start(self, *args: str) -> GorProcess:
        process = gor(*args)
        self.processes.append(process)
        return process

    @inlineCallbacks
    def receiver(self, port: int, out: str, *extra: str) -> Any:
        process = self.start(
            "--input-tcp", f"127.0.0.1:{port}", "--output-file", out, "--output-file-flush-interval", "100ms", *extra
        )
        yield process.waitForLog("input_tcp: listening", timeout=20)
        return process

    def waitForRecords(self, count: int, *paths: str, process: GorProcess | None = None) -> Deferred[None]:
        """
        Wait until the files at C{paths} hold at least C{count} complete
        records between them (the receiver flushes every 100ms): what a sender
        that exited has sent may still be on its way to the receiver's file.
        """

        def describe() -> str:
            got = sum(len(fileRecords(path)) for path in paths)
            return f"{got} of {count} records in {paths}" + (f"; receiver:\n{process.logText}" if process else "")

        return waitUntil(lambda: sum(len(fileRecords(path)) for path in paths) >= count, 30, describe=describe)

    @inlineCallbacks
    def finish(self, process: GorProcess, signal: str | None = "TERM", timeout: float = 30) -> Any:
        if signal:
            process.signal(signal)
        result = yield process.wait(timeout)
        return result

    def _stopAll(self) -> Deferred[Any]:
        waits = []
        for process in self.processes:
            if not process.ended.called:
                process.signal("KILL")
                waits.append(process.wait(10))
        return DeferredList(waits)


class RelayTests(RelayTestBase):
    """
    Records travel byte-exact through output-tcp and input-tcp.
    """

    @inlineCallbacks
    def test_byteExactOneWorker(self) -> Any:
        """
        With one connection, the receiver's file is byte-identical to the
        sender's file; replayed responses (type 3) are not forwarded.
        """
        port = freePort()
        messages = records(400)
        source = self.path("in.gor")
        writeFile(source, messages + [Message(3, b"f" * 24, BASE_TS + 10**9, 5, b"HTTP/1.1 200 OK\r\n\r\n")])
        out = self.path("out.gor")
        recv = yield self.receiver(port, out)
        sent = yield self.start(
            "--input-file", source + "|10000%", "--output-tcp", f"127.0.0.1:{port}", "--output-tcp-workers", "1"
        ).wait(30)
        self.assertEqual(sent.rc, 0, sent.errText)
        yield self.waitForRecords(len(messages), out, process=recv)
        result = yield self.finish(recv)
        self.assertIn("input_tcp", result.errText)
        with open(out, "rb") as f, open(source, "rb") as g:
            self.assertEqual(f.read(), b"".join(encodeMessage(m) for m in messages), sent.errText)
            g.read()

    @inlineCallbacks
    def test_manyWorkersAndSenders(self) -> Any:
        """
        Two senders with ten connections each: every record arrives once.
        """
        port = freePort()
        first, second = records(300), records(300, start=1000)
        writeFile(self.path("a.gor"), first)
        writeFile(self.path("b.gor"), second)
        out = self.path("out.gor")
        recv = yield self.receiver(port, out)
        senders = [
            self.start("--input-file", self.path(n) + "|10000%", "--output-tcp", f"127.0.0.1:{port}").wait(30)
            for n in ("a.gor", "b.gor")
        ]
        results = yield DeferredList(senders)
        for ok, result in results:
            self.assertEqual(result.rc, 0, result.errText)
        yield self.waitForRecords(len(first + second), out, process=recv)
        yield self.finish(recv)
        self.assertEqual(readRecords(out), expected(first + second))

    @inlineCallbacks
    def test_receiverRestart(self) -> Any:
        """
        The receiver is killed after a first burst and restarted after a second
        one: the sender reconnects and delivers the buffered burst, then the
        third; nothing is lost or duplicated, nothing is dropped.
        """
        port = freePort()
        bursts = [records(100, start=k * 1000, offset=k * 3 * 10**9, spacing=1000) for k in range(3)]
        source = self.path("in.gor")
        writeFile(source, bursts[0] + bursts[1] + bursts[2])
        outA, outB = self.path("a.gor"), self.path("b.gor")
        recvA = yield self.receiver(port, outA)
        sender = self.start(
            "--input-file", source, "--output-tcp", f"127.0.0.1:{port}", "--output-tcp-workers", "3",
            "--output-tcp-queue-len", "1000", "--output-tcp-timeout", "10s",
        )
        # The bursts are 3s apart on the sender's clock, which starts whenever
        # its process is up (seconds later on a loaded machine): wait for the
        # first burst to be on disk rather than for a fixed time.
        yield self.waitForRecords(len(bursts[0]), outA, process=sender)
        self.assertEqual(readRecords(outA), expected(bursts[0]))
        # The sender may also have warned before its first connection: count.
        warned = sender.logText.count("no connection to")
        yield self.finish(recvA, "KILL")
        # The second burst finds no receiver and is buffered: the sender says so.
        yield waitUntil(
            lambda: sender.logText.count("no connection to") > warned,
            30,
            describe=lambda: "the sender never buffered the second burst:\n" + sender.logText,
        )
        recvB = yield self.receiver(port, outB)
        result = yield sender.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertIn("no connection to", result.errText)
        self.assertIn("again", result.errText)
        self.assertNotIn("dropped", result.errText.split("output_tcp(")[-1].split("\n")[0])
        yield self.waitForRecords(sum(len(b) for b in bursts), outA, outB, process=recvB)
        yield self.finish(recvB)
        self.assertEqual(readRecords(outA, outB), expected(bursts[0] + bursts[1] + bursts[2]))

    @inlineCallbacks
    def test_undeliverableCounted(self) -> Any:
        """
        With no receiver at all, the sender buffers, then at exit counts every
        undelivered message after its timeout; overflow beyond the queue length
        would be counted as dropped.queue_full.
        """
        messages = records(40)
        writeFile(self.path("in.gor"), messages)
        result = yield self.start(
            "--input-file", self.path("in.gor") + "|10000%", "--output-tcp", f"127.0.0.1:{freePort()}",
            "--output-tcp-timeout", "1s",
        ).wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertIn(f"dropped.stop_timeout={len(messages)}", result.errText)

    @inlineCallbacks
    def test_stats(self) -> Any:
        """
        --stats --output-tcp-stats logs the seed's queue line.
        """
        port = freePort()
        recv = yield self.receiver(port, self.path("out.gor"))
        sender = self.start(
            "--input-dummy", "x", "--output-tcp", f"127.0.0.1:{port}", "--stats", "--output-tcp-stats",
            "--stats-interval", "1s", "--exit-after", "2500ms",
        )
        result = yield sender.wait(30)
        yield self.finish(recv)
        self.assertIn("output_tcp:latest,mean,max,count,count/second", result.errText)
        self.assertRegex(result.errText, r"output_tcp:\d+,\d+,\d+,\d+,\d+")


class TLSTests(RelayTestBase):
    """
    The relay over TLS with certificates made by the test.
    """

    @inlineCallbacks
    def test_tls(self) -> Any:
        """
        A verifying sender (trusting the test CA) and a --output-tcp-skip-verify
        sender both deliver everything to a TLS --input-tcp; a sender that
        verifies against the system roots delivers nothing.
        """
        certs = makeCertificates(self.dir)
        port = freePort()
        out = self.path("out.gor")
        recv = yield self.receiver(
            port, out, "--input-tcp-secure", "--input-tcp-certificate", certs["cert"],
            "--input-tcp-certificate-key", certs["key"],
        )
        verified, skipped, rogue = records(100), records(100, start=500), records(10, start=900)
        for name, messages in (("v.gor", verified), ("s.gor", skipped), ("r.gor", rogue)):
            writeFile(self.path(name), messages)
        common = ("--output-tcp-secure", "--output-tcp-workers", "2", "--output-tcp-timeout", "1s")
        runs = [
            self.start("--input-file", self.path("v.gor") + "|10000%", "--output-tcp", f"localhost:{port}",
                       "--output-tcp-ca-certificate", certs["ca"], *common).wait(30),
            self.start("--input-file", self.path("s.gor") + "|10000%", "--output-tcp", f"127.0.0.1:{port}",
                       "--output-tcp-skip-verify", *common).wait(30),
            self.start("--input-file", self.path("r.gor") + "|10000%", "--output-tcp", f"localhost:{port}",
                       *common).wait(30),
        ]
        results = yield DeferredList(runs)
        yield self.waitForRecords(len(verified + skipped), out, process=recv)
        yield self.finish(recv)
        self.assertEqual(readRecords(out), expected(verified + skipped), [r.errText for _, r in results])
        self.assertIn("dropped.stop_timeout=15", results[2][1].errText)
        self.assertIn("failed.tls_handshake=", results[2][1].errText)
        # every record arrived: no handshake of theirs failed (one cut by
        # their own stop is not a failure)
        for _, result in results[:2]:
            self.assertNotIn("failed.tls_handshake", result.errText)


class _Sender(Protocol):
    """
    Sends chunks, then closes (or stays open when C{stay}).
    """

    def __init__(self, chunks: list[bytes], stay: bool = False) -> None:
        self.chunks = chunks
        self.stay = stay
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        for chunk in self.chunks:
            self.transport.write(chunk)  # type: ignore[union-attr]
        if not self.stay:
            self.transport.loseConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)


class BadInputTests(RelayTestBase):
    """
    A running --input-tcp survives bad clients and keeps serving a good sender.
    """

    timeout = 90

    @inlineCallbacks
    def send(self, port: int, chunks: list[bytes], stay: bool = False) -> Any:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        protocol = _Sender(chunks, stay)
        yield connectProtocol(endpoint, protocol)
        return protocol

    @inlineCallbacks
    def test_badClients(self) -> Any:
        """
        Garbage, a broken meta line, an endless line beyond the maximum record
        size, a stalled client and a thousand connects/closes: bad records are
        skipped and counted, the stalled client is closed, and every record of
        the good sender (and the good records after the bad ones) arrives.
        """
        port = freePort()
        out = self.path("out.gor")
        recv = yield self.receiver(
            port, out, "--input-tcp-max-record-size", "64kb", "--input-tcp-idle-timeout", "1s",
        )
        good = records(300, spacing=5 * 10**6)
        writeFile(self.path("good.gor"), good)
        sender = self.start("--input-file", self.path("good.gor"), "--output-tcp", f"127.0.0.1:{port}")
        extra = [Message(1, b"e%023d" % k, BASE_TS, -1, b"GET /extra/%d HTTP/1.1\r\n\r\n" % k) for k in range(3)]
        garbage = bytes(range(256)) * 400
        broken = b"1 onlytwo\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR + b"x y z\nGET / HTTP/1.1\r\n\r\n" + SEPARATOR
        endless = [b"1 " + b"q" * 200_000] + [b"z" * 100_000] * 20 + [SEPARATOR]
        stalled = yield self.send(port, [b"1 abc 1 1\nGET /half"], stay=True)
        yield self.send(port, [garbage, SEPARATOR, garbage])
        yield self.send(port, [broken, encodeMessage(extra[0])])
        yield self.send(port, endless + [encodeMessage(extra[1])])
        for batch in range(10):
            protocols = []
            for k in range(100):
                p = yield self.send(port, [b"1 partial"] if k % 3 == 0 else [])
                protocols.append(p.lost)
            yield DeferredList(protocols)
        yield stalled.lost  # closed by the idle timeout
        yield self.send(port, [encodeMessage(extra[2])])
        result = yield sender.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        yield self.waitForRecords(len(good + extra), out, process=recv)
        summary = yield self.finish(recv)
        self.assertEqual(readRecords(out), expected(good + extra))
        text = summary.errText
        for key in ("skipped.malformed=", "skipped.oversize=", "closed.idle_timeout=1", "skipped.truncated="):
            self.assertIn(key, text)
        opened = int(text.split("connections.opened=")[-1].split()[0])
        self.assertGreaterEqual(opened, 1004)


class _SlowSink(Protocol):
    """
    A final receiver that stops reading for a while, then reads everything.
    """

    def __init__(self, sink: "_SinkFactory") -> None:
        self.sink = sink

    def connectionMade(self) -> None:
        self.sink.connections.append(self)
        if self.sink.paused:
            self.transport.pauseProducing()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.sink.data.append(data)


class _SinkFactory:
    def __init__(self) -> None:
        self.paused = True
        self.connections: list[_SlowSink] = []
        self.data: list[bytes] = []

    def resume(self) -> None:
        self.paused = False
        for c in self.connections:
            c.transport.resumeProducing()  # type: ignore[union-attr]


class FlowControlTests(RelayTestBase):
    """
    A slow end of the chain slows the first sender instead of losing messages.
    """

    timeout = 120

    @inlineCallbacks
    def test_backpressureAcrossTheChain(self) -> Any:
        """
        file → gor A (output-tcp) → gor B (input-tcp, output-tcp) → a sink that
        does not read for a while: B's queue fills and pauses its input-tcp, A's
        writes back up by TCP flow control and A pauses its file input; once the
        sink reads again every message arrives, and nothing was dropped.
        """
        from twisted.internet.protocol import Factory

        sink = _SinkFactory()
        factory = Factory.forProtocol(lambda: _SlowSink(sink))
        listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        messages = [
            Message(1, b"%024x" % i, BASE_TS + i, -1, b"POST /%d HTTP/1.1\r\n\r\n" % i + b"p" * 2000) for i in range(20_000)
        ]
        writeFile(self.path("in.gor"), messages)
        port = freePort()
        small = ("--output-tcp-workers", "1", "--output-tcp-queue-len", "200", "--output-tcp-timeout", "20s")
        stats = ("--stats", "--stats-interval", "100ms")
        middle = self.start(
            "--input-tcp", f"127.0.0.1:{port}", "--output-tcp", f"127.0.0.1:{listening.getHost().port}", *small, *stats
        )
        yield middle.waitForLog("input_tcp: listening", timeout=20)
        first = self.start(
            "--input-file", self.path("in.gor") + "|max", "--output-tcp", f"127.0.0.1:{port}", *small, *stats
        )
        # The positive signal of backpressure along the chain: B's queue filled
        # and paused its input, then A's did and paused its file input.
        yield waitUntil(
            lambda: middle.counters("output_tcp").get("paused", 0) >= 1,
            60,
            describe=lambda: "gor B never paused:\n" + middle.logText,
        )
        yield waitUntil(
            lambda: first.counters("output_tcp").get("paused", 0) >= 1,
            60,
            describe=lambda: "gor A never paused:\n" + first.logText,
        )
        self.assertFalse(first.ended.called, "the first sender finished although nothing was read")
        received = sum(len(d) for d in sink.data)
        self.assertEqual(received, 0)
        sink.resume()
        result = yield first.wait(60)
        self.assertEqual(result.rc, 0, result.errText)
        total = sum(len(encodeMessage(m)) for m in messages)
        yield waitUntil(
            lambda: sum(len(d) for d in sink.data) >= total,
            30,
            describe=lambda: f"the sink got {sum(len(d) for d in sink.data)} of {total} bytes",
        )
        middleResult = yield self.finish(middle)
        got = sorted(m.meta() + b"\n" + m.payload for m in iterMessages(b"".join(sink.data)))
        summaries = "\n".join(line for r in (result, middleResult) for line in r.errText.splitlines() if "summary" in line)
        self.assertNotIn("dropped.", summaries)
        self.assertEqual(len(got), len(messages), summaries)
        self.assertTrue(got == expected(messages))
        self.assertRegex(result.errText, r"output_tcp\(.*paused=\d+")
        self.assertRegex(middleResult.errText, r"output_tcp\(.*paused=\d+")


def goreplayRecords(stream: bytes) -> list[bytes]:
    """
    Split a stream the way GoReplay's reader does (reference 2.3): line by
    line, a line that is exactly the monkeys ends a record, whose bytes are the
    accumulated lines minus their final newline; a record without payload
    (no newline: no meta) is dropped.
    """
    monkeys = SEPARATOR[1:]
    found, current = [], b""
    for line in stream.splitlines(keepends=True):
        if line == monkeys:
            if b"\n" in current[:-1]:
                found.append(current[:-1])
            current = b""
        else:
            current += line
    return found


class GoReplayWireTests(RelayTestBase):
    """
    The link is GoReplay's: its reader splits what --output-tcp sends into the
    same records, and what its writer sends (three writes per message) is read
    by --input-tcp.
    """

    @inlineCallbacks
    def test_bothDirections(self) -> Any:
        """
        GoReplay-style reader on our output, GoReplay-style writer into our input.
        """
        from twisted.internet.protocol import Factory

        sink = _SinkFactory()
        sink.paused = False
        listening = reactor.listenTCP(0, Factory.forProtocol(lambda: _SlowSink(sink)), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        messages = records(50)
        writeFile(self.path("in.gor"), messages)
        result = yield self.start(
            "--input-file", self.path("in.gor") + "|max", "--output-tcp", f"127.0.0.1:{listening.getHost().port}",
            "--output-tcp-workers", "1",
        ).wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        # The sender may exit before this process has read what it sent.
        yield waitUntil(
            lambda: len(goreplayRecords(b"".join(sink.data))) >= len(messages),
            20,
            describe=lambda: f"{len(goreplayRecords(b''.join(sink.data)))} of {len(messages)} records read",
        )
        self.assertEqual(
            goreplayRecords(b"".join(sink.data)), [m.meta() + b"\n" + m.payload for m in messages], result.errText
        )

        port = freePort()
        out = self.path("out.gor")
        recv = yield self.receiver(port, out)
        protocol = yield self.send(port, [])
        for m in messages:
            for part in (m.meta() + b"\n", m.payload, SEPARATOR):
                protocol.transport.write(part)
                # not a sleep: one reactor turn, so each part leaves in its own write
                yield deferLater(reactor, 0, lambda: None)
        protocol.transport.loseConnection()
        yield protocol.lost
        yield self.waitForRecords(len(messages), out, process=recv)
        yield self.finish(recv)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"".join(encodeMessage(m) for m in messages))

    @inlineCallbacks
    def send(self, port: int, chunks: list[bytes]) -> Any:
        protocol = _Sender(chunks, stay=True)
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), protocol)
        return protocol
