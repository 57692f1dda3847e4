# -*- test-case-name: tests.test_relay_unit,tests.test_http_output -*-
"""
Gor's queue statistics line: C{output_tcp:latest,mean,max,count,count/second}
(and C{output_http:...}), shared by the outputs that have a queue.

The output samples its queue length at every write; every period the line
gives the last sample, their mean and maximum, how many writes there were and
how many per second, then starts over.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger


class QueueStats:
    """
    Queue-length samples of one output, logged every C{interval} seconds.

    @ivar lines: every line logged so far (the newest last, at most 100), for tests
        and embedders.
    """

    log = Logger()

    def __init__(self, label: str, clock: Any, interval: float = 5.0) -> None:
        self.label = label
        self.interval = interval
        self._clock = clock
        self._loop: LoopingCall | None = None
        self.lines: list[str] = []
        self._reset()

    def _reset(self) -> None:
        self.latest = 0
        self.total = 0
        self.max = 0
        self.count = 0

    def sample(self, queueLength: int) -> None:
        """
        Record the queue length seen by one write.
        """
        self.latest = queueLength
        self.total += queueLength
        self.count += 1
        if queueLength > self.max:
            self.max = queueLength

    def line(self) -> str:
        """
        The current period's line (without resetting).
        """
        mean = self.total // self.count if self.count else 0
        # Truncated like the seed's (68 in 5 s -> 13); the epsilon keeps
        # 3 / 0.2 from landing just under 15.
        rate = int(self.count / self.interval + 1e-9) if self.interval > 0 else self.count
        return f"{self.label}:{self.latest},{mean},{self.max},{self.count},{rate}"

    def _emit(self, text: str) -> None:
        self.lines.append(text)
        del self.lines[:-100]
        self.log.info("{line}", line=text)

    def _tick(self) -> None:
        self._emit(self.line())
        self._reset()

    def start(self) -> None:
        """
        Log the header line now, then a line every period.
        """
        self._emit(f"{self.label}:latest,mean,max,count,count/second")
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        """
        Stop logging.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
