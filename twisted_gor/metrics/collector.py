# -*- test-case-name: tests.test_metrics -*-
"""
A C{prometheus_client} collector over gor's components: every counter,
gauge and histogram of their L{twisted_gor.stats.Counters}, read when scraped.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from twisted_gor.redact import redactURL

_NAME = re.compile(r"^(?P<kind>[A-Za-z0-9_]+)(?:\((?P<target>.*)\))?(?P<instance>#\d+)?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")

PREFIX = "gor_"


def splitName(name: str) -> tuple[str, str, str]:
    """
    C{(kind, component, target)} of a component name:
    C{output_http(http://a:pw@h)#2} gives C{("output_http", "output_http#2",
    "http://a:***@h")}.
    """
    match = _NAME.match(name)
    if match is None:
        kind = _UNSAFE.sub("_", name)
        return kind, kind, ""
    kind = match.group("kind")
    return kind, kind + (match.group("instance") or ""), redactURL(match.group("target") or "")


def metricName(kind: str, key: str) -> str:
    """
    The Prometheus name of counter C{key} of a component of C{kind}.
    """
    return PREFIX + _UNSAFE.sub("_", f"{kind}_{key}").lower()


class GorCollector(Collector):
    """
    Collects from the components given by C{components()} at every scrape.
    """

    def __init__(self, components: Callable[[], list[Any]]) -> None:
        self.components = components

    def collect(self) -> Iterator[Metric]:
        """
        One family per metric name, one sample per component.
        """
        families: dict[str, Any] = {}

        def family(name: str, factory: Callable[..., Metric], doc: str, labels: list[str]) -> Any:
            found = families.get(name)
            if found is None:
                found = families[name] = factory(name, doc, labels=labels)
            return found

        for component in self.components():
            stats = component.stats
            kind, instance, target = splitName(str(component.name))
            labels = [instance, target]
            for key, value in stats.items():
                if not stats.isGauge(key):
                    metric = family(metricName(kind, key), CounterMetricFamily, f"{kind} {key}", ["component", "target"])
                    metric.add_metric(labels, value)
            for key, value in stats.gauges():
                metric = family(metricName(kind, key), GaugeMetricFamily, f"{kind} {key} (now)", ["component", "target"])
                metric.add_metric(labels, value)
            for key, endpoint, histogram in stats.histograms():
                name = metricName(kind, key) + "_seconds"
                if endpoint:
                    metric = family(
                        name, HistogramMetricFamily, f"{kind} {key} per endpoint", ["component", "target", "endpoint"]
                    )
                    values = [*labels, endpoint]
                else:
                    metric = family(name, HistogramMetricFamily, f"{kind} {key}", ["component", "target"])
                    values = labels
                buckets = [(_bound(b), float(c)) for b, c in histogram.cumulative()]
                metric.add_metric(values, buckets, histogram.sum)
        yield from families.values()


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


def counterValues(components: list[Any]) -> dict[str, dict[str, int]]:
    """
    C{{component name: {counter: value}}}, names redacted: the JSON of
    C{/debug/vars}.
    """
    out: dict[str, dict[str, int]] = {}
    for component in components:
        stats = component.stats
        kind, instance, target = splitName(str(component.name))
        label = f"{kind}({target})" if target else instance
        if instance != kind:
            label += instance[len(kind) :]
        out[label] = dict(stats.items())
    return out
