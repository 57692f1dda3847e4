"""
Kafka input and output through the real C{gor} command against a real
Kafka-protocol broker (noida-db's Kafka endpoint) started by the tests; what
gor wrote is checked, and what gor reads is fed, by a plain confluent-kafka
client.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SkipTest, TestCase

from tests.kafkabroker import Broker, committed, consume, createTopic, produce, skipReason
from tests.support import GorProcess, fileRecords, freePort, runGor, startGor, waitUntil
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message

START = 1_700_000_000 * 10**9


def pairs(count: int, start: int = START, gap: int = 1000) -> list[Message]:
    """
    C{count} requests, each followed by its response (shared id).
    """
    out = []
    for i in range(count):
        id_ = b"%024x" % (i + 1)
        ts = start + i * gap
        out.append(Message(1, id_, ts, -1, b"GET /item/%d HTTP/1.1\r\nHost: example.org\r\n\r\n" % i))
        out.append(Message(2, id_, ts + 1, 1234, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n%03d" % (i % 1000)))
    return out


def rawValue(message: Message) -> bytes:
    return message.meta() + b"\n" + message.payload


def summary(text: str, component: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.search(r"summary: " + re.escape(component) + r"[^:]*: (.*)$", line)
        if m:
            found = {k: int(v) for k, v in (p.split("=", 1) for p in m.group(1).split()) if v.isdigit()}
    return found


class KafkaTestCase(TestCase):
    """
    Starts a broker for each test.
    """

    timeout = 120
    kind = "noida"

    async def asyncSetUp(self) -> None:
        reason = skipReason(self.kind)
        if reason is not None:
            raise SkipTest(reason)
        self.broker = Broker(self.kind)
        self.addCleanup(self.broker.stop)
        await self.broker.start(reactor)

    def setUp(self) -> Any:
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self.asyncSetUp())

    def tmp(self) -> str:
        """
        A new absolute path in a directory that exists (gor runs elsewhere).
        """
        path = os.path.abspath(self.mktemp())
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return path

    def writeFile(self, messages: list[Message]) -> str:
        path = self.tmp()
        with open(path, "wb") as f:
            for m in messages:
                f.write(encodeMessage(m))
        return path

    def gor(self, *args: str) -> GorProcess:
        process = startGor(*args)
        self.addCleanup(process.killIfRunning)
        return process

    def kafkaIn(self, topic: str, *extra: str) -> list[str]:
        return ["--input-kafka-host", self.broker.bootstrap, "--input-kafka-topic", topic, *extra]

    def kafkaOut(self, topic: str, *extra: str) -> list[str]:
        return ["--output-kafka-host", self.broker.bootstrap, "--output-kafka-topic", topic, *extra]

    async def replayInto(self, out: str, count: int, *args: str) -> GorProcess:
        """
        Run gor with C{args} writing C{out}; stop it once C{count} records are there.
        """
        process = self.gor(*args, "--output-file", out, "--output-file-flush-interval", "50ms")
        await waitUntil(
            lambda: len(fileRecords(out)) >= count,
            60,
            describe=lambda: f"{len(fileRecords(out))} of {count} records; gor said:\n{process.logText}",
            clock=reactor,
        )
        process.signal("INT")
        await process.wait(30)
        return process


class RoundTripTests(KafkaTestCase):
    """
    file -> Kafka -> gor -> file, byte for byte.
    """

    async def test_fileKafkaFile(self) -> None:
        """
        Requests and responses go through a topic unchanged: the values are
        GoReplay's raw format keyed by request id, and replaying the topic
        from the oldest offset writes the same file.
        """
        messages = pairs(300)
        source = self.writeFile(messages)
        await createTopic(self.broker.bootstrap, "rt", 1)
        result = await runGor("--input-file", source + "|max", *self.kafkaOut("rt"), timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(summary(result.errText, "output_kafka")["delivered"], 600, result.errText)

        found = await consume(self.broker.bootstrap, "rt", 600)
        self.assertEqual([v for _, _, _, v in found], [rawValue(m) for m in messages])
        self.assertEqual([k for _, _, k, _ in found], [m.id for m in messages])

        out = self.tmp()
        await self.replayInto(out, 600, *self.kafkaIn("rt", "--input-kafka-offset", "-2|max"))
        with open(source, "rb") as a, open(out, "rb") as b:
            self.assertEqual(b.read(), a.read())

    async def test_jsonFormat(self) -> None:
        """
        JSON documents with GoReplay's fields in its order, read back into
        requests by --input-kafka-json-format.
        """
        request = Message(
            1,
            b"aa" * 12,
            START,
            -1,
            b"POST /form?x=1 HTTP/1.1\r\nhost: example.org\r\ncontent-length: 5\r\n\r\nhello",
        )
        source = self.writeFile([request])
        result = await runGor(
            "--input-file", source + "|max", *self.kafkaOut("js", "--output-kafka-json-format"), timeout=60
        )
        self.assertEqual(result.rc, 0, result.errText)
        [(_, _, key, value)] = await consume(self.broker.bootstrap, "js", 1)
        self.assertEqual(key, b"aa" * 12)
        self.assertEqual(
            value,
            b'{"Req_URL":"/form?x=1","Req_Type":"1","Req_ID":"' + b"aa" * 12 + b'","Req_Ts":"%d",' % START
            + b'"Req_Method":"POST","Req_Body":"hello",'
            b'"Req_Headers":{"Content-Length":"5","Host":"example.org"}}',
        )  # fmt: skip
        out = self.tmp()
        await self.replayInto(out, 1, *self.kafkaIn("js", "--input-kafka-json-format", "--input-kafka-offset", "-2|max"))
        [back] = fileRecords(out)
        self.assertEqual((back.type, back.id, back.timestamp), (1, b"aa" * 12, START))
        self.assertEqual(back.payload, b"POST /form?x=1 HTTP/1.1\r\nContent-Length: 5\r\nHost: example.org\r\n\r\nhello")


class CompressionTests(KafkaTestCase):
    """
    --output-kafka-compression: what the client offers.
    """

    async def test_codecs(self) -> None:
        """
        Each codec's batches are read back intact by a plain client.
        """
        messages = pairs(20)
        source = self.writeFile(messages)
        for codec in ("gzip", "lz4", "zstd", "none"):
            result = await runGor(
                "--input-file", source + "|max", *self.kafkaOut(codec, "--output-kafka-compression", codec), timeout=60
            )
            self.assertEqual(summary(result.errText, "output_kafka").get("delivered"), 40, result.errText)
            found = await consume(self.broker.bootstrap, codec, 40)
            self.assertEqual([v for _, _, _, v in found], [rawValue(m) for m in messages], codec)


class ProducerLimitsTests(KafkaTestCase):
    """
    What the producer cannot deliver is counted, never silent.
    """

    async def test_tooLarge(self) -> None:
        """
        A message over the client's size limit fails, counted by reason with
        one log line; the others are delivered.
        """
        big = Message(1, b"b" * 24, START, -1, b"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 2_000_000)
        source = self.writeFile([*pairs(2), big])
        result = await runGor("--input-file", source + "|max", *self.kafkaOut("big"), timeout=60)
        counters = summary(result.errText, "output_kafka")
        self.assertEqual((counters.get("delivered"), counters.get("failed.msg_size_too_large")), (4, 1), result.errText)

    async def test_liveInputDropsPastBudget(self) -> None:
        """
        A live input (--input-http) cannot pause: with no broker and a small
        budget what does not fit is dropped and counted, not held.
        """
        port = freePort()
        process = self.gor(
            "--input-http", f"127.0.0.1:{port}",
            "--output-kafka-host", f"127.0.0.1:{freePort()}", "--output-kafka-topic", "t",
            "--output-kafka-buffer-size", "8kb", "--output-kafka-timeout", "100ms",
        )  # fmt: skip
        await process.waitForLog("gor: started", 30)
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))

        async def listening() -> bool:
            try:
                response = await client.post(f"http://127.0.0.1:{port}/probe", data=b"x", timeout=2)
                await response.content()
            except Exception:
                return False
            return True

        await waitUntil(lambda: Deferred.fromCoroutine(listening()), 30, clock=reactor)
        for i in range(20):
            response = await client.post(f"http://127.0.0.1:{port}/item/{i}", data=b"y" * 1024, timeout=5)
            await response.content()
        process.signal("INT")
        result = await process.wait(30)
        counters = summary(result.errText, "output_kafka")
        self.assertGreaterEqual(counters.get("dropped.queue_full", 0), 10, result.errText)
        held = counters.get("dropped.stop_timeout", 0)
        self.assertLessEqual(held, 8, result.errText)
        self.assertEqual(counters["dropped.queue_full"] + held, 21, result.errText)


class BadValueTests(KafkaTestCase):
    """
    Values that are not gor messages are skipped and counted; gor goes on.
    """

    async def test_rawAndJSON(self) -> None:
        """
        Garbage, a bad meta line and wrong-shape JSON are counted by reason;
        the good values around them are replayed.
        """
        good = pairs(2)
        values = [b"not a record", rawValue(good[0]), b"1 x\nGET / HTTP/1.1\r\n\r\n", rawValue(good[1])]
        await produce(self.broker.bootstrap, "bad", values)
        out = self.tmp()
        process = await self.replayInto(out, 2, *self.kafkaIn("bad", "--input-kafka-offset", "-2|max"))
        self.assertEqual([m.payload for m in fileRecords(out)], [good[0].payload, good[1].payload])
        counters = summary(process.logText, "input_kafka")
        self.assertEqual((counters["skipped.not_record"], counters["skipped.malformed"]), (1, 1), process.logText)

        await produce(self.broker.bootstrap, "badjson", [b"[1]", b'{"Req_Type":"1"}', b"{", json.dumps(
            {"Req_URL": "/", "Req_Type": "1", "Req_ID": "ab", "Req_Ts": "5", "Req_Method": "GET"}).encode()])  # fmt: skip
        out = self.tmp()
        process = await self.replayInto(
            out, 1, *self.kafkaIn("badjson", "--input-kafka-json-format", "--input-kafka-offset", "-2|max")
        )
        self.assertEqual([m.payload for m in fileRecords(out)], [b"GET / HTTP/1.1\r\n\r\n"])
        self.assertEqual(summary(process.logText, "input_kafka")["skipped.bad_json"], 3, process.logText)


class UnknownTopicTests(KafkaTestCase):
    """
    A topic that does not exist yet.
    """

    async def test_waitsForTopic(self) -> None:
        """
        One clear line and a counter, retried with backoff; replayed once it
        exists.
        """
        out = self.tmp()
        process = self.gor(*self.kafkaIn("notyet", "--input-kafka-offset", "-2|max"), "--output-file", out,
                           "--output-file-flush-interval", "50ms")  # fmt: skip
        await process.waitForLog("unknown topic", 30)
        messages = pairs(3)
        await produce(self.broker.bootstrap, "notyet", [rawValue(m) for m in messages])
        await waitUntil(lambda: len(fileRecords(out)) >= 6, 60, describe=lambda: process.logText, clock=reactor)
        process.signal("INT")
        await process.wait(30)
        self.assertEqual(fileRecords(out), messages)
        lines = [line for line in process.logText.splitlines() if "unknown topic" in line]
        self.assertEqual(len(lines), 1, process.logText)
        self.assertIn("retrying with backoff", lines[0])
        self.assertGreaterEqual(summary(process.logText, "input_kafka")["client_errors.unknown_topic_or_part"], 1)


class OffsetTests(KafkaTestCase):
    """
    --input-kafka-offset: -1 newest (the default), -2 oldest, an offset; pacing.
    """

    async def test_newestOldestAbsolute(self) -> None:
        """
        -1 reads only what is produced after gor started; -2 everything; 3
        from the fourth message on.
        """
        old = pairs(5)
        await produce(self.broker.bootstrap, "off", [rawValue(m) for m in old])
        new = pairs(4, start=START + 10**9)
        out = self.tmp()
        process = self.gor(*self.kafkaIn("off"), "--output-file", out, "--output-file-flush-interval", "50ms")
        await process.waitForLog("assigned partitions", 30)
        await produce(self.broker.bootstrap, "off", [rawValue(m) for m in new])
        await waitUntil(lambda: len(fileRecords(out)) >= len(new), 30, describe=lambda: process.logText, clock=reactor)
        process.signal("INT")
        await process.wait(30)
        self.assertEqual(fileRecords(out), new)

        out = self.tmp()
        await self.replayInto(out, 18, *self.kafkaIn("off", "--input-kafka-offset", "-2|max"))
        self.assertEqual(fileRecords(out), old + new)

        out = self.tmp()
        await self.replayInto(out, 15, *self.kafkaIn("off", "--input-kafka-offset", "3|max"))
        self.assertEqual(fileRecords(out), (old + new)[3:])

    async def test_pacing(self) -> None:
        """
        -2|200% replays at twice the recorded pace: records 0.2 s apart over
        1.6 s take at least 0.8 s, in order (only a lower bound is asserted).
        """
        recorded = [
            Message(1, b"%024x" % i, START + i * 200_000_000, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i) for i in range(9)
        ]
        await produce(self.broker.bootstrap, "paced", [rawValue(m) for m in recorded])
        out = self.tmp()
        process = self.gor(*self.kafkaIn("paced", "--input-kafka-offset", "-2|200%"), "--output-file", out,
                           "--output-file-flush-interval", "20ms")  # fmt: skip
        await waitUntil(lambda: len(fileRecords(out)) >= 1, 30, describe=lambda: process.logText, clock=reactor)
        first = reactor.seconds()
        await waitUntil(lambda: len(fileRecords(out)) >= 9, 30, describe=lambda: process.logText, clock=reactor)
        elapsed = reactor.seconds() - first
        process.signal("INT")
        await process.wait(30)
        self.assertEqual(fileRecords(out), recorded)
        self.assertGreaterEqual(elapsed, 0.7, "replayed faster than 200%")


class GroupTests(KafkaTestCase):
    """
    --input-kafka-group-id: replayers share a topic's partitions.
    """

    def assignment(self, process: GorProcess) -> list[int]:
        found = re.findall(r"group 'g' (assigned|revoked|lost) partitions \[([0-9, ]*)\]", process.logText)
        current: set[int] = set()
        for what, numbers in found:
            parts = {int(n) for n in numbers.split(",") if n.strip()}
            current = current | parts if what == "assigned" else current - parts
        return sorted(current)

    async def test_twoReplayersOneGroup(self) -> None:
        """
        Two gors in one group over four partitions: each message is replayed
        by exactly one of them; when one stops the other takes its
        partitions, and nothing is lost or repeated.
        """
        bootstrap = self.broker.bootstrap
        await createTopic(bootstrap, "shared", 4)
        outA, outB = self.tmp(), self.tmp()
        args = [*self.kafkaIn("shared", "--input-kafka-group-id", "g", "--input-kafka-offset", "-2|max"),
                "--output-file-flush-interval", "50ms"]  # fmt: skip
        a = self.gor(*args, "--output-file", outA)
        b = self.gor(*args, "--output-file", outB)
        await waitUntil(
            lambda: len(self.assignment(a)) + len(self.assignment(b)) == 4 and self.assignment(a) and self.assignment(b),
            60,
            describe=lambda: f"A: {self.assignment(a)}, B: {self.assignment(b)}\n{a.logText}\n{b.logText}",
            clock=reactor,
        )
        first = pairs(500)
        await produce(bootstrap, "shared", [rawValue(m) for m in first], [m.id for m in first])

        def replayed() -> list[Message]:
            return fileRecords(outA) + fileRecords(outB)

        await waitUntil(lambda: len(replayed()) >= 1000, 60, describe=lambda: f"{len(replayed())}", clock=reactor)
        self.assertTrue(fileRecords(outA) and fileRecords(outB), "one replayer got nothing")
        byId: dict[bytes, list[int]] = {}
        for m in fileRecords(outA) + fileRecords(outB):
            byId.setdefault(m.id, []).append(m.type)
        # A request and its response stay together, in order.
        self.assertEqual(set(map(tuple, byId.values())), {(1, 2)})

        # Offsets are committed soon after the outputs took the messages.
        await waitUntil(lambda: committed(bootstrap, "g", "shared").addCallback(lambda n: n == 1000), 30, clock=reactor)
        b.signal("INT")
        result = await b.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        await waitUntil(lambda: self.assignment(a) == [0, 1, 2, 3], 60, describe=lambda: a.logText, clock=reactor)
        second = pairs(200, start=START + 10**12)
        second = [m.replace(id=b"b" + m.id[1:]) for m in second]
        await produce(bootstrap, "shared", [rawValue(m) for m in second], [m.id for m in second])
        await waitUntil(lambda: len(replayed()) >= 1400, 60, describe=lambda: f"{len(replayed())}", clock=reactor)
        a.signal("INT")
        await a.wait(30)
        everything = replayed()
        seen: dict[tuple[bytes, int], int] = {}
        for m in everything:
            seen[(m.id, m.type)] = seen.get((m.id, m.type), 0) + 1
        repeated = sorted(k for k, n in seen.items() if n > 1)
        self.assertEqual(repeated, [], f"{len(repeated)} repeated, e.g. {repeated[:3]}; A: {len(fileRecords(outA))}\n{a.logText[-3000:]}\n{result.errText[-3000:]}")
        self.assertEqual(len(everything), 1400)
        self.assertEqual(sorted(everything, key=lambda m: (m.id, m.type)), sorted(first + second, key=lambda m: (m.id, m.type)))

        # The offsets were committed: the group starts after what it replayed.
        out = self.tmp()
        c = self.gor(*args, "--output-file", out)
        await waitUntil(lambda: len(self.assignment(c)) == 4, 60, describe=lambda: c.logText, clock=reactor)
        third = pairs(3, start=START + 2 * 10**12)
        third = [m.replace(id=b"c" + m.id[1:]) for m in third]
        await produce(bootstrap, "shared", [rawValue(m) for m in third], [m.id for m in third])
        await waitUntil(lambda: len(fileRecords(out)) >= 6, 60, describe=lambda: c.logText, clock=reactor)
        c.signal("INT")
        await c.wait(30)
        self.assertEqual(sorted(fileRecords(out), key=lambda m: (m.id, m.type)), sorted(third, key=lambda m: (m.id, m.type)))


class RebalanceTests(KafkaTestCase):
    """
    A replayer joining a group while the other is replaying.
    """

    def assignment(self, process: GorProcess) -> list[int]:
        return GroupTests.assignment(self, process)  # type: ignore[arg-type]

    async def test_joinMidStream(self) -> None:
        """
        The second member takes partitions while the first is replaying a
        paced backlog: nothing is lost, and nothing is repeated unless the
        broker declared partitions lost (then at-least-once).
        """
        bootstrap = self.broker.bootstrap
        await createTopic(bootstrap, "busy", 4)
        backlog = [
            Message(1, b"%024x" % i, START + i * 2_000_000, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i) for i in range(3000)
        ]
        await produce(bootstrap, "busy", [rawValue(m) for m in backlog], [m.id for m in backlog])
        outA, outB = self.tmp(), self.tmp()
        # 6 s of recorded traffic at 100%: the first member is busy for a while.
        args = [*self.kafkaIn("busy", "--input-kafka-group-id", "g", "--input-kafka-offset", "-2"),
                "--output-file-flush-interval", "20ms"]  # fmt: skip
        a = self.gor(*args, "--output-file", outA)
        await waitUntil(lambda: len(fileRecords(outA)) > 100, 60, describe=lambda: a.logText, clock=reactor)
        b = self.gor(*args, "--output-file", outB)
        await waitUntil(lambda: self.assignment(b), 60, describe=lambda: b.logText, clock=reactor)
        # Traffic after the rebalance too: the second member surely gets some.
        later = [m.replace(id=b"f" + m.id[1:]) for m in backlog[:400]]
        await produce(bootstrap, "busy", [rawValue(m) for m in later], [m.id for m in later])
        wanted = {m.id for m in backlog + later}

        def ids() -> list[bytes]:
            return [m.id for m in fileRecords(outA) + fileRecords(outB)]

        await waitUntil(lambda: set(ids()) >= wanted, 60,
                        describe=lambda: f"{len(set(ids()))} of {len(wanted)}\n{a.logText}\n{b.logText}",
                        clock=reactor)  # fmt: skip
        for process in (a, b):
            process.signal("INT")
        for process in (a, b):
            await process.wait(30)
        self.assertTrue(fileRecords(outB), "the second member replayed nothing\n" + a.logText + b.logText)
        self.assertIn("revoked partitions", a.logText)
        repeated = len(ids()) - len(set(ids()))
        text = a.logText + b.logText
        if "lost partitions" not in text and "(committing offsets)" not in text:
            self.assertEqual(repeated, 0, text)


class BrokerLaterTests(KafkaTestCase):
    """
    A broker that is not there when gor starts is waited for.
    """

    async def asyncSetUp(self) -> None:
        reason = skipReason(self.kind)
        if reason is not None:
            raise SkipTest(reason)
        self.broker = Broker(self.kind, port=freePort())
        self.addCleanup(self.broker.stop)

    async def test_outputWaitsForBroker(self) -> None:
        """
        The producer logs that no broker answers and keeps the messages; the
        file input pauses at the byte budget instead of losing any, and
        everything is delivered once the broker is up.
        """
        messages = [m.replace(payload=m.payload + b"x" * 1000) for m in pairs(300)]
        source = self.writeFile(messages)
        process = self.gor(
            "--input-file", source + "|max",
            *self.kafkaOut("late", "--output-kafka-timeout", "60s", "--output-kafka-buffer-size", "64kb"),
        )  # fmt: skip
        await process.waitForLog("retrying with backoff", 30)
        await self.broker.start(reactor)
        result = await process.wait(60)
        self.assertEqual(result.rc, 0, result.errText)
        counters = summary(result.errText, "output_kafka")
        self.assertEqual(counters["delivered"], 600, result.errText)
        self.assertGreaterEqual(counters["paused"], 1, result.errText)
        self.assertNotIn("dropped.", result.errText)
        found = await consume(self.broker.bootstrap, "late", 600)
        self.assertEqual([v for _, _, _, v in found], [rawValue(m) for m in messages])

    async def test_inputWaitsForBroker(self) -> None:
        """
        The consumer logs that no broker answers and retries; once the broker
        is up and the topic exists it replays it.
        """
        out = self.tmp()
        process = self.gor(*self.kafkaIn("later", "--input-kafka-offset", "-2|max"), "--output-file", out,
                           "--output-file-flush-interval", "50ms")  # fmt: skip
        await process.waitForLog("retrying with backoff", 30)
        await self.broker.start(reactor)
        messages = pairs(20)
        await produce(self.broker.bootstrap, "later", [rawValue(m) for m in messages])
        await waitUntil(lambda: len(fileRecords(out)) >= 40, 60, describe=lambda: process.logText, clock=reactor)
        process.signal("INT")
        await process.wait(30)
        self.assertEqual(fileRecords(out), messages)
