# -*- test-case-name: tests.test_http_options_e2e -*-
"""
C{--output-http-redirects} and C{--output-http-stats} through the real
C{gor} command against servers started by the tests.
"""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.support import runGor
from tests.test_http_e2e import counters, gorFile, startServer
from twisted_gor.framing import RecordDecoder, encodeMessage
from twisted_gor.message import Message


class RedirectTests(TestCase):
    """
    A target whose C{/r/N} redirects to C{/r/N-1} (C{/r/0} answers 200).
    """

    timeout = 60

    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp()
        self.server = startServer(self, "redirect")

    @defer.inlineCallbacks
    def replay(self, *extra: str) -> Any:
        """
        Replay C{GET /r/3} and C{POST /r/1}, recording the replayed responses;
        return (request targets the server saw, response status lines by
        request path, output counters).
        """
        reqs = [
            b"GET /r/3 HTTP/1.1\r\nHost: prod\r\n\r\n",
            b"POST /r/1 HTTP/1.1\r\nHost: prod\r\nContent-Length: 2\r\n\r\nhi",
        ]
        f = gorFile(reqs, os.path.join(self.dir, "in.gor"))
        out = os.path.join(self.dir, "out.gor")
        result = yield runGor(
            "--input-file", f, "--output-http", f"127.0.0.1:{self.server.port}", "--output-http-workers", "1",
            "--output-http-track-response", "--output-file", out, *extra,
        )
        self.assertEqual(result.rc, 0, result.errText)
        with open(out, "rb") as fp:
            messages = RecordDecoder(lambda offset, reason: None).feed(fp.read())
        paths = {m.id: m.payload.split(b" ")[1] for m in messages if m.type == 1}
        statuses = {paths[m.id]: m.payload.split(b"\r\n")[0] for m in messages if m.type == 3}
        seen = [r.split(b" ", 2)[:2] for r in self.server.requests]
        return seen, statuses, counters(result.errText, "output_http")

    @defer.inlineCallbacks
    def test_notFollowedByDefault(self) -> Any:
        """
        Default (0): the 3xx is the result, nothing else is requested.
        """
        seen, statuses, c = yield self.replay()
        self.assertEqual(seen, [[b"GET", b"/r/3"], [b"POST", b"/r/1"]])
        self.assertEqual(statuses, {b"/r/3": b"HTTP/1.1 302 Found", b"/r/1": b"HTTP/1.1 302 Found"})
        self.assertEqual((c["succeeded"], c.get("redirects", 0)), (2, 0), c)

    @defer.inlineCallbacks
    def test_followUpToN(self) -> Any:
        """
        --output-http-redirects 2 follows two hops of the three-hop chain (the
        third 302 is the result) and the whole one-hop chain; a 302 after a
        POST is followed with a GET without the body.
        """
        seen, statuses, c = yield self.replay("--output-http-redirects", "2")
        self.assertEqual(
            seen,
            [[b"GET", b"/r/3"], [b"GET", b"/r/2"], [b"GET", b"/r/1"], [b"POST", b"/r/1"], [b"GET", b"/r/0"]],
        )
        self.assertEqual(statuses, {b"/r/3": b"HTTP/1.1 302 Found", b"/r/1": b"HTTP/1.1 200 OK"})
        self.assertNotIn(b"hi", self.server.requests[-1])
        self.assertNotIn(b"Content-Length", self.server.requests[-1])
        self.assertEqual((c["sent"], c["succeeded"], c["redirects"]), (2, 2, 3), c)


class StatsTests(TestCase):
    """
    The seed's queue statistics lines on stderr.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_statsLines(self) -> Any:
        """
        --stats --output-http-stats --output-http-stats-ms 200 prints the
        seed's header once and then periodic
        C{output_http:latest,mean,max,count,count/second} lines while a
        one-second replay runs; without --stats nothing is printed.
        """
        server = startServer(self)
        path = os.path.join(tempfile.mkdtemp(), "in.gor")
        with open(path, "wb") as f:
            for i in range(40):  # 40 requests spread over ~1 s of file time
                payload = b"GET /%d HTTP/1.1\r\n\r\n" % i
                f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000 + i * 25_000_000, -1, payload)))
        target = ("--output-http", f"127.0.0.1:{server.port}")
        result = yield runGor("--input-file", path, *target, "--stats", "--output-http-stats", "--output-http-stats-ms", "200")
        self.assertEqual(result.rc, 0, result.errText)
        text = result.errText
        self.assertEqual(text.count("output_http:latest,mean,max,count,count/second"), 1, text)
        lines = re.findall(r"\] output_http:(\d+),(\d+),(\d+),(\d+),(\d+)$", text, re.M)
        self.assertTrue(len(lines) >= 2, text)
        for latest, mean, high, count, perSecond in ((int(x) for x in line) for line in lines):
            self.assertTrue(latest <= high and mean <= high, lines)
            self.assertEqual(perSecond, count * 5)  # count per 0.2 s period
        self.assertTrue(sum(int(line[3]) for line in lines) > 0, lines)
        self.assertTrue(text.index("output_http:latest") < text.index("] output_http:" + ",".join(lines[0])))

        result = yield runGor("--input-file", path, *target, "--output-http-stats", "--output-http-stats-ms", "200")
        self.assertEqual(result.rc, 0, result.errText)
        self.assertNotIn("output_http:", result.errText.replace("summary: output_http(", "").replace("--output-http-stats:", ""))
        self.assertIn("--output-http-stats: nothing is printed without --stats", result.errText)
