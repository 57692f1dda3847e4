"""
Tests for the public API in L{twisted_gor}: what it exports, that each name is
the implementation itself, that importing it is cheap, and that the examples
use nothing else.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from importlib import import_module

from twisted.trial.unittest import TestCase

import twisted_gor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PINNED = {
    "__version__",
    "makeGorService", "GorService", "GorConfig", "BuildContext", "Capabilities", "Prebuilt",
    "CAPTURED_RESPONSES", "REPLAYED_RESPONSES", "REPLAY_RESULTS",
    "Message", "ReplayResult", "REQUEST", "RESPONSE", "REPLAYED_RESPONSE", "newRequestId",
    "encodeMessage", "RecordDecoder",
    "IInput", "IOutput", "IMessageReceiver", "IMessageFilter", "IBackpressure", "IResponseSource",
    "IReplaySource", "IReplayObserver", "IStatsSource",
    "InputBase", "OutputBase", "FlowControl", "Counters", "AbsoluteLimit", "PercentageLimit", "parseLimit",
    "DummyInputConfig", "NullOutputConfig", "StdoutOutputConfig", "FileInputConfig", "FileOutputConfig",
    "HttpOutputConfig", "parseTarget", "HttpInputConfig", "RawInputConfig", "TCPInputConfig",
    "TCPOutputConfig", "ElasticsearchOutputConfig", "parseElasticsearchURL", "CompareOutputConfig",
    "IMiddleware", "ExternalMiddlewareConfig", "PythonMiddlewareConfig",
    "WSOutputConfig", "parseWebSocketURL",
    "KafkaConnection", "KafkaInputConfig", "KafkaOutputConfig",
}


class ExportTests(TestCase):
    """
    L{twisted_gor.__all__} is the public API.
    """

    def test_pinned(self) -> None:
        """
        The exported names are exactly the pinned ones: adding or removing a
        public name is a decision, made here.
        """
        self.assertEqual(set(twisted_gor.__all__), PINNED)
        self.assertEqual(len(twisted_gor.__all__), len(PINNED))

    def test_identity(self) -> None:
        """
        Every exported name is the object of the module implementing it.
        """
        for name, module in twisted_gor._EXPORTS.items():
            self.assertIs(getattr(twisted_gor, name), getattr(import_module(module), name), name)

    def test_unknownName(self) -> None:
        """
        An unknown name is an L{AttributeError}, as for any module.
        """
        self.assertRaises(AttributeError, getattr, twisted_gor, "NoSuchThing")

    def test_interfacesModule(self) -> None:
        """
        L{twisted_gor.interfaces} re-exports the same interfaces.
        """
        from twisted_gor import interfaces

        for name in interfaces.__all__:
            self.assertIs(getattr(interfaces, name), getattr(twisted_gor, name))

    def test_importIsCheap(self) -> None:
        """
        C{import twisted_gor} imports neither the reactor nor pcap nor any area.
        """
        code = (
            "import sys, twisted_gor; "
            "bad = [m for m in ('twisted.internet.reactor', 'pcap', 'twisted_gor.raw', 'twisted_gor.http') "
            "if m in sys.modules]; print(bad)"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
        self.assertEqual(out.stdout.strip(), "[]")


class ExamplesUsePublicAPITests(TestCase):
    """
    The examples import from C{twisted_gor} only (never a private module or
    C{twisted_gor.testing}).
    """

    def test_examples(self) -> None:
        """
        Every C{twisted_gor} import in examples/ is C{from twisted_gor import ...}
        of exported names.
        """
        directory = os.path.join(REPO, "examples")
        checked = 0
        for name in sorted(os.listdir(directory)):
            with open(os.path.join(directory, name)) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("twisted_gor"):
                    self.assertEqual(node.module, "twisted_gor", f"{name} imports {node.module}")
                    for alias in node.names:
                        self.assertIn(alias.name, PINNED, f"{name} imports {alias.name}")
                    checked += 1
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        self.assertFalse(alias.name.startswith("twisted_gor."), f"{name} imports {alias.name}")
        self.assertGreaterEqual(checked, 2)


class ReadmeExamplesTests(TestCase):
    """
    The README's embedding examples are the code of examples/ (which the
    suite runs), so what the README shows runs.
    """

    def test_readmeShowsTheExamples(self) -> None:
        """
        Each example's code, after its docstring, is a literal block of
        README.rst.
        """
        import re
        import textwrap

        with open(os.path.join(REPO, "README.rst")) as f:
            readme = f.read()
        blocks = [textwrap.dedent(b).strip() for b in re.findall(r"::\n\n((?:(?:    .*)?\n)+)", readme)]
        for name in ("gor.tac", "embed.py"):
            with open(os.path.join(REPO, "examples", name)) as f:
                code = re.sub(r'^""".*?"""\n+', "", f.read(), count=1, flags=re.S).strip()
            self.assertIn(code, blocks, name)
