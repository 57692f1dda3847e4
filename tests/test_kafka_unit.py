"""
The Kafka producer's and consumer's logic on a fake clock with fake clients:
byte budgets, flow control, delivery reports, stop timeouts, pacing, the
hand-off and rebalances. (The real clients and brokers are in
tests.test_kafka_e2e.)
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from twisted_gor._interfaces import IBackpressure, IMessageReceiver, ITakenReporter
from twisted_gor.kafka.client import KafkaConnection
from twisted_gor.kafka.input import KafkaInput, KafkaInputConfig, _Reply
from twisted_gor.kafka.output import KafkaOutput, KafkaOutputConfig
from twisted_gor.message import Message


class ThreadClock(Clock):
    """
    A clock that also runs what other threads hand over, at once.
    """

    def callFromThread(self, f: Any, *args: Any, **kw: Any) -> None:
        f(*args, **kw)


class FakeError:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return f"fake {self._name}"


class FakeMessage:
    def __init__(self, value: bytes) -> None:
        self._value = value

    def value(self) -> bytes:
        return self._value


class FakeProducer:
    """
    Keeps what was produced until the test delivers it.
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.produced: list[tuple[str, bytes, bytes]] = []
        self.pending: list[bytes] = []
        self.outcomes: list[FakeError | None] = []
        self.full = False
        self.purged = False

    def produce(self, topic: str, value: bytes, key: bytes) -> None:
        if self.full:
            raise BufferError("Local: Queue full")
        self.produced.append((topic, value, key))
        self.pending.append(value)

    def deliver(self, count: int, error: FakeError | None = None) -> None:
        for _ in range(count):
            self.outcomes.append(error)

    def poll(self, timeout: float) -> int:
        served = 0
        while self.outcomes and self.pending:
            error = self.outcomes.pop(0)
            self.conf["on_delivery"](error, FakeMessage(self.pending.pop(0)))
            served += 1
        if self.purged:
            while self.pending:
                self.conf["on_delivery"](FakeError("_PURGE_QUEUE"), FakeMessage(self.pending.pop(0)))
        return served

    def purge(self, in_queue: bool, in_flight: bool) -> None:
        self.purged = True

    def flush(self, timeout: float) -> int:
        return len(self.pending)

    def __len__(self) -> int:
        return len(self.pending)


@implementer(IBackpressure)
class Pauses:
    def __init__(self) -> None:
        self.events: list[str] = []

    def pause(self, output: Any) -> None:
        self.events.append("pause")

    def resume(self, output: Any) -> None:
        self.events.append("resume")


def request(n: int, size: int = 0) -> Message:
    return Message(1, b"%024x" % n, 1000 + n, -1, b"GET /%d HTTP/1.1\r\n\r\n" % n + b"x" * size)


class OutputTests(SynchronousTestCase):
    """
    L{KafkaOutput} with a fake producer.
    """

    def setUp(self) -> None:
        self.clock = ThreadClock()
        self.producers: list[FakeProducer] = []

    def output(self, **kw: Any) -> KafkaOutput:
        def factory(conf: dict[str, Any]) -> FakeProducer:
            producer = FakeProducer(conf)
            self.producers.append(producer)
            return producer

        config = KafkaOutputConfig(KafkaConnection(["k:9092"]), "t", **kw)
        output = KafkaOutput(config, self.clock, producerFactory=factory)
        self.pauses = Pauses()
        output.setBackpressure(self.pauses)
        output.startService()
        return output

    def test_keyedRawValues(self) -> None:
        """
        Values are GoReplay's raw format, keyed by request id; delivery
        reports are counted.
        """
        output = self.output()
        output.write(request(1))
        [producer] = self.producers
        self.assertEqual(producer.produced, [("t", request(1).meta() + b"\n" + request(1).payload, b"%024x" % 1)])
        producer.deliver(1)
        self.clock.advance(0.01)
        self.assertEqual(output.stats["delivered"], 1)
        self.assertEqual(output.flow.bytes, 0)

    def test_budget(self) -> None:
        """
        Pausable inputs pause at 90% of the byte budget and resume at half;
        past the budget messages are dropped and counted.
        """
        output = self.output(bufferSize=1000)
        size = len(request(0, 250).meta()) + 1 + len(request(0, 250).payload)
        self.assertTrue(280 < size < 320, size)
        for n in range(3):
            output.write(request(n, 250))
        self.assertEqual(self.pauses.events, ["pause"])
        output.write(request(3, 250))
        self.assertEqual(output.stats["dropped.queue_full"], 1)
        [producer] = self.producers
        producer.deliver(2)
        self.clock.advance(0.01)
        self.assertEqual(self.pauses.events, ["pause", "resume"])
        self.assertEqual(output.stats["delivered"], 2)

    def test_clientQueueFull(self) -> None:
        """
        librdkafka's own queue being full is a drop, counted.
        """
        output = self.output()
        self.producers[0].full = True
        output.write(request(1))
        self.assertEqual(output.stats["dropped.queue_full"], 1)
        self.assertEqual(output.flow.messages, 0)

    def test_failedDelivery(self) -> None:
        """
        A failed delivery report is counted by reason and logged once.
        """
        output = self.output()
        for n in range(3):
            output.write(request(n))
        self.producers[0].deliver(2, FakeError("_MSG_TIMED_OUT"))
        self.producers[0].deliver(1)
        self.clock.advance(0.01)
        self.assertEqual(output.stats["failed.msg_timed_out"], 2)
        self.assertEqual(output.stats["client_errors.msg_timed_out"], 2)
        self.assertEqual(output.stats["delivered"], 1)

    def test_clientErrorsRateLimited(self) -> None:
        """
        Global client errors are counted; one line per reason per 30 s.
        """
        from twisted.logger import LogLevel, capturedLogs

        output = self.output()
        with capturedLogs() as events:
            for _ in range(5):
                output._onError(FakeError("_ALL_BROKERS_DOWN"))
            self.clock.advance(31)
            output._onError(FakeError("_ALL_BROKERS_DOWN"))
        warnings = [e for e in events if e["log_level"] == LogLevel.warn]
        self.assertEqual(len(warnings), 2)
        self.assertEqual(output.stats["client_errors.all_brokers_down"], 6)

    def test_stopWaitsThenDrops(self) -> None:
        """
        Stopping waits for delivery reports up to the timeout, then purges
        and counts what was left.
        """
        output = self.output(stopTimeout=2.0)
        for n in range(3):
            output.write(request(n))
        self.producers[0].deliver(1)
        d = output.stopService()
        self.assertNoResult(d)
        self.clock.advance(1.0)
        self.assertNoResult(d)
        self.clock.advance(1.1)
        self.successResultOf(d)
        self.assertEqual(output.stats["delivered"], 1)
        self.assertEqual(output.stats["dropped.stop_timeout"], 2)
        output.write(request(9))
        self.assertEqual(output.stats["dropped.not_running"], 1)

    def test_stopDrained(self) -> None:
        """
        Once every report came, stopping is done before the timeout.
        """
        output = self.output(stopTimeout=5.0)
        output.write(request(1))
        d = output.stopService()
        self.assertNoResult(d)
        self.producers[0].deliver(1)
        self.clock.advance(0.01)
        self.successResultOf(d)
        self.assertEqual(output.stats["dropped.stop_timeout"], 0)


@implementer(IMessageReceiver, ITakenReporter)
class Receiver:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.taken: list[Any] = []

    def messageReceived(self, message: Message) -> None:
        self.messages.append(message)

    def whenTaken(self) -> Any:
        from twisted.internet.defer import Deferred

        d: Deferred[None] = Deferred()
        self.taken.append(d)
        return d

    def take(self) -> None:
        taken, self.taken = self.taken, []
        for d in taken:
            d.callback(None)


class NoThreadInput(KafkaInput):
    def _startConsumer(self) -> None:
        pass


def raw(n: int, ts: int) -> bytes:
    return b"1 %024x %d -1\nGET /%d HTTP/1.1\r\n\r\n" % (n, ts, n)


class InputTests(SynchronousTestCase):
    """
    L{KafkaInput}'s reactor side (what the consumer thread hands over is
    fed directly).
    """

    def input(self, **kw: Any) -> KafkaInput:
        self.clock = ThreadClock()
        config = KafkaInputConfig(KafkaConnection(["k:9092"]), "t", **kw)
        kafka = NoThreadInput(config, self.clock)
        self.receiver = Receiver()
        kafka.setReceiver(self.receiver)
        kafka.startService()
        return kafka

    def hand(self, kafka: KafkaInput, items: list[tuple[str, int, int, bytes]]) -> None:
        kafka.handedBytes += sum(len(i[3]) for i in items)
        kafka._received(items)

    def test_emitsAndCountsBadValues(self) -> None:
        """
        Values become messages; bad ones are skipped by reason; the hand-off
        account goes back to zero.
        """
        kafka = self.input()
        self.hand(kafka, [("t", 0, 0, raw(1, 5)), ("t", 0, 1, b"junk"), ("t", 0, 2, raw(2, 6))])
        self.clock.advance(0)
        self.assertEqual([m.id for m in self.receiver.messages], [b"%024x" % 1, b"%024x" % 2])
        self.assertEqual(kafka.stats["skipped.not_record"], 1)
        self.assertEqual(kafka.handedBytes, 0)

    def test_pacing(self) -> None:
        """
        Not live: records are paced by their own timestamps at the speed given.
        """
        kafka = self.input(offset=-2, speed=2.0)
        self.hand(kafka, [("t", 0, i, raw(i, i * 10**9)) for i in range(3)])
        self.clock.advance(0)
        self.assertEqual(len(self.receiver.messages), 1)
        self.clock.advance(0.49)
        self.assertEqual(len(self.receiver.messages), 1)
        self.clock.advance(0.01)
        self.assertEqual(len(self.receiver.messages), 2)
        self.clock.advance(0.5)
        self.assertEqual(len(self.receiver.messages), 3)

    def test_liveNotPaced(self) -> None:
        """
        -1 (live) emits at once whatever the timestamps.
        """
        kafka = self.input(offset=-1, speed=2.0)
        self.hand(kafka, [("t", 0, i, raw(i, i * 10**9)) for i in range(3)])
        self.clock.advance(0)
        self.assertEqual(len(self.receiver.messages), 3)

    def test_pause(self) -> None:
        """
        Paused, nothing is emitted and the hand-off account stays (the
        thread then pauses the partitions).
        """
        kafka = self.input()
        kafka.pauseProducing()
        self.hand(kafka, [("t", 0, 0, raw(1, 5))])
        self.clock.advance(0)
        self.assertEqual(self.receiver.messages, [])
        self.assertTrue(kafka.handedBytes > 0)
        kafka.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(len(self.receiver.messages), 1)
        self.assertEqual(kafka.handedBytes, 0)

    def test_offsetsStoredOnceTaken(self) -> None:
        """
        In a group the thread is told to store offsets only once the
        outputs took the messages.
        """
        kafka = self.input(groupId="g")
        self.hand(kafka, [("t", 0, 7, raw(1, 5)), ("t", 1, 3, raw(2, 5))])
        self.clock.advance(0)
        self.assertTrue(kafka._control.empty())
        self.receiver.take()
        self.assertEqual(kafka._control.get_nowait(), ("store", {("t", 0): 8, ("t", 1): 4}))

    def test_revoke(self) -> None:
        """
        At a rebalance what was fetched from the revoked partitions and not
        emitted is given back, and the thread gets their offsets once taken.
        """
        kafka = self.input(groupId="g")
        kafka.pauseProducing()
        self.hand(kafka, [("t", 0, 7, raw(1, 5)), ("t", 1, 3, raw(2, 5))])
        kafka.resumeProducing()
        self.clock.advance(0)
        kafka.pauseProducing()
        self.hand(kafka, [("t", 0, 8, raw(3, 5)), ("t", 1, 4, raw(4, 5))])
        reply = _Reply()
        kafka._revoking({("t", 0)}, reply)
        self.assertEqual(kafka.stats["returned.revoked"], 1)
        self.assertFalse(reply.wait(0))
        self.receiver.take()
        self.assertTrue(reply.wait(0))
        # The offsets come in the reply or, when a store was on its way
        # already, just before it on the queue the thread reads first.
        stored: dict[Any, int] = {}
        while not kafka._control.empty():
            kind, value = kafka._control.get_nowait()
            stored.update(value)
        stored.update(reply.value)
        self.assertEqual(stored.get(("t", 0)), 8)
        kafka.resumeProducing()
        self.clock.advance(0)
        self.assertEqual([m.id for m in self.receiver.messages], [b"%024x" % n for n in (1, 2, 4)])
