# -*- test-case-name: tests.test_compare_output -*-
"""
C{--output-compare REPORT.json}: pair production's response (type 2) with
staging's replayed response (type 3) of each request id, compare them, count
the outcome per endpoint and write a JSON report (an HTML page for a .html
name, see L{twisted_gor.compare.html}) when gor stops.

Pairs wait in a pending map bounded by count and age; what leaves it without
a partner is counted as C{unpaired.<reason>}.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, ClassVar

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor._blockingio import SerialWorker
from twisted_gor.base import OutputBase, resolveReactor
from twisted_gor.compare.decode import decodeResponse
from twisted_gor.compare.diff import CATEGORIES, Comparator
from twisted_gor.compare.endpoint import UNKNOWN, endpointOf
from twisted_gor.compare.report import Report
from twisted_gor.config import CAPTURED_RESPONSES, REPLAYED_RESPONSES, BuildContext, Capabilities
from twisted_gor.limiter import Limit
from twisted_gor.message import REPLAYED_RESPONSE, REQUEST, RESPONSE, Message


class _Pending:
    """
    What is known of one request id so far.
    """

    __slots__ = ("created", "endpoint", "head", "original", "replayed", "originalLatency", "replayedLatency")

    def __init__(self, created: float) -> None:
        self.created = created
        self.endpoint: str | None = None
        self.head = False
        self.original: bytes | None = None
        self.replayed: bytes | None = None
        self.originalLatency = -1
        self.replayedLatency = -1

    def unpairedReason(self) -> str:
        if self.original is not None:
            return "no_replay"
        if self.replayed is not None:
            return "no_original"
        return "no_response"


def isHtml(path: str) -> bool:
    """
    Whether C{path} asks for the HTML report (C{.html}, C{.htm}).
    """
    return path.lower().endswith((".html", ".htm"))


def writeReport(path: str, report: dict[str, Any] | str) -> None:
    """
    Write C{report} as JSON (or an already rendered page) to C{path}
    (atomically: a temporary file renamed). Blocking: run it on a worker
    thread.
    """
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        if isinstance(report, str):
            f.write(report)
        else:
            json.dump(report, f, indent=2, ensure_ascii=False)
            f.write("\n")
    os.replace(temporary, path)


class CompareOutput(OutputBase):
    """
    Compares production and replayed responses by request id.

    @ivar report: the per-endpoint aggregate.
    """

    log = Logger()
    acceptedTypes = frozenset({REQUEST, RESPONSE, REPLAYED_RESPONSE})
    observesAll = True
    workerFactory: Any = SerialWorker
    doneMemory = 10_000
    """Recently compared ids remembered to count late duplicates."""

    def __init__(self, config: "CompareOutputConfig", reactor: Any = None) -> None:
        OutputBase.__init__(self, f"output_compare({config.path})")
        self.config = config
        self.reactor = resolveReactor(reactor)
        self.comparator = Comparator(config.headers, config.ignore, config.differencesPerPair)
        self.report = Report(config.samples)
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()
        self._done: OrderedDict[bytes, None] = OrderedDict()
        self._sweeper: LoopingCall | None = None
        self.stats.track("pending", lambda: len(self._pending))
        self.stats.gauge("pending")
        for key in ("compared", "same", *("differs." + c for c in CATEGORIES)):
            self.stats.set(key, 0)

    def startService(self) -> None:
        OutputBase.startService(self)
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = self.reactor
        self._sweeper.start(min(1.0, self.config.maxAge / 4), now=False)

    def write(self, message: Message) -> None:
        """
        Take a request, a production response or a replayed response.
        """
        id_ = message.id
        if id_ in self._done:
            self.stats.increment("skipped.duplicate")
            return
        pending = self._pending
        entry = pending.get(id_)
        if entry is None:
            entry = pending[id_] = _Pending(self.reactor.seconds())
            if len(pending) > self.config.maxPending:
                oldId, oldest = pending.popitem(last=False)
                self._unpaired(oldId, oldest)
        kind = message.type
        if kind == REQUEST:
            if entry.endpoint is not None:
                self.stats.increment("skipped.duplicate")
                return
            entry.endpoint = endpointOf(message.payload)
            entry.head = message.payload[:5] == b"HEAD "
        elif kind == RESPONSE:
            if entry.original is not None:
                self.stats.increment("skipped.duplicate")
                return
            entry.original = message.payload
            entry.originalLatency = message.latency
        else:
            if entry.replayed is not None:
                self.stats.increment("skipped.duplicate")
                return
            entry.replayed = message.payload
            entry.replayedLatency = message.latency
        if entry.original is not None and entry.replayed is not None:
            del pending[id_]
            done = self._done
            done[id_] = None
            if len(done) > self.doneMemory:
                done.popitem(last=False)
            self._compare(id_, entry)

    def _compare(self, id_: bytes, entry: _Pending) -> None:
        assert entry.original is not None and entry.replayed is not None
        original = decodeResponse(entry.original, entry.head)
        replayed = decodeResponse(entry.replayed, entry.head)
        stats = self.stats
        for problem in original.problems + replayed.problems:
            stats.increment("undecoded." + problem)
        differences = self.comparator.compare(original, replayed)
        stats.increment("compared")
        if not differences:
            stats.increment("same")
        for category in differences:
            stats.increment("differs." + category)
        endpoint = self.report.recordComparison(entry.endpoint or UNKNOWN, id_.decode("latin-1"), differences)
        # Latencies per endpoint, as bounded as the report's endpoints.
        if entry.originalLatency >= 0:
            stats.histogram("latency.production", endpoint).observe(entry.originalLatency / 1e9)
        if entry.replayedLatency >= 0:
            stats.histogram("latency.staging", endpoint).observe(entry.replayedLatency / 1e9)

    def _unpaired(self, id_: bytes, entry: _Pending) -> None:
        reason = entry.unpairedReason()
        self.stats.increment("unpaired." + reason)
        self.report.recordUnpaired(entry.endpoint or UNKNOWN, id_.decode("latin-1"), reason)

    def sweep(self) -> None:
        """
        Give up on entries older than C{maxAge} seconds.
        """
        pending = self._pending
        deadline = self.reactor.seconds() - self.config.maxAge
        while pending:
            id_, entry = next(iter(pending.items()))
            if entry.created > deadline:
                break
            del pending[id_]
            self._unpaired(id_, entry)

    def flushPending(self) -> None:
        """
        Count every entry still waiting as unpaired (gor is stopping).
        """
        pending = self._pending
        while pending:
            id_, entry = pending.popitem(last=False)
            self._unpaired(id_, entry)

    def totals(self) -> dict[str, int]:
        """
        The comparison counters for the report (without the C{pending} gauge).
        """
        return {k: v for k, v in self.stats.items() if k != "pending"}

    def reportDict(self) -> dict[str, Any]:
        """
        The report as it would be written now.
        """
        settings = {
            "compare_headers": list(self.config.headers),
            "ignore": list(self.config.ignore),
        }
        return self.report.asDict(self.totals(), settings)

    def reportHtml(self) -> str:
        """
        The report as one self-contained HTML page (L{twisted_gor.compare.html}).
        """
        from twisted_gor.compare.html import renderReport

        latencies: dict[str, dict[str, Any]] = {}
        for key, endpoint, histogram in self.stats.histograms():
            side = key.rpartition(".")[2]
            latencies.setdefault(endpoint, {})[side] = histogram
        return renderReport(self.reportDict(), self.report.endpoints, latencies)

    def logSummary(self) -> None:
        """
        Log one line per endpoint with differences, then the totals.
        """
        for line in self.report.summaryLines():
            self.log.info("compare: {line}", line=line)
        stats = self.stats
        self.log.info(
            "compare: {compared} compared, {same} same, {differs} differ"
            " (status {status}, header {header}, body {body}), {unpaired} unpaired; report: {path}",
            compared=stats["compared"],
            same=stats["same"],
            differs=stats["compared"] - stats["same"],
            status=stats["differs.status"],
            header=stats["differs.header"],
            body=stats["differs.body"],
            unpaired=stats.total("unpaired"),
            path=self.config.path,
        )

    def stopService(self) -> Deferred[None]:
        """
        Count what is left unpaired, log the summary and write the report
        (on a worker thread); fires once the report is written.
        """
        OutputBase.stopService(self)
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self.flushPending()
        self.logSummary()
        worker = self.workerFactory(self.reactor, "gor-compare-report")
        content = self.reportHtml() if isHtml(self.config.path) else self.reportDict()
        d: Deferred[None] = worker.submit(writeReport, self.config.path, content)

        def failed(failure: Failure) -> None:
            self.stats.increment("failed.report_write")
            self.log.error(
                "compare: could not write {path}: {error}", path=self.config.path, error=failure.getErrorMessage()
            )

        d.addErrback(failed)
        d.addBoth(lambda _: worker.stop())
        d.addCallback(lambda _: None)
        return d


@dataclass
class CompareOutputConfig(Capabilities):
    """
    Configuration of L{CompareOutput}.

    @ivar path: where the JSON report is written.
    @ivar headers: header names (or glob patterns) to compare.
    @ivar ignore: JSON path patterns and header name patterns to ignore.
    @ivar maxPending: request ids waiting for their pair, at most.
    @ivar maxAge: seconds an id waits for its pair.
    @ivar samples: sample ids kept per endpoint and category.
    @ivar differencesPerPair: differences kept per category of one pair.
    """

    path: str
    headers: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    maxPending: int = 10_000
    maxAge: float = 60.0
    samples: int = 3
    differencesPerPair: int = 5
    limit: Limit | None = None

    wants: ClassVar[frozenset[str]] = frozenset({CAPTURED_RESPONSES, REPLAYED_RESPONSES})

    def build(self, context: BuildContext) -> CompareOutput:
        """
        Build the output.
        """
        return CompareOutput(self, context.reactor)
