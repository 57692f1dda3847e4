"""
Tests for L{twisted_gor.prettify}: GoReplay's prettifier cases (H1, H2)
and what it does beyond them.
"""

from __future__ import annotations

import gzip
import zlib

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.message import Message
from twisted_gor.pipeline import Pipeline
from twisted_gor.prettify import Prettifier, prettifyPayload
from twisted_gor.testing import MemoryOutput

CHUNKED = (
    b"POST /post HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4\r\nWiki\r\n5\r\npedia\r\ne\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n"
)


def response(body: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


class PrettifyPayloadTests(SynchronousTestCase):
    """
    L{prettifyPayload}.
    """

    def test_gzipResponse(self) -> None:
        """
        H1: a gzipped response becomes exactly its plain form.
        """
        packed = gzip.compress(b"test")
        payload = response(packed, b"Content-Length: %d" % len(packed), b"Content-Encoding: gzip")
        self.assertEqual(prettifyPayload(payload), b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntest")

    def test_chunkedRequest(self) -> None:
        """
        H2: a chunked POST body is de-chunked; Content-Length 23, no
        Transfer-Encoding.
        """
        self.assertEqual(
            prettifyPayload(CHUNKED),
            b"POST /post HTTP/1.1\r\nContent-Length: 23\r\nHost: a\r\n\r\nWikipedia in\r\n\r\nchunks.",
        )

    def test_chunkedAndGzip(self) -> None:
        """
        Both: de-chunked, then gunzipped; both headers gone.
        """
        packed = gzip.compress(b"hello world")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
        payload = response(body, b"Transfer-Encoding: chunked", b"Content-Encoding: gzip")
        self.assertEqual(prettifyPayload(payload), b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")

    def test_deflate(self) -> None:
        """
        C{deflate}, zlib-wrapped or raw.
        """
        wrapped = zlib.compress(b"abc")
        raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        rawBody = raw.compress(b"abc") + raw.flush()
        for body in (wrapped, rawBody):
            payload = response(body, b"Content-Encoding: deflate", b"Content-Length: %d" % len(body))
            self.assertEqual(prettifyPayload(payload), b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")

    def test_nothingToDo(self) -> None:
        """
        A message without codings is returned as it is (the same object).
        """
        payload = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        self.assertIs(prettifyPayload(payload), payload)
        identity = response(b"x", b"Content-Encoding: identity", b"Content-Length: 1")
        self.assertEqual(prettifyPayload(identity), b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")

    def test_kept(self) -> None:
        """
        What cannot be prettified raises L{ValueError} naming why.
        """
        packed = gzip.compress(b"x" * 1000)
        cases = {
            "incomplete": CHUNKED[:-7],
            "bad_coding": response(b"not gzip", b"Content-Encoding: gzip", b"Content-Length: 8"),
            "unsupported_coding": response(b"xx", b"Content-Encoding: br", b"Content-Length: 2"),
            "bad_chunk": b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        }
        for reason, payload in cases.items():
            with self.assertRaises(ValueError) as e:
                prettifyPayload(payload)
            self.assertEqual(e.exception.args[0], reason)
        cut = response(packed[:-10], b"Content-Encoding: gzip", b"Content-Length: %d" % (len(packed) - 10))
        self.assertRaises(ValueError, prettifyPayload, cut)

    def test_bombBounded(self) -> None:
        """
        A body that would decompress beyond C{maxSize} is kept compressed.
        """
        bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
        payload = response(bomb, b"Content-Encoding: gzip", b"Content-Length: %d" % len(bomb))
        with self.assertRaises(ValueError) as e:
            prettifyPayload(payload, maxSize=1024 * 1024)
        self.assertEqual(e.exception.args[0], "too_large")


class PrettifierTests(SynchronousTestCase):
    """
    L{Prettifier} counts, and the pipeline applies it to every type.
    """

    def test_counts(self) -> None:
        """
        C{prettified} and C{kept.<reason>}; a kept message is unchanged.
        """
        p = Prettifier()
        m = Message(1, b"a", 1, -1, CHUNKED)
        self.assertEqual(p(m).payload[-7:], b"chunks.")
        bad = Message(1, b"b", 1, -1, CHUNKED[:-7])
        self.assertIs(p(bad), bad)
        plain = Message(1, b"c", 1, -1, b"GET / HTTP/1.1\r\n\r\n")
        self.assertIs(p(plain), plain)
        self.assertEqual(p.stats.items(), [("kept.incomplete", 1), ("prettified", 1)])

    def test_pipelineAllTypes(self) -> None:
        """
        The pipeline prettifies requests and responses alike.
        """
        out = MemoryOutput()
        packed = gzip.compress(b"test")
        pipeline = Pipeline([(out, None)], clock=Clock(), prettifier=Prettifier())
        pipeline.messageReceived(Message(1, b"a", 1, -1, CHUNKED))
        pipeline.messageReceived(Message(2, b"a", 1, 1, response(packed, b"Content-Encoding: gzip")))
        pipeline.messageReceived(Message(3, b"a", 1, 1, response(packed, b"Content-Encoding: gzip")))
        self.assertEqual([m.payload[-7:] for m in out.messages], [b"chunks.", b"\n\r\ntest", b"\n\r\ntest"])
        self.assertEqual([b"Content-Length: 4" in m.payload for m in out.messages[1:]], [True, True])
