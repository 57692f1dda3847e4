"""
Tests of L{twisted_gor.profiling} and the C{--cpuprofile}/C{--memprofile} flags.
"""

from __future__ import annotations

import os
import pstats
import sys
import tracemalloc
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.profiling import ProfilingService
from tests.support import runCommand, runGor


def busy() -> int:
    """
    Some work for the profiler to see.
    """
    return sum(len(str(i)) for i in range(20_000))


class ProfilingServiceTests(SynchronousTestCase):
    """
    The service writes standard profile files at stop.
    """

    def test_cpu(self) -> None:
        """
        The CPU profile is a pstats file that names the profiled function.
        """
        path = os.path.abspath(self.mktemp())
        service = ProfilingService(path, None)
        service.startService()
        if service._profiler is None:
            self.skipTest("another profiler is active in this process")
        busy()
        service.stopService()
        stats = pstats.Stats(path)
        self.assertTrue(any(func[2] == "busy" for func in stats.stats))  # type: ignore[attr-defined]

    def test_memory(self) -> None:
        """
        The memory profile is a tracemalloc snapshot plus a readable top list;
        tracing stops again when the service started it.
        """
        path = os.path.abspath(self.mktemp())
        wasTracing = tracemalloc.is_tracing()
        service = ProfilingService(None, path)
        service.startService()
        keep = [bytes(1000) for _ in range(1000)]
        service.stopService()
        self.assertEqual(len(keep), 1000)
        snapshot = tracemalloc.Snapshot.load(path)
        self.assertTrue(snapshot.statistics("filename"))
        with open(path + ".txt") as f:
            text = f.read()
        self.assertIn("peak=", text)
        self.assertIn("test_profiling.py", text)
        self.assertEqual(tracemalloc.is_tracing(), wasTracing)

    def test_nothing(self) -> None:
        """
        Neither path: starting and stopping does nothing.
        """
        service = ProfilingService(None, None)
        service.startService()
        service.stopService()
        self.assertFalse(service.running)


class CommandTests(TestCase):
    """
    The flags through the real gor command.
    """

    timeout = 60

    @inlineCallbacks
    def test_flags(self) -> Any:
        """
        C{gor --cpuprofile C --memprofile M} writes both at exit; C{python -m
        pstats} reads the CPU profile.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        source = os.path.join(directory, "in.gor")
        with open(source, "wb") as f:
            for i in range(200):
                f.write(encodeMessage(Message(1, b"%024x" % i, 10**18 + i, -1, b"GET / HTTP/1.1\r\n\r\n")))
        cpu, mem = os.path.join(directory, "cpu.prof"), os.path.join(directory, "mem.prof")
        result = yield runGor(
            "--input-file", source + "|10000%", "--output-null", "--cpuprofile", cpu, "--memprofile", mem, timeout=30
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertTrue(pstats.Stats(cpu).total_calls > 0)  # type: ignore[attr-defined]
        self.assertTrue(tracemalloc.Snapshot.load(mem).traces)
        self.assertTrue(os.path.exists(mem + ".txt"))
        shown = yield runCommand(sys.executable, "-c", f"import pstats; pstats.Stats({cpu!r}).sort_stats('cumtime').print_stats(5)")
        self.assertEqual(shown.rc, 0, shown.errText)
        self.assertIn(b"function calls", shown.out)
