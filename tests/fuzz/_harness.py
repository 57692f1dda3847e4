"""
What every fuzz target shares: the hypothesis profiles, the per-case budget
(time and memory), the counters that C{bench/fuzz.py} reports, and the
strategies that cut a byte string into arbitrary reads.

Two profiles are registered: C{"ci"} (the default: 300 cases per target,
the whole fuzz suite in seconds) and C{"long"} (10,000 cases per target, one
case in L{TRACE_EVERY} traced by tracemalloc), chosen with the C{GOR_FUZZ}
environment variable. A target (a module) shares its cases among its tests
with L{fuzz}; C{GOR_FUZZ_EXAMPLES} overrides the number of cases of every
test. The profiles are applied by L{fuzz} on each test, never loaded
globally, so the other hypothesis tests of the suite keep their own settings.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROFILE = os.environ.get("GOR_FUZZ", "") or "ci"
"""The profile in force: C{"ci"} or C{"long"}."""

if PROFILE not in ("ci", "long"):
    raise ValueError(f"GOR_FUZZ={PROFILE!r}: expected 'ci' or 'long'")

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

CASES_PER_TARGET = {"ci": 300, "long": 10_000}
"""How many cases each target runs in all, per profile."""

_EXAMPLES = int(os.environ.get("GOR_FUZZ_EXAMPLES", "0"))

for _name in ("ci", "long"):
    settings.register_profile(
        _name,
        max_examples=CASES_PER_TARGET[_name],
        deadline=None,
        suppress_health_check=_SUPPRESS,
        print_blob=True,
    )


def fuzz(share: float = 1.0) -> settings:
    """
    The settings of one test (apply them under C{@given}): the profile in
    force, with C{share} of the target's cases.
    """
    examples = _EXAMPLES or max(1, round(CASES_PER_TARGET[PROFILE] * share))
    return settings(settings.get_profile(PROFILE), max_examples=examples)


CASE_SECONDS = float(os.environ.get("GOR_FUZZ_CASE_SECONDS", "0")) or (5.0 if PROFILE == "long" else 2.0)
"""
The time budget of one case. The inputs are at most tens of kilobytes, each
case takes milliseconds: one that runs this long is a hang (or worse than
linear work), interrupted by C{SIGALRM} and failed.
"""

CASE_MEMORY = 32 * 1024 * 1024
"""Most bytes one case may allocate at once, checked when the case is traced."""

TRACE_EVERY = int(os.environ.get("GOR_FUZZ_TRACE_EVERY", "0")) or (10 if PROFILE == "long" else 0)
"""
Trace the allocations of one case in this many with tracemalloc (0: never):
tracing slows a case about sevenfold, sampling keeps the long run short.
"""


class CaseTimeout(Exception):
    """
    A case ran past L{CASE_SECONDS}: a hang.
    """


class CaseMemory(Exception):
    """
    A case allocated more than L{CASE_MEMORY} at its peak.
    """


@dataclass
class TargetRecord:
    """
    What was seen of one target (shrinking runs included).

    @ivar cases: cases started.
    @ivar hangs: cases that ran past the time budget.
    @ivar slowest: the longest case, seconds.
    @ivar traced: cases traced by tracemalloc.
    @ivar peak: the largest tracemalloc peak of a traced case, bytes.
    """

    name: str
    cases: int = 0
    hangs: int = 0
    slowest: float = 0.0
    traced: int = 0
    peak: int = 0


RECORDS: dict[str, TargetRecord] = {}
"""Per target name, what L{case} saw; read by C{bench/fuzz.py}."""


def _record(target: str) -> TargetRecord:
    record = RECORDS.get(target)
    if record is None:
        record = RECORDS[target] = TargetRecord(target)
    return record


@contextmanager
def case(target: str, seconds: float | None = None) -> Iterator[None]:
    """
    Run one case of C{target} under the time budget (and, one case in
    L{TRACE_EVERY}, traced by tracemalloc, under the memory budget), counting
    it in L{RECORDS}.

    @raise CaseTimeout: the case ran past its budget.
    @raise CaseMemory: the case allocated past L{CASE_MEMORY}.
    """
    budget = CASE_SECONDS if seconds is None else seconds
    record = _record(target)
    record.cases += 1
    useAlarm = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if useAlarm:

        def onAlarm(signum: int, frame: Any) -> None:
            raise CaseTimeout(f"{target}: case still running after {budget} s")

        previous = signal.signal(signal.SIGALRM, onAlarm)
        signal.setitimer(signal.ITIMER_REAL, budget)
    tracing = bool(TRACE_EVERY) and record.cases % TRACE_EVERY == 1 % TRACE_EVERY and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    start = time.perf_counter()
    try:
        try:
            yield
        finally:
            if useAlarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
            if tracing:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                record.traced += 1
                record.peak = max(record.peak, peak)
    except CaseTimeout:
        record.hangs += 1
        raise
    elapsed = time.perf_counter() - start
    record.slowest = max(record.slowest, elapsed)
    if elapsed > budget:
        # stuck where a signal cannot interrupt (C code), but it came back
        record.hangs += 1
        raise CaseTimeout(f"{target}: case took {elapsed:.1f} s (budget {budget} s)")
    if tracing:
        if peak > CASE_MEMORY:
            raise CaseMemory(f"{target}: case allocated {peak} bytes at its peak")


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """
    C{data} cut at the offsets C{cuts} (any order, duplicates give empty reads).
    """
    points = [0] + sorted(min(max(c, 0), len(data)) for c in cuts) + [len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]


@st.composite
def segmentations(draw: Callable[..., Any], data: bytes, maxReads: int = 64) -> list[bytes]:
    """
    A strategy: C{data} as an arbitrary sequence of reads (empty reads and
    one-byte reads included).
    """
    if not data:
        return [b""] if draw(st.booleans()) else []
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=maxReads))
    return split(data, cuts)


def chunked(data: st.SearchStrategy[bytes], maxReads: int = 64) -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    """
    A strategy of C{(stream, reads)}: a stream drawn from C{data} and one way
    of reading it.
    """
    return data.flatmap(lambda d: st.tuples(st.just(d), segmentations(d, maxReads)))
