"""
The flag table of the docs (C{docs/flags.rst}): generated from the flag
declarations, committed up to date, and every flag in it parses; the
refused ones are refused by the real C{gor} command with their reason.
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import REPO, runGor
from twisted_gor.cli.flagtable import GOREPLAY, GoFlag, rows, table
from twisted_gor.cli.refused import REASONS
from twisted_gor.cli.tap import Options, allFlags
from twisted_gor.flags import BOOL, DURATION, INT, MODE, SIZE, Flag

PATH = os.path.join(REPO, "docs", "flags.rst")

SAMPLES = {INT: "1", DURATION: "1s", SIZE: "1mb", MODE: "0600"}
STRINGS = {"input-raw-engine": "libpcap", "input-raw-protocol": "http"}
GENERIC = ("x", "127.0.0.1:0", "http://127.0.0.1:1")
"""String values tried in turn: the flag parses if one of them is accepted."""


class ParseOnly(Options):
    """
    The real command line parser without the cross-flag checks of
    C{postOptions} (which need files, certificates, ...).
    """

    def postOptions(self) -> None:
        pass


def tableFlags() -> list[str]:
    with open(PATH, encoding="utf-8") as f:
        return re.findall(r"^   \* - ``--([a-z0-9-]+)``$", f.read(), re.MULTILINE)


class FlagTableTests(SynchronousTestCase):
    """
    The committed table matches the declarations, and its flags parse.
    """

    def test_upToDate(self) -> None:
        """
        C{docs/flags.rst} is what C{scripts/flagtable.py} writes now.
        """
        with open(PATH, encoding="utf-8") as f:
            committed = f.read()
        self.assertEqual(committed, table(allFlags()), "docs/flags.rst is stale: run python scripts/flagtable.py")

    def test_everyGoReplayFlagListed(self) -> None:
        names = tableFlags()
        for go in GOREPLAY:
            self.assertIn(go.name, names)
        self.assertEqual(len(names), len(set(names)))

    def test_everyFlagParses(self) -> None:
        """
        Every flag of the table that is not refused is accepted by the
        parser with a value of its kind.
        """
        byName: dict[str, Flag] = {}
        for f in allFlags():
            for name in (f.name, *f.aliases):
                byName[name] = f
        refusedRows = {row.flag for row in rows(allFlags()) if row.status.startswith("refused")}
        checked = 0
        for name in tableFlags():
            if name in refusedRows:
                continue
            flag = byName[name]
            if flag.kind == BOOL:
                candidates = [["--" + name]]
            elif flag.kind in SAMPLES:
                candidates = [["--" + name, SAMPLES[flag.kind]]]
            else:
                candidates = [["--" + name, STRINGS[name]]] if name in STRINGS else [["--" + name, v] for v in GENERIC]
            for argv in candidates:
                options = ParseOnly()
                try:
                    options.parseOptions(argv)
                except SystemExit:
                    continue
                self.assertIn(flag.name, options.flagValues.given, name)
                break
            else:
                self.fail(f"--{name} parses with none of {candidates}")
            checked += 1
        self.assertGreater(checked, 100)

    def test_unexplainedDefault(self) -> None:
        """
        A default that differs from GoReplay's without a reason is an error
        (the table cannot hide a difference).
        """
        flags = [Flag("output-tcp-workers", INT, "h", default=3)]
        import twisted_gor.cli.flagtable as module

        original = module.GOREPLAY
        module.GOREPLAY = (GoFlag("output-tcp-workers", 10),)
        try:
            self.assertRaises(ValueError, rows, flags, {})
        finally:
            module.GOREPLAY = original


class RefusedTests(TestCase):
    """
    The refused flags through the real C{gor} command.
    """

    timeout = 120

    async def test_refused(self) -> None:
        for name, reason in sorted(REASONS.items()):
            flag = next(f for f in allFlags() if f.name == name)
            value: list[Any] = [] if flag.kind == BOOL else [SAMPLES.get(flag.kind, "x:1")]
            result = await runGor("--input-dummy", "x", "--output-null", "--" + name, *value)
            self.assertEqual(result.rc, 2, result.errText)
            lines = result.errText.strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(f"--{name}: {reason}", lines[0])
