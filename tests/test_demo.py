"""
The README's first command runs the built-in example: real capture on
loopback replayed to a real staging server.
"""

import os
import sys

from twisted.trial.unittest import TestCase

from tests.support import ROOT_REASON, isRoot, runCommand


class DemoTests(TestCase):
    """
    C{python -m twisted_gor.cli.demo}.
    """

    timeout = 90

    async def test_demo(self) -> None:
        """
        Every request sent to production is captured, replayed to staging and
        recorded with both responses; the comparison finds staging's one
        regression and nothing else.
        """
        if not isRoot():
            raise self.skipTest(ROOT_REASON)
        workdir = os.path.abspath(self.mktemp())
        result = await runCommand(sys.executable, "-m", "twisted_gor.cli.demo", workdir, timeout=80)
        out = result.out.decode()
        self.assertEqual(result.rc, 0, out + result.errText)
        self.assertIn("staging received           30 replayed requests", out)
        self.assertIn("holds   30 requests, 30 production responses, 30 staging responses", out)
        self.assertIn("every request was captured and replayed", out)
        self.assertIn("30 pairs compared, 20 identical, 10 with a different body", out)
        self.assertIn('POST /cart/{id}: 10 differ (body), e.g. $.total.currency "USD" -> "EUR"', out)

    async def test_demoNeedsRoot(self) -> None:
        """
        Without root the demo says why and exits 2.
        """
        if isRoot():
            raise self.skipTest("runs only when not root")
        result = await runCommand(sys.executable, "-m", "twisted_gor.cli.demo", timeout=30)
        self.assertEqual(result.rc, 2)
        self.assertIn("root", result.errText)
