# -*- test-case-name: tests.test_http_proto -*-
"""
Tests for L{twisted_gor._httphead} (GoReplay reference §4.1, P1-P38).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from twisted_gor import _httphead as proto

REQ = b"POST /post HTTP/1.1\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2"


class HeaderTests(SynchronousTestCase):
    """
    Header lookup, set and delete.
    """

    def test_lookup(self) -> None:
        """
        P1-P6: values trimmed, no space needed, empty values, absent headers,
        case-insensitive names.
        """
        self.assertEqual(proto.getHeader(REQ, b"Content-Length"), b"7")
        self.assertEqual(proto.getHeader(REQ.replace(b"7\r\n", b"7 \r\n"), b"Content-Length"), b"7")
        self.assertEqual(proto.getHeader(REQ.replace(b": 7", b":7"), b"Content-Length"), b"7")
        self.assertEqual(proto.getHeader(b"GET / HTTP/1.1\r\nCookie:\r\n\r\n", b"Cookie"), b"")
        self.assertIsNone(proto.getHeader(REQ, b"User-Agent"))
        self.assertEqual(proto.getHeader(REQ.replace(b"Content-Length", b"content-length"), b"Content-Length"), b"7")
        self.assertEqual(proto.getHeader(REQ, b"host"), b"www.w3.org")

    def test_noValidFirstLine(self) -> None:
        """
        P7: headers are found after an invalid first line.
        """
        self.assertEqual(proto.getHeader(b"GT\r\nContent-Length: 10\r\n\r\n", b"Content-Length"), b"10")

    def test_headersEnd(self) -> None:
        """
        P8: the end of headers is just after the blank line.
        """
        end = proto.headersEnd(REQ)
        self.assertEqual(REQ[end:], b"a=1&b=2")
        self.assertEqual(proto.body(REQ), b"a=1&b=2")

    def test_setExisting(self) -> None:
        """
        P9: the value is replaced in place.
        """
        self.assertEqual(proto.setHeader(REQ, b"Content-Length", b"14"), REQ.replace(b"7\r\n", b"14\r\n"))

    def test_setMissing(self) -> None:
        """
        P10: a new header goes right after the request line.
        """
        self.assertEqual(
            proto.setHeader(REQ, b"User-Agent", b"Gor"),
            b"POST /post HTTP/1.1\r\nUser-Agent: Gor\r\nContent-Length: 7\r\nHost: www.w3.org\r\n\r\na=1&b=2",
        )

    def test_setWithoutCRLF(self) -> None:
        """
        P11: a payload with no CRLF is unchanged.
        """
        self.assertEqual(proto.setHeader(b"POST /post HTTP/1.1", b"A", b"b"), b"POST /post HTTP/1.1")

    def test_delete(self) -> None:
        """
        P12: the whole line is removed, trailing whitespace or not.
        """
        for value in (b"Gor", b"Gor  "):
            payload = b"GET / HTTP/1.1\r\nUser-Agent: " + value + b"\r\nHost: a\r\n\r\n"
            self.assertEqual(proto.deleteHeader(payload, b"User-Agent"), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    def test_headersList(self) -> None:
        """
        P13/P14: values with colons parse intact; nothing after the blank line.
        """
        payload = (
            b"GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (rv:11.0) like Gecko\r\n"
            b"Referrer: http://127.0.0.1:3000\r\nOrigin: a\r\n\r\nOrigin: b\r\n"
        )
        self.assertEqual(
            proto.getHeaders(payload),
            [
                (b"User-Agent", b"Mozilla/5.0 (rv:11.0) like Gecko"),
                (b"Referrer", b"http://127.0.0.1:3000"),
                (b"Origin", b"a"),
            ],
        )

    def test_fuzz(self) -> None:
        """
        P15: odd input does not crash.
        """
        proto.getHeaders(b"\n:00\n")
        proto.getHeader(b"\n:00\n", b"")

    def test_notInBody(self) -> None:
        """
        P35 (fixed): lookup stops at the blank line.
        """
        self.assertIsNone(proto.getHeader(b"POST / HTTP/1.1\r\nA: 1\r\n\r\nX-A: 1\r\n", b"X-A"))

    def test_keepSpacing(self) -> None:
        """
        P36: whitespace around a replaced value is kept.
        """
        self.assertEqual(
            proto.setHeader(b"GET / HTTP/1.1\r\nHost:  x.com \r\n\r\n", b"Host", b"y"),
            b"GET / HTTP/1.1\r\nHost:  y \r\n\r\n",
        )


class LineTests(SynchronousTestCase):
    """
    Request and status lines.
    """

    def test_target(self) -> None:
        """
        P16: the request-target, or None without a full request line.
        """
        self.assertEqual(proto.requestTarget(REQ), b"/post")
        self.assertIsNone(proto.requestTarget(b"GET /get\r\n\r\nHost: a\r\n"))
        self.assertIsNone(proto.requestTarget(b"GET /get\n"))
        self.assertIsNone(proto.requestTarget(b"GET /get"))

    def test_status(self) -> None:
        """
        P17: status codes.
        """
        self.assertEqual(proto.statusCode(b"HTTP/1.1 200 OK\r\n"), 200)
        self.assertEqual(proto.statusCode(b"HTTP/1.1 200\r\n"), 200)
        self.assertEqual(proto.statusCode(b"HTTP/1.1 404 Not Found\r\n"), 404)

    def test_setTarget(self) -> None:
        """
        P18: the target is replaced.
        """
        self.assertEqual(proto.setRequestTarget(REQ, b"/new_path"), REQ.replace(b"/post", b"/new_path"))

    def test_statusLineValidity(self) -> None:
        """
        P22/P31: status-line validity.
        """
        for bad in (
            b"HTTP",
            b"",
            b"HTTP/1.1 100 Continue",
            b"HTTP/1.1  \r\n",
            b"HTTP/4.0 100Continue\r\n",
            b"HTTP/1.0 100Continue\r\n",
            b"HTTP/1.0 10r Continue\r\n",
            b"HTTP/1.1 299 X\r\n",
        ):
            self.assertFalse(proto.isStatusLine(bad), bad)
        for good in (
            b"HTTP/1.1 100 Continue\r\n",
            b"HTTP/1.1 200\r\n",
            b"HTTP/1.1 200\r\nServer: Tengine\r\n\r\n",
            b"HTTP/1.1 418 I'm a teapot\r\n",
        ):
            self.assertTrue(proto.isStatusLine(good), good)

    def test_requestLineValidity(self) -> None:
        """
        P23/P30: request-line validity.
        """
        for bad in (
            b"",
            b"POST /post HTTP/1.\r\n",
            b"POS /post HTTP/1.1\r\n",
            b"GET / HTTP/1.1\r",
            b"GET / HTTP/1.400\r\n",
            b"PURGE / HTTP/1.1\r\n",
            b"get / HTTP/1.1\r\n",
            b"GET / HTTP/2.0\r\n",
        ):
            self.assertFalse(proto.isRequestLine(bad), bad)
        for good in (b"POST /post HTTP/1.0\r\n", b"GET / HTTP/1.1\r\n", b"GET  HTTP/1.1\r\n"):
            self.assertTrue(proto.isRequestLine(good), good)


class QueryTests(SynchronousTestCase):
    """
    Query parameters.
    """

    def test_lookup(self) -> None:
        """
        P19: first value, not fooled by suffixes.
        """
        target = b"/post?param=test&user_id=1&d_type=1&type=2&d_type=3"
        self.assertEqual(proto.queryParam(target, b"param"), b"test")
        self.assertEqual(proto.queryParam(target, b"user_id"), b"1")
        self.assertEqual(proto.queryParam(target, b"type"), b"2")
        self.assertEqual(proto.queryParam(target, b"d_type"), b"1")
        self.assertIsNone(proto.queryParam(b"/post", b"a"))

    def test_set(self) -> None:
        """
        P20/P37: replace or append.
        """
        self.assertEqual(proto.setQueryParam(b"/post?param=test&user_id=1", b"param", b"new"), b"/post?param=new&user_id=1")
        self.assertEqual(proto.setQueryParam(b"/post?param=test&user_id=1", b"user_id", b"2"), b"/post?param=test&user_id=2")
        self.assertEqual(proto.setQueryParam(b"/post", b"param", b"test"), b"/post?param=test")
        self.assertEqual(proto.setQueryParam(b"/post?param=test", b"user_id", b"1"), b"/post?param=test&user_id=1")
        self.assertEqual(proto.setQueryParam(b"/a?xb=c", b"b", b"zz"), b"/a?xb=c&b=zz")


class HostTests(SynchronousTestCase):
    """
    Pointing a request at another host.
    """

    def test_absolute(self) -> None:
        """
        P21/P38: absolute-form targets get scheme and authority replaced.
        """
        self.assertEqual(
            proto.setHost(b"POST http://example.com/post HTTP/1.0\r\nHost: example.com\r\n\r\n", b"http", b"new.com"),
            b"POST http://new.com/post HTTP/1.0\r\nHost: example.com\r\n\r\n",
        )
        self.assertEqual(
            proto.setHost(b"GET https://old.com:8080/x?y HTTP/1.1\r\n\r\n", b"http", b"new.com"),
            b"GET http://new.com/x?y HTTP/1.1\r\n\r\n",
        )

    def test_origin(self) -> None:
        """
        P21: origin-form requests get their Host header set or added.
        """
        self.assertEqual(
            proto.setHost(b"POST /post HTTP/1.1\r\nHost: example.com\r\n\r\n", b"http", b"new.com"),
            b"POST /post HTTP/1.1\r\nHost: new.com\r\n\r\n",
        )
        self.assertEqual(
            proto.setHost(b"POST /post HTTP/1.1\r\nA: b\r\n\r\n", b"http", b"new.com"),
            b"POST /post HTTP/1.1\r\nHost: new.com\r\nA: b\r\n\r\n",
        )
