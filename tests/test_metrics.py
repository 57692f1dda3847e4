"""
C{--metrics} and C{--http-pprof}: the collector over real counters, and the
real C{gor} command scraped while it replays to a real HTTP server.
"""

from __future__ import annotations

import json
import os
from typing import Any

import treq
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from tests.support import freePort, listenLocal, runGor, startGor, waitUntil
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.metrics.collector import GorCollector, metricName, splitName
from twisted_gor.metrics.flags import parseListenAddress
from twisted_gor.stats import Counters, Histogram


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """
    Every sample of a Prometheus text page by name and sorted labels.
    """
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def listeningPorts(pid: int) -> set[int]:
    """
    The TCP ports process C{pid} listens on (its socket inodes in LISTEN
    state in /proc/net/tcp and tcp6).
    """
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class _Component:
    def __init__(self, name: str) -> None:
        self.name = name
        self.stats = Counters()


class CollectorTests(SynchronousTestCase):
    """
    L{GorCollector} turns counters, gauges and histograms into metrics.
    """

    def scrape(self, *components: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(GorCollector(lambda: list(components)))
        return samples(generate_latest(registry).decode("utf-8"))

    def test_namesAndLabels(self) -> None:
        """
        A component's name gives the metric prefix and the component and
        target labels; the target's password is hidden.
        """
        self.assertEqual(
            splitName("output_http(http://a:pw@h:80)#2"), ("output_http", "output_http#2", "http://a:***@h:80")
        )
        self.assertEqual(splitName("pipeline"), ("pipeline", "pipeline", ""))
        self.assertEqual(metricName("output_http", "dropped.queue_full"), "gor_output_http_dropped_queue_full")

    def test_countersGaugesHistograms(self) -> None:
        """
        Counters are C{_total}, declared gauges are gauges (zero ones too),
        histograms have cumulative buckets and an endpoint label when they
        have one.
        """
        one = _Component("output_http(http://u:secret@staging)")
        one.stats.increment("succeeded", 7)
        one.stats.increment("dropped.queue_full", 2)
        one.stats.gauge("inflight", lambda: 3)
        one.stats.gauge("queue.bytes")
        one.stats.histogram("latency").observe(0.002)
        one.stats.histogram("latency").observe(0.3)
        two = _Component("output_compare(r.json)")
        two.stats.histogram("latency.production", "GET /a").observe(0.02)
        found = self.scrape(one, two)
        labels = (("component", "output_http"), ("target", "http://u:***@staging"))
        self.assertEqual(found[("gor_output_http_succeeded_total", labels)], 7)
        self.assertEqual(found[("gor_output_http_dropped_queue_full_total", labels)], 2)
        self.assertEqual(found[("gor_output_http_inflight", labels)], 3)
        self.assertEqual(found[("gor_output_http_queue_bytes", labels)], 0)
        self.assertEqual(found[("gor_output_http_latency_seconds_bucket", (*labels[:1], ("le", "0.001"), labels[1]))], 0)
        self.assertEqual(found[("gor_output_http_latency_seconds_bucket", (*labels[:1], ("le", "0.0025"), labels[1]))], 1)
        self.assertEqual(found[("gor_output_http_latency_seconds_bucket", (*labels[:1], ("le", "+Inf"), labels[1]))], 2)
        self.assertEqual(found[("gor_output_http_latency_seconds_count", labels)], 2)
        self.assertAlmostEqual(found[("gor_output_http_latency_seconds_sum", labels)], 0.302)
        compare = (("component", "output_compare"), ("endpoint", "GET /a"), ("target", "r.json"))
        self.assertEqual(found[("gor_output_compare_latency_production_seconds_count", compare)], 1)
        self.assertNotIn("secret", repr(found))

    def test_histogram(self) -> None:
        """
        L{Histogram} counts per bucket, cumulates, and estimates quantiles.
        """
        h = Histogram((1.0, 2.0))
        for value in (0.5, 1.0, 1.5, 9.0):
            h.observe(value)
        self.assertEqual(h.cumulative(), [(1.0, 2), (2.0, 3), (float("inf"), 4)])
        self.assertEqual(h.quantile(0.5), 1.0)
        self.assertEqual(h.quantile(0.75), 2.0)
        self.assertIsNone(Histogram().quantile(0.5))

    def test_address(self) -> None:
        """
        Addresses are C{host:port}, C{:port} or C{[v6]:port}.
        """
        self.assertEqual(parseListenAddress("127.0.0.1:9090"), ("127.0.0.1", 9090))
        self.assertEqual(parseListenAddress(":9090"), ("", 9090))
        self.assertEqual(parseListenAddress("[::1]:9090"), ("::1", 9090))
        self.assertRaises(ValueError, parseListenAddress, "9090x")
        self.assertRaises(ValueError, parseListenAddress, "h:99999")


class _Target(Resource):
    isLeaf = True

    def __init__(self) -> None:
        Resource.__init__(self)
        self.received = 0

    def render(self, request: Request) -> bytes:
        self.received += 1
        return b"ok"


def requests(count: int) -> list[Message]:
    return [
        Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i, -1, b"GET /item/%d HTTP/1.1\r\nHost: shop\r\n\r\n" % i)
        for i in range(count)
    ]


class MetricsCommandTests(TestCase):
    """
    The real C{gor} serving metrics while it replays.
    """

    timeout = 120

    async def scrape(self, port: int, path: str = "/metrics") -> str:
        response = await treq.get(f"http://127.0.0.1:{port}{path}", persistent=False)
        self.assertEqual(response.code, 200)
        return str(await response.text())

    async def test_scrapeWhileReplaying(self) -> None:
        """
        Records sent to a running C{gor --input-tcp --output-http} are
        replayed; C{/metrics} shows as many successful replays (and latency
        observations) as the target received, the queue and in-flight gauges,
        the password of the target hidden; C{--http-pprof} serves the same
        counters as JSON at C{/debug/vars}; nothing else listens.
        """
        target = _Target()
        listening, targetPort = listenLocal(Site(target))
        self.addCleanup(listening.stopListening)
        inputPort, metricsPort, pprofPort = freePort(), freePort(), freePort()
        url = f"http://user:hunter2@127.0.0.1:{targetPort}"
        gor = startGor(
            "--input-tcp", f"127.0.0.1:{inputPort}", "--output-http", url,
            "--metrics", f"127.0.0.1:{metricsPort}", "--http-pprof", f"127.0.0.1:{pprofPort}",
        )
        self.addCleanup(gor.killIfRunning)
        await gor.waitForLog("input_tcp: listening")
        await gor.waitForLog(f"on http://127.0.0.1:{pprofPort}/")
        sender = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", inputPort), protocol.Protocol())
        batch = requests(200)
        sender.transport.write(b"".join(encodeMessage(m) for m in batch[:100]))
        labels = (("component", "output_http"), ("target", f"http://user:***@127.0.0.1:{targetPort}"))
        page = ""

        async def succeeded(n: int) -> bool:
            nonlocal page
            page = await self.scrape(metricsPort)
            return samples(page).get(("gor_output_http_succeeded_total", labels)) == n

        # while replaying: a first scrape after half of the records
        await waitUntil(lambda: Deferred_(succeeded(100)), describe=lambda: page + gor.logText)
        self.assertEqual(target.received, 100)
        sender.transport.write(b"".join(encodeMessage(m) for m in batch[100:]))
        await waitUntil(lambda: Deferred_(succeeded(200)), describe=lambda: page + gor.logText)
        found = samples(page)
        self.assertEqual(target.received, 200)
        self.assertEqual(found[("gor_output_http_sent_total", labels)], 200)
        self.assertEqual(found[("gor_output_http_latency_seconds_count", labels)], 200)
        self.assertGreater(found[("gor_output_http_latency_seconds_sum", labels)], 0)
        self.assertEqual(found[("gor_output_http_inflight", labels)], 0)
        self.assertEqual(found[("gor_output_http_queue_depth", labels)], 0)
        self.assertIn(("gor_output_http_connections_open", labels), found)
        tcp = (("component", "input_tcp"), ("target", f"127.0.0.1:{inputPort}"))
        self.assertEqual(found[("gor_input_tcp_emitted_total", tcp)], 200)
        self.assertIn("process_cpu_seconds_total", page)
        self.assertNotIn("hunter2", page)
        # --http-pprof: the same page, and the counters as JSON
        self.assertIn("gor_output_http_succeeded_total", await self.scrape(pprofPort))
        debug = json.loads(await self.scrape(pprofPort, "/debug/vars"))
        self.assertEqual(debug["gor"][f"output_http(http://user:***@127.0.0.1:{targetPort})"]["succeeded"], 200)
        self.assertNotIn("hunter2", json.dumps(debug))
        # only the addresses asked for are open
        assert gor.pid is not None
        self.assertEqual(listeningPorts(gor.pid), {inputPort, metricsPort, pprofPort})
        # --metrics alone has no /debug/vars
        response = await treq.get(f"http://127.0.0.1:{metricsPort}/debug/vars", persistent=False)
        self.assertEqual(response.code, 404)
        await response.content()
        sender.transport.loseConnection()
        gor.signal("TERM")
        result = await gor.wait()
        self.assertEqual(result.rc, 0, result.errText)
        self.assertNotIn("hunter2", result.errText)

    async def test_badAddress(self) -> None:
        """
        A malformed address exits 2 naming the flag.
        """
        result = await runGor("--input-dummy", "x", "--output-null", "--metrics", "localhost")
        self.assertEqual(result.rc, 2)
        self.assertIn("--metrics: invalid address", result.errText)


def Deferred_(coroutine: Any) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coroutine)
