"""
A live (non-pausable) sender whose replay server is away: the --output-tcp
queue stays bounded and every message beyond it is counted, through the real
gor command.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.support import freePort, startGor
from tests.test_http_e2e import counters


class OverflowTests(TestCase):
    """
    C{--input-http} (which cannot pause) into C{--output-tcp} with nobody
    listening.
    """

    timeout = 60

    async def test_queueFullCounted(self) -> None:
        """
        50 requests into a queue of 10 while disconnected: 10 stay queued (then
        counted at stop), 40 are dropped as queue_full; nothing is lost
        silently and memory does not grow with the backlog.
        """
        from twisted.internet import reactor
        from twisted.web.client import Agent, readBody

        inPort, deadPort = freePort(), freePort()
        gor = startGor(
            "--input-http", f"127.0.0.1:{inPort}",
            "--output-tcp", f"127.0.0.1:{deadPort}",
            "--output-tcp-workers", "1", "--output-tcp-queue-len", "10", "--output-tcp-timeout", "1s",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("input-http listening")
        agent = Agent(reactor)
        for i in range(50):
            response = await agent.request(b"GET", b"http://127.0.0.1:%d/live/%d" % (inPort, i))
            await readBody(response)
        gor.signal("TERM")
        result = await gor.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        out = counters(result.errText, "output_tcp")
        self.assertEqual(out.get("dropped.queue_full"), 40, result.errText)
        self.assertEqual(out.get("dropped.stop_timeout"), 10, result.errText)
        self.assertIn("dropped=50", result.errText)
