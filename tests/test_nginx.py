"""
End-to-end tests against a real nginx started by the test: live capture of
the traffic nginx serves, and replay of a recording to nginx.
"""

from __future__ import annotations

import io
import os

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tests.nginx import Nginx, haveNginx
from tests.support import ROOT_REASON, fileRecords, isRoot, runGor, startGor, waitUntil
from twisted_gor.framing import encodeMessage, iterMessages
from twisted_gor.message import Message


class NginxTests(TestCase):
    """
    gor with nginx as production and as staging.
    """

    timeout = 60

    async def startNginx(self) -> Nginx:
        if not haveNginx():
            raise self.skipTest("nginx is not installed (scripts/test.sh installs it)")
        from twisted.internet import reactor

        nginx = await Nginx(os.path.abspath(self.mktemp())).start(reactor)
        self.addCleanup(lambda: Deferred.fromCoroutine(nginx.stop()))
        return nginx

    async def test_captureWhatNginxServes(self) -> None:
        """
        Every request nginx logs (keep-alive, GET and POST) is in gor's file,
        byte-exact target and body, with nginx's response under the same id.
        """
        if not isRoot():
            raise self.skipTest(ROOT_REASON)
        from twisted.internet import reactor
        from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, readBody

        nginx = await self.startNginx()
        target = os.path.abspath(self.mktemp() + ".gor")
        gor = startGor(
            "--input-raw", f"127.0.0.1:{nginx.port}", "--input-raw-track-response",
            "--output-file", target, "--output-file-flush-interval", "100ms",
        )  # fmt: skip
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("gor: started")
        # The capture is live once gor has started: the pcap handles are opened,
        # filtered and activated in startService, before "gor: started".
        pool = HTTPConnectionPool(reactor)
        pool.maxPersistentPerHost = 4
        agent = Agent(reactor, pool=pool)
        for i in range(300):
            url = b"http://127.0.0.1:%d/item/%d?q=%d" % (nginx.port, i, i)
            if i % 5 == 0:
                body = FileBodyProducer(io.BytesIO(b"payload-%d" % i * 50))
                response = await agent.request(b"POST", url, None, body)
            else:
                response = await agent.request(b"GET", url)
            await readBody(response)
        await pool.closeCachedConnections()
        # every request and its response captured and on disk
        await waitUntil(lambda: len(fileRecords(target)) >= 600, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        result = await gor.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        await nginx.stop()
        served = [(fields[0], fields[1]) for fields in nginx.accessLog()]
        self.assertEqual(len(served), 300)
        with open(target, "rb") as f:
            messages = list(iterMessages(f.read()))
        requests = [m for m in messages if m.type == 1]
        responses = {m.id: m for m in messages if m.type == 2}
        captured = [(m.payload.split(b" ")[0].decode(), m.payload.split(b" ")[1].decode()) for m in requests]
        self.assertEqual(captured, served)
        for m in requests:
            if m.payload.startswith(b"POST"):
                path = m.payload.split(b" ")[1]
                i = int(path.split(b"/")[2].split(b"?")[0])
                self.assertTrue(m.payload.endswith(b"payload-%d" % i * 50))
            answer = responses[m.id]
            self.assertTrue(answer.payload.startswith(b"HTTP/1.1 200"), answer.payload[:40])
            self.assertIn(b"hello " + m.payload.split(b" ")[1], answer.payload)

    async def test_captureOnAllInterfaces(self) -> None:
        """
        C{--input-raw :PORT} (the seed's form: every interface, Linux's "any"
        device) captures each request exactly once.
        """
        if not isRoot():
            raise self.skipTest(ROOT_REASON)
        from twisted.internet import reactor
        from twisted.web.client import Agent, readBody

        nginx = await self.startNginx()
        target = os.path.abspath(self.mktemp() + ".gor")
        gor = startGor("--input-raw", f":{nginx.port}", "--output-file", target, "--output-file-flush-interval", "100ms")
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("gor: started")
        # The capture is live once gor has started: the pcap handles are opened,
        # filtered and activated in startService, before "gor: started".
        agent = Agent(reactor)
        for i in range(20):
            response = await agent.request(b"GET", b"http://127.0.0.1:%d/any/%d" % (nginx.port, i))
            await readBody(response)
        await waitUntil(lambda: len(fileRecords(target)) >= 20, 30, describe=lambda: gor.logText)
        gor.signal("TERM")
        result = await gor.wait(30)
        self.assertEqual(result.rc, 0, result.errText)
        with open(target, "rb") as f:
            paths = [m.payload.split(b" ")[1] for m in iterMessages(f.read()) if m.type == 1]
        self.assertEqual(paths, [b"/any/%d" % i for i in range(20)])

    async def test_replayToNginx(self) -> None:
        """
        A recording replayed to nginx: nginx logs every request with its
        method, target and status, and the replayed responses are recorded.
        """
        nginx = await self.startNginx()
        source = os.path.abspath(self.mktemp() + ".gor")
        paths = [b"/a/%d" % i if i % 7 else b"/missing/%d" % i for i in range(200)]
        with open(source, "wb") as f:
            for i, path in enumerate(paths):
                payload = b"GET " + path + b" HTTP/1.1\r\nHost: production\r\nUser-Agent: shop\r\n\r\n"
                f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i * 10**6, -1, payload)))
        out = source + ".replayed"
        result = await runGor(
            "--input-file", source + "|max", "--output-http", f"http://127.0.0.1:{nginx.port}",
            "--output-http-track-response", "--output-file", out,
        )  # fmt: skip
        self.assertEqual(result.rc, 0, result.errText)
        await nginx.stop()
        logged = sorted((fields[1], fields[2]) for fields in nginx.accessLog())
        expected = sorted((p.decode(), "404" if p.startswith(b"/missing") else "200") for p in paths)
        self.assertEqual(logged, expected)
        with open(out, "rb") as f:
            replayed = [m for m in iterMessages(f.read()) if m.type == 3]
        self.assertEqual(len(replayed), 200)
        self.assertEqual(sum(m.payload.startswith(b"HTTP/1.1 404") for m in replayed), len([p for p in paths if p.startswith(b"/missing")]))
