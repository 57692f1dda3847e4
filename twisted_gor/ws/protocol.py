# -*- test-case-name: tests.test_ws -*-
"""
The WebSocket protocol of one C{--output-ws} connection: autobahn's client
protocol reporting to its worker (L{twisted_gor.ws.output}). Its own module
so that autobahn is imported only when an C{--output-ws} is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autobahn.twisted.websocket import WebSocketClientProtocol

if TYPE_CHECKING:
    from twisted_gor.ws.output import _Worker


class _Client(WebSocketClientProtocol):
    """
    One worker's WebSocket connection (autobahn's protocol).
    """

    worker: "_Worker"
    opened = False

    def onOpen(self) -> None:
        self.opened = True
        self.worker.opened(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.worker.output.stats.increment("unexpected_messages")

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.worker.closed(self, wasClean, reason)
