"""
Fuzz target: the relay receiver (L{twisted_gor.relay.input}), one connection
driven with a L{StringTransport}: arbitrary bytes in arbitrary reads, with the
input paused and resumed between reads and by the receiver itself.

The receiver's protocol documents no error: bad input is skipped and counted.
The connection is made by L{connect} and the expected messages are computed
by L{expected}; a change of the wire protocol (a handshake) is adapted there.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from tests.fuzz._harness import case, fuzz, chunked
from tests.fuzz.test_gorfile import gorStreams
from twisted_gor.framing import RecordDecoder
from twisted_gor.interfaces import IMessageReceiver
from twisted_gor.message import Message
from twisted_gor.relay.input import RelayServerProtocol, TCPInput

TARGET = "relay"


@implementer(IMessageReceiver)
class PausingReceiver:
    """
    A receiver that pauses the input on the messages it is told to (an
    output applying backpressure in the middle of a read).
    """

    def __init__(self, input: TCPInput, pauses: list[bool]) -> None:
        self.input = input
        self.pauses = pauses
        self.messages: list[Message] = []
        self.whilePaused = 0

    def messageReceived(self, message: Message) -> None:
        """
        Keep C{message}; maybe pause the input.
        """
        if self.input.paused:
            self.whilePaused += 1
        self.messages.append(message)
        if self.pauses and self.pauses.pop(0):
            self.input.pauseProducing()


def connect(input: TCPInput) -> tuple[RelayServerProtocol, StringTransport]:
    """
    One connection to C{input}, made as its listening factory makes it.
    """
    from twisted_gor.relay.input import _RelayFactory

    peer = IPv4Address("TCP", "10.0.0.1", 5555)
    protocol = _RelayFactory(input).buildProtocol(peer)
    assert isinstance(protocol, RelayServerProtocol)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


def expected(reads: list[bytes], maxRecordSize: int) -> tuple[list[Message], int]:
    """
    The messages the receiver should deliver for C{reads} (then the end of
    the connection), and how many records it should skip.
    """
    skipped: list[str] = []
    decoder = RecordDecoder(lambda offset, reason: skipped.append(reason), maxRecordSize)
    out: list[Message] = []
    for data in reads:
        out.extend(decoder.feed(data))
    decoder.finish()
    return out, len(skipped)


class RelayInputFuzz(SynchronousTestCase):
    """
    L{TCPInput}'s connection protocol on arbitrary streams.
    """

    @fuzz(1.0)
    @given(
        chunked(gorStreams),
        st.sampled_from([1, 5, 13, 14, 40, 200, 16 * 1024 * 1024]),
        st.lists(st.booleans(), max_size=20),
        st.lists(st.sampled_from(["read", "read", "pause", "resume"]), max_size=80),
        st.booleans(),
        st.booleans(),
    )
    def test_stream(
        self,
        streamReads: tuple[bytes, list[bytes]],
        maxRecordSize: int,
        pauses: list[bool],
        script: list[str],
        running: bool,
        resumeFirst: bool,
    ) -> None:
        """
        Whatever arrives, in whatever reads, with whatever pauses: nothing
        raises, nothing is delivered while paused, every decodable record is
        delivered once and in order by the time the connection is gone, the
        counters add up and the connection is unregistered.
        """
        stream, reads = streamReads
        with case(TARGET):
            clock = Clock()
            inp = TCPInput("", 0, clock, maxRecordSize=maxRecordSize, idleTimeout=30.0)
            inp.running = running
            receiver = PausingReceiver(inp, list(pauses))
            inp.setReceiver(receiver)
            protocol, transport = connect(inp)
            pending = list(reads)
            steps = iter(script)
            while pending:
                step = next(steps, "read")
                if step == "pause":
                    inp.pauseProducing()
                elif step == "resume":
                    inp.resumeProducing()
                else:
                    protocol.dataReceived(pending.pop(0))
                self.assertEqual(transport.producerState, "paused" if inp.paused else "producing")
            want, skipped = expected(reads, maxRecordSize)
            if running and resumeFirst:
                while inp.paused:
                    inp.resumeProducing()
            self.assertEqual(receiver.whilePaused, 0)
            protocol.connectionLost(Failure(ConnectionDone()))
            delivered = len(receiver.messages)
            if running:
                # what was held back is delivered when the connection goes
                self.assertEqual(receiver.messages, want)
            else:
                # a stopped input drops (and counts) what it held back
                self.assertEqual(receiver.messages, want[:delivered])
                self.assertEqual(inp.stats["dropped.stopped"], len(want) - delivered)
            self.assertEqual(inp.stats["bytes"], len(stream))
            self.assertEqual(inp.stats["read"], len(want))
            counted = sum(inp.stats[k] for k in ("skipped.malformed", "skipped.oversize", "skipped.truncated"))
            self.assertEqual((counted, protocol.malformed), (skipped, skipped))
            self.assertEqual(inp.connections, set())
            self.assertEqual(inp.stats["connections.active"], 0)


class RelayRegressions(SynchronousTestCase):
    """
    What reading the receiver against the file reader found.
    """

    def test_unrepresentableTimestampSkipped(self) -> None:
        """
        A record whose timestamp does not fit in 64 bits is skipped and
        counted by the relay receiver as by the file reader (its inlined copy
        of the meta parsing lacked the range check).
        """
        inp = TCPInput("", 0, Clock(), idleTimeout=30.0)
        inp.running = True
        receiver = PausingReceiver(inp, [])
        inp.setReceiver(receiver)
        protocol, _ = connect(inp)
        bad = b"1 " + b"a" * 24 + b" " + b"9" * 400 + b" 0\nGET / HTTP/1.1\r\n\r\n\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
        good = b"1 " + b"b" * 24 + b" 1 0\nGET /ok HTTP/1.1\r\n\r\n\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
        protocol.dataReceived(bad + good)
        self.assertEqual([m.id for m in receiver.messages], [b"b" * 24])
        self.assertEqual(inp.stats.total("skipped"), 1)
