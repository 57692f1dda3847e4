# -*- test-case-name: tests.test_compare_output -*-
"""
L{CompareOutput}: pairing by id, the bounded pending map on a fake clock,
the report written at stop, and the C{--output-compare} flags.
"""

from __future__ import annotations

import json
import os
from typing import cast

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor._blockingio import SynchronousWorker
from twisted_gor.compare.output import CompareOutput, CompareOutputConfig
from twisted_gor.message import Message
from twisted_gor.cli.tap import Options


def request(path: bytes = b"/a/1", method: bytes = b"GET") -> bytes:
    """
    A raw request.
    """
    return method + b" " + path + b" HTTP/1.1\r\nHost: h\r\n\r\n"


def resp(status: int = 200, body: bytes = b'{"v":1}') -> bytes:
    """
    A raw JSON response.
    """
    return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (status, len(body)) + body


class Harness:
    """
    A started L{CompareOutput} on a L{Clock}.
    """

    def __init__(self, test: SynchronousTestCase, **kw: object) -> None:
        self.clock = Clock()
        self.path = test.mktemp()
        self.output = CompareOutput(CompareOutputConfig(path=self.path, **kw), self.clock)  # type: ignore[arg-type]
        self.output.workerFactory = SynchronousWorker
        self.output.startService()

    def send(self, kind: int, id_: bytes, payload: bytes) -> None:
        self.output.write(Message(kind, id_, 0, -1, payload))

    def triple(self, id_: bytes, original: bytes, replayed: bytes, path: bytes = b"/a/1") -> None:
        self.send(1, id_, request(path))
        self.send(2, id_, original)
        self.send(3, id_, replayed)

    def stop(self) -> dict:
        self.output.stopService()
        with open(self.path) as f:
            return json.load(f)


class PairingTests(SynchronousTestCase):
    """
    Pairs are compared as soon as both responses are there, in any order.
    """

    def test_anyOrder(self) -> None:
        """
        Replayed before original: compared under the request's endpoint. A
        request arriving after both responses comes too late: the pair is
        compared under the unknown endpoint and the request counted as a
        duplicate.
        """
        h = Harness(self)
        h.send(1, b"a", request())
        h.send(3, b"a", resp(200))
        h.send(2, b"a", resp(500))
        h.send(3, b"b", resp())
        h.send(2, b"b", resp())
        h.send(1, b"b", request())
        stats = h.output.stats
        self.assertEqual((stats["compared"], stats["same"], stats["differs.status"]), (2, 1, 1))
        self.assertEqual(stats["skipped.duplicate"], 1)
        report = h.stop()
        self.assertEqual(report["endpoints"]["GET /a/{id}"]["differs"]["status"]["samples"][0]["id"], "a")
        self.assertEqual(report["identical"], {"(request not seen)": 1})

    def test_duplicates(self) -> None:
        """
        A second response of the same kind (a second replay target) is
        counted as skipped, before and after the comparison.
        """
        h = Harness(self)
        h.send(2, b"a", resp())
        h.send(2, b"a", resp())
        h.send(3, b"a", resp())
        h.send(3, b"a", resp())
        self.assertEqual(h.output.stats["skipped.duplicate"], 2)
        self.assertEqual(h.output.stats["compared"], 1)

    def test_reportAndSummary(self) -> None:
        """
        The report holds totals, differing endpoints, identical ones and the
        settings; the summary names differing endpoints and the totals.
        """
        h = Harness(self, headers=["X-V"], ignore=["$.t"])
        logged: list[str] = []
        from twisted.logger import ILogObserver, formatEvent, globalLogPublisher

        def observe(event: dict) -> None:
            if "compare:" in (event.get("log_format") or ""):
                logged.append(formatEvent(event))

        observer = cast(ILogObserver, observe)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        h.triple(b"1", resp(body=b'{"v":1,"t":1}'), resp(body=b'{"v":2,"t":2}'))
        h.triple(b"2", resp(body=b'{"v":1,"t":1}'), resp(body=b'{"v":1,"t":2}'), b"/b")
        report = h.stop()
        self.assertEqual(
            report,
            {
                "totals": {
                    "compared": 2,
                    "same": 1,
                    "differs.body": 1,
                    "differs.header": 0,
                    "differs.status": 0,
                },
                "endpoints": {
                    "GET /a/{id}": {
                        "compared": 1,
                        "same": 0,
                        "differs": {
                            "body": {
                                "count": 1,
                                "samples": [{"id": "1", "differences": [{"path": "$.v", "original": "1", "replayed": "2"}]}],
                            }
                        },
                    }
                },
                "identical": {"GET /b": 1},
                "settings": {"compare_headers": ["X-V"], "ignore": ["$.t"]},
            },
        )
        self.assertEqual(
            logged,
            [
                "compare: GET /a/{id}: 1 compared, 0 same, body differs 1 (e.g. id 1: $.v 1 -> 2)",
                f"compare: 2 compared, 1 same, 1 differ (status 0, header 0, body 1), 0 unpaired; report: {h.path}",
            ],
        )

    def test_writeFailure(self) -> None:
        """
        A report that cannot be written is counted and logged; stopping still
        completes.
        """
        h = Harness(self)
        h.output.config.path = os.path.join(h.path, "missing-dir", "r.json")
        d = h.output.stopService()
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(h.output.stats["failed.report_write"], 1)
        self.flushLoggedErrors()


class PendingTests(SynchronousTestCase):
    """
    The pending map is bounded by count and age; what leaves it unpaired is
    counted by reason.
    """

    def test_countBound(self) -> None:
        """
        Past C{maxPending} ids, the oldest is given up.
        """
        h = Harness(self, maxPending=2)
        h.send(1, b"a", request())
        h.send(2, b"a", resp())
        h.send(3, b"b", resp())
        h.send(1, b"c", request())
        stats = h.output.stats
        self.assertEqual((stats["unpaired.no_replay"], stats["pending"]), (1, 2))
        h.send(3, b"a", resp())  # too late: a new entry, evicting b
        self.assertEqual(stats["unpaired.no_original"], 1)
        report = h.stop()
        self.assertEqual(
            report["totals"],
            {
                "compared": 0,
                "same": 0,
                "differs.body": 0,
                "differs.header": 0,
                "differs.status": 0,
                "unpaired.no_replay": 1,
                "unpaired.no_original": 2,
                "unpaired.no_response": 1,
            },
        )
        self.assertEqual(
            report["endpoints"]["GET /a/{id}"]["unpaired"],
            {
                "no_replay": {"count": 1, "samples": [{"id": "a"}]},
                "no_response": {"count": 1, "samples": [{"id": "c"}]},
            },
        )

    def test_ageBound(self) -> None:
        """
        Ids older than C{maxAge} are given up by the reactor clock's sweep;
        younger ones wait.
        """
        h = Harness(self, maxAge=10.0)
        h.send(2, b"old", resp())
        h.clock.advance(6)
        h.send(2, b"young", resp())
        h.clock.advance(4)
        stats = h.output.stats
        self.assertEqual((stats["unpaired.no_replay"], stats["pending"]), (1, 1))
        h.send(3, b"young", resp())
        self.assertEqual(stats["same"], 1)
        h.clock.advance(60)
        self.assertEqual(stats["unpaired.no_replay"], 1)
        h.stop()
        self.assertFalse(h.clock.getDelayedCalls())


class FlagTests(SynchronousTestCase):
    """
    The command line builds the output and makes replays track responses.
    """

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_impliesTracking(self) -> None:
        """
        C{--output-compare} turns on response tracking of HTTP outputs and raw
        inputs (declared: it wants both kinds of responses; the built
        components track them), and is added last with its settings.
        """
        from twisted.internet.task import Clock

        from twisted_gor.config import CAPTURED_RESPONSES, REPLAYED_RESPONSES, BuildContext

        path = self.mktemp()
        options = self.parse(
            "--input-raw", ":80", "--output-http", "http://staging", "--output-compare", path,
            "--compare-header", "X-V", "--compare-ignore", "$.t", "--compare-ignore", "$.u",
        )
        config = options.config
        assert config is not None
        enabled = config.enabledCapabilities()
        self.assertEqual(enabled, {CAPTURED_RESPONSES, REPLAYED_RESPONSES})
        context = BuildContext(Clock(), config, enabled)
        self.assertTrue(config.inputs[0].build(context).tracker.trackResponse)  # type: ignore[attr-defined]
        self.assertTrue(config.outputs[0].build(context).config.trackResponse)  # type: ignore[attr-defined]
        last = config.outputs[-1]
        assert isinstance(last, CompareOutputConfig)
        self.assertEqual((last.path, last.headers, last.ignore), (path, ["X-V"], ["$.t", "$.u"]))

    def test_errors(self) -> None:
        """
        Compare settings without C{--output-compare}, a report in a missing
        directory and bad bounds are usage errors naming the flag.
        """
        from twisted_gor.compare.flags import configure
        from twisted_gor.config import GorConfig
        from twisted_gor.flags import defaultValues
        from twisted_gor.cli.tap import allFlags

        for settings, flag, split in (
            ({"compare-header": ["x"]}, "--compare-header", False),
            ({"output-compare": "/nonexistent-dir/r.json"}, "--output-compare", False),
            ({"output-compare": "r.json", "compare-max-pending": 0}, "--compare-max-pending", False),
            ({"output-compare": "r.json", "compare-max-age": 0.0}, "--compare-max-age", False),
        ):
            values = defaultValues(allFlags())
            values.values.update(settings)
            config = GorConfig(splitOutput=split)
            e = self.assertRaises(ValueError, configure, values, config)
            self.assertTrue(str(e).startswith(flag + ":"), str(e))
