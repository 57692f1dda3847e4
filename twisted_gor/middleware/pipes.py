# -*- test-case-name: tests.test_middleware -*-
"""
The child's stdin and stdout as pipes of our own, handed to
C{reactor.spawnProcess} through C{childFDs}, so that they can be big: a
1 MiB kernel buffer each way (C{F_SETPIPE_SZ}, when the system allows it)
and 64 KiB reads. With Twisted's own process pipes (64 KiB, 8 KiB reads)
gor made a reactor turn and a read system call for every three or four
1 KiB messages, and spent more time than a Python echo middleware.

Both are L{twisted.internet.abstract.FileDescriptor}s: the writer keeps
Twisted's write buffer and producer handling (it pauses the registered
producer past C{bufferSize}), the reader delivers what it reads to a
callable.
"""

from __future__ import annotations

import errno
import fcntl
import os
from typing import Any, Callable

from twisted.internet import abstract, fdesc, main
from twisted.python.failure import Failure

PIPE_SIZE = 1024 * 1024
"""Kernel buffer asked for each pipe (Linux caps it at /proc/sys/fs/pipe-max-size)."""

READ_SIZE = 64 * 1024
"""Bytes asked for per read of the child's stdout (below malloc's mmap
threshold: 256 KiB reads, a fresh mapping each, made a Python echo run 30%
longer)."""

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def makePipe(size: int = PIPE_SIZE) -> tuple[int, int]:
    """
    A pipe C{(read end, write end)}, both close-on-exec, with a kernel
    buffer of C{size} bytes when possible (else the default).
    """
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, _F_SETPIPE_SZ, size)
    except OSError:
        pass
    return r, w


class PipeReader(abstract.FileDescriptor):
    """
    The read end of a pipe: every read goes to C{received}; at end of file
    (or an error) C{closed} is called once.
    """

    def __init__(self, reactor: Any, fd: int, received: Callable[[bytes], None], closed: Callable[[], None]) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        fdesc.setNonBlocking(fd)
        self.fd = fd
        self.received = received
        self.closed = closed
        self.connected = True

    def fileno(self) -> int:
        """
        The pipe's descriptor (-1 once closed).
        """
        return self.fd

    def doRead(self) -> Any:
        """
        Read what is there, up to L{READ_SIZE}.
        """
        try:
            data = os.read(self.fd, READ_SIZE)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return None
            return main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        self.received(data)
        return None

    def writeSomeData(self, data: bytes) -> Any:
        """
        Never written (L{abstract.FileDescriptor.loseConnection} may call it).
        """
        return main.CONNECTION_LOST

    def connectionLost(self, reason: Failure) -> None:
        """
        Close the descriptor and tell C{closed}.
        """
        abstract.FileDescriptor.connectionLost(self, reason)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.closed()


class PipeWriter(abstract.FileDescriptor):
    """
    The write end of a pipe, with Twisted's write buffer: a registered
    streaming producer is paused past C{bufferSize} bytes buffered and
    resumed once the buffer is empty. C{closed} is called once it is gone
    (after L{loseConnection} wrote everything, or when the reader went away).
    """

    bufferSize = 256 * 1024
    SEND_LIMIT = 256 * 1024

    def __init__(self, reactor: Any, fd: int, closed: Callable[[], None]) -> None:
        abstract.FileDescriptor.__init__(self, reactor)
        fdesc.setNonBlocking(fd)
        self.fd = fd
        self.closed = closed
        self.connected = True

    def fileno(self) -> int:
        """
        The pipe's descriptor (-1 once closed).
        """
        return self.fd

    def writeSomeData(self, data: bytes) -> Any:
        """
        Write what the pipe takes.
        """
        return fdesc.writeToFD(self.fd, data)

    def doRead(self) -> Any:
        """
        A write end is readable only when the reader is gone (select-style
        reactors); epoll reports that as an error.
        """
        return main.CONNECTION_LOST

    def connectionLost(self, reason: Failure) -> None:
        """
        Close the descriptor and tell C{closed}.
        """
        abstract.FileDescriptor.connectionLost(self, reason)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.closed()


__all__ = ["PipeReader", "PipeWriter", "makePipe", "PIPE_SIZE", "READ_SIZE"]
