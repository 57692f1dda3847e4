# -*- test-case-name: tests.test_pipeline,tests.test_service -*-
"""
Counters: every message read, emitted or dropped is counted with a reason.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator


class Counters:
    """
    Named integer counters of one component.

    Keys are dotted: C{"read"}, C{"dropped.queue_full"}, C{"failed.timeout"}.
    Incrementing is a dict update, cheap enough for per-message paths.
    """

    __slots__ = ("_values", "_live")

    def __init__(self) -> None:
        self._values: dict[str, int] = {}
        self._live: dict[str, Callable[[], int]] = {}

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
        Set a gauge-like value (queue length, kernel drop count).
        """
        self._values[key] = value

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
