# -*- test-case-name: tests.test_kafka_unit,tests.test_kafka_e2e -*-
"""
C{--input-kafka-host}/C{--input-kafka-topic}: messages from a Kafka topic.

The consumer (librdkafka) runs on one dedicated thread that calls
C{consume()} in batches and hands each batch to the reactor with
C{callFromThread}; the reactor decodes, paces and emits. Everything else the
consumer does (storing offsets, pausing) happens on that thread too, asked
for through a queue: no client call is made from two threads.

Memory is bounded in bytes: librdkafka prefetches at most
C{queued.max.messages.kbytes} (half of C{bufferSize}); what was handed to the
reactor and not emitted yet is at most the other half plus one batch: past it
the thread stops consuming until the reactor emitted down to a quarter (and
after L{LONG_STALL} pauses its partitions and polls on, so that a group keeps
it). This input is pausable: when an output
is saturated the pipeline pauses it, nothing is emitted, the hand-off fills
and the partitions pause, so the topic is read as fast as the outputs take it.

Without a group (GoReplay's way) every partition of the topic is assigned
from C{offset}: -1 the newest (live), -2 the oldest, N that offset. With
C{groupId}, the members of the group share the partitions; the committed
offset of a partition wins, C{offset} applies where none is committed.
Offsets are stored only once the outputs took the messages
(L{twisted_gor.interfaces.ITakenReporter}) and committed every second and at
a rebalance: at-least-once. When partitions are revoked, what was fetched
from them and not emitted is given back (counted C{returned.revoked}), the
emitted messages' offsets are committed once taken, and only then does the
rebalance go on, so an orderly rebalance neither loses nor repeats
messages. A replayer that dies (or whose partitions are I{lost}: the group
moved on without it and refuses its commit) makes the next owner repeat what
it had not committed, about the last second.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from twisted_gor._interfaces import ITakenReporter
from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import BuildContext
from twisted_gor.kafka.client import ClientErrors, KafkaConnection, errorReason, librdkafkaLogger
from twisted_gor.kafka.formats import BadValue, decodeJSON, decodeRaw
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.pacing import DueCall, Pacer

NEWEST = -1
"""C{--input-kafka-offset -1}: only messages produced from now on."""

OLDEST = -2
"""C{--input-kafka-offset -2}: from the oldest message kept."""

BATCH = 2000
"""Most messages emitted per reactor turn (and fetched per C{consume})."""

CONSUME_TIMEOUT = 0.1
"""Seconds one C{consume()} waits: how soon the thread sees a stop."""

LONG_STALL = 1.0
"""Seconds the consumer thread waits for room before pausing its partitions."""

COMMIT_INTERVAL = 1.0
"""Seconds between two asynchronous commits of taken offsets, at least (a
commit that meets a rebalance makes some brokers declare the partitions
lost, so not more often)."""

REVOKE_TIMEOUT = 10.0
"""Seconds a rebalance waits for the outputs to take what was emitted."""

STOP_TIMEOUT = 15.0
"""Seconds stopping waits for the consumer thread to close."""

_Item = tuple[str, int, int, bytes]
"""C{(topic, partition, offset, value)} handed from the thread."""


def _consumerFactory(conf: dict[str, Any]) -> Any:
    from confluent_kafka import Consumer

    return Consumer(conf)


class KafkaInput(InputBase):
    """
    The Kafka consumer input.
    """

    log = Logger()

    def __init__(
        self,
        config: "KafkaInputConfig",
        reactor: Any = None,
        consumerFactory: Callable[[dict[str, Any]], Any] = _consumerFactory,
    ) -> None:
        InputBase.__init__(self, f"input_kafka({config.topic})")
        self.config = config
        self.reactor = resolveReactor(reactor)
        self._consumerFactory = consumerFactory
        self._decode = decodeJSON if config.jsonFormat else decodeRaw
        self.errors = ClientErrors(self, self.reactor)
        self._pacer = Pacer(config.speed) if config.paced else None
        self._items: deque[_Item] = deque()
        self._head: tuple[_Item, Message | None] | None = None
        self._due = DueCall(self.reactor, self._emitDue)
        self._running = False
        # Offsets emitted but not yet stored, by (topic, partition): the
        # next offset to read.
        self._emitted: dict[tuple[str, int], int] = {}
        self._storing: dict[tuple[str, int], int] | None = None
        self._skippedLogged = 0
        # Shared with the thread, under the lock.
        self._lock = threading.Lock()
        self.handedBytes = 0
        self.handoffBudget = max(1, config.bufferSize // 2)
        self._room = threading.Event()
        self._control: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped: Deferred[None] = Deferred()
        self._exhausted: Deferred[None] = Deferred()

    # -- the librdkafka settings ---------------------------------------

    def librdkafkaConfig(self) -> dict[str, Any]:
        """
        The consumer's settings.
        """
        config = self.config
        conf = config.connection.librdkafka()
        group = config.groupId or f"twisted-gor-{os.urandom(6).hex()}"
        conf.update(
            {
                "group.id": group,
                # Offsets are committed explicitly, once the outputs took
                # the messages (see _ConsumerLoop._commit).
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # Learn of a rebalance soon (a joining member waits for us).
                "heartbeat.interval.ms": 1000,
                "auto.offset.reset": "latest" if config.offset == NEWEST else "earliest",
                "queued.max.messages.kbytes": max(1024, config.bufferSize // 2 // 1024),
                # One fetch response (librdkafka may hold a few) is bounded too.
                "fetch.max.bytes": max(1 << 20, config.bufferSize // 8),
                "max.partition.fetch.bytes": 1 << 20,
                "receive.message.max.bytes": max(1 << 20, config.bufferSize // 8) + (1 << 20),
                "fetch.wait.max.ms": 100,
                # Past the prefetch bound librdkafka waits this long before
                # fetching again (default 1 s: a stall per full queue).
                "fetch.queue.backoff.ms": 10,
                "error_cb": self._errorFromThread,
                "on_commit": self._committedFromThread,
                "logger": librdkafkaLogger(str(self.name), self.reactor),
                "log_level": 4,
            }
        )
        return conf

    # -- lifecycle (reactor thread) -------------------------------------

    def startService(self) -> None:
        """
        Start the consumer thread.
        """
        InputBase.startService(self)
        self._running = True
        config = self.config
        self.log.info(
            "{name}: consuming from {brokers}, topic {topic!r}, {how}",
            name=self.name,
            brokers=config.connection.describe(),
            topic=config.topic,
            how=(f"group {config.groupId!r}" if config.groupId else "every partition")
            + f", offset {config.offset}"
            + (f", paced at {config.speed * 100:g}%" if config.paced and math.isfinite(config.speed) else ""),
        )
        self._startConsumer()

    def _startConsumer(self) -> None:
        """
        Create the consumer and start its thread.
        """
        try:
            consumer = self._consumerFactory(self.librdkafkaConfig())
        except Exception as e:
            self.log.error("{name}: cannot create the consumer: {error}", name=self.name, error=str(e))
            self._failed(f"cannot create the consumer: {e}")
            self._stopped.callback(None)
            return
        self._thread = threading.Thread(target=self._threadMain, args=(consumer,), name="gor-kafka-consumer", daemon=True)
        self._thread.start()

    def stopService(self) -> Deferred[None]:
        """
        Stop emitting, let the thread store the last taken offsets, commit
        (in a group) and close; what was fetched and not emitted stays on
        the topic (counted C{returned.stop}).
        """
        InputBase.stopService(self)
        self._running = False
        self._cancel()
        left = len(self._items) + (1 if self._head is not None else 0)
        if left:
            self.stats.increment("returned.stop", left)
        self._items.clear()
        self._head = None
        if self._thread is None:
            return succeed(None)
        done: Deferred[None] = Deferred()

        def stopThread(_: Any = None) -> None:
            self._control.put(("stop", None))
            self._room.set()

        self._flushOffsets().addCallback(stopThread)
        timer = self.reactor.callLater(STOP_TIMEOUT, self._stopTimedOut)

        def finished(_: Any) -> None:
            if timer.active():
                timer.cancel()
            done.callback(None)

        self._stopped.addCallback(finished)
        return done

    def _stopTimedOut(self) -> None:
        self.log.warn("{name}: the consumer did not close within {t}s; leaving it", name=self.name, t=STOP_TIMEOUT)
        if not self._stopped.called:
            self._stopped.callback(None)

    def pauseProducing(self) -> None:
        """
        Stop emitting; the hand-off fills and the thread pauses the partitions.
        """
        InputBase.pauseProducing(self)
        self._cancel()

    def resumeProducing(self) -> None:
        """
        Emit again.
        """
        InputBase.resumeProducing(self)
        self._schedule(0)

    # -- from the thread --------------------------------------------------

    def _received(self, batch: list[_Item]) -> None:
        if not self._running:
            with self._lock:
                self.handedBytes -= sum(len(item[3]) for item in batch)
                self._roomMade()
            self.stats.increment("returned.stop", len(batch))
            return
        self.stats.increment("read", len(batch))
        self._items.extend(batch)
        self._schedule(0)

    def _roomMade(self) -> None:
        if self.handedBytes <= self.handoffBudget // 2:
            self._room.set()

    def _threadDone(self) -> None:
        if not self._stopped.called:
            self._stopped.callback(None)

    def _errorFromThread(self, error: Any) -> None:
        self.reactor.callFromThread(self._clientError, errorReason(error), error.str())

    def _committedFromThread(self, error: Any, partitions: list[Any]) -> None:
        failed = [p for p in partitions if p.error is not None]
        if error is not None or failed:
            detail = error.str() if error is not None else failed[0].error.str()
            reason = errorReason(error if error is not None else failed[0].error)
            self.reactor.callFromThread(self._clientError, reason, detail, " (committing offsets)")
        else:
            self.reactor.callFromThread(self.stats.increment, "commits")

    def _clientError(self, reason: str, detail: str, what: str = "") -> None:
        self.errors.report(reason, detail, what=what or f" ({self.config.connection.describe()})")

    def _note(self, text: str) -> None:
        self.log.info("{name}: {text}", name=self.name, text=text)

    # -- emitting (reactor thread) ---------------------------------------

    def _cancel(self) -> None:
        self._due.cancel()

    def _schedule(self, delay: float) -> None:
        if self._running and not self.paused:
            self._due.schedule(delay)

    def _skip(self, item: _Item, error: BadValue) -> None:
        self.stats.increment(f"skipped.{error.reason}")
        self._skippedLogged += 1
        if self._skippedLogged <= 10:
            self.log.warn(
                "{name}: skipped the value at partition {partition} offset {offset}: {error}",
                name=self.name,
                partition=item[1],
                offset=item[2],
                error=str(error),
            )
        elif self._skippedLogged == 11:
            self.log.warn("{name}: more values skipped; counting them without logging", name=self.name)

    def _emitDue(self) -> None:
        if not self._running:
            return
        pacer = self._pacer
        decode = self._decode
        items = self._items
        emitted = self._emitted
        now = self.reactor.seconds()
        budget = BATCH
        freed = 0
        while budget and not self.paused and self._running:
            head = self._head
            if head is not None:
                item, message = head
                self._head = None
            elif items:
                item = items.popleft()
                try:
                    message = decode(item[3])
                except BadValue as e:
                    message = None
                    self._skip(item, e)
            else:
                break
            if message is not None and pacer is not None:
                deadline = pacer.deadline(message.timestamp, now)
                if deadline > now:
                    self._head = (item, message)
                    self._schedule(deadline - now)
                    break
                if pacer.advance(message.timestamp, deadline):
                    self.stats.increment("negative_wait")
            freed += len(item[3])
            emitted[(item[0], item[1])] = item[2] + 1
            if message is not None:
                self.emit(message)
            budget -= 1
        if freed:
            with self._lock:
                self.handedBytes -= freed
            self._roomMade()
        if self.config.groupId and emitted and self._storing is None:
            self._flushOffsets()
        if budget == 0 and (items or self._head is not None):
            self._schedule(0)

    # -- offsets (reactor thread) ----------------------------------------

    def _whenTaken(self) -> Deferred[None]:
        reporter = ITakenReporter(self.receiver, None)
        if reporter is None:
            return succeed(None)
        return reporter.whenTaken()

    def _flushOffsets(self) -> Deferred[None]:
        """
        Once the outputs took everything emitted so far, ask the thread to
        store those offsets (group mode; they are committed within a second).
        """
        if not self.config.groupId or not self._emitted:
            return succeed(None)
        offsets, self._emitted = self._emitted, {}
        self._storing = offsets
        done: Deferred[None] = Deferred()

        def store(_: Any) -> None:
            self._storing = None
            self._control.put(("store", offsets))
            done.callback(None)
            if self._emitted and self._running:
                self._flushOffsets()

        self._whenTaken().addCallback(store)
        return done

    def _revoking(self, partitions: set[tuple[str, int]], reply: "_Reply") -> None:
        """
        (From the thread, during a rebalance.) Give back what was fetched
        from C{partitions} and not emitted; once the outputs took what was
        emitted from them, hand their offsets to the waiting thread.
        """
        kept: deque[_Item] = deque()
        returned = 0
        freed = 0
        for item in self._items:
            if (item[0], item[1]) in partitions:
                returned += 1
                freed += len(item[3])
            else:
                kept.append(item)
        self._items = kept
        if self._head is not None and (self._head[0][0], self._head[0][1]) in partitions:
            returned += 1
            freed += len(self._head[0][3])
            self._head = None
        if returned:
            self.stats.increment("returned.revoked", returned)
        with self._lock:
            self.handedBytes -= freed
        self._roomMade()

        def taken(_: Any) -> None:
            offsets = {}
            # Emitted before this rebalance, so taken by now too.
            for key, offset in (self._storing or {}).items():
                if key in partitions:
                    offsets[key] = offset
            for key in list(self._emitted):
                if key in partitions:
                    offsets[key] = self._emitted.pop(key)
            reply.put(offsets)

        # Offsets of these partitions already on their way to the thread
        # are stored before this reply is read (the queue keeps the order).
        self._whenTaken().addCallback(taken)

    # -- the consumer thread ---------------------------------------------

    def _threadMain(self, consumer: Any) -> None:
        try:
            _ConsumerLoop(self, consumer).run()
        except Exception as e:
            self.reactor.callFromThread(self._threadFailed, repr(e))
        finally:
            self.reactor.callFromThread(self._threadDone)

    def _threadFailed(self, error: str) -> None:
        self.log.error("{name}: the consumer stopped: {error}", name=self.name, error=error)
        self._failed(f"the consumer stopped: {error}")

    def _failed(self, reason: str) -> None:
        self.reportFailure(reason)
        if not self._exhausted.called:
            self._exhausted.callback(None)

    def whenExhausted(self) -> Deferred[None] | None:
        """
        Endless, unless the consumer failed for good (then gor stops once
        every input is done, and exits 1).
        """
        return self._exhausted


class _Reply:
    """
    A one-shot answer from the reactor to the consumer thread.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.value: dict[tuple[str, int], int] = {}

    def put(self, value: dict[tuple[str, int], int]) -> None:
        self.value = value
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


class _ConsumerLoop:
    """
    The body of the consumer thread (every client call happens here).
    """

    def __init__(self, owner: KafkaInput, consumer: Any) -> None:
        self.owner = owner
        self.consumer = consumer
        self.config = owner.config
        self.call = owner.reactor.callFromThread
        self.stopping = False
        self.paused = False
        self.assigned: list[Any] = []
        self.toCommit: dict[tuple[str, int], int] = {}
        self.lastCommit = 0.0

    def run(self) -> None:
        consumer = self.consumer
        try:
            if self.config.groupId:
                consumer.subscribe(
                    [self.config.topic], on_assign=self._onAssign, on_revoke=self._onRevoke, on_lost=self._onLost
                )
            elif not self._assignAll():
                return
            while not self.stopping:
                self._control()
                if self.stopping:
                    break
                if self.toCommit and time.monotonic() - self.lastCommit >= COMMIT_INTERVAL:
                    self._commit(sync=False)
                self._flow()
                messages = consumer.consume(BATCH, CONSUME_TIMEOUT)
                if messages:
                    self._handOff(messages)
        finally:
            self._close()

    def _close(self) -> None:
        consumer = self.consumer
        self._control()
        self._commit(sync=True)
        try:
            consumer.close()
        except Exception as e:
            self.call(self.owner._clientError, "close", str(e))

    def _wait(self, seconds: float) -> None:
        """
        Sleep on this thread, waking up for a stop.
        """
        try:
            kind, value = self.owner._control.get(timeout=seconds)
        except queue.Empty:
            return
        if kind == "stop":
            self.stopping = True

    def _assignAll(self) -> bool:
        """
        Assign every partition of the topic (no group); retried with backoff
        until the topic exists and a broker answers.
        """
        from confluent_kafka import KafkaException, TopicPartition

        topic = self.config.topic
        delay = 0.5
        while not self.stopping:
            try:
                metadata = self.consumer.list_topics(topic, timeout=5)
                info = metadata.topics.get(topic)
                if info is None or info.error is not None or not info.partitions:
                    error = info.error if info is not None else None
                    reason = errorReason(error) if error is not None else "unknown_topic_or_part"
                    detail = error.str() if error is not None else "no such topic"
                    self.call(self.owner._clientError, reason, detail, f" ({topic!r})")
                else:
                    partitions = [TopicPartition(topic, p, self._startOffset(topic, p)) for p in sorted(info.partitions)]
                    self.consumer.assign(partitions)
                    self.assigned = partitions
                    self.call(self.owner._note, f"assigned partitions {sorted(info.partitions)}")
                    return True
            except KafkaException as e:
                error = e.args[0] if e.args else None
                reason = errorReason(error) if error is not None else "metadata"
                self.call(self.owner._clientError, reason, error.str() if error is not None else str(e))
            self._wait(delay)
            delay = min(delay * 2, 5.0)
        return False

    def _startOffset(self, topic: str, partition: int) -> int:
        """
        Where to start reading C{partition}: the newest is resolved now, so
        that what is produced once the assignment was logged is read.
        """
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

        offset = self.config.offset
        if offset == OLDEST:
            return int(OFFSET_BEGINNING)
        if offset == NEWEST:
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5)
            except Exception:
                return int(OFFSET_END)
            return int(high)
        return offset

    def _onAssign(self, consumer: Any, partitions: list[Any]) -> None:
        offset = self.config.offset
        if offset >= 0 and partitions:
            try:
                committed = consumer.committed(partitions, timeout=10)
            except Exception:
                committed = partitions
            for p, c in zip(partitions, committed):
                if c.offset < 0:
                    p.offset = offset
            consumer.assign(partitions)
        self.assigned = list(partitions)
        self.paused = False
        self.call(self.owner._note, f"group {self.config.groupId!r} assigned partitions {sorted(p.partition for p in partitions)}")

    def _onRevoke(self, consumer: Any, partitions: list[Any]) -> None:
        self._giveUp(consumer, partitions, "revoked")

    def _onLost(self, consumer: Any, partitions: list[Any]) -> None:
        # Lost (the group moved on without us): the commit may be refused,
        # then the next owner repeats what was not committed (at-least-once).
        self._giveUp(consumer, partitions, "lost")

    def _giveUp(self, consumer: Any, partitions: list[Any], what: str) -> None:
        """
        Partitions go away: give back what was not emitted, wait until the
        outputs took what was, store and commit its offsets, then let the
        rebalance go on.
        """
        keys = {(p.topic, p.partition) for p in partitions}
        reply = _Reply()
        self.call(self.owner._revoking, keys, reply)
        if not reply.wait(REVOKE_TIMEOUT):
            self.call(
                self.owner._clientError,
                "revoke_timeout",
                f"the outputs did not take the emitted messages within {REVOKE_TIMEOUT}s",
                " (rebalance)",
            )
        self._control()
        self._store(reply.value)
        self._commit(sync=True)
        self.assigned = [p for p in self.assigned if (p.topic, p.partition) not in keys]
        self.call(self.owner._note, f"group {self.config.groupId!r} {what} partitions {sorted(k[1] for k in keys)}")

    def _control(self) -> None:
        control = self.owner._control
        while True:
            try:
                kind, value = control.get_nowait()
            except queue.Empty:
                return
            if kind == "store":
                self._store(value)
            elif kind == "stop":
                self.stopping = True

    def _store(self, offsets: dict[tuple[str, int], int]) -> None:
        """
        Remember taken offsets of assigned partitions, to commit.
        """
        current = {(p.topic, p.partition) for p in self.assigned}
        for key, offset in offsets.items():
            if key in current and offset > self.toCommit.get(key, -1):
                self.toCommit[key] = offset

    def _commit(self, sync: bool) -> None:
        """
        Commit the taken offsets (at a rebalance and at the end: waiting for
        the broker's answer).
        """
        if not self.toCommit:
            return
        from confluent_kafka import TopicPartition

        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(self.toCommit.items())]
        self.toCommit = {}
        self.lastCommit = time.monotonic()
        try:
            self.consumer.commit(offsets=offsets, asynchronous=not sync)
        except Exception as e:
            # The group moved on (partitions lost): their next owner repeats
            # what this commit held (at-least-once).
            error = e.args[0] if e.args else None
            reason = errorReason(error) if hasattr(error, "name") else "commit"
            self.call(self.owner._clientError, reason, str(e), " (committing offsets)")

    def _flow(self) -> None:
        """
        Past the hand-off budget, stop consuming until the reactor has
        emitted down to half of it (it sets C{_room}). A short wait takes at
        most one message per L{CONSUME_TIMEOUT} (C{consume(1, 0)} serves
        the group's callbacks: rebalances never wait for room); past
        L{LONG_STALL} the partitions are paused (librdkafka then drops its
        prefetch and refetches on resume, a stall worth it only for long
        waits).
        """
        owner = self.owner
        low = owner.handoffBudget // 2
        if self.paused:
            if owner.handedBytes <= low:
                self._pause(False)
            return
        if owner.handedBytes <= owner.handoffBudget:
            return
        owner._room.clear()
        if owner.handedBytes <= low:
            return
        self.call(owner.stats.increment, "waited")
        started = time.monotonic()
        while not self.stopping:
            if owner._room.wait(CONSUME_TIMEOUT):
                return
            self._control()
            if time.monotonic() - started > LONG_STALL:
                self._pause(True)
                return
            # Serve the group's callbacks (a rebalance must not wait for
            # room): at most one message per wait goes over the budget.
            messages = self.consumer.consume(1, 0)
            if messages:
                self._handOff(messages)

    def _pause(self, pause: bool) -> None:
        try:
            assignment = self.consumer.assignment()
            if pause:
                self.consumer.pause(assignment)
            else:
                self.consumer.resume(assignment)
        except Exception as e:
            self.call(self.owner._clientError, "pause", str(e))
            return
        self.paused = pause
        self.call(self.owner.stats.increment, "paused" if pause else "resumed")

    def _handOff(self, messages: list[Any]) -> None:
        batch: list[_Item] = []
        size = 0
        for m in messages:
            error = m.error()
            if error is not None:
                self.call(self.owner._clientError, errorReason(error), error.str(), f" ({self.config.topic!r})")
                continue
            value = m.value() or b""
            batch.append((m.topic(), m.partition(), m.offset(), value))
            size += len(value)
        if batch:
            owner = self.owner
            with owner._lock:
                owner.handedBytes += size
            self.call(owner._received, batch)


@dataclass
class KafkaInputConfig:
    """
    Configuration of L{KafkaInput}.

    @ivar connection: brokers, SASL and TLS.
    @ivar topic: the topic read.
    @ivar jsonFormat: values are JSON documents.
    @ivar offset: L{NEWEST}, L{OLDEST} or an absolute offset.
    @ivar speed: replay speed factor when paced (C{inf}: no waits).
    @ivar groupId: the consumer group to share the partitions with, or "".
    @ivar bufferSize: bytes fetched ahead and not emitted, about at most.
    """

    connection: KafkaConnection
    topic: str
    limit: Limit | None = None
    jsonFormat: bool = False
    offset: int = NEWEST
    speed: float = 1.0
    groupId: str = ""
    bufferSize: int = 16 * 1024 * 1024

    @property
    def paced(self) -> bool:
        """
        GoReplay paces by the messages' timestamps unless reading live (-1).
        """
        return self.offset != NEWEST and math.isfinite(self.speed)

    def build(self, context: BuildContext) -> KafkaInput:
        """
        Build the input.
        """
        return KafkaInput(self, context.reactor)
