"""
Recordings on a full disk and recordings' permissions (issue 9 items 5, 7),
through the real C{gor} command.
"""

from __future__ import annotations

import glob
import os
import re
import stat
import subprocess
import zlib

from twisted.trial.unittest import SkipTest, TestCase

from tests.support import runGor
from twisted_gor.framing import RecordDecoder, encodeMessage
from twisted_gor.message import Message


def records(count: int, size: int) -> list[Message]:
    start = 1_700_000_000 * 10**9
    return [
        Message(1, b"%024x" % i, start + i * 1000, -1, b"POST /%d HTTP/1.1\r\n\r\n" % i + os.urandom(size).hex().encode())
        for i in range(count)
    ]


def decodeAll(data: bytes) -> tuple[list[Message], int]:
    """
    The whole records in C{data} and how many were cut (must be 0).
    """
    problems: list[str] = []
    decoder = RecordDecoder(lambda offset, reason: problems.append(reason))
    messages = decoder.feed(data)
    cut = decoder.finish() + len(problems)
    return messages, cut


def counter(text: str, component: str, key: str) -> int:
    """
    The value of C{key} on C{component}'s summary line (0 when absent).
    """
    for line in text.splitlines():
        if "summary: " in line and component in line:
            m = re.search(rf"\b{re.escape(key)}=(\d+)", line)
            return int(m.group(1)) if m else 0
    raise AssertionError(f"no summary line for {component}:\n{text}")


class Base(TestCase):
    timeout = 120

    def source(self, count: int, size: int) -> tuple[str, list[Message]]:
        messages = records(count, size)
        path = os.path.abspath(self.mktemp()) + ".gor"
        with open(path, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in messages))
        return path, messages


class DiskFullTests(Base):
    """
    A full disk: whole records only, C{written} counts what is on disk, one
    error line, exit 1; the other outputs go on.
    """

    def smallDisk(self) -> str:
        if os.geteuid() != 0:
            raise SkipTest("mounting a tmpfs needs root")
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", directory], capture_output=True)
        if done.returncode != 0:
            raise SkipTest(f"cannot mount a tmpfs: {done.stderr.decode().strip()}")
        self.addCleanup(subprocess.run, ["umount", "-l", directory], check=False)
        return directory

    def assertOneError(self, text: str) -> None:
        errors = [line for line in text.splitlines() if "No space left on device" in line and "] ERROR " in line]
        # The output's error, and the summary's exit line.
        self.assertEqual(len(errors), 2, text)
        self.assertNotIn("Traceback", text)

    async def assertFullDisk(self, name: str) -> None:
        directory = self.smallDisk()
        source, messages = self.source(3000, 500)
        target = os.path.join(directory, name)
        result = await runGor("--input-file", source + "|max", "--output-file", target, "--output-null")
        text = result.errText
        self.assertEqual(result.rc, 1, text)
        self.assertOneError(text)
        with open(target, "rb") as f:
            data = f.read()
        if name.endswith(".gz"):
            # No trailer could be written: read what the stream holds.
            data = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data)
        onDisk, cut = decodeAll(data)
        self.assertEqual(cut, 0, "a partial record was left")
        self.assertGreater(len(onDisk), 100)
        self.assertEqual(onDisk, messages[: len(onDisk)])
        written = counter(text, f"output_file({target})", "written")
        self.assertEqual(written, len(onDisk))
        lost = counter(text, f"output_file({target})", "dropped.write_failed") + counter(
            text, f"output_file({target})", "dropped.closed"
        )
        self.assertEqual(written + lost, len(messages), text)
        # The other output got everything.
        self.assertEqual(counter(text, "output_null", "written") or counter(text, "output_null", "discarded"), 3000)

    async def test_tmpfs(self) -> None:
        """
        A 1 MiB tmpfs filled by a 3 MB recording.
        """
        await self.assertFullDisk("out.gor")

    async def test_tmpfsGzip(self) -> None:
        """
        The same, compressed: the gzip stream holds whole records only.
        """
        await self.assertFullDisk("out.gor.gz")

    async def test_devFull(self) -> None:
        """
        C{/dev/full} behind an endless input: nothing counted as written, one
        error, and gor stops with 1 once its only output failed.
        """
        result = await runGor(
            "--input-dummy", "x", "--output-file", "/dev/full", "--output-file-flush-interval", "100ms", timeout=30
        )
        text = result.errText
        self.assertEqual(result.rc, 1, text)
        self.assertOneError(text)
        self.assertEqual(counter(text, "output_file(/dev/full)", "written"), 0)
        self.assertIn("every output failed", text)


class ModeTests(Base):
    """
    Recordings are created 0600 by default, whatever the umask.
    """

    def setUp(self) -> None:
        # The most permissive umask: the old code made 0666 files.
        old = os.umask(0)
        self.addCleanup(os.umask, old)

    def modes(self, pattern: str) -> set[int]:
        paths = glob.glob(pattern)
        self.assertTrue(paths, pattern)
        return {stat.S_IMODE(os.stat(p).st_mode) for p in paths}

    async def test_default(self) -> None:
        """
        Plain, rotated and gzip recordings: 0600.
        """
        source, _ = self.source(20, 10)
        out = os.path.abspath(self.mktemp())
        os.makedirs(out)
        for name, extra in [
            ("plain.gor", []),
            ("rotated.gor", ["--output-file-queue-limit", "5"]),
            ("zipped.gor.gz", []),
            ("zipped-rotated.gor.gz", ["--output-file-queue-limit", "5"]),
        ]:
            result = await runGor("--input-file", source + "|max", "--output-file", os.path.join(out, name), *extra)
            self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(self.modes(os.path.join(out, "plain.gor")), {0o600})
        self.assertEqual(self.modes(os.path.join(out, "rotated_*.gor")), {0o600})
        self.assertEqual(len(glob.glob(os.path.join(out, "rotated_*.gor"))), 4)
        self.assertEqual(self.modes(os.path.join(out, "zipped.gor.gz")), {0o600})
        self.assertEqual(self.modes(os.path.join(out, "zipped-rotated_*.gor.gz")), {0o600})

    async def test_flag(self) -> None:
        """
        C{--output-file-mode 0640} (also for rotated and gzip files); a file
        appended to keeps its mode; a bad mode is a usage error.
        """
        source, _ = self.source(20, 10)
        out = os.path.abspath(self.mktemp())
        os.makedirs(out)
        for name in ("a.gor", "b.gor.gz"):
            result = await runGor(
                "--input-file", source + "|max", "--output-file", os.path.join(out, name),
                "--output-file-queue-limit", "10", "--output-file-mode", "0640",
            )
            self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(self.modes(os.path.join(out, "a_*.gor")), {0o640})
        self.assertEqual(self.modes(os.path.join(out, "b_*.gor.gz")), {0o640})
        existing = os.path.join(out, "existing.gor")
        with open(existing, "wb"):
            pass
        os.chmod(existing, 0o644)
        result = await runGor("--input-file", source + "|max", "--output-file", existing, "--output-file-append")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(self.modes(existing), {0o644})
        result = await runGor("--input-file", source, "--output-file", existing, "--output-file-mode", "0999")
        self.assertEqual(result.rc, 2)
        self.assertIn("--output-file-mode", result.errText)
