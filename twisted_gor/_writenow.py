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

    @property
    def direct(self) -> bool:
        """
        Whether this writer sends on the socket itself (a plain TCP
        transport of Twisted's own C{tcp} module).
        """
        return self._send is not None


class WriteBatch:
    """
    Gathers the writes of one reactor turn and sends them together at its
    end (on the reactor's next C{runUntilCurrent}, through a C{callLater(0)}
    made once per turn).

    A replay answers each response with the next request; sent one by one
    as responses are read, the sends are spread over the turn and each may
    have to wake the target again (on a VM, a cross-CPU wake-up is an
    interrupt and an exit to the hypervisor). Sent back to back after the
    turn's reads, they reach a target that is still awake: measured with
    C{bench/bench_http.py}, 5-14% less CPU in gor and less in nginx (see
    C{bench/README-http.md}). Each write still goes through its
    L{WriteNow}, so errors are met and reported by the reactor as before.

    Memory: at most one pending write per connection for the replay client
    (one request in flight per connection), so the batch holds at most
    workers x request bytes, and only until the end of the turn.
    """

    __slots__ = ("_reactor", "_pending", "_call")

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._pending: list[tuple[WriteNow, bytes]] = []
        self._call: Any = None

    def write(self, writer: WriteNow, data: bytes) -> None:
        """
        Send C{data} through C{writer} at the end of this reactor turn.
        """
        self._pending.append((writer, data))
        if self._call is None:
            self._call = self._reactor.callLater(0, self.flush)

    def flush(self) -> None:
        """
        Send what is pending now.
        """
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        pending, self._pending = self._pending, []
        for writer, data in pending:
            writer.write(data)

    @property
    def pending(self) -> int:
        """
        Writes waiting for the end of the turn.
        """
        return len(self._pending)


__all__ = ["WriteBatch", "WriteNow"]
