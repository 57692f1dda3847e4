"""
Tests for L{twisted_gor.basic.components} and the interfaces of the core components.
"""

import os

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from twisted_gor._interfaces import IInput, IOutput
from twisted_gor.basic.components import DummyInput, NullOutput, StdoutOutput
from twisted_gor.files.input import FileInput, FileInputConfig
from twisted_gor.files.output import FileOutput, FileOutputConfig
from twisted_gor.framing import iterMessages
from twisted_gor.message import Message
from twisted_gor.testing import MemoryOutput
from twisted_gor.pipeline import Pipeline


class InterfaceTests(SynchronousTestCase):
    """
    Every core input and output provides its interface.
    """

    def test_inputs(self) -> None:
        """
        Dummy and file inputs are L{IInput}s.
        """
        clock = Clock()
        for input in (DummyInput(clock), FileInput(FileInputConfig(pattern="x", paths=["x"]), clock)):
            self.assertTrue(verifyObject(IInput, input))

    def test_outputs(self) -> None:
        """
        Null, stdout and file outputs are L{IOutput}s.
        """
        clock = Clock()
        for output in (NullOutput(), StdoutOutput(clock), FileOutput(FileOutputConfig(pathTemplate="x"), clock)):
            self.assertTrue(verifyObject(IOutput, output))


class DummyInputTests(SynchronousTestCase):
    """
    C{--input-dummy}.
    """

    def test_everySecond(self) -> None:
        """
        One GET request per second, with fresh ids.
        """
        clock = Clock()
        dummy = DummyInput(clock)
        out = MemoryOutput()
        Pipeline([(out, None)], clock=clock).connectInput(dummy)
        dummy.startService()
        for _ in range(3):
            clock.advance(1)
        dummy.stopService()
        self.assertEqual(len(out.messages), 4)
        self.assertEqual(len({m.id for m in out.messages}), 4)
        self.assertTrue(all(m.type == 1 and m.payload.startswith(b"GET / HTTP/1.1") for m in out.messages))


class StdoutOutputTests(TestCase):
    """
    C{--output-stdout} on a pipe and on a regular file.
    """

    async def test_pipe(self) -> None:
        """
        Records written to a pipe arrive whole, and stopping drains them.
        """
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        out = StdoutOutput(fd=w)
        out.startService()
        for i in range(100):
            out.write(Message(1, b"%d" % i, i, -1, b"GET / HTTP/1.1\r\n\r\n"))
        await out.stopService()
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        self.assertEqual(len(list(iterMessages(data))), 100)

    async def test_regularFile(self) -> None:
        """
        A regular file (stdout redirected with >) is written from a thread.
        """
        path = self.mktemp()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT)
        self.addCleanup(os.close, fd)
        out = StdoutOutput(fd=fd)
        out.startService()
        for i in range(10):
            out.write(Message(1, b"%d" % i, i, -1, b"GET / HTTP/1.1\r\n\r\n"))
        await out.stopService()
        with open(path, "rb") as f:
            self.assertEqual(len(list(iterMessages(f.read()))), 10)

    async def test_slowReaderBounded(self) -> None:
        """
        While the pipe's reader lags, what a non-pausable input keeps writing is
        buffered only up to the backlog bound; the rest is dropped and counted,
        and everything accepted reaches the reader whole.
        """
        import threading

        r, w = os.pipe()
        out = StdoutOutput(fd=w)
        out.maxBacklog = 200_000
        out.startService()
        body = b"x" * 1000
        for i in range(2000):
            out.write(Message(1, b"%d" % i, i, -1, b"POST / HTTP/1.1\r\n\r\n" + body))
        written, dropped = out.stats["written"], out.stats["dropped.backlog"]
        self.assertEqual(written + dropped, 2000)
        self.assertGreater(dropped, 0)
        self.assertLess(written * 1050, 200_000 + 2 * 65536 + 65536)
        chunks: list[bytes] = []

        def drain() -> None:
            while chunk := os.read(r, 65536):
                chunks.append(chunk)
            os.close(r)

        reader = threading.Thread(target=drain)
        reader.start()
        await out.stopService()
        os.close(w)
        reader.join(10)
        self.assertEqual(len(list(iterMessages(b"".join(chunks)))), written)

