# -*- test-case-name: tests.test_http_modifiers -*-
"""
Tests for L{twisted_gor.http.modifiers} (GoReplay reference §4.3, M1-M18).
"""

from __future__ import annotations

import random
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from twisted_gor._interfaces import IMessageFilter
from twisted_gor.http.modifiers import (
    HttpModifier,
    buildModifierConfig,
    fnv1a32,
    goReplacement,
    parsePercent,
)
from twisted_gor.message import Message

REQ = b"POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"


def modifier(**kwargs: Any) -> HttpModifier:
    """
    A modifier from flag-like string values.
    """
    return HttpModifier(buildModifierConfig(**kwargs))


def req(target: bytes = b"/post", headers: bytes = b"Content-Length: 7\r\nHost: www.w3.org\r\n", method: bytes = b"POST") -> bytes:
    """
    A request payload.
    """
    return method + b" " + target + b" HTTP/1.1\r\n" + headers + b"\r\na=1&b=2"


class ModifierTests(SynchronousTestCase):
    """
    Each rule of the chain.
    """

    def test_interface(self) -> None:
        """
        The modifier is an IMessageFilter; empty configs say so (M1).
        """
        m = modifier(allowMethods=["GET"])
        verifyObject(IMessageFilter, m)
        self.assertTrue(buildModifierConfig().isEmpty())
        self.assertFalse(m.config.isEmpty())

    def test_message(self) -> None:
        """
        filterMessage returns the same message when unchanged, a copy when
        changed, None when dropped.
        """
        msg = Message(1, b"a", 1, -1, REQ)
        self.assertIs(modifier(allowMethods=["POST"]).filterMessage(msg), msg)
        changed = modifier(setHeaders=["A: b"]).filterMessage(msg)
        assert changed is not None
        self.assertEqual(changed.id, b"a")
        self.assertTrue(changed.payload.startswith(b"POST /post HTTP/1.1\r\nA: b\r\n"))
        m = modifier(allowMethods=["GET"])
        self.assertIsNone(m.filterMessage(msg))
        self.assertEqual(m.stats["dropped.method"], 1)

    def test_allowHeader(self) -> None:
        """
        M2: allow-header keeps matching requests only (absent header drops).
        """
        self.assertEqual(modifier(allowHeaders=["Host:^www.w3.org$"]).modify(REQ), REQ)
        self.assertIsNone(modifier(allowHeaders=["Host:^www.w4.org$"]).modify(REQ))
        self.assertIsNone(modifier(allowHeaders=["X-Absent:.*"]).modify(REQ))

    def test_oldHeaderFilter(self) -> None:
        """
        The old --output-http-header-filter tests an absent header as empty.
        """
        self.assertEqual(modifier(oldHeaderFilters=["X-Absent:^$"]).modify(REQ), REQ)
        self.assertIsNone(modifier(oldHeaderFilters=["api-version:^1\\.0\\d"]).modify(REQ))
        ok = req(headers=b"Api-Version: 1.01\r\n")
        self.assertEqual(modifier(oldHeaderFilters=["api-version:^1\\.0\\d"]).modify(ok), ok)

    def test_disallowHeader(self) -> None:
        """
        M3: disallow-header.
        """
        w4 = REQ.replace(b"www.w3.org", b"www.w4.org")
        self.assertEqual(modifier(disallowHeaders=["Host:^www.w3.org$"]).modify(w4), w4)
        self.assertIsNone(modifier(disallowHeaders=["Host:^www.w4.org$"]).modify(w4))
        self.assertIsNone(modifier(disallowHeaders=["Host: www*"]).modify(w4))

    def test_basicAuth(self) -> None:
        """
        M4: basic-auth filter, lenient base64, non-Basic passes.
        """
        def auth(v: bytes) -> bytes:
            return req(headers=b"Authorization: Basic " + v + b"\r\n")

        c3, c6, mm = b"Y3VzdG9tZXIzOndlbGNvbWU=", b"Y3VzdG9tZXI2OnJlc3RAMTIzXlRFU1Q==", b"bWlja2V5IG1vdXNlOmhhcHB5MTIz"
        m = modifier(basicAuthFilters=["^customer[0-9].*"])
        self.assertIsNotNone(m.modify(auth(c3)))
        self.assertIsNotNone(m.modify(auth(c6)))
        m = modifier(basicAuthFilters=["^(homer simpson|mickey mouse).*"])
        self.assertIsNone(m.modify(auth(c6)))
        self.assertIsNotNone(m.modify(auth(mm)))
        self.assertIsNotNone(m.modify(REQ))
        self.assertIsNotNone(m.modify(req(headers=b"Authorization: Bearer x\r\n")))

    def test_rewriteUrl(self) -> None:
        """
        M5: regexp rewrite with $1; first matching rule only.
        """
        m = modifier(rewriteUrls=["/v1/user/([^\\/]+)/ping:/v2/user/$1/ping", "/v2:/v3"])
        self.assertIn(b"POST /v2/user/joe/ping HTTP", m.modify(req(b"/v1/user/joe/ping")) or b"")
        self.assertIn(b"POST /v1/user/ping HTTP", m.modify(req(b"/v1/user/ping")) or b"")
        m = modifier(rewriteUrls=["/xml_test/interface.php:/api/service.do"])
        self.assertIn(b"POST /api/service.do?a=1 HTTP", m.modify(req(b"/xml_test/interface.php?a=1")) or b"")

    def test_rewriteHeader(self) -> None:
        """
        M6: header rewrite; a missing header skips only its own rule (M18 fixed).
        """
        m = modifier(rewriteHeaders=["X-None: a,b", "Host: (.*).w3.org,$1.beta.w3.org"])
        self.assertIn(b"Host: www.beta.w3.org\r\n", m.modify(REQ) or b"")

    def test_headerLimiter(self) -> None:
        """
        M7: FNV-1a mod 100 < 50; absent header kept.
        """
        self.assertEqual(fnv1a32(b"3") % 100, 82)
        self.assertEqual(fnv1a32(b"1") % 100, 44)
        m = modifier(headerLimiters=["Header2:1/2"])
        self.assertIsNotNone(m.modify(REQ))
        self.assertIsNone(m.modify(req(headers=b"Header2: 3\r\n")))
        self.assertIsNotNone(m.modify(req(headers=b"Header2: 1\r\n")))
        self.assertEqual(m.stats["dropped.header_limiter"], 1)

    def test_paramLimiter(self) -> None:
        """
        M8: the same on a query parameter.
        """
        m = modifier(paramLimiters=["user_id:1/2"])
        self.assertIsNotNone(m.modify(req(b"/")))
        self.assertIsNone(m.modify(req(b"/?user_id=3")))
        self.assertIsNotNone(m.modify(req(b"/?user_id=1")))

    def test_setHeaders(self) -> None:
        """
        M9/M12: exact bytes of set headers.
        """
        self.assertEqual(
            modifier(setHeaders=["Header1:1", "Host:localhost"]).modify(REQ),
            b"POST /post HTTP/1.1\r\nHeader1: 1\r\nContent-Length: 7\r\nHost: localhost\r\n\r\na=1&b=2",
        )
        self.assertEqual(
            modifier(setHeaders=["User-Agent:Gor"]).modify(REQ),
            b"POST /post HTTP/1.1\r\nUser-Agent: Gor\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2",
        )

    def test_urls(self) -> None:
        """
        M10/M11: allow-url OR, disallow-url.
        """
        m = modifier(allowUrls=["/v1/app", "/v1/api"])
        self.assertIsNotNone(m.modify(req(b"/v1/app/test")))
        self.assertIsNotNone(m.modify(req(b"/v1/api/test")))
        self.assertIsNone(m.modify(req(b"/other")))
        m = modifier(disallowUrls=["/restricted1", "/some/restricted2"])
        self.assertIsNotNone(m.modify(req(b"/v1/app/test")))
        self.assertIsNone(m.modify(req(b"/restricted1")))
        self.assertIsNone(m.modify(req(b"/some/restricted2")))

    def test_oldUrlRegexp(self) -> None:
        """
        The old --output-http-url-regexp matches Host + target (^www. selects hosts).
        """
        m = modifier(oldUrlRegexps=["^www."])
        self.assertIsNotNone(m.modify(REQ))
        self.assertIsNone(m.modify(REQ.replace(b"www.w3.org", b"api.w3.org")))

    def test_oldHashFilter(self) -> None:
        """
        The old hash filter: power-of-two denominator, absent header dropped,
        consistent per value.
        """
        m = modifier(oldHashFilters=["user-id:1/32"])
        self.assertIsNone(m.modify(REQ))
        rng = random.Random(7)
        users = [b"%032x" % rng.getrandbits(128) for _ in range(3200)]
        kept = [u for u in users if m.modify(req(headers=b"User-Id: " + u + b"\r\n")) is not None]
        self.assertTrue(50 < len(kept) < 150, len(kept))
        again = [u for u in users if m.modify(req(headers=b"User-Id: " + u + b"\r\n")) is not None]
        self.assertEqual(kept, again)
        self.assertRaises(ValueError, buildModifierConfig, oldHashFilters=["user-id:1/30"])

    def test_setParam(self) -> None:
        """
        M13: set-param replaces.
        """
        self.assertIn(b"POST /post?api_key=1 HTTP", modifier(setParams=["api_key=1"]).modify(req(b"/post?api_key=1234")) or b"")

    def test_syntax(self) -> None:
        """
        M14-M16 and the other parse errors.
        """
        c = buildModifierConfig(allowHeaders=["Header1:^$", "Header2:^:$"])
        self.assertEqual(c.allowHeaders[1].regexp.pattern, b"^:$")
        for kwargs in (
            {"allowHeaders": ["Header3-^$"]},
            {"headerLimiters": ["Header2:1"]},
            {"rewriteUrls": ["nocolon"]},
            {"setHeaders": ["nocolon"]},
            {"setParams": ["noequals"]},
            {"rewriteHeaders": ["Host: nocomma"]},
            {"allowUrls": ["("]},
        ):
            self.assertRaises(ValueError, buildModifierConfig, **kwargs)
        self.assertEqual(buildModifierConfig(headerLimiters=["Header1:1/2"]).headerLimiters[0].percent, 50)
        self.assertEqual(buildModifierConfig(headerLimiters=["Header2:10%"]).headerLimiters[0].percent, 10)
        self.assertEqual(parsePercent("010%"), 8)
        self.assertEqual(parsePercent("1/32"), 3)

    def test_notHttp(self) -> None:
        """
        M17: a payload without a valid request line passes untouched.
        """
        m = modifier(allowMethods=["GET"], setHeaders=["A: b"])
        self.assertEqual(m.modify(b"garbage"), b"garbage")

    def test_order(self) -> None:
        """
        set-header runs before the header filters (filters see the change).
        """
        m = modifier(setHeaders=["X-Env: staging"], allowHeaders=["X-Env:^staging$"])
        self.assertIsNotNone(m.modify(REQ))


class GoReplacementTests(SynchronousTestCase):
    """
    Go's $-expansion translated to Python.
    """

    def test_forms(self) -> None:
        """
        $1, ${1}, $1ping (group named 1ping = empty), $$, named groups.
        """
        r = re.compile(rb"/v1/user/(?P<u>[^/]+)/ping")
        self.assertEqual(r.sub(goReplacement("/v2/user/$1/ping"), b"/v1/user/joe/ping"), b"/v2/user/joe/ping")
        self.assertEqual(r.sub(goReplacement("/v2/user/$1ping"), b"/v1/user/joe/ping"), b"/v2/user/")
        self.assertEqual(r.sub(goReplacement("/v2/user/${1}ping"), b"/v1/user/joe/ping"), b"/v2/user/joeping")
        self.assertEqual(r.sub(goReplacement("$$/$u"), b"/v1/user/joe/ping"), b"$/joe")
