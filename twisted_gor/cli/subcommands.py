# -*- test-case-name: tests.test_subcommands -*-
"""
GoReplay's first-word sub-commands: C{gor file-server ADDR}, and hints for
the 0.1-0.3 C{gor listen} / C{gor replay} sub-commands.

C{gor file-server ADDR} serves the current directory over HTTP
(twisted.web's L{static.File}), logging one line per request; handy as a
replay target and for serving recordings. GoReplay's C{/loop} path (a GET
to itself) is not copied. It stops on SIGINT/SIGTERM, exit 0.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

from twisted.logger import Logger

_log = Logger(namespace="twisted_gor.fileserver")

HINTS = {
    "listen": "gor listen (Gor 0.1-0.3) is now: gor --input-raw [IF]:PORT --output-tcp HOST:28020",
    "replay": "gor replay (Gor 0.1-0.3) is now: gor --input-tcp :28020 --output-http http://HOST:PORT",
}
"""One line for each 0.x sub-command, naming today's flags."""

SUBCOMMANDS = ("file-server", *HINTS)
"""The first words that are not flags."""


def _usage(message: str) -> None:
    sys.stderr.write(f"gor: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def run(argv: Sequence[str]) -> None:
    """
    Run the sub-command C{argv[0]} (one of L{SUBCOMMANDS}); exits.
    """
    name, args = argv[0], list(argv[1:])
    if name in HINTS:
        _usage(HINTS[name])
    if len(args) != 1 or args[0].startswith("-"):
        _usage("file-server: expected one address, e.g. gor file-server :8000")
    from twisted_gor.relay.address import parseHostPort

    try:
        host, port = parseHostPort(args[0], requireHost=False)
    except ValueError as e:
        _usage(f"file-server: {e}")
    from twisted_gor.cli.script import startLogging

    startLogging(0)
    from twisted.internet import task

    task.react(lambda reactor: _serve(reactor, host, port))


def _serve(reactor: Any, host: str, port: int) -> Any:
    from twisted.internet.defer import Deferred
    from twisted.web import server, static

    class LoggingSite(server.Site):
        """
        One log line per request: client, method, path, status, bytes.
        """

        def log(self, request: Any) -> None:
            client = request.getClientAddress()
            _log.info(
                "file-server: {client} {method} {uri} {code} {length}",
                client=getattr(client, "host", "-"),
                method=request.method.decode("latin-1"),
                uri=request.uri.decode("latin-1"),
                code=request.code,
                length=request.sentLength,
            )

    from twisted_gor.cli.signals import installQuietSignals

    installQuietSignals(reactor)
    directory = os.getcwd()
    site = LoggingSite(static.File(directory))
    site.noisy = False
    listening = reactor.listenTCP(port, site, interface=host)
    address = listening.getHost()
    _log.info(
        "file-server: serving {directory} on {host}:{port}",
        directory=directory,
        host=address.host,
        port=address.port,
    )
    return Deferred()
