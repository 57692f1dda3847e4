# -*- test-case-name: tests.test_stats -*-
"""
Counters: every message read, emitted or dropped is counted with a reason.
"""

from __future__ import annotations

from typing import Iterable, Iterator


class Counters:
    """
    Named integer counters of one component.

    Keys are dotted: C{"read"}, C{"dropped.queue_full"}, C{"failed.timeout"}.
    Incrementing is a dict update, cheap enough for per-message paths.
    """

    __slots__ = ("_values",)

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

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
        return self._values.get(key, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._values))

    def items(self) -> list[tuple[str, int]]:
        """
        All counters, sorted by name.
        """
        return sorted(self._values.items())

    def total(self, prefix: str) -> int:
        """
        Sum of C{prefix} and every counter below it (C{"dropped"} sums all
        C{"dropped.*"}).
        """
        dotted = prefix + "."
        return sum(v for k, v in self._values.items() if k == prefix or k.startswith(dotted))

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
