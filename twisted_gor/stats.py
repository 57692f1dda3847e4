# -*- test-case-name: tests.test_pipeline,tests.test_service -*-
"""
Counters: every message read, emitted or dropped is counted with a reason.

A component's L{Counters} also says which of its values are gauges (a queue's
depth, connections open now) and keeps its latency L{Histogram}s, so that
C{--stats}, the exit summary and C{--metrics} all read the same objects:
nothing on a message's path knows about Prometheus.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Callable, Iterable, Iterator, Sequence

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Upper bounds (seconds) of the latency histograms' buckets, Prometheus's defaults plus 1 ms."""


class Histogram:
    """
    Counts of observations per bucket, with their sum: a fixed-size object
    (one int per bucket), so recording costs a bisect and two additions.

    @ivar bounds: the buckets' upper bounds, ascending (an implicit C{+Inf} follows).
    @ivar counts: observations per bucket (not cumulative), C{len(bounds) + 1} of them.
    @ivar sum: the sum of every observation.
    @ivar count: how many observations.
    """

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """
        Record one observation.
        """
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """
        C{(upper bound, observations at or under it)} per bucket, C{+Inf} last,
        as Prometheus shows them.
        """
        total = 0
        out = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts):
            total += count
            out.append((bound, total))
        return out

    def quantile(self, q: float) -> float | None:
        """
        An estimate of the C{q} quantile (the upper bound of the bucket that
        holds it), or L{None} without observations.
        """
        if not self.count:
            return None
        rank = q * self.count
        for bound, total in self.cumulative():
            if total >= rank:
                return bound
        return float("inf")


class Counters:
    """
    Named integer counters of one component.

    Keys are dotted: C{"read"}, C{"dropped.queue_full"}, C{"failed.timeout"}.
    Incrementing is a dict update, cheap enough for per-message paths.
    """

    __slots__ = ("_values", "_live", "_gauges", "_gaugeGetters", "_histograms")

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._live: dict[str, Callable[[], int]] = {}
        self._gauges: set[str] = set()
        self._gaugeGetters: dict[str, Callable[[], int]] = {}
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def track(self, key: str, getter: Callable[[], int]) -> None:
        """
        Read C{key} from C{getter} whenever counters are shown: hot paths then
        bump a plain attribute instead of calling L{increment}.
        """
        self._live[key] = getter

    def _all(self) -> dict[str, int]:
        if not self._live:
            return self._values
        values = dict(self._values)
        for key, getter in self._live.items():
            value = getter()
            if value or key in values:
                values[key] = values.get(key, 0) + value
        return values

    def increment(self, key: str, amount: int = 1) -> None:
        """
        Add C{amount} to C{key}.
        """
        values = self._values
        values[key] = values.get(key, 0) + amount

    def set(self, key: str, value: int) -> None:
        """
        Set a value taken from elsewhere (queue length, kernel drop count).
        It stays a counter for C{--metrics} unless L{gauge} declared it.
        """
        self._values[key] = value

    def gauge(self, key: str, getter: Callable[[], int] | None = None) -> None:
        """
        Declare C{key} a gauge (it goes down as well as up: a queue's depth,
        connections open now). With a C{getter}, the value is read from it
        when scraped (L{gauges}) and is not part of the text counters
        (L{items}, C{--stats}, the summary); without one, C{key} is a value
        this component sets or tracks, shown there too.
        """
        self._gauges.add(key)
        if getter is not None:
            self._gaugeGetters[key] = getter

    def isGauge(self, key: str) -> bool:
        """
        Whether L{gauge} declared C{key}.
        """
        return key in self._gauges

    def gauges(self) -> list[tuple[str, int]]:
        """
        Every declared gauge with its value now (zero ones too), sorted.
        """
        getters = self._gaugeGetters
        return [(key, getters[key]() if key in getters else self[key]) for key in sorted(self._gauges)]

    def histogram(self, key: str, label: str = "") -> Histogram:
        """
        The latency L{Histogram} C{key} (of C{label}, an endpoint say),
        created empty the first time; the caller bounds how many labels it uses.
        """
        found = self._histograms.get((key, label))
        if found is None:
            found = self._histograms[(key, label)] = Histogram()
        return found

    def histograms(self) -> list[tuple[str, str, Histogram]]:
        """
        C{(key, label, histogram)} of every histogram, sorted.
        """
        return [(k, label, h) for (k, label), h in sorted(self._histograms.items())]

    def __getitem__(self, key: str) -> int:
        getter = self._live.get(key)
        value = self._values.get(key, 0)
        return value + getter() if getter is not None else value

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._all()))

    def items(self) -> list[tuple[str, int]]:
        """
        All counters, sorted by name.
        """
        return sorted(self._all().items())

    def total(self, prefix: str) -> int:
        """
        Sum of C{prefix} and every counter below it (C{"dropped"} sums all
        C{"dropped.*"}).
        """
        dotted = prefix + "."
        return sum(v for k, v in self._all().items() if k == prefix or k.startswith(dotted))

    def format(self) -> str:
        """
        C{key=value} pairs, sorted, space-separated.
        """
        return " ".join(f"{k}={v}" for k, v in self.items())


def formatStats(sources: Iterable[object]) -> list[str]:
    """
    One line per L{IStatsSource} with any counter: C{name: k=v k=v}.
    """
    lines = []
    for source in sources:
        counters = getattr(source, "stats", None)
        if counters is not None and counters.items():
            lines.append(f"{getattr(source, 'name', source)}: {counters.format()}")
    return lines
