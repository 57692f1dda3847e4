"""
C{--output-ws} through the real C{gor} command against a real WebSocket
server (autobahn's, in this test process): byte-exact frames, Basic auth
from the URL, reconnecting after a server restart, C{wss://}, the byte-bounded
queue, and the parsing of the flags.
"""

from __future__ import annotations

import os
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor as _reactor
from twisted.internet import ssl
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.certs import makeCertificates
from tests.support import fileRecords, freePort, runGor, startGor, waitUntil
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.ws.output import fnv1a32, parseWebSocketURL

reactor: Any = _reactor


class Recorder(WebSocketServerProtocol):
    """
    Records the handshake headers and every message of one connection.
    """

    def onConnect(self, request: Any) -> None:
        self.factory.server.handshakes.append(dict(request.headers))

    def onOpen(self) -> None:
        self.factory.server.open.append(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.server.messages.append((self, bytes(payload), isBinary))

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        if self in self.factory.server.open:
            self.factory.server.open.remove(self)


class Server:
    """
    An autobahn WebSocket server on loopback that can be stopped and started
    again on the same port.
    """

    def __init__(self, tls: Any = None) -> None:
        self.handshakes: list[dict[str, str]] = []
        self.messages: list[tuple[Any, bytes, bool]] = []
        self.open: list[Recorder] = []
        self.tls = tls
        self.port = 0
        self.listening: Any = None

    def start(self) -> None:
        factory = WebSocketServerFactory()
        factory.protocol = Recorder
        factory.server = self
        if self.tls is not None:
            self.listening = reactor.listenSSL(self.port, factory, self.tls, interface="127.0.0.1")
        else:
            self.listening = reactor.listenTCP(self.port, factory, interface="127.0.0.1")
        self.port = self.listening.getHost().port

    async def stop(self) -> None:
        if self.listening is not None:
            listening, self.listening = self.listening, None
            await listening.stopListening()
        for protocol in list(self.open):
            protocol.transport.abortConnection()  # type: ignore[union-attr]
        await waitUntil(lambda: not self.open, describe="server connections closed")


def records(count: int) -> list[Message]:
    out = []
    for i in range(count):
        body = bytes(range(256))[: i % 40] + b"\n\r\nend"
        req = b"POST /r/%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)
        out.append(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, req))
        out.append(Message(2, b"%024x" % i, 1_700_000_000_000_000_100 + i, 5, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    return out


class WebSocketTests(TestCase):
    """
    gor --input-file ... --output-ws URL to an autobahn server.
    """

    timeout = 90

    def server(self, tls: Any = None) -> Server:
        server = Server(tls)
        server.start()
        self.addCleanup(server.stop)
        return server

    def recording(self, count: int) -> tuple[str, list[Message]]:
        path = os.path.abspath(self.mktemp() + ".gor")
        messages = records(count)
        with open(path, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in messages))
        return path, fileRecords(path)

    async def test_framesByteExactAndAuth(self) -> None:
        """
        Every message arrives as one binary WebSocket message: meta line,
        newline, payload; the handshake carries the URL's userinfo as Basic
        auth; the password is in no log line.
        """
        server = self.server()
        path, messages = self.recording(50)
        result = await runGor(
            "--input-file", path + "|10000%",
            "--output-ws", f"ws://alice:s3cr3t@127.0.0.1:{server.port}/capture?x=1",
            "--output-ws-workers", "3",
            timeout=60,
        )
        self.assertEqual(result.rc, 0, result.errText)
        expected = sorted(m.meta() + b"\n" + m.payload for m in messages)
        self.assertEqual(sorted(payload for _, payload, _ in server.messages), expected)
        self.assertTrue(all(binary for _, _, binary in server.messages))
        self.assertTrue(server.handshakes)
        for headers in server.handshakes:
            self.assertEqual(headers["authorization"], "Basic YWxpY2U6czNjcjN0")
        self.assertNotIn("s3cr3t", result.errText)
        self.assertNotIn("YWxpY2U6czNjcjN0", result.errText)
        self.assertIn("alice:***@127.0.0.1", result.errText)
        self.assertIn("sent=100", result.errText)

    async def test_userOnly(self) -> None:
        """
        GoReplay's case: C{ws://user1@host/test} sends C{Basic dXNlcjE=}.
        """
        server = self.server()
        path, messages = self.recording(1)
        result = await runGor(
            "--input-file", path, "--output-ws", f"ws://user1@localhost:{server.port}/test", "--output-ws-workers", "1"
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(server.handshakes[0]["authorization"], "Basic dXNlcjE=")
        self.assertEqual(len(server.messages), 2)

    async def test_sticky(self) -> None:
        """
        With C{--output-ws-sticky} a request and its response share a
        connection.
        """
        server = self.server()
        path, messages = self.recording(40)
        result = await runGor(
            "--input-file", path + "|10000%", "--output-ws", f"ws://127.0.0.1:{server.port}/",
            "--output-ws-workers", "4", "--output-ws-sticky",
        )
        self.assertEqual(result.rc, 0, result.errText)
        byId: dict[bytes, set[int]] = {}
        for protocol, payload, _ in server.messages:
            byId.setdefault(payload.split(b" ", 2)[1], set()).add(id(protocol))
        self.assertEqual(len(byId), 40)
        self.assertTrue(all(len(conns) == 1 for conns in byId.values()), byId)
        self.assertGreater(len({c for conns in byId.values() for c in conns}), 1)

    async def test_reconnectAfterRestart(self) -> None:
        """
        The server goes away and comes back on the same port: gor keeps
        the messages of the outage (queue) and delivers them once reconnected.
        """
        server = self.server()
        gor = startGor(
            "--input-dummy", "x", "--output-ws", f"ws://127.0.0.1:{server.port}/",
            "--output-ws-workers", "2", "--stats", "--stats-interval", "100ms",
        )
        self.addCleanup(gor.killIfRunning)
        await waitUntil(lambda: len(server.messages) >= 2, describe=lambda: gor.logText)
        await server.stop()
        await gor.waitForLog("every connection to ws://127.0.0.1")
        before = len(server.messages)
        # at least one dummy message is emitted (and queued) during the outage
        queued = lambda: gor.counters("output_ws").get("queued", 0) > 0
        await waitUntil(queued, describe=lambda: gor.logText)
        server.start()
        await gor.waitForLog("again")
        await waitUntil(lambda: len(server.messages) > before + 1, describe=lambda: gor.logText)
        gor.signal("INT")
        result = await gor.wait(30)
        self.assertIn("connections.opened=", result.errText)
        self.assertGreaterEqual(gor.counters("output_ws", "summary").get("connections.opened", 0), 3)
        self.assertEqual(gor.counters("output_ws", "summary").get("dropped.queue_full", 0), 0)

    async def test_wssSkipVerify(self) -> None:
        """
        C{wss://} to a server whose certificate nobody trusts: refused (and
        counted) unless C{--output-ws-skip-verify}.
        """
        directory = self.mktemp()
        os.makedirs(directory)
        paths = makeCertificates(directory)
        with open(paths["key"], "rb") as k, open(paths["cert"], "rb") as c:
            tls = ssl.PrivateCertificate.loadPEM(k.read() + c.read()).options()
        server = self.server(tls)
        path, messages = self.recording(10)
        result = await runGor(
            "--input-file", path, "--output-ws", f"wss://localhost:{server.port}/",
            "--output-ws-skip-verify", "--output-ws-workers", "2",
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(sorted(p for _, p, _ in server.messages), sorted(m.meta() + b"\n" + m.payload for m in messages))
        verified = await runGor(
            "--input-file", path, "--output-ws", f"wss://localhost:{server.port}/",
            "--output-ws-workers", "1", "--output-ws-timeout", "1s",
        )
        self.assertIn("output_ws: handshake with wss://localhost", verified.errText)
        self.assertIn("dropped.stop_timeout=20", verified.errText)
        self.assertEqual(len(server.messages), 20)

    async def test_queueOverflowCounted(self) -> None:
        """
        No server: a live input's messages fill the byte-bounded queue;
        what does not fit is dropped and counted, the rest counted at exit.
        """
        result = await runGor(
            "--input-dummy", "x", "--output-ws", f"ws://127.0.0.1:{freePort()}/",
            "--output-ws-queue-size", "300", "--output-ws-timeout", "0", "--exit-after", "2500ms",
        )
        self.assertIn("dropped.queue_full=", result.errText)
        self.assertIn("dropped.stop_timeout=", result.errText)
        self.assertIn("failed.connect=", result.errText)

    async def test_stats(self) -> None:
        """
        C{--output-ws-stats} with C{--stats} logs GoReplay's queue line.
        """
        server = self.server()
        result = await runGor(
            "--input-dummy", "x", "--output-ws", f"ws://127.0.0.1:{server.port}/", "--output-ws-stats",
            "--stats", "--stats-interval", "500ms", "--exit-after", "1500ms",
        )
        self.assertIn("output_ws:", result.errText)

    async def test_badURL(self) -> None:
        """
        Not a ws URL: exit 2, one line naming the flag, password hidden.
        """
        for url in ("http://a:pw@h/", "ws://", "ws://h:notaport/"):
            result = await runGor("--input-dummy", "x", "--output-ws", url)
            self.assertEqual(result.rc, 2, result.errText)
            lines = result.errText.strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("--output-ws", lines[0])
            self.assertNotIn("pw", lines[0])


class TargetTests(SynchronousTestCase):
    """
    Parsing of C{--output-ws} URLs (logic only).
    """

    def test_parse(self) -> None:
        t = parseWebSocketURL("wss://u:p%40ss@example.com/a?b=1")
        self.assertEqual((t.url, t.host, t.port, t.secure), ("wss://example.com/a?b=1", "example.com", 443, True))
        self.assertEqual(t.authorization, "Basic dTpwQHNz")
        self.assertEqual(t.shown, "wss://u:***@example.com/a?b=1")
        self.assertEqual(parseWebSocketURL("ws://h").port, 80)
        self.assertIsNone(parseWebSocketURL("ws://h:81/").authorization)

    def test_fnv(self) -> None:
        self.assertEqual(fnv1a32(b""), 0x811C9DC5)
        self.assertEqual(fnv1a32(b"a"), 0xE40C292C)
