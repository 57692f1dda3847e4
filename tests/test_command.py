"""
End-to-end tests of the core through the real C{gor} and C{twistd gor}
commands, in subprocesses, with real files.
"""

from __future__ import annotations

import os
import re
import sys

from twisted.trial.unittest import TestCase

from tests.support import REPO, GorProcess, fileRecords, runCommand, runGor, startGor, waitUntil
from twisted_gor.framing import RecordDecoder, encodeMessage, iterMessages
from twisted_gor.message import Message

MS = 1_000_000


def records(count: int, gapMs: float, size: int = 0, start: int = 1_700_000_000 * 10**9) -> list[Message]:
    body = b"x" * size
    head = b"POST /item/%d HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n"
    return [
        Message(1, b"%024x" % i, start + int(i * gapMs * MS), -1, head % (i, len(body)) + body) for i in range(count)
    ]


class CommandTests(TestCase):
    """
    The gor command on files.
    """

    timeout = 120

    def writeRecords(self, messages: list[Message], name: str = "in.gor") -> str:
        path = os.path.join(os.path.abspath(self.mktemp()), name)
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in messages))
        return path

    async def test_fileToFileIsByteIdentical(self) -> None:
        """
        Replaying a file into a file at full speed reproduces it byte for byte,
        and gor exits 0 by itself at the end with a summary.
        """
        source = self.writeRecords(records(2000, 0.5, size=1024))
        target = source + ".copy"
        result = await runGor("--input-file", source + "|max", "--output-file", target)
        self.assertEqual(result.rc, 0, result.errText)
        with open(source, "rb") as a, open(target, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertIn("every input is exhausted", result.errText)
        self.assertIn("read=2000", result.errText)

    async def test_fileToStdoutKeepsGaps(self) -> None:
        """
        Records 200 ms apart come out on stdout in order, the replay taking at
        least the recorded 0.8 s, and nothing but records on stdout.
        """
        source = self.writeRecords(records(5, 200))
        result = await runGor("--input-file", source, "--output-stdout")
        self.assertEqual(result.rc, 0, result.errText)
        out = list(iterMessages(result.out))
        self.assertEqual([m.id for m in out], [m.id for m in records(5, 200)])
        # The replay cannot be faster than recorded (an upper bound would be a
        # timing assertion; the gaps themselves are checked on a fake clock).
        elapsed = float(re.search(r"done: .* elapsed=([0-9.]+)s", result.errText).group(1))  # type: ignore[union-attr]
        self.assertGreaterEqual(elapsed, 0.79)

    async def test_dummyToFile(self) -> None:
        """
        --input-dummy writes a GET every second; --exit-after stops gor with 0.
        """
        target = os.path.abspath(self.mktemp() + "-dummy.gor")
        result = await runGor("--input-dummy", "0", "--output-file", target, "--exit-after", "2.5s")
        self.assertEqual(result.rc, 0, result.errText)
        with open(target, "rb") as f:
            out = list(iterMessages(f.read()))
        self.assertIn(len(out), (2, 3, 4))
        self.assertTrue(all(m.payload.startswith(b"GET / HTTP/1.1\r\n") for m in out))

    async def test_statsAndLimits(self) -> None:
        """
        C{--stats} logs every component's counters periodically; a limited
        output's drops are counted, and all of it is in the exit summary.
        """
        source = self.writeRecords(records(100, 5))
        result = await runGor(
            "--input-file", source, "--output-null", "--output-file", source + ".out|10",
            "--stats", "--stats-interval", "100ms", "--exit-after", "1s",
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        self.assertIn("stats: input_file(", result.errText)
        # |10 lets 10 through per one-second window; the 0.5 s replay fits in
        # one window unless the machine stalls, so count rather than assume.
        summary = re.search(r"summary: output_file\(.*\): dropped.limit=(\d+) .*written=(\d+)", result.errText)
        assert summary is not None, result.errText
        dropped, written = int(summary.group(1)), int(summary.group(2))
        self.assertEqual(dropped + written, 100)
        self.assertEqual(written % 10, 0)
        self.assertGreaterEqual(dropped, 80)
        self.assertIn(f"summary: read=100 emitted=100 skipped=0 dropped={dropped}", result.errText)

    async def test_outputFlushedWhileRunning(self) -> None:
        """
        Records reach the disk every flush interval while gor runs (GoReplay
        never flushes before exit).
        """
        target = os.path.abspath(self.mktemp() + "-live.gor")
        gor = startGor("--input-dummy", "0", "--output-file", target, "--output-file-flush-interval", "100ms")
        await gor.waitForLog("gor: started")
        # --input-dummy never ends: records on disk before the signal were
        # flushed by the interval, not by the exit.
        await waitUntil(lambda: fileRecords(target), 30, describe=lambda: "no record flushed:\n" + gor.logText)
        self.assertFalse(gor.ended.called, gor.logText)
        gor.signal("INT")
        result = await gor.wait(20)
        self.assertEqual(result.rc, 0, result.errText)

    async def test_gzipRoundTrip(self) -> None:
        """
        A .gz output is gzip and replays back to the same records.
        """
        source = self.writeRecords(records(300, 0.1, size=100))
        packed = source + ".gz"
        result = await runGor("--input-file", source + "|max", "--output-file", packed)
        self.assertEqual(result.rc, 0, result.errText)
        with open(packed, "rb") as f:
            self.assertEqual(f.read(2), b"\x1f\x8b")
        unpacked = source + ".again"
        result = await runGor("--input-file", packed + "|max", "--output-file", unpacked)
        self.assertEqual(result.rc, 0, result.errText)
        with open(source, "rb") as a, open(unpacked, "rb") as b:
            self.assertEqual(a.read(), b.read())

    async def test_loopAndExitAfter(self) -> None:
        """
        --input-file-loop replays the file again and again until --exit-after.
        """
        source = self.writeRecords(records(10, 10))
        target = source + ".looped"
        result = await runGor("--input-file", source, "--input-file-loop", "--output-file", target, "--exit-after", "1s")
        self.assertEqual(result.rc, 0, result.errText)
        with open(target, "rb") as f:
            out = list(iterMessages(f.read()))
        self.assertGreater(len(out), 10)
        self.assertEqual(out[:10], records(10, 10))
        self.assertEqual(out[10], records(10, 10)[0])

    async def test_dryRunAndMaxWait(self) -> None:
        """
        --input-file-dry-run reads without emitting and reports the recorded
        duration; --input-file-max-wait caps a 30 s gap so the replay ends at
        once.
        """
        source = self.writeRecords(records(3, 30_000))
        result = await runGor("--input-file", source, "--input-file-dry-run", "--output-stdout")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(result.out, b"")
        self.assertIn("dry run: 3 records, 1 file(s)", result.errText)
        self.assertIn("60.000s recorded", result.errText)
        result = await runGor("--input-file", source, "--input-file-max-wait", "100ms", "--output-stdout", timeout=20)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(list(iterMessages(result.out))), 3)

    async def test_rotationAppendAndTruncation(self) -> None:
        """
        --output-file-queue-limit rotates into numbered files, a second run
        continues after the highest index; --output-file-append adds to a
        file; --copy-buffer-size truncates payloads and counts it.
        """
        source = self.writeRecords(records(5, 0.1, size=200))
        base = os.path.join(os.path.dirname(source), "chunk.gor")
        for _ in range(2):
            result = await runGor("--input-file", source + "|max", "--output-file", base, "--output-file-queue-limit", "2")
            self.assertEqual(result.rc, 0, result.errText)
        names = sorted(n for n in os.listdir(os.path.dirname(source)) if n.startswith("chunk"))
        self.assertEqual(names, ["chunk_%d.gor" % i for i in range(6)])
        appended = source + ".appended"
        for _ in range(2):
            result = await runGor(
                "--input-file", source + "|max", "--output-file", appended, "--output-file-append",
                "--copy-buffer-size", "100",
            )  # fmt: skip
            self.assertEqual(result.rc, 0, result.errText)
            self.assertIn("truncated=5", result.errText)
        with open(appended, "rb") as f:
            out = list(iterMessages(f.read()))
        self.assertEqual(len(out), 10)
        self.assertTrue(all(len(m.payload) == 100 for m in out))

    async def test_badOption(self) -> None:
        """
        An unknown flag exits 2 with one line naming it; nothing starts.
        """
        result = await runGor("--input-dummy", "0", "--output-null", "--no-such-flag")
        self.assertEqual(result.rc, 2)
        self.assertEqual(result.errText.strip().count("\n"), 0, result.errText)
        self.assertIn("--no-such-flag", result.errText)
        result = await runGor("--input-file", "/does/not/exist.gor", "--output-null")
        self.assertEqual(result.rc, 2)
        self.assertIn("--input-file", result.errText)

    async def test_corruptRecordsSkippedAndCounted(self) -> None:
        """
        Corrupt records are skipped, logged with their offset and counted in the
        summary; the good records are all written.
        """
        good = records(10, 1)
        data = b"".join(encodeMessage(m) for m in good[:5])
        data += b"1 broken\nGET / HTTP/1.1\r\n\r\n\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
        data += b"\x00\xff garbage \n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
        data += b"".join(encodeMessage(m) for m in good[5:]) + b"1 trunc 1 -1\nGET /half"
        source = os.path.abspath(self.mktemp() + "-corrupt.gor")
        with open(source, "wb") as f:
            f.write(data)
        target = source + ".out"
        result = await runGor("--input-file", source + "|max", "--output-file", target)
        self.assertEqual(result.rc, 0, result.errText)
        with open(target, "rb") as f:
            self.assertEqual(list(iterMessages(f.read())), good)
        self.assertIn("skipped.malformed=2", result.errText)
        self.assertIn("skipped.truncated=1", result.errText)
        self.assertIn("at byte", result.errText)

    async def test_sigtermLeavesWholeRecords(self) -> None:
        """
        SIGTERM in the middle of a long replay stops gor with 0, and the output
        file holds only whole records.
        """
        source = self.writeRecords(records(200_000, 0.05, size=300))
        target = source + ".partial"
        gor = startGor("--input-file", source, "--output-file", target, "--output-file-flush-interval", "50ms")
        await gor.waitForLog("gor: started")
        # stop in the middle: once more than 100 records reached the disk
        await waitUntil(
            lambda: len(fileRecords(target)) > 100, 30, describe=lambda: "fewer than 101 records:\n" + gor.logText
        )
        gor.signal("TERM")
        result = await gor.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        with open(target, "rb") as f:
            data = f.read()
        decoder = RecordDecoder(lambda o, r: self.fail(f"bad record at {o}: {r}"))
        written = decoder.feed(data)
        self.assertEqual(decoder.finish(), 0)
        self.assertGreater(len(written), 100)
        self.assertLess(len(written), 200_000)
        self.assertEqual(written, records(len(written), 0.05, size=300))

    async def test_twistdForeground(self) -> None:
        """
        C{twistd -n gor} runs the same service and exits by itself.
        """
        source = self.writeRecords(records(20, 1))
        target = source + ".twistd"
        cwd = os.path.dirname(source)
        result = await runCommand(
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--logfile=-",
            "gor",
            "--input-file",
            source,
            "--output-file",
            target,
            cwd=cwd,
        )
        self.assertEqual(result.rc, 0, result.errText + result.out.decode())
        with open(target, "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 20)


class EmbeddingTests(TestCase):
    """
    The README's embedding examples run.
    """

    timeout = 60

    async def test_tacFile(self) -> None:
        """
        The example .tac file runs under twistd and writes the dummy requests.
        """
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        tac = os.path.join(REPO, "examples", "gor.tac")
        result = await runCommand(
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--logfile=gor.log",
            "-y",
            tac,
            cwd=workdir,
        )
        self.assertEqual(result.rc, 0, result.errText)
        with open(os.path.join(workdir, "requests.gor"), "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 2)

    async def test_pythonEmbedding(self) -> None:
        """
        The Python embedding example runs to completion.
        """
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        result = await runCommand(sys.executable, os.path.join(REPO, "examples", "embed.py"), cwd=workdir)
        self.assertEqual(result.rc, 0, result.errText)
        # 3 on an idle machine (the dummy input ticks at 0, 0.1 and 0.2 s, the
        # exit is at 0.25 s), but both run on the wall clock and the exit timer
        # is armed after the inputs started: a stall there makes it 4, a stall
        # of the loop fewer. What this test owns is that the example runs.
        captured = re.search(r"captured (\d+) requests", result.out.decode())
        assert captured is not None, result.out.decode() + result.errText
        self.assertGreaterEqual(int(captured.group(1)), 1)


GorProcess  # re-exported for other test modules


class DaemonTests(TestCase):
    """
    C{twistd gor} as a daemon.
    """

    timeout = 60

    async def test_daemon(self) -> None:
        """
        twistd daemonizes, writes its pid file and log, replays the file and
        exits by itself, removing the pid file.
        """
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        source = os.path.join(workdir, "in.gor")
        with open(source, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in records(50, 20)))
        result = await runCommand(
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "--pidfile=gor.pid",
            "--logfile=gor.log",
            "gor",
            "--input-file",
            source,
            "--output-file",
            "out.gor",
            cwd=workdir,
        )
        self.assertEqual(result.rc, 0, result.errText)
        pidfile = os.path.join(workdir, "gor.pid")
        # the command returns once the daemon forked; the daemon itself exits
        # (removing its pid file) once the replay is done
        await waitUntil(
            lambda: not os.path.exists(pidfile) and os.path.exists(os.path.join(workdir, "out.gor")),
            30,
            describe="the daemon did not finish (pid file still there or no out.gor)",
        )
        with open(os.path.join(workdir, "out.gor"), "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 50)
        with open(os.path.join(workdir, "gor.log")) as f:
            self.assertIn("summary: read=50 emitted=50 skipped=0 dropped=0", f.read())


class DuplicateNameTests(TestCase):
    """
    The same input or output given twice.
    """

    timeout = 60

    async def test_sameInputTwice(self) -> None:
        """
        Two identical inputs run side by side, told apart in the stats.
        """
        result = await runGor("--input-dummy", "0", "--input-dummy", "0", "--output-null", "--exit-after", "1.5s")
        self.assertEqual(result.rc, 0, result.errText)
        first = re.search(r"summary: input_dummy: emitted=(\d+)", result.errText)
        second = re.search(r"summary: input_dummy#2: emitted=(\d+)", result.errText)
        written = re.search(r"summary: output_null: written=(\d+)", result.errText)
        assert first and second and written, result.errText
        self.assertEqual(int(first.group(1)) + int(second.group(1)), int(written.group(1)))
