# -*- test-case-name: tests.test_writenow -*-
"""
Write to a TCP transport at once when nothing is buffered.

C{transport.write} only buffers: the bytes go out on the reactor's next
turn, after an C{epoll_ctl} to watch for writability, a C{doWrite} dispatch
and another C{epoll_ctl} to stop watching. A replay client that answers
each response with the next request pays that round trip per request. When
the transport holds nothing, L{WriteNow} sends on the socket directly; what
the socket does not take (a full send buffer, or any error) is handed to
C{transport.write}, so the reactor writes the rest and discovers errors
(a reset, a broken pipe) exactly as it would have. Only plain TCP
transports of Twisted's own C{tcp} module qualify; any other transport
(TLS, a test's fake) is written to as usual.

Measured (C{bench/bench_http.py}, 10 workers to nginx): see
C{bench/README.rst}.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import tcp


class WriteNow:
    """
    Writes C{bytes} to one transport, sending at once when it is idle.
    """

    __slots__ = ("_transport", "_send")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        send: Optional[Callable[[bytes], int]] = None
        if isinstance(transport, tcp.Connection) and all(
            hasattr(transport, name) for name in ("_tempDataLen", "dataBuffer", "offset", "_writeDisconnected")
        ):
            send = transport.socket.send
        self._send = send

    def write(self, data: bytes) -> None:
        """
        Send C{data} now if the transport has nothing buffered, else (and for
        whatever the socket does not take) through C{transport.write}.
        """
        t = self._transport
        send = self._send
        if (
            send is not None
            and t.connected
            and not t._writeDisconnected
            and not t._tempDataLen
            and t.offset == len(t.dataBuffer)
            and t.producer is None
        ):
            try:
                sent = send(data)
            except OSError:
                sent = 0  # the reactor's own write meets (and reports) the error
            if sent >= len(data):
                return
            data = data[sent:]
        t.write(data)


__all__ = ["WriteNow"]
