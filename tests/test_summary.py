"""
The exit summary and the warnings during a run, through the real C{gor}:
each dropped message counted once, failures in the totals and said while
they happen, the short log format.
"""

from __future__ import annotations

import os
from typing import cast

from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests.support import freePort, listenLocal, runGor
from twisted_gor.cli.logformat import ShortLogObserver, componentOf, formatLine
from twisted_gor.failurelog import FailureLog
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message


def totals(text: str) -> dict[str, str]:
    line = [line for line in text.splitlines() if "summary: read=" in line][-1]
    return dict(pair.split("=", 1) for pair in line.split("summary: ", 1)[1].split())


class _Target(Resource):
    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.methods: list[bytes] = []

    def render(self, request: Request) -> bytes:
        self.methods.append(request.method)
        return b"ok"


class SummaryTests(TestCase):
    """
    What gor says at exit after refused, filtered and successful replays.
    """

    timeout = 120

    def recording(self, gets: int, posts: int) -> str:
        path = os.path.abspath(self.mktemp()) + ".gor"
        messages = [
            Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i, -1,
                    (b"GET" if i < gets else b"POST") + b" /x/%d HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n" % i)
            for i in range(gets + posts)
        ]
        with open(path, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in messages))
        return path

    async def test_refused(self) -> None:
        """
        Requests to a port nobody listens on are C{failed=N} in the totals
        (not dropped), and a warning said so during the run.
        """
        result = await runGor("--input-file", self.recording(40, 0) + "|max", "--output-http", f"http://127.0.0.1:{freePort()}")
        self.assertEqual(result.rc, 0, result.errText)
        found = totals(result.errText)
        self.assertEqual((found["read"], found["failed"], found["dropped"]), ("40", "40", "0"), result.errText)
        self.assertRegex(result.errText, r"\d\d:\d\d:\d\d \[\w+\] WARNING output_http\(http://127\.0\.0\.1:\d+\): requests failing")

    async def test_filteredOnceAndSucceeded(self) -> None:
        """
        Requests dropped by a filter count once in C{dropped}; the others
        reach the target, C{failed=0}; lines are C{HH:MM:SS [component] text},
        without Twisted's logger names or chatter.
        """
        target = _Target()
        listening, port = listenLocal(Site(target))
        self.addCleanup(listening.stopListening)
        result = await runGor(
            "--input-file", self.recording(30, 20) + "|max", "--output-http", f"http://127.0.0.1:{port}",
            "--http-allow-method", "POST",
        )
        self.assertEqual(result.rc, 0, result.errText)
        found = totals(result.errText)
        self.assertEqual((found["read"], found["dropped"], found["failed"]), ("50", "30", "0"), result.errText)
        self.assertEqual(target.methods, [b"POST"] * 20)
        for line in result.errText.splitlines():
            self.assertRegex(line, r"^\d\d:\d\d:\d\d \[[a-z]+\] ")
        self.assertNotIn("Main loop terminated", result.errText)
        self.assertNotIn("#info]", result.errText)


class FailureLogTests(SynchronousTestCase):
    """
    L{FailureLog} warns at once, then at most once per period.
    """

    def test_rateLimited(self) -> None:
        events: list[dict] = []
        observer = cast(ILogObserver, events.append)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        clock = Clock()
        log = FailureLog("out", clock, period=5)
        for _ in range(10):
            log.failed("refused")
        log.failed("timeout")
        warnings = [e for e in events if e.get("log_namespace", "").startswith("twisted_gor.failurelog")]
        self.assertEqual(len(warnings), 1)
        clock.advance(5)
        warnings = [e for e in events if e.get("log_namespace", "").startswith("twisted_gor.failurelog")]
        self.assertEqual(len(warnings), 2)
        self.assertEqual((warnings[1]["count"], warnings[1]["reasons"]), (10, "refused 9, timeout 1"))
        clock.advance(60)
        self.assertEqual(len([e for e in events if e.get("log_namespace", "").startswith("twisted_gor.failurelog")]), 2)
        log.failed("refused")
        log.stop()
        log.failed("refused")
        self.assertEqual(clock.getDelayedCalls(), [])


class LogFormatTests(SynchronousTestCase):
    """
    The short log format.
    """

    def test_line(self) -> None:
        event = {
            "log_format": "{name}: down", "name": "output_http(x)", "log_level": LogLevel.warn,
            "log_namespace": "twisted_gor.http.output.HttpOutput", "log_time": 0.0,
        }
        import twisted_gor.http.output  # noqa: F401  (the area's package is loaded)

        self.assertEqual(componentOf(event), "http")
        self.assertRegex(formatLine(event) or "", r"^\d\d:\d\d:\d\d \[http\] WARNING output_http\(x\): down\n$")
        self.assertEqual(componentOf({"log_namespace": "twisted_gor.service.GorService"}), "gor")

    def test_chatterHidden(self) -> None:
        written: list[str] = []

        class Stream:
            def write(self, text: str) -> None:
                written.append(text)

            def flush(self) -> None:
                pass

        chatter = {"log_format": "Site starting on 9090", "log_namespace": "log_legacy", "log_level": LogLevel.info}
        ShortLogObserver(Stream())(chatter)  # type: ignore[arg-type]
        self.assertEqual(written, [])
        ShortLogObserver(Stream(), verbose=True)(chatter)  # type: ignore[arg-type]
        self.assertEqual(len(written), 1)
