# -*- test-case-name: tests.test_compare_logic -*-
"""
Comparison logic: response decoding, JSON paths, ignore patterns, endpoint
folding and the per-endpoint report.
"""

from __future__ import annotations

import gzip
import json
import zlib

from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.compare.decode import MAX_DECODED, decodeResponse, dechunk
from twisted_gor.compare.diff import (
    MISSING,
    Comparator,
    Difference,
    IgnoreRules,
    diffBytes,
    diffJSON,
    firstDifference,
)
from twisted_gor.compare.endpoint import UNKNOWN, endpointOf, foldPath
from twisted_gor.compare.report import OTHER, Report


def response(status: int, body: bytes, headers: bytes = b"", length: bool = True) -> bytes:
    """
    A raw HTTP/1.1 response.
    """
    head = b"HTTP/1.1 %d X\r\n" % status + headers
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def chunked(body: bytes, size: int = 7) -> bytes:
    """
    C{body} in chunked transfer coding, in chunks of C{size} bytes.
    """
    parts = [b"%x;ext=1\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\nTrailer: x\r\n\r\n"


class DecodeTests(SynchronousTestCase):
    """
    L{decodeResponse} undoes transfer and content codings.
    """

    def test_plain(self) -> None:
        """
        Status, lower-cased headers (repeated ones kept) and the body cut to
        Content-Length.
        """
        r = decodeResponse(response(201, b"hello", b"X-A: 1\r\nx-a: 2\r\n") + b"extra")
        self.assertEqual((r.status, r.body, r.problems), (201, b"hello", []))
        self.assertEqual(r.header("x-a"), "1, 2")
        self.assertIsNone(r.header("x-b"))

    def test_chunkedGzip(self) -> None:
        """
        Chunked framing (with extensions and trailers) then gzip are undone.
        """
        body = json.dumps({"k": list(range(100))}).encode()
        payload = response(
            200, chunked(gzip.compress(body)), b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n", False
        )
        r = decodeResponse(payload)
        self.assertEqual((r.body, r.problems), (body, []))

    def test_deflateBothForms(self) -> None:
        """
        C{deflate} is zlib-wrapped by the RFC but raw deflate is accepted too.
        """
        body = b"x" * 1000
        raw = zlib.compressobj(wbits=-15)
        rawDeflate = raw.compress(body) + raw.flush()
        for encoded in (zlib.compress(body), rawDeflate):
            r = decodeResponse(response(200, encoded, b"Content-Encoding: deflate\r\n"))
            self.assertEqual((r.body, r.problems), (body, []))

    def test_truncatedAndBroken(self) -> None:
        """
        Truncated chunked data, a truncated gzip stream and an unknown coding
        are noted as problems; what could be decoded is kept.
        """
        r = decodeResponse(response(200, b"5\r\nhello\r\n3\r\nab", b"Transfer-Encoding: chunked\r\n", False))
        self.assertEqual((r.body, r.problems), (b"helloab", ["chunked"]))
        data = gzip.compress(b"abcdef" * 1000)
        r = decodeResponse(response(200, data[: len(data) // 2], b"Content-Encoding: gzip\r\n", False))
        self.assertIn("truncated", r.problems)
        r = decodeResponse(response(200, b"\x00junk", b"Content-Encoding: gzip\r\n"))
        self.assertEqual((r.body, r.problems), (b"\x00junk", ["gzip"]))
        r = decodeResponse(response(200, b"br!", b"Content-Encoding: br\r\n"))
        self.assertEqual((r.body, r.problems), (b"br!", ["encoding:br"]))

    def test_bombBounded(self) -> None:
        """
        A body inflating past L{MAX_DECODED} is cut there.
        """
        bomb = gzip.compress(b"\0" * (MAX_DECODED + 1000))
        r = decodeResponse(response(200, bomb, b"Content-Encoding: gzip\r\n"))
        self.assertEqual(len(r.body), MAX_DECODED)
        self.assertIn("truncated", r.problems)

    def test_noBody(self) -> None:
        """
        HEAD responses, 204 and 304 have no body whatever their headers say.
        """
        self.assertEqual(decodeResponse(response(200, b"", b"Content-Length: 10\r\n", False), True).body, b"")
        self.assertEqual(decodeResponse(response(304, b"zz", b"", False)).body, b"")

    def test_notAResponse(self) -> None:
        """
        A payload without a status line has no status and a C{head} problem.
        """
        r = decodeResponse(b"garbage")
        self.assertEqual((r.status, r.problems), (None, ["head"]))

    def test_dechunkBareLF(self) -> None:
        """
        Chunk lines ended by a bare LF are tolerated.
        """
        self.assertEqual(dechunk(b"2\nab\n0\n\n"), (b"ab", True))


class JSONDiffTests(SynchronousTestCase):
    """
    L{diffJSON} reports differing paths.
    """

    def paths(self, a: object, b: object, ignore: list[str] = [], limit: int = 5) -> list[tuple[str, str, str]]:
        found, _ = diffJSON(a, b, IgnoreRules(ignore), limit)
        return [(d.path, d.original, d.replayed) for d in found]

    def test_paths(self) -> None:
        """
        Nested objects and arrays, added and removed keys and elements.
        """
        a = {"items": [{"price": 1}, {"price": 2}, {"price": 3}, {"price": 9.99}], "gone": True, "odd key": 1}
        b = {"items": [{"price": 1}, {"price": 2}, {"price": 3}, {"price": 10.5}, 5], "new": None, "odd key": 2}
        self.assertEqual(
            self.paths(a, b),
            [
                ("$.items[3].price", "9.99", "10.5"),
                ("$.items[4]", MISSING, "5"),
                ("$.gone", "true", MISSING),
                ('$["odd key"]', "1", "2"),
                ("$.new", MISSING, "null"),
            ],
        )

    def test_types(self) -> None:
        """
        1 and 1.0 are equal; C{true} and 1 are not; a type change is one
        difference at that path.
        """
        self.assertEqual(self.paths({"a": 1, "b": True}, {"a": 1.0, "b": 1}), [("$.b", "true", "1")])
        self.assertEqual(self.paths({"a": [1]}, {"a": {"0": 1}}), [("$.a", "[1]", '{"0":1}')])

    def test_limit(self) -> None:
        """
        At most C{limit} differences, and whether there were more.
        """
        found, more = diffJSON(list(range(10)), list(range(1, 11)), IgnoreRules(), 3)
        self.assertEqual([d.path for d in found], ["$[0]", "$[1]", "$[2]"])
        self.assertTrue(more)
        found, more = diffJSON([1], [2], IgnoreRules(), 3)
        self.assertFalse(more)

    def test_ignore(self) -> None:
        """
        Ignore patterns: exact paths, C{*} within one step, C{**} anywhere,
        and whole subtrees.
        """
        a = {"timestamp": 1, "items": [{"id": 1, "p": 1}, {"id": 2, "p": 2}], "meta": {"took": 3}, "x": {"y": {"id": 1}}}
        b = {"timestamp": 2, "items": [{"id": 7, "p": 1}, {"id": 8, "p": 3}], "meta": {"took": 4}, "x": {"y": {"id": 2}}}
        self.assertEqual(
            self.paths(a, b, ["$.timestamp", "$.items[*].id", "$.meta", "$.**.id"]), [("$.items[1].p", "2", "3")]
        )
        # "$.items" ignores all of it; "$.item" is not a prefix step of it.
        self.assertNotIn("$.items[1].p", [p for p, _, _ in self.paths(a, b, ["$.items"])])
        self.assertIn("$.items[1].p", [p for p, _, _ in self.paths(a, b, ["$.item"])])

    def test_ignoreRules(self) -> None:
        """
        Patterns starting with C{$} are JSON paths, others header names
        (case-insensitive globs).
        """
        rules = IgnoreRules(["$.a[*]", "X-Request-*", "date"])
        self.assertTrue(rules.ignoresPath("$.a[10].b"))
        self.assertFalse(rules.ignoresPath("$.ab"))
        self.assertTrue(rules.ignoresHeader("x-request-id"))
        self.assertTrue(rules.ignoresHeader("date"))
        self.assertFalse(rules.ignoresHeader("x-version"))


class BytesDiffTests(SynchronousTestCase):
    """
    Non-JSON bodies are compared byte for byte.
    """

    def test_firstDifference(self) -> None:
        """
        The offset of the first differing byte, including prefixes.
        """
        self.assertEqual(firstDifference(b"abcdef", b"abcxef"), 3)
        self.assertEqual(firstDifference(b"abc", b"abcd"), 3)
        self.assertEqual(firstDifference(b"x" * 10000 + b"a", b"x" * 10000 + b"b"), 10000)

    def test_diffBytes(self) -> None:
        """
        Equal bodies have no difference; others show the place and both sides.
        """
        self.assertIsNone(diffBytes(b"same", b"same"))
        d = diffBytes(b"<p>hello</p>", b"<p>help</p>")
        assert d is not None
        self.assertEqual(d, Difference("$ (byte 6; 12 vs 11 bytes)", "<p>hello</p>", "<p>help</p>"))


class ComparatorTests(SynchronousTestCase):
    """
    L{Comparator.compare} puts it together.
    """

    def test_same(self) -> None:
        """
        Identically decoded responses are the same whatever their codings.
        """
        body = b'{"a": [1, 2]}'
        a = decodeResponse(response(200, body, b"Content-Type: application/json\r\n"))
        b = decodeResponse(
            response(200, chunked(gzip.compress(b'{"a":[1,2]}')), b"Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n",
                False,
            )
        )
        self.assertEqual(Comparator(["*"]).compare(a, b), {})

    def test_categories(self) -> None:
        """
        Status, a named header and a JSON field differ.
        """
        a = decodeResponse(response(200, b'{"v":1}', b"X-Version: 1\r\nDate: a\r\n"))
        b = decodeResponse(response(500, b'{"v":2}', b"X-Version: 2\r\nDate: b\r\n"))
        self.assertEqual(
            Comparator(["X-Version"]).compare(a, b),
            {
                "status": [Difference("status", "200", "500")],
                "header": [Difference("header:x-version", "1", "2")],
                "body": [Difference("$.v", "1", "2")],
            },
        )
        # Headers are only compared when named; Date is noise for '*'.
        self.assertNotIn("header", Comparator().compare(a, b))
        self.assertEqual(
            Comparator(["*"], ["x-ver*"]).compare(a, b).get("header"), None
        )
        self.assertEqual(
            Comparator(["date"]).compare(a, b)["header"], [Difference("header:date", "a", "b")]
        )

    def test_wholeBodyIgnored(self) -> None:
        """
        C{$} ignores whole bodies, JSON or not.
        """
        a = decodeResponse(response(200, b"<html>1"))
        b = decodeResponse(response(200, b"<html>2"))
        self.assertIn("body", Comparator().compare(a, b))
        self.assertEqual(Comparator(ignore=["$"]).compare(a, b), {})

    def test_jsonAgainstText(self) -> None:
        """
        A JSON body against a non-JSON one is a byte difference.
        """
        a = decodeResponse(response(200, b'{"a":1}', b"Content-Type: application/json\r\n"))
        b = decodeResponse(response(200, b"Internal error", b"Content-Type: text/plain\r\n"))
        [d] = Comparator().compare(a, b)["body"]
        self.assertTrue(d.path.startswith("$ (byte 0;"))


    def test_hugeJSONComparedAsBytes(self) -> None:
        """
        JSON bodies over the parse limit are compared byte for byte (parsing
        would stall the reactor), still finding the difference.
        """
        from twisted_gor.compare import diff

        self.patch(diff, "MAX_JSON_BODY", 100)
        big = b'{"items": [' + b",".join(b"%d" % i for i in range(60)) + b"]"
        a = decodeResponse(response(200, big + b', "v": 1}', b"Content-Type: application/json\r\n"))
        b = decodeResponse(response(200, big + b', "v": 2}', b"Content-Type: application/json\r\n"))
        [d] = Comparator().compare(a, b)["body"]
        self.assertTrue(d.path.startswith("$ (byte "), d.path)


class EndpointTests(SynchronousTestCase):
    """
    Requests are grouped by method and folded path.
    """

    def test_fold(self) -> None:
        """
        Numbers, UUIDs and long hex ids fold to C{{id}}; the query goes.
        """
        self.assertEqual(foldPath(b"/users/42/orders?page=2#x"), b"/users/{id}/orders")
        self.assertEqual(foldPath(b"/o/0f8fad5b-d9cb-469f-a165-70867728950e"), b"/o/{id}")
        self.assertEqual(foldPath(b"/blob/5f2b8c0e9a1d4e7f8a9b"), b"/blob/{id}")
        self.assertEqual(foldPath(b"/v2/abcdefabcdefabcdef/deadbeef"), b"/v2/abcdefabcdefabcdef/deadbeef")
        self.assertEqual(foldPath(b"http://h:8/a/1"), b"/a/{id}")
        self.assertEqual(foldPath(b""), b"/")

    def test_endpointOf(self) -> None:
        """
        C{METHOD /path}; a payload that is no request is L{UNKNOWN}.
        """
        self.assertEqual(endpointOf(b"post /items/7?x HTTP/1.1\r\nHost: a\r\n\r\n"), "POST /items/{id}")
        self.assertEqual(endpointOf(b"nonsense"), UNKNOWN)


class ReportTests(SynchronousTestCase):
    """
    The per-endpoint aggregate.
    """

    def test_samplesBounded(self) -> None:
        """
        Counts per category, at most C{samples} sample ids each; identical
        endpoints only counted.
        """
        report = Report(samples=2)
        for i in range(5):
            report.recordComparison("GET /a", f"id{i}", {"body": [Difference("$.x", "1", "2")]})
        report.recordComparison("GET /a", "same", {})
        report.recordComparison("GET /b", "b1", {})
        report.recordUnpaired("GET /a", "u1", "no_replay")
        result = report.asDict({"compared": 7}, {})
        self.assertEqual(result["identical"], {"GET /b": 1})
        a = result["endpoints"]["GET /a"]
        self.assertEqual((a["compared"], a["same"], a["differs"]["body"]["count"]), (6, 1, 5))
        self.assertEqual([s["id"] for s in a["differs"]["body"]["samples"]], ["id0", "id1"])
        self.assertEqual(a["unpaired"], {"no_replay": {"count": 1, "samples": [{"id": "u1"}]}})
        self.assertEqual(
            report.summaryLines(),
            ["GET /a: 6 compared, 1 same, body differs 5, unpaired no_replay 1 (e.g. id id0: $.x 1 -> 2)"],
        )

    def test_endpointsBounded(self) -> None:
        """
        Past C{maxEndpoints}, pairs are counted under L{OTHER}.
        """
        report = Report(maxEndpoints=2)
        for i in range(5):
            report.recordComparison(f"GET /{i}", "x", {})
        self.assertEqual(sorted(report.endpoints), sorted(["GET /0", "GET /1", OTHER]))
        self.assertEqual(report.endpoints[OTHER].compared, 3)
