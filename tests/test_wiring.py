"""
Wiring by declared capabilities (L{twisted_gor.config.Capabilities}): what a
component wants or requires is turned on in whatever provides it, whatever the
order of the configs; self-ports belong to one service.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any, ClassVar

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from twisted_gor import (
    CAPTURED_RESPONSES,
    REPLAY_RESULTS,
    REPLAYED_RESPONSES,
    BuildContext,
    Capabilities,
    CompareOutputConfig,
    DummyInputConfig,
    ElasticsearchOutputConfig,
    GorConfig,
    HttpOutputConfig,
    IReplayObserver,
    Message,
    NullOutputConfig,
    OutputBase,
    Prebuilt,
    REQUEST,
    RawInputConfig,
    ReplayResult,
    makeGorService,
    parseElasticsearchURL,
    parseTarget,
)
from twisted_gor.config import enabledCapabilities
from twisted_gor.export.elasticsearch import ElasticsearchOutput
from twisted_gor.http.output import HttpOutput
from twisted_gor.raw.input import RawInput
from twisted_gor.testing import MemoryInput, MemoryOutput

from tests.support import freePort


@dataclass
class _Wants(Capabilities):
    limit: Any = None
    wants: ClassVar[frozenset[str]] = frozenset({"x"})

    def build(self, context: BuildContext) -> Any:
        return None


@dataclass
class _Provides(Capabilities):
    limit: Any = None
    provides: ClassVar[frozenset[str]] = frozenset({"x"})

    def build(self, context: BuildContext) -> Any:
        return None


@dataclass
class _Requires(Capabilities):
    limit: Any = None
    requires: ClassVar[frozenset[str]] = frozenset({REPLAY_RESULTS})
    label: ClassVar[str] = "--needs-replays"

    def build(self, context: BuildContext) -> Any:
        return None


class CapabilityTests(SynchronousTestCase):
    """
    L{enabledCapabilities}.
    """

    def test_orderDoesNotMatter(self) -> None:
        """
        A wanted and provided capability is enabled in every order.
        """
        for order in itertools.permutations([_Wants(), _Provides(), NullOutputConfig()]):
            self.assertEqual(enabledCapabilities(order), {"x"})

    def test_wantedWithoutProvider(self) -> None:
        """
        Wanting without a provider enables nothing and is not an error.
        """
        self.assertEqual(enabledCapabilities([_Wants()]), frozenset())

    def test_requiredWithoutProvider(self) -> None:
        """
        Requiring without a provider is an error naming the component's flag
        and what would provide it.
        """
        e = self.assertRaises(ValueError, enabledCapabilities, [_Requires(), NullOutputConfig()])
        self.assertEqual(str(e), "--needs-replays: needs a replay (--output-http), and none is configured")

    def test_undeclaredConfig(self) -> None:
        """
        A config that declares nothing (an embedder's own) provides and needs
        nothing.
        """

        @dataclass
        class Plain:
            limit: Any = None

        self.assertEqual(enabledCapabilities([Plain(), _Wants()]), frozenset())


class ServiceWiringTests(SynchronousTestCase):
    """
    The service builds what the declarations ask for.
    """

    def configs(self, report: str) -> list[Any]:
        return [
            HttpOutputConfig(parseTarget("http://127.0.0.1:1")),
            ElasticsearchOutputConfig(parseElasticsearchURL("127.0.0.1:1/i")),
            CompareOutputConfig(report),
        ]

    def test_everyOrder(self) -> None:
        """
        In every order of outputs, the comparison makes the capture and the
        replay track responses, and the exporter observes the replay.
        """
        report = os.path.abspath(self.mktemp())
        for outputs in itertools.permutations(self.configs(report)):
            config = GorConfig(inputs=[RawInputConfig("127.0.0.1:80")], outputs=list(outputs))
            self.assertEqual(config.enabledCapabilities(), {CAPTURED_RESPONSES, REPLAYED_RESPONSES, REPLAY_RESULTS})
            service = makeGorService(config, MemoryReactorClock())
            [raw] = service.inputs
            assert isinstance(raw, RawInput)
            [http] = [o for o in service.outputs if isinstance(o, HttpOutput)]
            [es] = [o for o in service.outputs if isinstance(o, ElasticsearchOutput)]
            self.assertTrue(raw.tracker.trackResponse)
            self.assertTrue(http.config.trackResponse)
            self.assertEqual(http.observers, [es])
            # The configs themselves are not changed by building.
            self.assertFalse(outputs[[type(o) for o in outputs].index(HttpOutputConfig)].trackResponse)

    def test_nothingWantedNothingTracked(self) -> None:
        """
        Without a comparison, neither capture nor replay tracks responses.
        """
        config = GorConfig(
            inputs=[RawInputConfig("127.0.0.1:80")],
            outputs=[HttpOutputConfig(parseTarget("http://127.0.0.1:1"))],
        )
        service = makeGorService(config, MemoryReactorClock())
        [raw] = service.inputs
        [http] = service.outputs
        assert isinstance(raw, RawInput) and isinstance(http, HttpOutput)
        self.assertFalse(raw.tracker.trackResponse)
        self.assertFalse(http.config.trackResponse)
        self.assertEqual(http.keep, 0)

    def test_serviceRefusesUnmetRequirement(self) -> None:
        """
        The service, like the command line, refuses an exporter without a replay.
        """
        config = GorConfig(
            inputs=[DummyInputConfig()], outputs=[ElasticsearchOutputConfig(parseElasticsearchURL("h:1/i"))]
        )
        e = self.assertRaises(ValueError, makeGorService, config, MemoryReactorClock())
        self.assertIn("--output-http-elasticsearch", str(e))


@implementer(IReplayObserver)
class Watcher(OutputBase):
    """
    An observer of replays, taking nothing from the pipeline.
    """

    acceptedTypes: frozenset[int] = frozenset()

    def __init__(self) -> None:
        OutputBase.__init__(self, "output_watcher")
        self.results: list[ReplayResult] = []

    def write(self, message: Any) -> None:
        raise AssertionError("an observer takes nothing from the pipeline")

    def replayed(self, result: ReplayResult) -> None:
        self.results.append(result)


class ReplayChannelTests(TestCase):
    """
    One channel for observing replays, on the real reactor against a real
    target.
    """

    timeout = 30

    async def test_oneResultPerReplay(self) -> None:
        """
        Each replay reaches the observer once, and the tracked type-3 message
        is made from the same result (same id, same bytes); a failed replay
        reaches the observer only.
        """
        from twisted.internet import reactor as _reactor
        from twisted.web.resource import Resource
        from twisted.web.server import Site
        from twisted.web.static import Data

        root = Resource()
        root.putChild(b"ok", Data(b"fine", "text/plain"))
        reactor: Any = _reactor
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        watcher, recorder, source = Watcher(), MemoryOutput(frozenset({3})), MemoryInput(finite=True)
        config = GorConfig(
            inputs=[Prebuilt(source)],
            outputs=[
                HttpOutputConfig(parseTarget(f"http://127.0.0.1:{port.getHost().port}"), trackResponse=True),
                HttpOutputConfig(parseTarget(f"http://127.0.0.1:{freePort()}")),
                Prebuilt(watcher),
                Prebuilt(recorder),
            ],
        )
        service = makeGorService(config, reactor)
        service.startService()
        request = Message(REQUEST, b"a" * 24, 1, -1, b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
        source.push(request)
        source.exhaust()
        await service.whenDone()
        await service.stopService()
        ok = [r for r in watcher.results if r.error is None]
        failed = [r for r in watcher.results if r.error is not None]
        self.assertEqual((len(ok), len(failed)), (1, 1))
        self.assertEqual((ok[0].status, ok[0].request.id), (200, request.id))
        self.assertEqual(failed[0].error, "refused")
        [replayed] = recorder.messages
        self.assertEqual((replayed.id, replayed.payload), (request.id, ok[0].response))
        self.assertTrue(replayed.payload.endswith(b"fine"))


class SelfPortsTests(SynchronousTestCase):
    """
    Each service has its own self-ports.
    """

    def test_twoServices(self) -> None:
        """
        Two embedded services do not share self-ports: one's replay
        connections are not hidden from the other's capture.
        """
        config = GorConfig(
            inputs=[RawInputConfig("127.0.0.1:80")], outputs=[HttpOutputConfig(parseTarget("http://127.0.0.1:80"))]
        )
        one = makeGorService(config, MemoryReactorClock())
        two = makeGorService(config, MemoryReactorClock())
        self.assertIsNot(one.selfPorts, two.selfPorts)
        [raw1], [http1] = one.inputs, one.outputs
        [raw2] = two.inputs
        assert isinstance(raw1, RawInput) and isinstance(raw2, RawInput) and isinstance(http1, HttpOutput)
        self.assertIs(raw1.tracker.selfPorts, one.selfPorts)
        self.assertIs(http1.selfPorts, one.selfPorts)
        one.selfPorts.add("127.0.0.1", 50000)
        self.assertIn(("127.0.0.1", 50000), raw1.tracker.selfPorts)
        self.assertNotIn(("127.0.0.1", 50000), raw2.tracker.selfPorts)
