"""
A second stop signal while gor drains is quiet (issue 9 item 6).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet import protocol
from twisted.trial.unittest import TestCase

from tests.support import GorProcess, startGor


class Silent(protocol.Protocol):
    """
    Accepts a request and never answers: the replay drains slowly.
    """


class SignalTests(TestCase):
    """
    SIGTERM twice, quickly, to a gor that is draining.
    """

    timeout = 60

    def silentTarget(self) -> int:
        from twisted.internet import reactor

        factory = protocol.ServerFactory()
        factory.protocol = Silent
        port: Any = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return int(port.getHost().port)

    async def assertQuietSecondSignal(self, gor: GorProcess) -> None:
        await gor.waitForLog("stats: output_http")
        gor.signal("TERM")
        await gor.waitForLog("Received SIGTERM")
        gor.signal("TERM")
        gor.signal("INT")
        await gor.wait(30)
        text = gor.logText
        for bad in ("ReactorNotRunning", "Traceback", "CRITICAL", "Unhandled"):
            self.assertNotIn(bad, text)
        # The drain (3s for the silent target) went on to its end.
        self.assertIn("summary: ", text)
        self.assertIn("failed.timeout=1", text)
        self.assertIn("SIGTERM received while already stopping", text)

    def args(self, port: int) -> list[str]:
        return [
            "--input-dummy",
            "x",
            "--output-http",
            f"http://127.0.0.1:{port}",
            "--output-http-timeout",
            "3s",
            "--stats",
            "--stats-interval",
            "100ms",
        ]

    async def test_gor(self) -> None:
        """
        The C{gor} command: the repeated signals are logged, the drain ends
        normally, exit 0.
        """
        port = self.silentTarget()
        gor = startGor(*self.args(port))
        await self.assertQuietSecondSignal(gor)
        result = await gor.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertIn("SIGINT received while already stopping", result.errText)

    async def test_twistd(self) -> None:
        """
        C{twistd -n gor} likewise.
        """
        from twisted.internet import reactor

        port = self.silentTarget()
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--logfile=-", "gor"]
        gor = GorProcess(reactor, [*argv, *self.args(port)]).start(workdir)
        await self.assertQuietSecondSignal(gor)
