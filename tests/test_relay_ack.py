"""
End-to-end tests of the at-least-once relay through the real C{gor} command:
a sender C{gor --input-file ... --output-tcp} and a receiver C{gor --input-tcp
... --output-file}, with the receiver killed, stopped, or full; and plain
GoReplay framing against peers that speak nothing else.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Callable

from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater

from twisted_gor.framing import SEPARATOR, encodeMessage, iterMessages
from twisted_gor.message import Message
from twisted_gor.relay import BANNER_OK, HELLO_PREFIX
from tests.certs import makeCertificates
from tests.support import freePort
from tests.test_http_e2e import counters
from tests.test_relay_e2e import RelayTestBase, expected, goreplayRecords, readRecords, records, writeFile

reactor: Any = _reactor


def countRecords(path: str) -> int:
    """
    How many whole records C{path} holds now (0 if it does not exist).
    """
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return sum(1 for _ in iterMessages(f.read()))


@inlineCallbacks
def waitUntil(predicate: Callable[[], bool], what: str, timeout: float = 30.0, interval: float = 0.05) -> Any:
    """
    Poll C{predicate} every C{interval} seconds until it holds; fail after
    C{timeout} seconds.
    """
    for _ in range(int(timeout / interval) + 1):
        if predicate():
            return
        yield deferLater(reactor, interval, lambda: None)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class _Holder(Protocol):
    """
    A client that takes a connection slot and reads what it is sent.
    """

    def __init__(self) -> None:
        self.data = b""
        self.lost: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)


class _Sink(Protocol):
    """
    A receiver that never writes a byte (as GoReplay's --input-tcp).
    """

    def __init__(self, data: list[bytes]) -> None:
        self.data = data

    def dataReceived(self, data: bytes) -> None:
        self.data.append(data)


class _ClosingSink(Protocol):
    """
    A receiver that never writes and closes each connection once it got
    a record after the hello (a GoReplay receiver going away).
    """

    def __init__(self, data: list[bytes]) -> None:
        self.data = data
        self.mine = b""

    def dataReceived(self, data: bytes) -> None:
        self.data.append(data)
        self.mine += data
        if self.mine.count(SEPARATOR) >= 2:
            self.transport.abortConnection()  # type: ignore[union-attr]


class AtLeastOnceTests(RelayTestBase):
    """
    Records survive a receiver that dies, stops or is full.
    """

    timeout = 120

    def sender(self, source: str, port: int, *extra: str, host: str = "127.0.0.1") -> Any:
        return self.start(
            "--input-file", source, "--output-tcp", f"{host}:{port}", "--output-tcp-workers", "3",
            "--output-tcp-timeout", "40s", *extra,
        )  # fmt: skip

    @inlineCallbacks
    def killMidStream(self, receiverArgs: tuple[str, ...], senderArgs: tuple[str, ...], host: str) -> Any:
        port = freePort()
        messages = records(8000, spacing=400_000)
        source = self.path("in.gor")
        writeFile(source, messages)
        outA, outB = self.path("a.gor"), self.path("b.gor")
        recvA = yield self.receiver(port, outA, *receiverArgs)
        sender = self.sender(source, port, *senderArgs, host=host)
        yield waitUntil(lambda: countRecords(outA) >= 3000, "the first receiver to write 3000 records")
        yield self.finish(recvA, "KILL")
        recvB = yield self.receiver(port, outB, *receiverArgs)
        result = yield sender.wait(90)
        self.assertEqual(result.rc, 0, result.errText)
        yield self.finish(recvB)
        got = readRecords(outA, outB)
        out = counters(result.errText, "output_tcp")
        self.assertEqual(sorted(set(got)), expected(messages), result.errText)
        duplicates = len(got) - len(set(got))
        # the kill cut records in flight: they were sent again
        self.assertGreater(out.get("resent", 0), 0, result.errText)
        self.assertLessEqual(duplicates, out.get("resent", 0), result.errText)
        self.assertEqual(out.get("sent"), len(messages), result.errText)
        self.assertNotIn("dropped", " ".join(out), result.errText)
        self.assertNotIn("failed.tls_handshake", out, result.errText)
        return result

    def test_killedReceiver(self) -> Any:
        """
        SIGKILL of the receiver mid-stream and a restart on the same port:
        every record is in one of its two files (what the dead one had not
        acknowledged is sent again, counted as C{resent}); the sender's
        C{sent} counts acknowledged records and it drops nothing.
        """
        return self.killMidStream((), (), "127.0.0.1")

    def test_killedReceiverTLS(self) -> Any:
        """
        The same over TLS; a receiver going away is not counted as a failed
        TLS handshake.
        """
        certs = makeCertificates(self.dir)
        return self.killMidStream(
            ("--input-tcp-secure", "--input-tcp-certificate", certs["cert"], "--input-tcp-certificate-key", certs["key"]),
            ("--output-tcp-secure", "--output-tcp-ca-certificate", certs["ca"]),
            "localhost",
        )

    @inlineCallbacks
    def test_stoppedReceiverDelivers(self) -> Any:
        """
        SIGTERM of a receiver that is behind: it stops accepting, delivers
        and acknowledges what it had read (up to the sender's end marker),
        then exits; the sender sends the rest to the next receiver. Nothing
        is lost, and nothing is sent twice.
        """
        port = freePort()
        messages = records(60_000, spacing=1)
        source = self.path("in.gor")
        writeFile(source, messages)
        outA, outB = self.path("a.gor"), self.path("b.gor")
        recvA = yield self.receiver(port, outA)
        sender = self.sender(source + "|max", port)
        yield waitUntil(lambda: countRecords(outA) >= 5000, "the first receiver to write 5000 records")
        resultA = yield self.finish(recvA, "TERM")
        self.assertEqual(resultA.rc, 0, resultA.errText)
        recvB = yield self.receiver(port, outB)
        result = yield sender.wait(90)
        self.assertEqual(result.rc, 0, result.errText)
        yield self.finish(recvB)
        got = readRecords(outA, outB)
        out = counters(result.errText, "output_tcp")
        self.assertEqual(sorted(set(got)), expected(messages), result.errText)
        self.assertEqual(len(got), len(messages), result.errText)
        self.assertEqual(out.get("sent"), len(messages), result.errText)
        self.assertGreaterEqual(out.get("closed.by_receiver", 0), 1, result.errText)
        self.assertNotIn("dropped", " ".join(counters(resultA.errText, "input_tcp")), resultA.errText)

    @inlineCallbacks
    def test_busyReceiver(self) -> Any:
        """
        A receiver at --input-tcp-max-connections says it is busy: the sender
        counts C{refused.busy}, keeps its records, backs off, and delivers
        them all once a slot frees.
        """
        port = freePort()
        out = self.path("out.gor")
        recv = yield self.receiver(port, out, "--input-tcp-max-connections", "1")
        holder = _Holder()
        yield connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), holder)
        holder.transport.write(HELLO_PREFIX + b"holder 1" + SEPARATOR)  # type: ignore[union-attr]
        yield waitUntil(lambda: holder.data == BANNER_OK, "the banner")
        messages = records(300)
        source = self.path("in.gor")
        writeFile(source, messages)
        sender = self.sender(source + "|max", port, "--output-tcp-workers", "2")
        yield sender.waitForLog("is at its connection limit")
        self.assertEqual(countRecords(out), 0)
        holder.transport.loseConnection()  # type: ignore[union-attr]
        yield holder.lost
        result = yield sender.wait(60)
        self.assertEqual(result.rc, 0, result.errText)
        summary = yield self.finish(recv)
        counted = counters(result.errText, "output_tcp")
        self.assertGreaterEqual(counted.get("refused.busy", 0), 1, result.errText)
        self.assertEqual(counted.get("sent"), len(messages), result.errText)
        self.assertEqual(readRecords(out), expected(messages), result.errText)
        self.assertGreaterEqual(counters(summary.errText, "input_tcp").get("refused.max_connections", 0), 1)


class PlainModeTests(RelayTestBase):
    """
    Against peers that speak GoReplay's framing only, nothing else is sent
    and nothing is expected.
    """

    timeout = 60

    @inlineCallbacks
    def test_silentReceiver(self) -> Any:
        """
        A receiver that never writes (a GoReplay --input-tcp): after the
        wait the sender writes exactly GoReplay's framing (the hello is a
        record without payload, which GoReplay's reader drops), and counts
        C{written}, not C{sent}; with no wait, not even the hello.
        """
        messages = records(200)
        writeFile(self.path("in.gor"), messages)
        wire = b"".join(encodeMessage(m) for m in messages)
        for wait in ("300ms", "0"):
            data: list[bytes] = []
            listening = reactor.listenTCP(0, Factory.forProtocol(lambda: _Sink(data)), interface="127.0.0.1")
            self.addCleanup(listening.stopListening)
            result = yield self.start(
                "--input-file", self.path("in.gor") + "|max", "--output-tcp", f"127.0.0.1:{listening.getHost().port}",
                "--output-tcp-workers", "1", "--output-tcp-ack-wait", wait,
            ).wait(30)  # fmt: skip
            self.assertEqual(result.rc, 0, result.errText)
            hello = b"" if wait == "0" else HELLO_PREFIX
            yield waitUntil(lambda: b"".join(data).endswith(wire), "every byte at the sink")
            got = b"".join(data)
            if hello:
                # one record without payload first: GoReplay's reader drops it
                self.assertTrue(got.startswith(hello), got[:80])
                first = got[: got.index(SEPARATOR)]
                self.assertNotIn(b"\n", first)
                got = got[len(first) + len(SEPARATOR) :]
            self.assertEqual(got, wire)
            self.assertEqual(goreplayRecords(b"".join(data)), [m.meta() + b"\n" + m.payload for m in messages])
            out = counters(result.errText, "output_tcp")
            self.assertEqual(out.get("written"), len(messages), result.errText)
            self.assertEqual(out.get("connections.plain"), 1, result.errText)
            self.assertNotIn("sent", out, result.errText)

    @inlineCallbacks
    def test_plainSender(self) -> Any:
        """
        A sender that writes .gor records and never reads (GoReplay's
        --output-tcp), in small pieces: every record arrives, on a
        connection counted as plain.
        """
        port = freePort()
        out = self.path("out.gor")
        recv = yield self.receiver(port, out)
        messages = records(50)
        wire = b"".join(encodeMessage(m) for m in messages)
        client = socket.create_connection(("127.0.0.1", port))
        try:
            # one byte first: the receiver must not wait for a hello
            pieces = [wire[:1]] + [wire[k : k + 997] for k in range(1, len(wire), 997)]
            for piece in pieces:
                client.sendall(piece)
                yield deferLater(reactor, 0, lambda: None)
            yield waitUntil(lambda: countRecords(out) >= len(messages), "every record in the file")
            # never written to: a GoReplay sender's close stays a clean one
            client.setblocking(False)
            with self.assertRaises(BlockingIOError):
                client.recv(100)
        finally:
            client.close()
        yield waitUntil(lambda: countRecords(out) >= len(messages), "every record in the file")
        summary = yield self.finish(recv)
        self.assertEqual(readRecords(out), expected(messages))
        self.assertEqual(counters(summary.errText, "input_tcp").get("connections.plain"), 1, summary.errText)

    @inlineCallbacks
    def test_lostInFlightCounted(self) -> Any:
        """
        A plain receiver that drops the connection: what was written on it
        and may not have arrived is counted C{lost.in_flight}.
        """
        data: list[bytes] = []
        listening = reactor.listenTCP(0, Factory.forProtocol(lambda: _ClosingSink(data)), interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        messages = records(200, spacing=10_000_000)
        writeFile(self.path("in.gor"), messages)
        result = yield self.start(
            "--input-file", self.path("in.gor"), "--output-tcp", f"127.0.0.1:{listening.getHost().port}",
            "--output-tcp-workers", "1", "--output-tcp-ack-wait", "100ms",
        ).wait(30)  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        out = counters(result.errText, "output_tcp")
        self.assertGreaterEqual(out.get("lost.in_flight", 0), 1, result.errText)
        self.assertGreaterEqual(out.get("connections.plain", 0), 2, result.errText)

