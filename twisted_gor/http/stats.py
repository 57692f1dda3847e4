# -*- test-case-name: tests.test_http_output -*-
"""
The seed's queue statistics line: C{output_http:latest,mean,max,count,count/second}.
"""

from __future__ import annotations


class QueueStats:
    """
    Queue lengths sampled at each write, summarised and reset every period.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.latest = 0
        self.total = 0
        self.max = 0
        self.count = 0

    def sample(self, length: int) -> None:
        """
        Record the queue length seen by one write.
        """
        self.latest = length
        self.total += length
        self.count += 1
        if length > self.max:
            self.max = length

    def line(self, period: float) -> str:
        """
        C{name:latest,mean,max,count,count/second} for the period just ended,
        then reset.
        """
        mean = self.total // self.count if self.count else 0
        # Truncated like the seed's (68 in 5 s -> 13); the epsilon keeps
        # 3 / 0.2 from landing just under 15.
        perSecond = int(self.count / period + 1e-9) if period > 0 else self.count
        text = f"{self.name}:{self.latest},{mean},{self.max},{self.count},{perSecond}"
        self.latest = self.total = self.max = self.count = 0
        return text
