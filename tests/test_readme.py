"""
Every command example of the README that can run on loopback, run through
the real C{gor} (and the inline C{.tac} and Python examples through
C{twistd} and Python): hosts become servers started here, files are made
here, captures get real traffic. Each example must exit 0 without an error
line and do what it says (staging receives requests, files get records).

The examples are read from README.rst, so a changed or new example is tested
as it is written; one that cannot be mapped onto loopback fails here until
this module learns it.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from typing import Any, Callable

import treq
from twisted.internet import protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests.pcapgen import Conversation, writePcap
from tests.support import GOR, REPO, ROOT_REASON, GorProcess, WaitTimeout, freePort, isRoot, listenLocal, runCommand, waitUntil
from tests.test_compare_e2e import response
from twisted_gor.framing import SEPARATOR, encodeMessage
from twisted_gor.message import Message

README = os.path.join(REPO, "README.rst")
NOT_GOR = ("sh scripts/install.sh", "sh scripts/test.sh")
"""Commands that are the install and the test suite themselves (CI runs them)."""


def literalBlocks(text: str) -> list[tuple[str, str]]:
    """
    C{(text before, block)} of every literal block (after a C{::} line).
    """
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].rstrip().endswith("::"):
            intro = lines[i]
            i += 1
            body = []
            while i < len(lines) and (not lines[i] or lines[i].startswith(" ")):
                body.append(lines[i])
                i += 1
            blocks.append((intro, "\n".join(body)))
        else:
            i += 1
    return blocks


def commandExamples(text: str) -> list[str]:
    """
    Every shell command of the literal blocks (continuations joined).
    """
    commands = []
    for _, block in literalBlocks(text):
        current = ""
        for raw in block.split("\n"):
            line = raw.strip()
            if current:
                current += " " + line.rstrip("\\").strip()
                if not line.endswith("\\"):
                    commands.append(current)
                    current = ""
                continue
            if re.match(r"^(sudo )?gor --|^sh scripts/", line):
                if line.endswith("\\"):
                    current = line.rstrip("\\").strip()
                else:
                    commands.append(line)
    return commands


class _Staging(Resource):
    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.requests: list[tuple[bytes, bytes, dict[bytes, bytes]]] = []

    def render(self, request: Request) -> bytes:
        headers = {k.lower(): v[0] for k, v in request.requestHeaders.getAllRawHeaders()}
        self.requests.append((request.method, request.uri, headers))
        request.setHeader(b"Content-Type", b"application/json")
        return b'{"a":1}'


class _SinkFactory(protocol.ServerFactory):
    def __init__(self) -> None:
        self.received = 0

    def buildProtocol(self, addr: Any) -> protocol.Protocol:
        sink = _Sink()
        sink.owner = self
        return sink


class _Sink(protocol.Protocol):
    owner: _SinkFactory

    def dataReceived(self, data: bytes) -> None:
        self.owner.received += len(data)


def _messages(count: int) -> list[Message]:
    return [
        Message(1, b"%024x" % (i + 1), 1_700_000_000 * 10**9 + i * 1_000_000, -1, b"GET /api/%d HTTP/1.1\r\nHost: prod\r\n\r\n" % i)
        for i in range(count)
    ]


def _records(count: int, responses: int = 1) -> bytes:
    out = []
    for i in range(count):
        id_ = b"%024x" % (i + 1)
        ts = 1_700_000_000 * 10**9 + i * 1_000_000
        out.append(encodeMessage(Message(1, id_, ts, -1, b"GET /api/%d HTTP/1.1\r\nHost: prod\r\n\r\n" % i)))
        if responses >= 2:
            out.append(encodeMessage(Message(2, id_, ts + 1, 1_000_000, response(200, b'{"a":1}'))))
        if responses >= 3:
            out.append(encodeMessage(Message(3, id_, ts + 2, 2_000_000, response(200, b'{"a":2}'))))
    return b"".join(out)


class ReadmeExamples(TestCase):
    """
    One test per README command example (see the module docstring).
    """

    timeout = 90

    def setUp(self) -> None:
        self.staging = _Staging()
        port, self.stagingPort = listenLocal(Site(self.staging))
        self.addCleanup(port.stopListening)
        self.production = Resource()
        self.production.putChild(b"", _Staging())
        prod, self.prodPort = listenLocal(Site(_Staging()))
        self.addCleanup(prod.stopListening)
        prod2, self.prodPort2 = listenLocal(Site(_Staging()))
        self.addCleanup(prod2.stopListening)
        sink = _SinkFactory()
        self.sink = sink
        relay, self.relayPort = listenLocal(sink)
        self.addCleanup(relay.stopListening)
        self.inputPort = freePort()
        self.broker: Any = None
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)
        # the examples run from a checkout (examples/token_modifier.py)
        os.symlink(os.path.join(REPO, "examples"), os.path.join(self.cwd, "examples"))
        for name, responses in (("requests.gor", 1), ("prod.gor", 2), ("both.gor", 3)):
            with open(os.path.join(self.cwd, name), "wb") as f:
                f.write(_records(20, responses))
        conversation = Conversation(server=("10.0.0.2", 80))
        conversation.handshake().send(b"GET /api/pcap HTTP/1.1\r\nHost: prod\r\n\r\n").close()
        writePcap(os.path.join(self.cwd, "dump.pcap"), conversation.packets)

    # -- mapping an example onto loopback --

    def localize(self, argv: list[str]) -> list[str]:
        staging = f"127.0.0.1:{self.stagingPort}"
        out = []
        flag = ""
        for arg in argv:
            value = arg
            if flag == "--input-raw" and not value.startswith("dump.pcap"):
                value = re.sub(r":\d+(,\d+)?$", lambda m: f":{self.prodPort}" + (f",{self.prodPort2}" if m.group(1) else ""), value)
            elif flag in ("--input-tcp", "--input-http"):
                value = f"127.0.0.1:{self.inputPort}"
            elif flag in ("--metrics", "--http-pprof"):
                value = f"127.0.0.1:{freePort()}"
            elif flag in ("--input-kafka-host", "--output-kafka-host"):
                assert self.broker is not None
                value = self.broker.bootstrap
            else:
                value = value.replace("replay.local:28020", f"127.0.0.1:{self.relayPort}")
                value = value.replace("es_host:9200", staging)
                value = re.sub(r"^(https?://)?((?:\w+:\w+@)?)(staging\.com|staging|dev\.com)(?=$|[|/])", lambda m: f"http://{m.group(2)}{staging}", value)
            out.append(value)
            flag = arg if arg.startswith("--") else ""
        return out

    async def traffic(self, argv: list[str]) -> None:
        """
        Requests of every shape the filtering examples look for.
        """
        base = f"http://127.0.0.1:{self.prodPort}"
        for i in range(64):
            headers: dict[bytes | str, bytes | str] = {"api-version": "1.01", "user-id": f"user-{i}"}
            response = await treq.get(f"{base}/api/v1?n={i}", headers=headers, persistent=False)
            await response.content()
        for method, path in (("OPTIONS", "/api/x"), ("GET", "/xml_test/interface.php")):
            response = await treq.request(method, f"{base}{path}", persistent=False)
            await response.content()

    async def feedTcp(self) -> None:
        sender = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.inputPort), protocol.Protocol())
        sender.transport.write(_records(20))
        sender.transport.loseConnection()

    async def startBroker(self, argv: list[str]) -> None:
        """
        A Kafka-protocol broker (noida-db) for the Kafka examples, with their
        topic made.
        """
        from tests import kafkabroker

        reason = kafkabroker.skipReason("noida")
        if reason is not None:
            raise SkipTest(reason)
        broker = kafkabroker.Broker("noida")
        await broker.start(reactor)
        self.addCleanup(broker.stop)
        self.broker = broker
        for flag in ("--input-kafka-topic", "--output-kafka-topic"):
            if flag in argv:
                await kafkabroker.createTopic(broker.bootstrap, argv[argv.index(flag) + 1])

    async def feedKafka(self, argv: list[str]) -> None:
        """
        Records on the example's topic, as a capturing gor would write them.
        """
        from tests import kafkabroker

        assert self.broker is not None
        topic = argv[argv.index("--input-kafka-topic") + 1]
        values = [encodeMessage(m)[: -len(SEPARATOR)] for m in _messages(5)]
        # Offset -1 (newest) takes effect once the consumer has fetched its
        # start offset, a moment after the assignment: produce again until
        # the replay shows (bounded), rather than guess how long that takes.
        for _ in range(20):
            await kafkabroker.produce(self.broker.bootstrap, topic, values)
            try:
                await waitUntil(lambda: self.staging.requests, timeout=1)
                return
            except WaitTimeout:
                continue

    async def consumedKafka(self, argv: list[str]) -> int:
        from tests import kafkabroker

        assert self.broker is not None
        topic = argv[argv.index("--output-kafka-topic") + 1]
        return len(await kafkabroker.consume(self.broker.bootstrap, topic, 1, timeout=20))

    async def feedHttp(self) -> None:
        for i in range(5):
            response = await treq.get(f"http://127.0.0.1:{self.inputPort}/api/{i}", persistent=False)
            await response.content()

    # -- running one --

    async def runExample(self, command: str) -> None:
        argv = shlex.split(command, comments=True)
        if argv[0] == "sudo":
            argv = argv[1:]
        if any(a in ("--input-kafka-host", "--output-kafka-host") for a in argv):
            await self.startBroker(argv)
        argv = self.localize(argv[1:])
        live = [a for a in argv if a in ("--input-raw", "--input-tcp", "--input-http", "--input-dummy", "--input-kafka-host")]
        offlineRaw = "--input-raw-engine" in argv
        if "--input-raw" in live and not offlineRaw and not isRoot():
            raise SkipTest(ROOT_REASON)
        for i, arg in enumerate(argv[:-1]):
            # a recording the README names and setUp did not make: plain requests
            path = os.path.join(self.cwd, argv[i + 1].split("|")[0])
            if arg == "--input-file" and not os.path.exists(path):
                with open(path, "wb") as f:
                    f.write(_records(20))
        gor = GorProcess(reactor, [*GOR, *argv]).start(self.cwd)
        self.addCleanup(gor.killIfRunning)
        expectations = self.expectations(argv)
        if live and not offlineRaw:
            if "--input-raw" in live:
                await gor.waitForLog(": capturing on", timeout=30)
                await gor.waitForLog("gor: started", timeout=30)
                await self.traffic(argv)
            elif "--input-tcp" in live:
                await gor.waitForLog("input_tcp: listening", timeout=30)
                await self.feedTcp()
            elif "--input-http" in live:
                await gor.waitForLog("input-http listening", timeout=30)
                await self.feedHttp()
            elif "--input-kafka-host" in live:
                # offset -1 (newest): records made before the assignment are not for it
                await gor.waitForLog("assigned partitions", timeout=30)
                await self.feedKafka(argv)
            else:
                await gor.waitForLog("gor: started", timeout=30)
            for describe, check in self.expectations(argv, running=True):
                await waitUntil(check, timeout=20, describe=lambda: f"{command}: {describe}\n{gor.logText}")
            gor.signal("TERM")
        result = await gor.wait(60)
        self.assertEqual((result.rc, result.signal), (0, None), f"{command}\n{result.errText}")
        self.assertNotIn("Traceback", result.errText)
        self.assertEqual([line for line in result.errText.splitlines() if "] ERROR " in line], [], result.errText)
        for describe, check in expectations:
            self.assertTrue(check(), f"{command}: {describe}\n{result.errText}")
        if "--output-kafka-topic" in argv:
            self.assertGreater(await self.consumedKafka(argv), 0, f"{command}: nothing on the topic\n{result.errText}")
        self.checkSpecifics(command, argv, result)

    def expectations(self, argv: list[str], running: bool = False) -> list[tuple[str, Callable[[], Any]]]:
        """
        What the example must have done: while it runs (C{running}), or once it exited.
        """
        found: list[tuple[str, Callable[[], Any]]] = []
        if "--output-http" in argv and "--input-raw-engine" not in argv:
            found.append(("staging receives requests", lambda: self.staging.requests))
        if "--output-http-rewrite-url" in argv:
            found.append(("staging sees the rewritten URL", lambda: b"/api/service.do" in [u for _, u, _ in self.staging.requests]))
        if "--output-tcp" in argv:
            found.append(("the relay receives records", lambda: self.sink.received > 0))
        for flag in ("--output-file", "--output-compare"):
            if flag in argv and not (flag == "--output-compare" and running):
                path = os.path.join(self.cwd, argv[argv.index(flag) + 1])
                if flag == "--output-file" and "--input-raw" in argv and "[::1]" in " ".join(argv):
                    continue  # the traffic goes to 127.0.0.1, not ::1
                found.append((f"{path} is written", _written(path)))
        return found

    def checkSpecifics(self, command: str, argv: list[str], result: Any) -> None:
        if "--output-stdout" in argv:
            self.assertTrue(result.out, command)
        if "--output-http-rewrite-url" in argv:
            self.assertIn(b"/api/service.do", [uri for _, uri, _ in self.staging.requests])
        if "--output-http-header" in argv:
            self.assertTrue(all(h.get(b"user-agent") == b"Replayed by Gor" for _, _, h in self.staging.requests))
        if "--output-http-method" in argv:
            self.assertEqual({m for m, _, _ in self.staging.requests} - {b"GET", b"OPTIONS"}, set())
        if "--http-allow-url" in argv or "--output-http-url-regexp" in argv:
            self.assertTrue(all(uri.startswith(b"/api") for _, uri, _ in self.staging.requests))


def _written(path: str) -> Callable[[], bool]:
    return lambda: os.path.exists(path) and os.path.getsize(path) > 0


def _slug(command: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", command.lower())[:60].strip("_")


def _addTests() -> None:
    with open(README, encoding="utf-8") as f:
        commands = commandExamples(f.read())
    for n, command in enumerate(commands):
        if command.startswith(NOT_GOR):
            continue

        async def test(self: ReadmeExamples, command: str = command) -> None:
            await self.runExample(command)

        test.__doc__ = f"README: C{{{command}}}"
        test.__name__ = f"test_{n:02d}_{_slug(command)}"
        setattr(ReadmeExamples, test.__name__, test)


_addTests()


class ReadmePythonExamples(TestCase):
    """
    The inline C{.tac} file and the embedding example run and end by themselves.
    """

    timeout = 60

    def block(self, marker: str) -> str:
        with open(README, encoding="utf-8") as f:
            for intro, block in literalBlocks(f.read()):
                if marker in intro:
                    lines = block.split("\n")
                    return "\n".join(line[4:] for line in lines) + "\n"
        raise AssertionError(f"no README block after {marker!r}")

    async def test_tac(self) -> None:
        """
        The inline C{.tac} example exits by itself and writes its requests.
        """
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        with open(os.path.join(cwd, "gor.tac"), "w") as f:
            f.write(self.block("A ``.tac`` file"))
        twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
        result = await runCommand(twistd, "-ny", "gor.tac", "--logfile=-", timeout=30, cwd=cwd)
        self.assertEqual(result.rc, 0, result.errText + result.out.decode())
        self.assertGreater(os.path.getsize(os.path.join(cwd, "requests.gor")), 0)

    async def test_embed(self) -> None:
        """
        The embedding example prints what its own output counted.
        """
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        with open(os.path.join(cwd, "embed.py"), "w") as f:
            f.write(self.block("From Python, with an output of your own"))
        result = await runCommand(sys.executable, "embed.py", timeout=30, cwd=cwd)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertRegex(result.out.decode(), r"captured [1-9]\d* requests: \{b'GET': ")
