"""
Hot-path cost of the metrics: what one replayed request pays for them.

--metrics reads gor's own counters at scrape time (a collector); the only
per-request addition is one latency observation in the HTTP output. This
prints that cost next to what incrementing prometheus_client objects per
message would cost instead, and the cost of one scrape of a realistic set
of components.

Usage: python bench/bench_metrics.py [--number 200000]
Prints figures; see bench/README.rst ("Metrics").
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from prometheus_client import CollectorRegistry, Counter, Histogram as PromHistogram, generate_latest  # noqa: E402

from twisted_gor.metrics.collector import GorCollector  # noqa: E402
from twisted_gor.stats import Counters, Histogram  # noqa: E402


class _Component:
    def __init__(self, name: str, keys: int) -> None:
        self.name = name
        self.stats = Counters()
        for i in range(keys):
            self.stats.increment(f"key{i}", i)
        self.stats.gauge("queue.depth", lambda: 3)
        self.stats.histogram("latency").observe(0.01)


def perCall(stmt: str, setup: dict[str, object], number: int) -> float:
    best = min(timeit.repeat(stmt, globals=setup, number=number, repeat=5))
    return best / number * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    args = parser.parse_args()
    n = args.number
    ours = Histogram()
    counters = Counters()
    registry = CollectorRegistry()
    promHistogram = PromHistogram("h", "h", ["target"], registry=registry).labels("t")
    promCounter = Counter("c", "c", ["target"], registry=registry).labels("t")
    env = {"ours": ours, "counters": counters, "ph": promHistogram, "pc": promCounter}
    figures = {
        "gor Histogram.observe (the one per-request addition)": perCall("ours.observe(0.0042)", env, n),
        "gor Counters.increment (already paid today)": perCall("counters.increment('succeeded')", env, n),
        "prometheus_client Histogram.observe": perCall("ph.observe(0.0042)", env, n),
        "prometheus_client Counter.inc": perCall("pc.inc()", env, n),
    }
    for name, ns in figures.items():
        print(f"{name:55s} {ns:8.0f} ns")
    increments = 8  # counters a replayed request bumps (sent, succeeded, responses, ...)
    print(
        f"per replayed request: collector approach +{figures['gor Histogram.observe (the one per-request addition)']:.0f} ns;"
        f" prometheus objects per message would add ~"
        f"{increments * figures['prometheus_client Counter.inc'] + figures['prometheus_client Histogram.observe']:.0f} ns"
    )
    components = [_Component(f"output_http(http://t{i})", 20) for i in range(10)]
    scrapeRegistry = CollectorRegistry(auto_describe=False)
    scrapeRegistry.register(GorCollector(lambda: components))
    scrape = min(timeit.repeat(lambda: generate_latest(scrapeRegistry), number=50, repeat=5)) / 50
    print(f"one scrape, 10 components x 20 counters + gauge + histogram: {scrape * 1e3:.2f} ms (in the reactor thread)")


if __name__ == "__main__":
    main()
