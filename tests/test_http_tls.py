# -*- test-case-name: tests.test_http_tls -*-
"""
C{https://} targets through the real C{gor} command, against a TLS server
started by the test with a certificate the test generates.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from OpenSSL import SSL
from twisted.internet import defer, ssl
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.certs import serverPEM
from tests.support import runGor
from tests.test_http_e2e import counters, gorFile, startServer
from twisted_gor.http.client import lostReason
from twisted_gor.http.tls import InsecureClientCreator, clientCreator


def selfSignedPEM() -> bytes:
    """
    A fresh certificate for C{localhost} and C{127.0.0.1}, with its key, as
    PEM, signed by a throw-away CA (so trusted by nobody).
    """
    with tempfile.TemporaryDirectory() as directory:
        return serverPEM(directory)


def serverOptions(serverNames: list[bytes]) -> Any:
    """
    Server TLS options with a self-signed certificate that record the SNI
    name of every handshake in C{serverNames}.
    """
    options = ssl.PrivateCertificate.loadPEM(selfSignedPEM()).options()
    context = options.getContext()

    def onServerName(connection: SSL.Connection) -> None:
        serverNames.append(connection.get_servername() or b"")

    context.set_tlsext_servername_callback(onServerName)
    return options


REQS = [
    b"GET /a HTTP/1.1\r\nHost: prod\r\n\r\n",
    b"POST /b HTTP/1.1\r\nHost: prod\r\nContent-Length: 3\r\n\r\nxyz",
    b"GET /c HTTP/1.1\r\nHost: prod\r\n\r\n",
]


class HttpsTargetTests(TestCase):
    """
    C{--output-http https://...} with and without C{--output-http-skip-verify}.
    """

    timeout = 60

    def setUp(self) -> None:
        self.names: list[bytes] = []
        self.server = startServer(self, tlsOptions=serverOptions(self.names))
        self.file = gorFile(REQS, os.path.join(tempfile.mkdtemp(), "in.gor"))

    @defer.inlineCallbacks
    def test_skipVerify(self) -> Any:
        """
        With --output-http-skip-verify the requests reach the TLS server byte
        for byte (Host set to the target) over a persistent connection, and
        the host name is still sent as SNI.
        """
        port = self.server.port
        result = yield runGor(
            "--input-file", self.file, "--output-http", f"https://localhost:{port}",
            "--output-http-skip-verify", "--output-http-workers", "1",
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(self.server.requests, [r.replace(b"Host: prod", b"Host: localhost:%d" % port) for r in REQS])
        c = counters(result.errText, "output_http")
        self.assertEqual((c["sent"], c["succeeded"], c["connections"]), (3, 3, 1), c)
        self.assertEqual(self.names, [b"localhost"])

    @defer.inlineCallbacks
    def test_untrustedCounted(self) -> Any:
        """
        Without --output-http-skip-verify the untrusted certificate fails
        every request as failed.tls (logged once, with a hint), nothing
        reaches the server, and gor keeps going: a second, plain output gets
        every request and gor exits normally.
        """
        plain = startServer(self)
        result = yield runGor(
            "--input-file", self.file,
            "--output-http", f"https://127.0.0.1:{self.server.port}",
            "--output-http", f"127.0.0.1:{plain.port}",
            "--output-http-workers", "1",
        )
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(self.server.requests, [])
        self.assertEqual(len(plain.requests), 3)
        c = counters(result.errText, "output_http(https")
        self.assertEqual((c["sent"], c["failed.tls"], c.get("succeeded", 0)), (3, 3, 0), c)
        self.assertEqual(result.errText.count("TLS failed"), 1, result.errText)
        self.assertIn("certificate verify failed", result.errText)
        self.assertIn("--output-http-skip-verify", result.errText)


class TLSUnitTests(SynchronousTestCase):
    """
    The TLS helpers.
    """

    def test_lostReason(self) -> None:
        """
        A connection lost on an OpenSSL error is C{tls}; anything else C{reset}.
        """
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.assertEqual(lostReason(Failure(SSL.Error([("SSL routines", "", "certificate verify failed")]))), "tls")
        self.assertEqual(lostReason(Failure(ConnectionLost())), "reset")

    def test_creators(self) -> None:
        """
        skip-verify gives the SNI-sending insecure creator, with no SNI for IP
        literals; otherwise Twisted's verifying options.
        """
        self.assertIsInstance(clientCreator("localhost", True), InsecureClientCreator)
        self.assertEqual(InsecureClientCreator("localhost")._serverName, b"localhost")
        self.assertIsNone(InsecureClientCreator("::1")._serverName)
        self.assertNotIsInstance(clientCreator("localhost", False), InsecureClientCreator)
