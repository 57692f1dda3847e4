# -*- test-case-name: tests.test_profiling -*-
"""
C{--cpuprofile} and C{--memprofile}: Python profiles of a gor run.

The CPU profile is a cProfile run of the whole service lifetime, written as a
pstats file (C{python -m pstats FILE}). The memory profile is a tracemalloc
snapshot written with L{tracemalloc.Snapshot.dump} to C{FILE} (load it with
C{tracemalloc.Snapshot.load}) and a readable top list of allocation sites
written next to it as C{FILE.txt}.
"""

from __future__ import annotations

import cProfile
import tracemalloc

from twisted.application.service import Service
from twisted.logger import Logger

TOP_LINES = 50
"""Allocation sites listed in the memory profile's text summary."""


class ProfilingService(Service):
    """
    Profiles CPU and/or memory between C{startService} and C{stopService}.

    @ivar cpuProfile: path of the pstats file, or L{None}.
    @ivar memProfile: path of the tracemalloc snapshot, or L{None}.
    """

    log = Logger()
    name = "profiling"

    def __init__(self, cpuProfile: str | None, memProfile: str | None, frames: int = 10) -> None:
        self.cpuProfile = cpuProfile or None
        self.memProfile = memProfile or None
        self.frames = frames
        self._profiler: cProfile.Profile | None = None
        self._startedTracing = False

    def startService(self) -> None:
        """
        Start cProfile and/or tracemalloc.
        """
        Service.startService(self)
        if self.memProfile is not None and not tracemalloc.is_tracing():
            tracemalloc.start(self.frames)
            self._startedTracing = True
        if self.cpuProfile is not None:
            self._profiler = cProfile.Profile()
            try:
                self._profiler.enable()
            except ValueError as e:
                # another profiler is already active (e.g. the test runner's)
                self.log.warn("--cpuprofile: cannot profile: {error}", error=str(e))
                self._profiler = None

    def stopService(self) -> None:
        """
        Stop profiling and write the files.
        """
        Service.stopService(self)
        if self._profiler is not None and self.cpuProfile is not None:
            profiler, self._profiler = self._profiler, None
            profiler.disable()
            try:
                profiler.dump_stats(self.cpuProfile)
            except OSError as e:
                self.log.error("--cpuprofile: cannot write {path}: {error}", path=self.cpuProfile, error=str(e))
            else:
                self.log.info("CPU profile written to {path}", path=self.cpuProfile)
        if self.memProfile is not None and tracemalloc.is_tracing():
            self._writeMemory(self.memProfile)
            if self._startedTracing:
                tracemalloc.stop()
                self._startedTracing = False

    def _writeMemory(self, path: str) -> None:
        snapshot = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        try:
            snapshot.dump(path)
            with open(path + ".txt", "w", encoding="utf-8") as summary:
                summary.write(f"traced memory: current={current} bytes peak={peak} bytes\n")
                summary.write(f"top {TOP_LINES} allocation sites by size:\n")
                for stat in snapshot.statistics("lineno")[:TOP_LINES]:
                    summary.write(f"{stat}\n")
        except OSError as e:
            self.log.error("--memprofile: cannot write {path}: {error}", path=path, error=str(e))
        else:
            self.log.info(
                "memory profile written to {path} (top list in {path}.txt), peak {peak} bytes",
                path=path,
                peak=peak,
            )
