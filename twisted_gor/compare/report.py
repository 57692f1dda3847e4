# -*- test-case-name: tests.test_compare_logic -*-
"""
The comparison report: per-endpoint counts by category with a few sample
request ids and their first differences, as JSON and as readable log lines.
"""

from __future__ import annotations

from typing import Any, Mapping

from twisted_gor.compare.diff import CATEGORIES, Difference

OTHER = "(other endpoints)"
"""Where pairs go once L{Report.maxEndpoints} endpoints are known."""

UNPAIRED_REASONS = ("no_replay", "no_original", "no_response")
"""
Why a request was not compared: staging's response never came
(C{no_replay}), production's response is missing (C{no_original}), or
neither came (C{no_response}).
"""


class _Category:
    __slots__ = ("count", "samples")

    def __init__(self) -> None:
        self.count = 0
        self.samples: list[dict[str, Any]] = []


class EndpointReport:
    """
    What happened to the requests of one endpoint.
    """

    def __init__(self) -> None:
        self.compared = 0
        self.same = 0
        self.differs: dict[str, _Category] = {}
        self.unpaired: dict[str, _Category] = {}

    @property
    def interesting(self) -> bool:
        """
        Whether anything differed or was left unpaired.
        """
        return bool(self.differs or self.unpaired)

    def asDict(self) -> dict[str, Any]:
        """
        The JSON-report form.
        """
        result: dict[str, Any] = {"compared": self.compared, "same": self.same}
        if self.differs:
            result["differs"] = {
                name: {"count": c.count, "samples": c.samples}
                for name, c in sorted(self.differs.items(), key=lambda kv: CATEGORIES.index(kv[0]))
            }
        if self.unpaired:
            result["unpaired"] = {
                name: {"count": c.count, "samples": c.samples} for name, c in sorted(self.unpaired.items())
            }
        return result


class Report:
    """
    Aggregates comparison results by endpoint.

    @ivar samples: sample request ids kept per endpoint and category.
    @ivar maxEndpoints: endpoints tracked before the rest are lumped in L{OTHER}.
    """

    def __init__(self, samples: int = 3, maxEndpoints: int = 1000) -> None:
        self.samples = samples
        self.maxEndpoints = maxEndpoints
        self.endpoints: dict[str, EndpointReport] = {}

    def _endpoint(self, name: str) -> tuple[str, EndpointReport]:
        report = self.endpoints.get(name)
        if report is None:
            if len(self.endpoints) >= self.maxEndpoints:
                name = OTHER
                report = self.endpoints.get(name)
            if report is None:
                report = self.endpoints[name] = EndpointReport()
        return name, report

    def recordComparison(self, endpoint: str, id_: str, differences: Mapping[str, list[Difference]]) -> str:
        """
        Count one compared pair (and keep it as a sample where there is room).

        @return: the endpoint it was counted under (L{OTHER} past L{maxEndpoints}).
        """
        endpoint, report = self._endpoint(endpoint)
        report.compared += 1
        if not differences:
            report.same += 1
            return endpoint
        for category, found in differences.items():
            entry = report.differs.get(category)
            if entry is None:
                entry = report.differs[category] = _Category()
            entry.count += 1
            if len(entry.samples) < self.samples:
                entry.samples.append({"id": id_, "differences": [d.asDict() for d in found]})
        return endpoint

    def recordUnpaired(self, endpoint: str, id_: str, reason: str) -> None:
        """
        Count one request that could not be compared.
        """
        _, report = self._endpoint(endpoint)
        entry = report.unpaired.get(reason)
        if entry is None:
            entry = report.unpaired[reason] = _Category()
        entry.count += 1
        if len(entry.samples) < self.samples:
            entry.samples.append({"id": id_})

    def asDict(self, totals: Mapping[str, int], settings: Mapping[str, Any]) -> dict[str, Any]:
        """
        The whole report: totals, endpoints with differences or unpaired
        requests, identical endpoints with their counts, and the settings.
        """
        return {
            "totals": dict(totals),
            "endpoints": {name: r.asDict() for name, r in sorted(self.endpoints.items()) if r.interesting},
            "identical": {name: r.compared for name, r in sorted(self.endpoints.items()) if not r.interesting},
            "settings": dict(settings),
        }

    def summaryLines(self) -> list[str]:
        """
        One readable line per endpoint with differences or unpaired requests.
        """
        lines = []
        for name, r in sorted(self.endpoints.items()):
            if not r.interesting:
                continue
            parts = [f"{r.compared} compared", f"{r.same} same"]
            example = ""
            for category in CATEGORIES:
                entry = r.differs.get(category)
                if entry is None:
                    continue
                parts.append(f"{category} differs {entry.count}")
                if not example and entry.samples:
                    sample = entry.samples[0]
                    first = sample["differences"][0]
                    example = (
                        f" (e.g. id {sample['id']}: {first['path']} {first['original']} -> {first['replayed']})"
                    )
            for reason, entry in sorted(r.unpaired.items()):
                parts.append(f"unpaired {reason} {entry.count}")
            lines.append(f"{name}: " + ", ".join(parts) + example)
        return lines
