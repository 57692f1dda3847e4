# -*- test-case-name: tests.test_http_tls -*-
"""
TLS client settings of C{--output-http} for C{https://} targets.

By default the certificate is verified against the system trust store and
the target's host name (Twisted's L{optionsForClientTLS}). With
C{--output-http-skip-verify} nothing is verified, but the host name is still
sent as SNI (as Go's C{InsecureSkipVerify} does), so targets that pick their
certificate or virtual host by SNI keep working.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from OpenSSL import SSL
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from zope.interface import implementer


@implementer(IOpenSSLClientConnectionCreator)
class InsecureClientCreator:
    """
    Client TLS connections that accept any certificate and send SNI.
    """

    def __init__(self, host: str) -> None:
        self._context = ssl.CertificateOptions(verify=False).getContext()
        try:
            ipaddress.ip_address(host)
            self._serverName: bytes | None = None  # no SNI for IP literals (RFC 6066)
        except ValueError:
            self._serverName = host.encode("idna")

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        """
        A new client-side L{SSL.Connection} for C{tlsProtocol}.
        """
        connection = SSL.Connection(self._context, None)
        if self._serverName is not None:
            connection.set_tlsext_host_name(self._serverName)
        connection.set_app_data(tlsProtocol)
        connection.set_connect_state()
        return connection


def clientCreator(host: str, skipVerify: bool) -> Any:
    """
    The connection creator for an C{https://} target on C{host}.
    """
    if skipVerify:
        return InsecureClientCreator(host)
    return ssl.optionsForClientTLS(host)
