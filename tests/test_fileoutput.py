"""
Tests for L{twisted_gor.files.output} and L{twisted_gor.files.names}.
"""

import gzip
import os
import time

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor._blockingio import SynchronousWorker
from twisted_gor.files.names import chunkIndex, expandName, nextChunkIndex, withChunkIndex
from twisted_gor.files.output import IOV_MAX, FileOutput, FileOutputConfig, _FdWriter
from twisted_gor.framing import encodeMessage, iterMessages
from twisted_gor.message import Message


def msg(i: int, kind: int = 1, body: bytes = b"test") -> Message:
    return Message(kind, b"%d" % i, i, -1, body)


class NameTests(SynchronousTestCase):
    """
    Name patterns and chunk indexes (GoReplay's F2-F13).
    """

    def test_chunkIndex(self) -> None:
        """
        The C{_N} index is read before the extension.
        """
        self.assertEqual(chunkIndex("/tmp/logs"), -1)
        self.assertEqual(chunkIndex("/tmp/logs_1"), 1)
        self.assertEqual(chunkIndex("/tmp/logs_2.gz"), 2)
        self.assertEqual(chunkIndex("/tmp/logs_0.gor.gz"), 0)

    def test_withChunkIndex(self) -> None:
        """
        The index is set before the extension, replacing an existing one.
        """
        self.assertEqual(withChunkIndex("/tmp/logs", 0), "/tmp/logs_0")
        self.assertEqual(withChunkIndex("/tmp/logs.gz", 1), "/tmp/logs_1.gz")
        self.assertEqual(withChunkIndex("/tmp/logs_1", 0), "/tmp/logs_0")
        self.assertEqual(withChunkIndex("/tmp/logs_0.gz", 10), "/tmp/logs_10.gz")
        self.assertEqual(withChunkIndex("/tmp/logs_underscores.gz", 10), "/tmp/logs_underscores_10.gz")
        self.assertEqual(withChunkIndex("/tmp/r.gor.gz", 2), "/tmp/r_2.gor.gz")

    def test_expand(self) -> None:
        """
        Date tokens use local time; C{%t}, C{%r} come from the message.
        """
        now = time.mktime((2024, 3, 5, 7, 8, 9, 0, 0, -1))
        self.assertEqual(expandName("/x/log-%Y-%m-%d-%H-%M-%S-%t", msg(1, 3), now), "/x/log-2024-03-05-07-08-09-3")
        self.assertEqual(expandName("/x/%r.gor", msg(42), now), "/x/42.gor")
        self.assertEqual(len(expandName("%i", None, now)), 8)

    def test_nextChunkIndexContinues(self) -> None:
        """
        A restarted gor continues after the highest existing chunk.
        """
        base = self.mktemp()
        os.makedirs(base)
        self.assertEqual(nextChunkIndex(base + "/r.gor"), 0)
        for i in (0, 2, 10):
            open(f"{base}/r_{i}.gor", "w").close()
        self.assertEqual(nextChunkIndex(base + "/r.gor"), 11)


class FileOutputTests(SynchronousTestCase):
    """
    Writing, rotating, compressing.
    """

    def output(self, template: str, **kw: object) -> FileOutput:
        clock = Clock()
        out = FileOutput(FileOutputConfig(pathTemplate=template, **kw), clock)  # type: ignore[arg-type]
        out.workerFactory = SynchronousWorker
        out.startService()
        return out

    def dir(self) -> str:
        d = self.mktemp()
        os.makedirs(d)
        return d

    def test_plainPath(self) -> None:
        """
        Without rotation or patterns, the path itself is written (truncating).
        """
        path = self.dir() + "/out.gor"
        with open(path, "wb") as f:
            f.write(b"old")
        out = self.output(path)
        for i in range(3):
            out.write(msg(i))
        self.successResultOf(out.stopService())
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"".join(encodeMessage(msg(i)) for i in range(3)))

    def test_append(self) -> None:
        """
        With append, records are added after the existing ones.
        """
        path = self.dir() + "/out.gor"
        for _ in range(2):
            out = self.output(path, append=True)
            out.write(msg(1))
            self.successResultOf(out.stopService())
        with open(path, "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 2)

    def test_queueLimitRotation(self) -> None:
        """
        Queue limit 2: records 1, 2 go to C{R_0}, the 3rd to C{R_1} (F9).
        """
        d = self.dir()
        out = self.output(d + "/R", queueLimit=2)
        for i in range(3):
            out.write(msg(i))
        self.successResultOf(out.stopService())
        self.assertEqual(sorted(os.listdir(d)), ["R_0", "R_1"])

    def test_sizeLimitRotationGzip(self) -> None:
        """
        Size limit of two records rotates gzip files; each is valid gzip (F11, F13).
        """
        d = self.dir()
        size = len(encodeMessage(msg(1)))
        out = self.output(d + "/R.gz", sizeLimit=2 * size)
        for i in range(1, 4):
            out.write(msg(i))
        self.successResultOf(out.stopService())
        self.assertEqual(sorted(os.listdir(d)), ["R_0.gz", "R_1.gz"])
        with gzip.open(d + "/R_0.gz") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 2)

    def test_perRequestFiles(self) -> None:
        """
        C{%r} writes one file per request id (F5).
        """
        d = self.dir()
        out = self.output(d + "/%r.gor")
        for i in (1, 2, 3, 1):
            out.write(msg(i))
        self.successResultOf(out.stopService())
        self.assertEqual(sorted(os.listdir(d)), ["1.gor", "2.gor", "3.gor"])
        with open(d + "/1.gor", "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 2)

    def test_maxSize(self) -> None:
        """
        Past the total size limit records are dropped and counted.
        """
        d = self.dir()
        size = len(encodeMessage(msg(1)))
        out = self.output(d + "/o.gor", maxSize=2 * size)
        for i in range(1, 6):
            out.write(msg(i))
        self.successResultOf(out.stopService())
        self.assertEqual(out.stats["written"], 2)
        self.assertEqual(out.stats["dropped.max_size"], 3)


class GatheredWriteTests(SynchronousTestCase):
    """
    L{_FdWriter.writePieces} writes a batch's pieces with C{writev}, in order,
    without joining them first.
    """

    def pieces(self, count: int) -> list[bytes]:
        return [bytes([65 + i % 26]) * (i % 37) for i in range(count)]

    def writeAll(self, pieces: list[bytes]) -> bytes:
        path = self.mktemp()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        writer = _FdWriter(fd, path)
        written = writer.writePieces(pieces)
        writer.close()
        self.assertEqual(written, sum(map(len, pieces)))
        self.assertEqual(writer.offset, written)
        with open(path, "rb") as f:
            return f.read()

    def test_morePiecesThanOneCallTakes(self) -> None:
        """
        More pieces than C{IOV_MAX} (and empty ones) reach the file whole and
        in order.
        """
        pieces = self.pieces(3 * IOV_MAX + 5)
        self.assertEqual(self.writeAll(pieces), b"".join(pieces))

    def test_shortWrites(self) -> None:
        """
        A C{writev} that takes only part of what it is given (as on a disk
        filling up, or a signal) is continued where it stopped, also inside a
        piece.
        """
        realWritev = os.writev
        calls = []

        def stingyWritev(fd: int, buffers: list[bytes]) -> int:
            calls.append(len(buffers))
            return realWritev(fd, [memoryview(b"".join(bytes(b) for b in buffers))[:11]])

        self.patch(os, "writev", stingyWritev)
        pieces = self.pieces(200)
        self.assertEqual(self.writeAll(pieces), b"".join(pieces))
        self.assertGreater(len(calls), sum(map(len, pieces)) // 11 - 1)

    def test_onePiece(self) -> None:
        """
        A single piece is written as it is.
        """
        self.assertEqual(self.writeAll([b"x" * 100_000]), b"x" * 100_000)
