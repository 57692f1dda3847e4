"""
Outputs are isolated: what goes wrong inside one output never reaches the
input or the other outputs, and C{write} of every output the command line can
build never raises.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor import (
    REPLAYED_RESPONSE,
    REQUEST,
    RESPONSE,
    FileInputConfig,
    GorConfig,
    Message,
    OutputBase,
    Prebuilt,
    encodeMessage,
    makeGorService,
)
from twisted_gor.cli.tap import Options
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryInput, MemoryOutput

from tests.support import freePort

reactor: Any = _reactor


class RaisingOutput(OutputBase):
    """
    Raises on the messages whose (1-based) numbers are in C{failOn}.
    """

    def __init__(self, failOn: set[int] | None = None) -> None:
        OutputBase.__init__(self, "output_raising")
        self.failOn = failOn
        self.seen = 0

    def write(self, message: Message) -> None:
        self.seen += 1
        if self.failOn is None or self.seen in self.failOn:
            raise RuntimeError(f"broken on message {self.seen}")
        self.stats.increment("written")


class RaisingFilter:
    """
    A filter that raises on every request.
    """

    name = "filter_raising"

    def __init__(self) -> None:
        from twisted_gor.stats import Counters

        self.stats = Counters()

    def filterMessage(self, message: Message) -> Message | None:
        raise ValueError("bad filter")


def request(i: int) -> Message:
    return Message(REQUEST, b"%024x" % i, 1_000_000_000 + i * 1000, -1, b"GET /%d HTTP/1.1\r\n\r\n" % i)


class IsolationTests(TestCase):
    """
    A real file replayed on the real reactor into a healthy output and a
    broken one.
    """

    timeout = 30

    async def test_raisingOutputStallsNothing(self) -> None:
        """
        An output raising on its 3rd message: the file input is still
        exhausted and the service finishes, the healthy output has all 10
        messages, the broken one counts its error.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            for i in range(10):
                f.write(encodeMessage(request(i)))
        broken, healthy = RaisingOutput({3}), MemoryOutput()
        config = GorConfig(
            inputs=[FileInputConfig(path + "", paths=[path], speed=float("inf"))],
            outputs=[Prebuilt(broken), Prebuilt(healthy)],
        )
        service = makeGorService(config, reactor)
        service.startService()
        await service.whenDone()
        await service.stopService()
        self.assertEqual(len(healthy.messages), 10)
        self.assertEqual((broken.stats["errors"], broken.stats["written"]), (1, 9))
        [failure] = self.flushLoggedErrors(RuntimeError)
        self.assertIn("broken on message 3", str(failure.value))

    def test_logRateLimited(self) -> None:
        """
        An output raising on every message is logged once a second at most,
        with the count of what was not logged; all are counted.
        """
        clock = MemoryReactorClock()
        broken, healthy = RaisingOutput(), MemoryOutput()
        pipeline = Pipeline([(broken, None), (healthy, None)], clock=clock)
        events: list[dict[str, Any]] = []
        observer: Any = events.append
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        for i in range(100):
            pipeline.messageReceived(request(i))
        clock.advance(1.0)
        pipeline.messageReceived(request(100))
        logged = [e for e in events if "raised" in e.get("log_format", "")]
        self.assertEqual(len(logged), 2)
        self.assertEqual(logged[1]["more"], " (99 more not logged)")
        self.assertEqual(broken.stats["errors"], 101)
        self.assertEqual(len(healthy.messages), 101)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_raisingFilter(self) -> None:
        """
        A filter that raises drops the message (counted) and the next one is
        still routed; so is the dropped request's response.
        """
        clock = MemoryReactorClock()
        out = MemoryOutput()
        bad = RaisingFilter()
        pipeline = Pipeline([(out, None)], [bad], clock=clock)  # type: ignore[list-item]
        pipeline.messageReceived(request(1))
        pipeline.messageReceived(Message(RESPONSE, request(1).id, 1, 1, b"HTTP/1.1 200 OK\r\n\r\n"))
        self.assertEqual(out.messages, [])
        self.assertEqual((bad.stats["errors"], pipeline.stats["dropped.filter_error"]), (1, 1))
        self.assertEqual(pipeline.stats["dropped.filtered_response"], 1)
        self.flushLoggedErrors(ValueError)


HOSTILE = [
    Message(REQUEST, b"1" * 24, 1, -1, b""),
    Message(REQUEST, b"2" * 24, 1, -1, b"\x00\xff garbage, not HTTP"),
    Message(REQUEST, b"3" * 24, 1, -1, b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    Message(REQUEST, b"4" * 24, 1, -1, b"CONNECT h:443 HTTP/1.1\r\n\r\n"),
    Message(REQUEST, b"5" * 24, 1, -1, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"),
    Message(RESPONSE, b"1" * 24, 1, 5, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    Message(REPLAYED_RESPONSE, b"1" * 24, 1, 5, b"HTTP/1.1 999\r\n\r\n"),
    Message(REPLAYED_RESPONSE, b"9" * 24, 1, 5, b"not a response"),
    Message(9, b"x", 0, 0, b"unknown type"),
    Message(REQUEST, b"6" * 24, 1, -1, b"POST / HTTP/1.1\r\nContent-Length: 6000000\r\n\r\n" + b"b" * 6_000_000),
]


class WriteNeverRaisesTests(TestCase):
    """
    The contract of every output the command line can build: C{write} never
    raises, before start, running, and after stop, whatever it is given.
    """

    timeout = 60

    def outputs(self) -> list[Any]:
        report = os.path.abspath(self.mktemp())
        recording = os.path.abspath(self.mktemp())
        closed = freePort()
        self.r, self.w = os.pipe()
        self.addCleanup(os.close, self.r)
        options = Options()
        options.parseOptions([
            "--input-dummy", "x",
            "--output-null",
            "--output-file", recording,
            "--output-http", f"http://127.0.0.1:{closed}", "--output-http-timeout", "200ms",
            "--output-http-track-response",
            "--output-tcp", f"127.0.0.1:{closed}", "--output-tcp-timeout", "100ms",
            "--output-http-elasticsearch", f"127.0.0.1:{closed}/gor",
            "--output-compare", report,
            "--output-kafka-host", f"127.0.0.1:{closed}", "--output-kafka-topic", "t",
            "--output-kafka-timeout", "100ms", "--output-kafka-json-format",
        ])
        assert options.config is not None
        from twisted_gor import StdoutOutputConfig

        options.config.outputs.append(StdoutOutputConfig(fd=self.w))
        service = makeGorService(options.config, reactor)
        kinds = {type(o).__name__ for o in service.outputs}
        self.assertEqual(
            kinds,
            {"NullOutput", "FileOutput", "HttpOutput", "TCPOutput", "ElasticsearchOutput", "CompareOutput",
             "StdoutOutput", "KafkaOutput"},
        )
        return list(service.outputs)

    async def test_contract(self) -> None:
        """
        Hostile messages into each output, in each state.
        """
        outputs = self.outputs()
        for output in outputs:
            for message in HOSTILE:
                output.write(message)
        for output in outputs:
            output.startService()
        for output in outputs:
            for message in HOSTILE:
                output.write(message)
        # a reader on the stdout pipe, so that the stdout output can drain
        from twisted.internet import fdesc
        from twisted.internet.task import LoopingCall

        fdesc.setNonBlocking(self.r)
        drained: list[bytes] = []
        reader = LoopingCall(fdesc.readFromFD, self.r, drained.append)
        reader.clock = reactor
        reader.start(0.005)
        for output in outputs:
            await output.stopService()
        reader.stop()
        os.close(self.w)
        self.w = -1
        for output in outputs:
            for message in HOSTILE:
                output.write(message)
        for output in outputs:
            self.assertEqual(output.stats["errors"], 0, output.name)
        self.flushLoggedErrors()


class SynchronousIsolationTests(SynchronousTestCase):
    """
    The pipeline's guard on a fake clock.
    """

    def test_inputNeverSeesAnOutputError(self) -> None:
        """
        L{MemoryInput.push} returns normally when an output raises.
        """
        clock = MemoryReactorClock()
        source = MemoryInput()
        broken = RaisingOutput()
        pipeline = Pipeline([(broken, None)], clock=clock)
        pipeline.connectInput(source)
        source.push(request(1))
        self.assertEqual(broken.stats["errors"], 1)
        self.flushLoggedErrors(RuntimeError)
