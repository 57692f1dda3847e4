"""
The command line of a mature CLI, through the real C{gor}: help, typos, and
start-up failures in one line.
"""

from __future__ import annotations

import shlex
import socket
import sys
import types

from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import GOR, isRoot, runCommand, runGor
from twisted_gor.cli.helptext import flagHelp, formatDefault, groups
from twisted_gor.cli.tap import _areaModules, allFlags
from twisted_gor.flags import DURATION, SIZE, STRING, Flag


def gorShell(arguments: str, columns: int = 80) -> list[str]:
    command = " ".join(shlex.quote(part) for part in GOR)
    return ["sh", "-c", f"COLUMNS={columns} {command} {arguments}"]


class HelpTests(TestCase):
    """
    C{-h}, C{-help} and C{--help}.
    """

    timeout = 60

    async def test_helpSpellings(self) -> None:
        """
        Each spelling prints the grouped usage on stdout and exits 0, even
        with other (bad) flags around it.
        """
        for spelling in ("-h", "-help", "--help"):
            result = await runGor(spelling, "--no-such-flag")
            self.assertEqual(result.rc, 0, result.errText)
            out = result.out.decode("utf-8")
            self.assertEqual(result.errText, "")
            for heading in ("Inputs:", "Outputs:", "--input-raw options:", "HTTP filters and modifiers:", "Monitoring:", "General:"):
                self.assertIn("\n" + heading + "\n", out)
            self.assertIn("--output-http-timeout DURATION", out)

    async def test_wrappedWithoutBreakingWords(self) -> None:
        """
        At 60 columns no line is longer, unless it is one unbreakable word (or
        a flag and its value's name);
        every flag name and every word of every help text is whole.
        """
        result = await runCommand(*gorShell("--help", columns=60))
        self.assertEqual(result.rc, 0, result.errText)
        out = result.out.decode("utf-8")
        for line in out.splitlines():
            if len(line) > 60:
                # one word, or a flag with its value's name (never split)
                self.assertTrue(len(line.split()) == 1 or (line.startswith("  --") and len(line.split()) == 2), line)
        words = set(out.split())
        for flag in allFlags():
            self.assertIn("--" + flag.name, words)
            for word in flagHelp(flag).split():
                self.assertIn(word, words, flag.name)

    async def test_closedPipe(self) -> None:
        """
        C{gor --help} into a pipe nobody reads ends quietly with 0.
        """
        # the status of gor itself, not of the last command of the pipe
        result = await runCommand("bash", "-c", gorShell("--help")[2] + " | true; echo \"gor=${PIPESTATUS[0]}\" >&2")
        self.assertEqual(result.errText.strip(), "gor=0")

    async def test_headOfHelp(self) -> None:
        """
        C{gor --help | head -3} shows the first lines and nothing on stderr.
        """
        result = await runCommand("bash", "-c", gorShell("--help")[2] + " | head -3")
        self.assertEqual(result.errText, "")
        self.assertEqual(len(result.out.splitlines()), 3)
        self.assertTrue(result.out.startswith(b"Usage: gor"))


class TypoTests(TestCase):
    """
    Mistakes get a suggestion.
    """

    timeout = 60

    async def test_closestFlag(self) -> None:
        result = await runGor("--inptu-raw", ":80", "--output-null")
        self.assertEqual(result.rc, 2)
        self.assertEqual(result.errText, "gor: --inptu-raw not recognized; did you mean --input-raw? (see --help)\n")

    async def test_barePort(self) -> None:
        result = await runGor("--input-raw", "8080", "--output-null")
        self.assertEqual(result.rc, 2)
        self.assertIn("did you mean ':8080'", result.errText)
        self.assertEqual(len(result.errText.splitlines()), 1)


class StartupFailureTests(TestCase):
    """
    What cannot start says so in one line and gor exits 2.
    """

    timeout = 60

    def busyPort(self) -> int:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        self.addCleanup(s.close)
        return int(s.getsockname()[1])

    async def test_listenInUse(self) -> None:
        """
        An --input-tcp or --metrics address in use: one line naming the
        component, the address and the fix.
        """
        port = self.busyPort()
        for flags in (("--input-tcp", f"127.0.0.1:{port}", "--output-null"),
                      ("--input-dummy", "x", "--output-null", "--metrics", f"127.0.0.1:{port}")):
            result = await runGor(*flags)
            self.assertEqual(result.rc, 2, result.errText)
            lines = result.errText.splitlines()
            self.assertEqual(len(lines), 1, result.errText)
            self.assertIn(f"cannot listen on 127.0.0.1:{port}: Address already in use; another process", lines[0])
            self.assertTrue(lines[0].startswith("gor: "), lines[0])

    async def test_captureWithoutPermission(self) -> None:
        """
        A capture as an unprivileged user: one line saying what failed and
        the two ways to fix it, exit 2, no traceback.
        """
        if not isRoot():
            raise self.skipTest("needs root to become another user with setpriv")
        unprivileged = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all")
        probe = await runCommand(*unprivileged, sys.executable, "-c", "pass")
        if probe.rc != 0:
            raise self.skipTest(f"this interpreter cannot run as an unprivileged user: {probe.errText.strip()}")
        # setpriv passes on the environment (this checkout on PYTHONPATH).
        result = await runCommand(
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
            sys.executable, "-m", "twisted_gor", "--input-raw", "127.0.0.1:80", "--output-null",
        )
        self.assertEqual(result.rc, 2, result.errText)
        lines = result.errText.splitlines()
        self.assertEqual(len(lines), 1, result.errText)
        self.assertIn("input_raw(127.0.0.1:80): cannot capture on 'lo': operation not permitted; run gor as root", lines[0])
        self.assertIn("setcap cap_net_raw,cap_net_admin+eip", lines[0])


class HelpTextTests(SynchronousTestCase):
    """
    Groups and defaults are derived from the flags.
    """

    def test_defaults(self) -> None:
        self.assertEqual(formatDefault(Flag("a", SIZE, "", default=5 << 20)), "5mb")
        self.assertEqual(formatDefault(Flag("a", DURATION, "", default=0.5)), "500ms")
        self.assertEqual(formatDefault(Flag("a", DURATION, "", default=90.0)), "90s")
        self.assertEqual(formatDefault(Flag("a", STRING, "")), "none")
        self.assertIn("(default: 2m)", flagHelp(Flag("a", DURATION, "Wait.", default=120.0)))
        self.assertNotIn("(default:", flagHelp(Flag("a", DURATION, "Wait (default 2m).", default=120.0)))

    def test_newAreaGroupedAutomatically(self) -> None:
        """
        A new area's C{input-X} flag is an input, its C{input-X-*} flags get
        their own group, others the area's heading.
        """

        area = types.ModuleType("twisted_gor.nats.flags")
        area.FLAGS = [  # type: ignore[attr-defined]
            Flag("input-nats", STRING, "k"), Flag("input-nats-subject", STRING, "t"), Flag("nats-tls", STRING, "x")
        ]
        found = dict(groups([*_areaModules(), area]))
        self.assertIn("input-nats", [f.name for f in found["Inputs"]])
        self.assertEqual([f.name for f in found["--input-nats options"]], ["input-nats-subject"])
        self.assertEqual([f.name for f in found["Nats options"]], ["nats-tls"])
