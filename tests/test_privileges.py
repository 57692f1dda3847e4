"""
C{twistd --uid/--gid gor --input-raw ...}: the capture is opened as root in
C{privilegedStartService}, then twistd drops privileges and capture goes on.
"""

from __future__ import annotations

import os
import pwd
import sys

from twisted.trial.unittest import TestCase
from twisted.web import resource, server

from tests.support import ROOT_REASON, GorProcess, fileRecords, isRoot, listenLocal, waitUntil
from twisted_gor.framing import iterMessages


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request: object) -> bytes:
        return b"hello"


class PrivilegeDropTests(TestCase):
    """
    Capture keeps working after twistd switches to an unprivileged user.
    """

    timeout = 60

    async def test_captureAfterDroppingRoot(self) -> None:
        """
        Requests sent after the privilege drop are captured and written by a
        process that no longer runs as root.
        """
        if not isRoot():
            raise self.skipTest(ROOT_REASON)
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            raise self.skipTest("no 'nobody' user on this machine")
        from twisted.internet import reactor
        from twisted.web.client import Agent, readBody

        port, number = listenLocal(server.Site(Hello()), reactor=reactor)
        self.addCleanup(port.stopListening)
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        os.chmod(workdir, 0o777)
        os.chmod(os.path.dirname(workdir), 0o755)
        target = os.path.join(workdir, "captured.gor")
        gor = GorProcess(
            reactor,
            [
                sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--logfile=-", f"--uid={nobody.pw_uid}", f"--gid={nobody.pw_gid}",
                "gor", "--input-raw", f"127.0.0.1:{number}", "--output-file", target,
                "--output-file-flush-interval", "100ms",
            ],
        ).start(cwd=workdir)  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("gor: started")
        # "gor: started" comes after twistd switched user (startService runs
        # unprivileged) and the capture is live: the handle was opened and
        # activated in privilegedStartService.
        with open(f"/proc/{gor.pid}/status") as f:
            uids = [line for line in f if line.startswith("Uid:")][0].split()[1:]
        self.assertEqual({int(u) for u in uids}, {nobody.pw_uid})
        agent = Agent(reactor)
        for i in range(5):
            response = await agent.request(b"GET", b"http://127.0.0.1:%d/after-drop/%d" % (number, i))
            await readBody(response)
        await waitUntil(lambda: len(fileRecords(target)) >= 5, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        result = await gor.wait(20)
        # twistd ends by re-raising the signal it received (exit status "killed
        # by SIGTERM"), after a clean shutdown.
        self.assertTrue(result.rc == 0 or result.signal == 15, result.out.decode() + result.errText)
        self.assertIn("Server Shut Down", result.out.decode())
        with open(target, "rb") as f:
            captured = [m for m in iterMessages(f.read()) if m.type == 1]
        self.assertEqual(
            [m.payload.split(b" ")[1] for m in captured], [b"/after-drop/%d" % i for i in range(5)]
        )
        self.assertEqual(os.stat(target).st_uid, nobody.pw_uid)


