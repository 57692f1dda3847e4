"""
Tests of C{--input-tcp}'s bounds on incomplete records: the byte budget
across connections (C{--input-tcp-buffer-size}) and the record timeout
(C{--input-tcp-record-timeout}); unit tests on a L{Clock}, and one through
the real C{gor} command.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.relay import HELLO_PREFIX
from tests.fuzz.test_relay import connect
from tests.support import GOR, GorProcess, fileRecords, freePort, waitUntil
from tests.test_relay_unit import makeInput, request

reactor: Any = _reactor

NEVER_ENDS = b"1 %024x 1700000000000000000 -1\nGET / HTTP/1.1\r\n" % 1
"""The start of a record whose separator never comes."""


class BufferBudgetTests(SynchronousTestCase):
    """
    The byte budget of incomplete records across the connections of one input.
    """

    def test_largestClosed(self) -> None:
        """
        A read that pushes the total over the budget closes the connection
        holding the most, counting it and the bytes given up; the small
        sender keeps working.
        """
        inp, _, receiver = makeInput(bufferSize=10_000)
        offender, offenderTransport = connect(inp)
        legit, legitTransport = connect(inp)
        offender.dataReceived(NEVER_ENDS + b"x" * 9_000)
        self.assertFalse(offenderTransport.disconnecting)
        record = encodeMessage(request(1, size=2_000))
        legit.dataReceived(record[:1_500])
        self.assertTrue(offenderTransport.disconnecting)
        self.assertFalse(legitTransport.disconnecting)
        self.assertEqual(inp.stats["dropped.buffer_budget"], 1)
        self.assertEqual(inp.stats["dropped.buffer_budget_bytes"], len(NEVER_ENDS) + 9_000)
        self.assertEqual(inp.pendingTotal, 1_500)
        legit.dataReceived(record[1_500:])
        self.assertEqual(receiver.messages, [request(1, size=2_000)])
        self.assertEqual(inp.pendingTotal, 0)

    def test_droppedIgnoresLaterReads(self) -> None:
        """
        Bytes that still arrive on a closed connection are not held, and its
        close does not count its bytes twice.
        """
        inp, _, _ = makeInput(bufferSize=100)
        offender, _ = connect(inp)
        offender.dataReceived(NEVER_ENDS + b"x" * 200)
        self.assertEqual(inp.stats["dropped.buffer_budget"], 1)
        offender.dataReceived(b"y" * 500)
        self.assertEqual(inp.pendingTotal, 0)
        offender.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(inp.pendingTotal, 0)
        self.assertEqual(inp.stats["skipped.truncated"], 0)

    def test_closeReleases(self) -> None:
        """
        A connection that closes with an incomplete record releases it from
        the total.
        """
        inp, _, _ = makeInput(bufferSize=10_000)
        protocol, _ = connect(inp)
        protocol.dataReceived(NEVER_ENDS)
        self.assertEqual(inp.pendingTotal, len(NEVER_ENDS))
        protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(inp.pendingTotal, 0)
        self.assertEqual(inp.stats["dropped.buffer_budget"], 0)

    def test_ackMode(self) -> None:
        """
        An acknowledging (twisted-gor) connection counts in the budget too.
        """
        inp, _, _ = makeInput(bufferSize=1_000)
        protocol, transport = connect(inp)
        protocol.dataReceived(HELLO_PREFIX + b"session 1" + SEPARATOR)
        self.assertEqual(protocol.mode, "ack")
        protocol.dataReceived(NEVER_ENDS + b"x" * 2_000)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inp.stats["dropped.buffer_budget"], 1)

    def test_noBudget(self) -> None:
        """
        A budget of 0 closes nothing.
        """
        inp, _, _ = makeInput(bufferSize=0)
        protocol, transport = connect(inp)
        protocol.dataReceived(NEVER_ENDS + b"x" * 100_000)
        self.assertFalse(transport.disconnecting)


class RecordTimeoutTests(SynchronousTestCase):
    """
    The timeout of a record that makes no progress to its separator.
    """

    def test_stuckRecordClosed(self) -> None:
        """
        A record still incomplete after the timeout closes its connection,
        even though bytes keep arriving (the idle timeout would not).
        """
        inp, clock, _ = makeInput(recordTimeout=30.0)
        protocol, transport = connect(inp)
        protocol.dataReceived(NEVER_ENDS)
        for _ in range(5):
            clock.advance(5)
            protocol.dataReceived(b"x")
        self.assertFalse(transport.disconnecting)
        clock.advance(5.5)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inp.stats["dropped.record_timeout"], 1)
        self.assertEqual(inp.pendingTotal, 0)

    def test_progressResets(self) -> None:
        """
        Records that keep completing are never timed out, however long the
        connection always holds part of the next one.
        """
        inp, clock, receiver = makeInput(recordTimeout=30.0)
        protocol, transport = connect(inp)
        data = b"".join(encodeMessage(request(i)) for i in range(10))
        for i in range(0, len(data), 20):
            protocol.dataReceived(data[i : i + 20])
            clock.advance(5)
        self.assertGreater(clock.seconds(), 100)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(len(receiver.messages), 10)
        self.assertIsNone(protocol._recordTimer)

    def test_oversizeTimesOut(self) -> None:
        """
        An oversize record being discarded without end is timed out too.
        """
        inp, clock, _ = makeInput(recordTimeout=30.0, maxRecordSize=100)
        protocol, transport = connect(inp)
        protocol.dataReceived(NEVER_ENDS + b"x" * 200)
        clock.advance(20)
        protocol.dataReceived(b"x" * 200)
        clock.advance(11)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(inp.stats["dropped.record_timeout"], 1)

    def test_pausedNotTimedOut(self) -> None:
        """
        While the input is paused the record cannot progress: no timeout.
        """
        inp, clock, _ = makeInput(recordTimeout=30.0, idleTimeout=0)
        protocol, transport = connect(inp)
        protocol.dataReceived(NEVER_ENDS)
        inp.pauseProducing()
        clock.advance(100)
        self.assertFalse(transport.disconnecting)
        inp.resumeProducing()
        clock.advance(31)
        self.assertTrue(transport.disconnecting)

    def test_zeroDisables(self) -> None:
        """
        A record timeout of 0 never closes.
        """
        inp, clock, _ = makeInput(recordTimeout=0, idleTimeout=0)
        protocol, transport = connect(inp)
        protocol.dataReceived(NEVER_ENDS)
        clock.advance(1_000)
        self.assertFalse(transport.disconnecting)


class _Sender(Protocol):
    def connectionMade(self) -> None:
        self.closed = False

    def connectionLost(self, reason: Any = None) -> None:
        self.closed = True


def vmHWM(pid: int) -> int:
    """
    Peak resident memory of process C{pid}, in bytes.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")



@inlineCallbacks
def startReceiver(case: TestCase, *flags: str) -> Any:
    """
    Start C{gor --input-tcp} on a free port with C{flags}, writing to a file
    and logging stats every 200 ms; fire with C{(gor, path, endpoint)} once
    it listens.
    """
    directory = os.path.abspath(case.mktemp())
    os.makedirs(directory)
    out = os.path.join(directory, "out.gor")
    port = freePort()
    gor = GorProcess(
        reactor,
        [
            *GOR,
            "--input-tcp", f"127.0.0.1:{port}",
            *flags,
            "--output-file", out,
            "--output-file-flush-interval", "100ms",
            "--stats", "--stats-interval", "200ms",
        ],
    ).start()
    case.addCleanup(gor.killIfRunning)
    yield gor.waitForLog("listening on")
    return gor, out, TCP4ClientEndpoint(reactor, "127.0.0.1", port)


class BudgetEndToEndTests(TestCase):
    """
    The budget through the real C{gor} command.
    """

    timeout = 90

    @inlineCallbacks
    def test_flood(self) -> Any:
        """
        20 clients each sending 2 MB without a separator to a listener with
        an 8 MB budget are closed, counted C{dropped.buffer_budget}; a
        legitimate sender's 10 records all reach the file, and gor's peak
        memory stays moderate.
        """
        gor, out, endpoint = yield startReceiver(self, "--input-tcp-buffer-size", "8mb")
        senders: list[_Sender] = []
        for _ in range(20):
            sender = yield connectProtocol(endpoint, _Sender())
            senders.append(sender)
            self.addCleanup(sender.transport.abortConnection)
            sender.transport.write(NEVER_ENDS + b"x" * (2 * 1024 * 1024))
        yield waitUntil(
            lambda: gor.counters("input_tcp").get("dropped.buffer_budget", 0) > 0,
            timeout=30,
            describe=lambda: gor.logText[-3000:],
        )
        legit = yield connectProtocol(endpoint, _Sender())
        legit.transport.write(b"".join(encodeMessage(request(i)) for i in range(10)))
        legit.transport.loseConnection()
        yield waitUntil(lambda: len(fileRecords(out)) >= 10, timeout=30, describe=lambda: gor.logText[-3000:])
        self.assertEqual(sorted(m.id for m in fileRecords(out)), sorted(request(i).id for i in range(10)))
        assert gor.pid is not None
        peak = vmHWM(gor.pid)
        self.assertLess(peak, 150 * 1024 * 1024)
        self.assertGreater(gor.counters("input_tcp").get("dropped.buffer_budget", 0), 0)
        gor.signal("TERM")
        yield gor.wait(30)


class SilentConnectionsTests(TestCase):
    """
    Sockets that connect and never send cannot lock a sender out.
    """

    timeout = 90

    @inlineCallbacks
    def test_silentEvictedAtLimit(self) -> Any:
        """
        Three silent connections fill C{--input-tcp-max-connections 3}; a
        sender that keeps trying gets in once they have been silent for
        L{twisted_gor.relay.input.SILENT_EVICT_AFTER} seconds, its record is
        written, and the eviction is counted.
        """
        gor, out, endpoint = yield startReceiver(self, "--input-tcp-max-connections", "3")
        for _ in range(3):
            silent = yield connectProtocol(endpoint, _Sender())
            self.addCleanup(silent.transport.abortConnection)
        yield waitUntil(lambda: gor.counters("input_tcp").get("connections.active", 0) == 3, timeout=20)
        attempts = [0]

        def trySend() -> Any:
            # a plain sender refused at the limit loses its record: try again
            attempts[0] += 1
            if fileRecords(out):
                return True
            d = connectProtocol(endpoint, _Sender())

            def send(sender: _Sender) -> None:
                transport: Any = sender.transport
                transport.write(encodeMessage(request(attempts[0])))
                transport.loseConnection()

            d.addCallback(send)
            d.addErrback(lambda _: None)
            return False

        yield waitUntil(trySend, timeout=30, interval=0.5, describe=lambda: gor.logText[-2000:])
        self.assertGreaterEqual(gor.counters("input_tcp").get("dropped.silent_connections", 0), 1)
        gor.signal("TERM")
        yield gor.wait(30)
