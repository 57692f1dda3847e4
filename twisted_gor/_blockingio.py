# -*- test-case-name: tests.test_fileoutput -*-
"""
A single worker thread that runs blocking file operations in order.

File reads and writes block; doing them on the reactor thread would stall every
connection of the process. Jobs submitted to one L{SerialWorker} run one after
the other on its own thread; each returns a Deferred fired on the reactor thread.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")

_STOP = object()


class SerialWorker:
    """
    Run callables in submission order on a dedicated daemon thread.
    """

    def __init__(self, reactor: Any, name: str = "gor-io") -> None:
        self._reactor = reactor
        self._jobs: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._stopped = False
        self.pending = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> "Deferred[T]":
        """
        Run C{fn(*args)} after every job submitted before; the Deferred fires
        with its result (or failure) on the reactor thread.
        """
        if self._stopped:
            raise RuntimeError("worker stopped")
        d: Deferred[T] = Deferred()
        self.pending += 1
        self._jobs.put((fn, args, d))
        return d

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, args, d = job
            try:
                result: Any = fn(*args)
            except BaseException:
                result = Failure()
            self._reactor.callFromThread(self._deliver, d, result)

    def _deliver(self, d: "Deferred[Any]", result: Any) -> None:
        self.pending -= 1
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)

    def stop(self) -> "Deferred[None]":
        """
        Finish the jobs already submitted, then end the thread.
        """
        d = self.submit(lambda: None)
        self._stopped = True
        self._jobs.put(_STOP)
        return d


class SynchronousWorker:
    """
    Runs jobs immediately on the calling thread; for deterministic unit tests
    with a fake clock.
    """

    def __init__(self, reactor: Any = None, name: str = "sync") -> None:
        self.pending = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> "Deferred[T]":
        """
        Run C{fn(*args)} now.
        """
        from twisted.internet.defer import maybeDeferred

        return maybeDeferred(fn, *args)

    def stop(self) -> "Deferred[None]":
        """
        Nothing to wait for.
        """
        from twisted.internet.defer import succeed

        return succeed(None)
