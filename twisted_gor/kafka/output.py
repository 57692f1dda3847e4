# -*- test-case-name: tests.test_kafka_unit,tests.test_kafka_e2e -*-
"""
C{--output-kafka-host}/C{--output-kafka-topic}: every message to a Kafka
topic, keyed by its request id (a request and its responses share a
partition, in order).

The producer (librdkafka) never blocks the reactor: C{produce} only queues,
and delivery reports are served by C{poll(0)} from a L{LoopingCall} on the
reactor thread (and every L{POLL_EVERY} messages), so no callback crosses
threads. What waits for the broker is bounded in bytes: our own account
(L{FlowControl}: pause pausable inputs at 90% of C{bufferSize}, resume at
50%, drop and count C{dropped.queue_full} past it) and librdkafka's
C{queue.buffering.max.kbytes} set a little above it. While no broker is
reachable librdkafka keeps the messages and reconnects with backoff; with the
default C{deliveryTimeout} of 0 nothing within the budget expires. Each
delivery report is counted: C{delivered}, or C{failed.<reason>}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.kafka.client import ClientErrors, KafkaConnection, errorReason, librdkafkaLogger, releaseClient
from twisted_gor.kafka.formats import encodeJSON, encodeRaw
from twisted_gor.limiter import Limit
from twisted_gor.message import Message

POLL_EVERY = 1000
"""Messages produced between two C{poll(0)} calls within one reactor turn."""

POLL_INTERVAL = 0.01
"""Seconds between delivery-report polls."""

COMPRESSIONS = ("snappy", "gzip", "lz4", "zstd", "none")
"""Values of C{--output-kafka-compression}; GoReplay uses snappy."""

_PURGED = frozenset({"purge_queue", "purge_inflight"})


def _producerFactory(conf: dict[str, Any]) -> Any:
    from confluent_kafka import Producer

    return Producer(conf)


class KafkaOutput(OutputBase):
    """
    The Kafka producer output.

    @ivar delivered: messages the broker acknowledged.
    """

    log = Logger()

    def __init__(
        self,
        config: "KafkaOutputConfig",
        reactor: Any = None,
        producerFactory: Callable[[dict[str, Any]], Any] = _producerFactory,
    ) -> None:
        OutputBase.__init__(self, f"output_kafka({config.topic})")
        self.config = config
        self.reactor = resolveReactor(reactor)
        self._producerFactory = producerFactory
        self._encode = encodeJSON if config.jsonFormat else encodeRaw
        self.producer: Any = None
        self.delivered = 0
        self.produced = 0
        self.stats.track("delivered", lambda: self.delivered)
        self.stats.track("produced", lambda: self.produced)
        self.stats.track("waiting", lambda: self.flow.messages)
        budget = max(1, config.bufferSize)
        flow = self.flow
        flow.maxBytes = budget
        flow.highBytes, flow.lowBytes = max(1, budget * 9 // 10), budget // 2
        self.errors = ClientErrors(self, self.reactor)
        self._poller = LoopingCall(self._poll)
        self._poller.clock = self.reactor
        self._sincePoll = 0
        self._stopping = False
        self._drained: Deferred[None] | None = None

    def librdkafkaConfig(self) -> dict[str, Any]:
        """
        The producer's settings.
        """
        config = self.config
        conf = config.connection.librdkafka()
        conf.update(
            {
                # GoReplay: acks = wait for the local broker, snappy.
                "acks": 1,
                "compression.type": config.compression,
                "linger.ms": 5,
                "batch.num.messages": 10000,
                "queue.buffering.max.kbytes": max(1024, config.bufferSize // 1024 + 1024),
                "queue.buffering.max.messages": 2_000_000,
                "message.timeout.ms": int(config.deliveryTimeout * 1000),
                "retry.backoff.ms": 100,
                "retry.backoff.max.ms": 2000,
                "on_delivery": self._onDelivery,
                "error_cb": self._onError,
                "logger": librdkafkaLogger(str(self.name), self.reactor),
                "log_level": 4,
            }
        )
        return conf

    # -- lifecycle -----------------------------------------------------

    def startService(self) -> None:
        """
        Create the producer (it connects in its own threads) and start polling.
        """
        OutputBase.startService(self)
        try:
            self.producer = self._producerFactory(self.librdkafkaConfig())
        except Exception as e:
            # A setting librdkafka refuses (an unreadable key, say): this
            # output is done; gor exits 1.
            self.log.error("{name}: cannot create the producer: {error}", name=self.name, error=str(e))
            self.reportFailure(f"cannot create the producer: {e}")
            return
        self.log.info(
            "{name}: producing to {brokers}, topic {topic!r} ({fmt}, {compression})",
            name=self.name,
            brokers=self.config.connection.describe(),
            topic=self.config.topic,
            fmt="JSON" if self.config.jsonFormat else "raw",
            compression=self.config.compression,
        )
        self._poller.start(POLL_INTERVAL, now=False)

    def stopService(self) -> Deferred[None]:
        """
        Wait for the delivery reports of what was produced, up to the stop
        timeout; what is still waiting then is purged and counted
        C{dropped.stop_timeout}.
        """
        OutputBase.stopService(self)
        if self.producer is None:
            return succeed(None)
        self._poll()
        if not self.flow.messages and not len(self.producer):
            return self._close()
        self._drained = Deferred()
        timer = self.reactor.callLater(self.config.stopTimeout, self._giveUp)

        def closed(_: Any) -> Deferred[None]:
            if timer.active():
                timer.cancel()
            return self._close()

        return self._drained.addCallback(closed)

    def _giveUp(self) -> None:
        producer = self.producer
        waiting = self.flow.messages
        self.log.warn(
            "{name}: {n} messages not delivered within {t}s of stopping; dropping them",
            name=self.name,
            n=waiting,
            t=self.config.stopTimeout,
        )
        self._stopping = True
        try:
            producer.purge(in_queue=True, in_flight=True)
            producer.poll(0)
        except Exception:
            self.log.failure("{name}: purging the producer", name=self.name)
        left = self.flow.messages
        if left:
            self.stats.increment("dropped.stop_timeout", left)
            self.flow.release()
        self._fireDrained()

    def _fireDrained(self) -> None:
        drained, self._drained = self._drained, None
        if drained is not None:
            drained.callback(None)

    def _close(self) -> Deferred[None]:
        if self._poller.running:
            self._poller.stop()
        producer, self.producer = self.producer, None
        return releaseClient(self.reactor, _release, producer)

    # -- producing -----------------------------------------------------

    def write(self, message: Message) -> None:
        """
        Queue one message for the broker; drop and count it when the byte
        budget is spent.
        """
        if self.producer is None:
            self.stats.increment("dropped.not_running")
            return
        value = self._encode(message)
        size = len(value)
        flow = self.flow
        if not flow.fits(size):
            self.stats.increment("dropped.queue_full")
            return
        try:
            self.producer.produce(self.config.topic, value, message.id)
        except BufferError:
            self.stats.increment("dropped.queue_full")
            return
        except Exception as e:
            reason = errorReason(e.args[0]) if e.args and hasattr(e.args[0], "name") else "produce"
            self.stats.increment(f"failed.{reason}")
            self.errors.report(reason, str(e), retrying="message dropped")
            return
        self.produced += 1
        flow.add(size)
        self._sincePoll += 1
        if self._sincePoll >= POLL_EVERY:
            self._poll()

    def _poll(self) -> None:
        self._sincePoll = 0
        producer = self.producer
        if producer is None:
            return
        try:
            producer.poll(0)
        except Exception:
            self.log.failure("{name}: polling the producer", name=self.name)
        if self._drained is not None and not self.flow.messages:
            self._fireDrained()

    def _onDelivery(self, error: Any, message: Any) -> None:
        value = message.value()
        self.flow.remove(len(value) if value is not None else 0)
        if error is None:
            self.delivered += 1
            return
        reason = errorReason(error)
        if self._stopping and reason in _PURGED:
            self.stats.increment("dropped.stop_timeout")
            return
        self.stats.increment(f"failed.{reason}")
        self.errors.report(reason, error.str(), what=f" (topic {self.config.topic!r})", retrying="message dropped")

    def _onError(self, error: Any) -> None:
        # librdkafka's global errors (all brokers down, SASL, TLS); it keeps
        # retrying by itself. Called from poll(), on the reactor thread.
        self.errors.report(errorReason(error), error.str(), what=f" ({self.config.connection.describe()})")


def _release(producer: Any) -> None:
    producer.flush(0)
    del producer


@dataclass
class KafkaOutputConfig:
    """
    Configuration of L{KafkaOutput}.

    @ivar connection: brokers, SASL and TLS.
    @ivar topic: the topic written to.
    @ivar jsonFormat: JSON documents instead of raw values.
    @ivar compression: one of L{COMPRESSIONS}.
    @ivar bufferSize: bytes waiting for the broker, at most.
    @ivar deliveryTimeout: seconds a message may wait for the broker before
        it fails (C{failed.msg_timed_out}); 0 = no limit.
    @ivar stopTimeout: at exit, seconds to wait for the delivery reports.
    """

    connection: KafkaConnection
    topic: str
    limit: Limit | None = None
    jsonFormat: bool = False
    compression: str = "snappy"
    bufferSize: int = 64 * 1024 * 1024
    deliveryTimeout: float = 0.0
    stopTimeout: float = 5.0

    def build(self, context: BuildContext) -> KafkaOutput:
        """
        Build the output.
        """
        return KafkaOutput(self, context.reactor)
