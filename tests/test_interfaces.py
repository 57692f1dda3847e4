"""
Every input, output and filter that the command line can build provides its
interface (checked with C{verifyObject}), and the public interface module
re-exports the private one.
"""

import os

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from tests.pcapgen import writePcap
from tests.support import freePort
from twisted_gor import _interfaces, interfaces
from twisted_gor._interfaces import IInput, IMessageFilter, IOutput, IResponseSource
from twisted_gor.service import makeGorService
from twisted_gor.cli.tap import Options


class EveryComponentTests(SynchronousTestCase):
    """
    Build one of everything from a command line.
    """

    def test_everyComponent(self) -> None:
        """
        Inputs provide L{IInput}, outputs L{IOutput} (HTTP replay also
        L{IResponseSource}), the HTTP modifiers L{IMessageFilter}.
        """
        tmp = os.path.abspath(self.mktemp())
        os.makedirs(tmp)
        gorFile = os.path.join(tmp, "in.gor")
        open(gorFile, "wb").close()
        pcapFile = os.path.join(tmp, "in.pcap")
        writePcap(pcapFile, [])
        options = Options()
        options.parseOptions(
            [
                "--input-dummy", "0",
                "--input-file", gorFile,
                "--input-raw", "127.0.0.1:%d" % freePort(),
                "--input-raw", pcapFile + ":80",
                "--input-tcp", "127.0.0.1:%d" % freePort(),
                "--input-http", "127.0.0.1:%d" % freePort(),
                "--output-stdout",
                "--output-null",
                "--output-file", os.path.join(tmp, "out.gor"),
                "--output-tcp", "127.0.0.1:%d" % freePort(),
                "--output-http", "http://127.0.0.1:%d" % freePort(),
                "--output-http-elasticsearch", "127.0.0.1:%d/gor" % freePort(),
                "--http-allow-method", "GET",
            ]
        )  # fmt: skip
        assert options.config is not None
        service = makeGorService(options.config, MemoryReactorClock())
        self.assertEqual(len(service.inputs), 6)
        self.assertEqual(len(service.outputs), 6)
        for input in service.inputs:
            self.assertTrue(verifyObject(IInput, input), input)
        for output in service.outputs:
            self.assertTrue(verifyObject(IOutput, output), output)
        replays = [o for o in service.outputs if IResponseSource.providedBy(o)]
        self.assertEqual(len(replays), 1)
        self.assertTrue(verifyObject(IResponseSource, replays[0]))
        self.assertEqual(len(service.filters), 1)
        self.assertTrue(verifyObject(IMessageFilter, service.filters[0]))

    def test_publicExports(self) -> None:
        """
        L{twisted_gor.interfaces} exports the very objects of the private module.
        """
        for name in interfaces.__all__:
            self.assertIs(getattr(interfaces, name), getattr(_interfaces, name))
