"""
Tests for L{twisted_gor.limiter}.
"""

import random

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.limiter import (
    AbsoluteLimit,
    AbsoluteLimiter,
    PercentageLimit,
    PercentageLimiter,
    parseLimit,
    splitLimit,
)


class ParseTests(SynchronousTestCase):
    """
    The C{|N} and C{|N%} suffixes.
    """

    def test_split(self) -> None:
        """
        The address is split from its limit at the first C{|}.
        """
        self.assertEqual(splitLimit("http://staging|10"), ("http://staging", AbsoluteLimit(10)))
        self.assertEqual(splitLimit("replay:28020|10%"), ("replay:28020", PercentageLimit(10)))
        self.assertEqual(splitLimit("requests.gor|200%"), ("requests.gor", PercentageLimit(200)))
        self.assertEqual(splitLimit(":80"), (":80", None))

    def test_bad(self) -> None:
        """
        Non-numbers and negatives are rejected with a message.
        """
        for bad in ("abc", "-1", "x%", "-5%", ""):
            self.assertRaises(ValueError, parseLimit, bad)


class AbsoluteLimiterTests(SynchronousTestCase):
    """
    At most N per one-second window of the reactor's clock.
    """

    def test_window(self) -> None:
        """
        100 messages within a second: exactly 10 pass; the next window lets 10
        more through.
        """
        clock = Clock()
        limiter = AbsoluteLimiter(10, clock)
        passed = 0
        for _ in range(100):
            clock.advance(0.005)
            passed += limiter.allow()
        self.assertEqual(passed, 10)
        clock.advance(1.0)
        self.assertEqual(sum(limiter.allow() for _ in range(100)), 10)

    def test_zero(self) -> None:
        """
        C{|0} drops everything.
        """
        limiter = AbsoluteLimiter(0, Clock())
        self.assertFalse(any(limiter.allow() for _ in range(10)))

    def test_windowBoundary(self) -> None:
        """
        The window restarts exactly one second after it began.
        """
        clock = Clock()
        limiter = AbsoluteLimiter(1, clock)
        self.assertTrue(limiter.allow())
        clock.advance(0.999)
        self.assertFalse(limiter.allow())
        clock.advance(0.001)
        self.assertTrue(limiter.allow())


class PercentageLimiterTests(SynchronousTestCase):
    """
    Random sampling.
    """

    def test_rates(self) -> None:
        """
        0% drops all, 100% keeps all, 10% keeps about a tenth.
        """
        rng = random.Random(7)
        self.assertEqual(sum(PercentageLimiter(0, rng.random).allow() for _ in range(1000)), 0)
        self.assertEqual(sum(PercentageLimiter(100, rng.random).allow() for _ in range(1000)), 1000)
        kept = sum(PercentageLimiter(10, rng.random).allow() for _ in range(10000))
        self.assertTrue(900 < kept < 1100, kept)
