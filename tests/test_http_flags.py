# -*- test-case-name: tests.test_http_flags -*-
"""
Usage errors of the HTTP flags, through the real gor command.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from tests.support import runGor


class UsageTests(TestCase):
    """
    Bad values exit 2 with one line naming the flag.
    """

    timeout = 60

    @defer.inlineCallbacks
    def test_badValues(self) -> Any:
        """
        A non-power-of-two hash denominator, a bad regexp, a bad URL.
        """
        for args, flag in (
            (("--output-http-header-hash-filter", "user-id:1/30"), "--output-http-header-hash-filter"),
            (("--http-allow-url", "("), "--http-allow-url"),
            (("--output-http", "ftp://x"), "--output-http"),
            (("--http-set-header", "nocolon"), "--http-set-header"),
        ):
            result = yield runGor("--input-dummy", "x", "--output-http", "h", *args)
            self.assertEqual(result.rc, 2, result.errText)
            self.assertIn(flag, result.errText)
