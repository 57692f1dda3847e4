"""
In-process middlewares for the tests of C{--middleware-python}
(loaded as C{tests.mw_inprocess:NAME}).
"""

from __future__ import annotations

from typing import Iterable

from twisted.internet.defer import Deferred
from zope.interface import implementer

from twisted_gor import REQUEST, IMiddleware, Message


@implementer(IMiddleware)
class DropInject:
    """
    Requests whose path contains /drop are dropped; for each request whose
    path contains /inject a new request (id C{inj} + its id) is injected;
    requests get C{X-Mw: 1} (right after the request line); others pass.
    """

    def handleMessage(self, message: Message) -> Iterable[Message]:
        if message.type != REQUEST:
            return [message]
        line, sep, rest = message.payload.partition(b"\r\n")
        if b"/drop" in line:
            return []
        out = [message.replace(payload=line + sep + b"X-Mw: 1\r\n" + rest)]
        if b"/inject" in line:
            out.append(Message(REQUEST, b"inj" + message.id, message.timestamp, -1, b"GET /injected HTTP/1.1\r\nHost: x\r\n\r\n"))
        return out


@implementer(IMiddleware)
class Later:
    """
    Every message passed on from a Deferred that fires 10 ms later.
    """

    def handleMessage(self, message: Message) -> Deferred[list[Message]]:
        from twisted.internet import reactor
        from twisted.internet.task import deferLater

        return deferLater(reactor, 0.01, lambda: [message])


def notAMiddleware() -> object:
    """
    A factory returning something that is no L{IMiddleware}.
    """
    return object()
