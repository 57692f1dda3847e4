"""
Issue 15 through the real C{gor} command: C{gor file-server}, the hints for
C{gor listen}/C{gor replay}, the refusals of what this build cannot do, the
old spellings still accepted, and SIGINT when inherited ignored.
"""

from __future__ import annotations

import os
import re
import shlex

import treq
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.support import GOR, GorProcess, runGor, startGor
from twisted_gor.framing import encodeMessage, iterMessages
from twisted_gor.message import Message


def oneLine(test: TestCase, result: object, *words: str) -> str:
    """
    Assert exit 2 and a single stderr line holding C{words}; return it.
    """
    rc = getattr(result, "rc")
    text = getattr(result, "errText")
    test.assertEqual(rc, 2, text)
    lines = text.strip().splitlines()
    test.assertEqual(len(lines), 1, lines)
    for word in words:
        test.assertIn(word, lines[0])
    return lines[0]


class FileServerTests(TestCase):
    """
    C{gor file-server ADDR} serves the current directory.
    """

    timeout = 60

    async def test_servesFile(self) -> None:
        """
        A file of the working directory is served byte for byte; the request
        is logged on one line; SIGINT stops it.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        body = bytes(range(256)) * 40
        with open(os.path.join(directory, "rec.gor"), "wb") as f:
            f.write(body)
        gor = startGor("file-server", "127.0.0.1:0", cwd=directory)
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("file-server: serving")
        match = re.search(r"serving .* on 127\.0\.0\.1:(\d+)", gor.logText)
        assert match is not None, gor.logText
        response = await treq.get(f"http://127.0.0.1:{match.group(1)}/rec.gor", persistent=False)
        self.assertEqual(response.code, 200)
        self.assertEqual(await response.content(), body)
        missing = await treq.get(f"http://127.0.0.1:{match.group(1)}/nope", persistent=False)
        self.assertEqual(missing.code, 404)
        await missing.content()
        await gor.waitForLog("GET /nope 404")
        self.assertIn(f"file-server: 127.0.0.1 GET /rec.gor 200 {len(body)}", gor.logText)
        gor.signal("INT")
        result = await gor.wait(20)
        self.assertEqual(result.rc, 0, result.errText)

    async def test_badAddress(self) -> None:
        oneLine(self, await runGor("file-server"), "file-server", "address")
        oneLine(self, await runGor("file-server", "nope"), "file-server", "nope")


class HintTests(TestCase):
    """
    The 0.x sub-commands name today's flags.
    """

    async def test_listen(self) -> None:
        oneLine(self, await runGor("listen", "-p", "80", "-r", "replay:28020"), "--input-raw", "--output-tcp")

    async def test_replay(self) -> None:
        oneLine(self, await runGor("replay", "-p", "28020", "-f", "http://a"), "--input-tcp", "--output-http")


class RefusalTests(TestCase):
    """
    What this build cannot do: one line naming the feature and the way to
    get the same result; exit 2.
    """

    timeout = 60

    async def test_k8s(self) -> None:
        oneLine(self, await runGor("--input-raw", "k8s://default/pod/web:80", "--output-null"), "--input-raw", "k8s://", "--input-raw :PORT")

    async def test_s3Input(self) -> None:
        line = oneLine(self, await runGor("--input-file", "s3://bucket/prefix", "--output-null"), "--input-file", "s3://", "aws s3 cp")
        self.assertNotIn("no such file", line)

    async def test_s3Output(self) -> None:
        line = oneLine(self, await runGor("--input-dummy", "x", "--output-file", "s3://bucket/%Y.gor"), "--output-file", "s3://", "aws s3 cp")
        self.assertNotIn("directory", line)

    async def test_binaryProtocol(self) -> None:
        oneLine(self, await runGor("--input-raw", ":80", "--input-raw-protocol", "binary", "--output-null"), "--input-raw-protocol", "binary", "tcpdump")

    async def test_vxlan(self) -> None:
        oneLine(self, await runGor("--input-raw", ":80", "--input-raw-engine", "vxlan", "--output-null"), "--input-raw-engine", "vxlan", "libpcap")


def requests() -> bytes:
    out = []
    for i in range(200):
        header = b"User-Id: u%d\r\n" % i if i % 10 else b""
        out.append(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, b"GET /%d HTTP/1.1\r\nHost: x\r\n%s\r\n" % (i, header)))
    return b"".join(encodeMessage(m) for m in out)


class OldSpellingTests(TestCase):
    """
    GoReplay 0.x/1.x command lines that still work.
    """

    timeout = 60

    def recording(self) -> str:
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(requests())
        return path

    async def test_outputDummyWithValue(self) -> None:
        """
        C{--output-dummy x} (value as a separate word) is C{--output-stdout}.
        """
        result = await runGor("--input-file", self.recording(), "--output-dummy", "x")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(list(iterMessages(result.out))), 200)

    async def test_hashFilterPercent(self) -> None:
        """
        The 1.x C{--output-http-header-hash-filter user-id:25%} is the
        header limiter: the same requests pass as with C{--http-header-limiter}.
        """
        path = self.recording()
        old = await runGor("--input-file", path, "--output-stdout", "--output-http-header-hash-filter", "user-id:25%")
        new = await runGor("--input-file", path, "--output-stdout", "--http-header-limiter", "user-id:25%")
        self.assertEqual(old.rc, 0, old.errText)
        kept = list(iterMessages(old.out))
        self.assertEqual([m.id for m in kept], [m.id for m in iterMessages(new.out)])
        self.assertTrue(20 < len(kept) < 120, len(kept))

    async def test_compatibilityModeAndDebug(self) -> None:
        """
        C{--output-http-compatibility-mode} is accepted; C{--output-http-debug}
        turns on debug logging like C{--verbose 1}.
        """
        path = self.recording()
        result = await runGor("--input-file", path, "--output-null", "--output-http-compatibility-mode", "--output-http-debug")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(len(result.errText.strip().splitlines()) > 1, True)

    def test_debugIsVerbose(self) -> None:
        """
        C{--output-http-debug} sets the log level of C{--verbose 1}.
        """
        from twisted_gor.cli.tap import Options

        for args, level in (([], 0), (["--output-http-debug"], 1), (["--output-http-debug", "--verbose", "3"], 3)):
            options = Options()
            options.parseOptions(["--input-dummy", "x", "--output-null", *args])
            assert options.config is not None
            self.assertEqual(options.config.verbose, level)


class TimeoutRuleTests(SynchronousTestCase):
    """
    GoReplay's rule: an C{--output-http-timeout} below 100 ms means 1 s.
    """

    def timeoutOf(self, value: str) -> float:
        from twisted_gor.cli.tap import Options

        options = Options()
        options.parseOptions(["--input-dummy", "x", "--output-http", "http://h", "--output-http-timeout", value])
        assert options.config is not None
        return float(getattr(options.config.outputs[0], "timeout"))

    def test_raised(self) -> None:
        self.assertEqual(self.timeoutOf("50ms"), 1.0)
        self.assertEqual(self.timeoutOf("99ms"), 1.0)
        self.assertEqual(self.timeoutOf("100ms"), 0.1)
        self.assertEqual(self.timeoutOf("3s"), 3.0)


class InheritedSigintTests(TestCase):
    """
    A gor started with SIGINT ignored (a background job of a
    non-interactive shell) still stops on C{kill -INT}.
    """

    timeout = 60

    async def test_killInt(self) -> None:
        from twisted.internet import reactor

        command = "trap '' INT; exec " + " ".join(shlex.quote(a) for a in GOR) + " --input-dummy x --output-null"
        gor = GorProcess(reactor, ["/bin/sh", "-c", command]).start()
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("gor: started")
        gor.signal("INT")
        await gor.waitForLog("Received SIGINT", timeout=20)
        result = await gor.wait(20)
        self.assertIsNone(result.signal, result.errText)
        self.assertIn("summary: ", result.errText)
