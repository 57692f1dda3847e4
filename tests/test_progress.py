"""
The progress line of file replays, through the real C{gor}: forced with
C{--progress}, by default on a terminal (a pty), off with C{--no-progress}.
"""

from __future__ import annotations

import os
import re

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.support import GOR, REPO, GorProcess, environment, runGor
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message

MS = 1_000_000
LINE = re.compile(r"progress: [\d.]+ k?B of [\d.]+ kB \((\d+)%\), (\d+) records")


class _PtyGor(GorProcess):
    def start(self, cwd: str | None = None) -> "GorProcess":
        reactor.spawnProcess(self, self.argv[0], self.argv, env=environment(), path=cwd or REPO, usePTY=True)
        self.pid = self.transport.pid
        return self

    def connectionMade(self) -> None:
        pass


class ProgressTests(TestCase):
    """
    C{progress: X of Y (N%), R records, r rec/s, ETA m:ss, failed F}.
    """

    timeout = 60

    def recording(self) -> str:
        path = os.path.abspath(self.mktemp()) + ".gor"
        with open(path, "wb") as f:
            for i in range(150):
                f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i * 10 * MS, -1,
                                              b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % i)))
        return path

    async def test_forced(self) -> None:
        """
        With C{--progress} and stderr not a terminal: one line per update,
        growing to 100% and every record, before the summary.
        """
        result = await runGor("--input-file", self.recording(), "--output-null", "--progress")
        self.assertEqual(result.rc, 0, result.errText)
        found = [(int(m.group(1)), int(m.group(2))) for m in LINE.finditer(result.errText)]
        self.assertGreaterEqual(len(found), 2, result.errText)
        self.assertEqual(found, sorted(found))
        self.assertEqual(found[-1], (100, 150), result.errText)
        self.assertLess(result.errText.rindex("progress:"), result.errText.index("summary:"))
        self.assertIn("rec/s", result.errText)

    async def test_terminal(self) -> None:
        """
        On a terminal the line is shown by default and updated in place;
        C{--no-progress} turns it off; without a terminal there is none.
        """
        gor = _PtyGor(reactor, [*GOR, "--input-file", self.recording(), "--output-null"]).start()
        result = await gor.wait()
        text = result.out.decode("utf-8", "replace") + result.errText
        self.assertRegex(text, r"\rprogress: .*\(\d+%\).*\x1b\[K")
        self.assertIn("ETA", text)
        quiet = _PtyGor(reactor, [*GOR, "--input-file", self.recording(), "--output-null", "--no-progress"]).start()
        result = await quiet.wait()
        self.assertNotIn("progress:", result.out.decode("utf-8", "replace") + result.errText)
        self.assertIn("summary:", result.out.decode("utf-8", "replace") + result.errText)
        result = await runGor("--input-file", self.recording(), "--output-null")
        self.assertNotIn("progress:", result.errText)
