"""
Memory bounded in bytes (issue 9 item 3): the read-ahead of C{--input-file},
the byte budget of C{--output-http}'s queue, the cap on the connections a
capture tracks.
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor._blockingio import SynchronousWorker
from twisted_gor.files.input import CHUNK_SIZE, FileInput, FileInputConfig
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.pipeline import Pipeline
from twisted_gor.testing import MemoryOutput

from tests.support import freePort, runGor

MS = 1_000_000
MiB = 1 << 20


def bigRecord(i: int, ts: int, size: int) -> bytes:
    head = b"POST /%d HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (i, size)
    return encodeMessage(Message(1, b"r%d" % i, ts, -1, head + b"b" * size))


def counters(text: str, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in text.splitlines():
        m = re.search(r"summary: (\S+): (.*)$", line)
        if m and m.group(1).startswith(prefix):
            found = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split()) if v.isdigit()}
    return found


class FileReadAheadTests(SynchronousTestCase):
    """
    C{--input-file} reads ahead at most C{readAheadSize} bytes (plus one
    chunk), and nothing while paused; nothing is lost or stalled by it.
    """

    def write(self, records: list[bytes]) -> str:
        path = self.mktemp() + ".gor"
        with open(path, "wb") as f:
            f.write(b"".join(records))
        return path

    def replay(self, paths: list[str], **kw: object) -> tuple[FileInput, MemoryOutput, Clock]:
        clock = Clock()
        clock.advance(1000)
        config = FileInputConfig(pattern=paths[0], paths=paths, **kw)  # type: ignore[arg-type]
        fileInput = FileInput(config, clock)
        fileInput.workerFactory = SynchronousWorker
        out = MemoryOutput()
        Pipeline([(out, None)], clock=clock).connectInput(fileInput)
        self.addCleanup(fileInput.stopService)
        return fileInput, out, clock

    def test_boundedInBytes(self) -> None:
        """
        40 records of 1 MiB, one a second: with the default 16 MiB budget the
        input holds about 17 MiB read ahead, not the whole file (the old
        read-ahead of 4,096 records read all of it); every record still comes
        out, in order, though the budget holds fewer records than the read
        depth.
        """
        path = self.write([bigRecord(i, 5_000 * MS + i * 1000 * MS, MiB) for i in range(40)])
        fileInput, out, clock = self.replay([path])
        fileInput.startService()
        clock.advance(0)
        budget = 16 * MiB  # FileInputConfig.readAheadSize
        self.assertLessEqual(fileInput.stats["bytes"], budget + 2 * CHUNK_SIZE)
        self.assertEqual(len(out.messages), 1)
        for _ in range(45):
            clock.advance(1.0)
            self.assertLessEqual(fileInput.stats["bytes"] - sum(len(m.payload) for m in out.messages), budget + 2 * CHUNK_SIZE)
        self.assertEqual([m.id for m in out.messages], [b"r%d" % i for i in range(40)])

    def test_noReadingWhilePaused(self) -> None:
        """
        A paused input reads at most the chunk in flight; resumed, it reads
        and emits everything.
        """
        path = self.write([bigRecord(i, 5_000 * MS + i * MS, 64 * 1024) for i in range(100)])
        fileInput, out, clock = self.replay([path], speed=float("inf"))
        fileInput.pauseProducing()
        fileInput.startService()
        for _ in range(10):
            clock.advance(0.1)
        self.assertLessEqual(fileInput.stats["bytes"], CHUNK_SIZE)
        self.assertEqual(out.messages, [])
        fileInput.resumeProducing()
        for _ in range(10):
            clock.advance(0)
        self.assertEqual(len(out.messages), 100)

    def test_mergeWithinBudget(self) -> None:
        """
        Two files whose records interleave, with a budget smaller than one
        chunk: each file still reads (one with nothing held always may), the
        merge emits every record in timestamp order.
        """
        a = self.write([bigRecord(i, 5_000 * MS + (2 * i) * MS, 10_000) for i in range(50)])
        b = self.write([bigRecord(100 + i, 5_000 * MS + (2 * i + 1) * MS, 10_000) for i in range(50)])
        fileInput, out, clock = self.replay([a, b], speed=float("inf"), readAheadSize=20_000)
        fileInput.startService()
        for _ in range(20):
            clock.advance(0)
        self.assertEqual(len(out.messages), 100)
        stamps = [m.timestamp for m in out.messages]
        self.assertEqual(stamps, sorted(stamps))


class FlagsTests(SynchronousTestCase):
    """
    The new byte budgets are flags whose defaults are the config types'.
    """

    def test_flags(self) -> None:
        """
        C{--input-file-read-ahead-size} and C{--output-http-queue-size} set
        the config; C{--help} shows their defaults.
        """
        from twisted_gor.cli.tap import Options
        from twisted_gor.http.output import HttpOutputConfig

        path = os.path.abspath(self.mktemp())
        with open(path, "wb"):
            pass
        options = Options()
        options.parseOptions(
            ["--input-file", path, "--input-file-read-ahead-size", "2mb",
             "--output-http", "http://h:1", "--output-http-queue-size", "1mb"]
        )
        config = options.config
        assert config is not None
        self.assertEqual(config.inputs[0].readAheadSize, 2 * MiB)  # type: ignore[attr-defined]
        [http] = [o for o in config.outputs if isinstance(o, HttpOutputConfig)]
        self.assertEqual(http.queueBytes, MiB)
        text = " ".join(str(Options()).split())
        self.assertIn("--input-file-read-ahead-size", text)
        self.assertIn("--output-http-queue-size", text)
        self.assertIn("(default 16mb)", text[text.index("--input-file-read-ahead-size"):])
        self.assertIn("(default 64mb)", text[text.index("--output-http-queue-size"):])


class QueueSizeCommandTests(TestCase):
    """
    C{--output-http-queue-size} through the real command.
    """

    @defer.inlineCallbacks
    def test_overflowCounted(self) -> Any:
        """
        Requests larger than the queue's byte budget are dropped and counted
        as C{dropped.queue_full} in the exit summary; with the default budget
        none are.
        """
        path = os.path.abspath(self.mktemp()) + ".gor"
        with open(path, "wb") as f:
            f.write(b"".join(bigRecord(i, 5_000 * MS + i * MS, 100_000) for i in range(20)))
        port = freePort()
        small = yield runGor(
            "--input-file", path + "|max", "--output-http", f"127.0.0.1:{port}",
            "--output-http-queue-size", "64kb", "--output-http-timeout", "1s",
        )
        c = counters(small.errText, "output_http")
        self.assertEqual(c.get("dropped.queue_full"), 20, small.errText)
        default = yield runGor(
            "--input-file", path + "|max", "--output-http", f"127.0.0.1:{port}", "--output-http-timeout", "1s",
        )
        c = counters(default.errText, "output_http")
        self.assertEqual(c.get("dropped.queue_full", 0), 0, default.errText)
        self.assertEqual(c.get("failed.refused", 0), 20, default.errText)
