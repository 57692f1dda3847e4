# -*- test-case-name: tests.test_metrics -*-
"""
The HTTP side of C{--metrics} and C{--http-pprof}: a L{twisted.web} site per
address, listening from C{privilegedStartService}.
"""

from __future__ import annotations

import json
import resource
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, ProcessCollector, generate_latest
from twisted.application.service import Service
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from twisted_gor.config import BuildContext
from twisted_gor.metrics.collector import GorCollector, counterValues
from twisted_gor.redact import redactText


class MetricsPage(Resource):
    """
    C{/metrics}: the Prometheus text format of C{registry}, rendered in the
    reactor thread (collecting reads the counters the reactor changes).
    """

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        Resource.__init__(self)
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        """
        The current metrics.
        """
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode("ascii"))
        return generate_latest(self.registry)


class VarsPage(Resource):
    """
    C{/debug/vars}: Go's expvar-style JSON (C{cmdline}, C{memstats}) with
    every component's counters under C{gor}.
    """

    isLeaf = True

    def __init__(self, components: Callable[[], list[Any]]) -> None:
        Resource.__init__(self)
        self.components = components

    def render_GET(self, request: Request) -> bytes:
        """
        The counters now, as JSON.
        """
        usage = resource.getrusage(resource.RUSAGE_SELF)
        body = {
            "cmdline": [redactText(arg) for arg in sys.argv],
            "memstats": {"MaxRSS": usage.ru_maxrss * 1024},
            "gor": counterValues(self.components()),
        }
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps(body, indent=1, sort_keys=True).encode("utf-8") + b"\n"


class Root(Resource):
    """
    The site's root: a short index of what is served.
    """

    def __init__(self, paths: list[str]) -> None:
        Resource.__init__(self)
        self.paths = paths

    def render_GET(self, request: Request) -> bytes:
        """
        The list of pages.
        """
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return ("gor: " + " ".join(self.paths) + "\n").encode("utf-8")

    def getChild(self, path: bytes, request: Request) -> Resource:
        """
        The root itself for C{/}.
        """
        if path == b"":
            return self
        return Resource.getChild(self, path, request)


class _QuietSite(Site):
    """
    A site that keeps no access log (a scrape every few seconds is not news).
    """

    noisy = False

    def log(self, request: Any) -> None:
        """
        Log nothing.
        """


class MetricsService(Service):
    """
    Serves C{/metrics} (and C{/debug/vars} when C{debugVars}) on one address.

    @ivar port: the listening port once started.
    """

    log = Logger()

    def __init__(
        self, reactor: Any, host: str, portNumber: int, components: Callable[[], list[Any]], debugVars: bool
    ) -> None:
        self.name = f"metrics({host}:{portNumber})"
        self.reactor = reactor
        self.host = host
        self.portNumber = portNumber
        self.components = components
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(GorCollector(components))
        ProcessCollector(registry=self.registry)
        paths = self.paths = ["/metrics"]
        root = Root(paths)
        root.putChild(b"metrics", MetricsPage(self.registry))
        if debugVars:
            debug = Resource()
            debug.putChild(b"vars", VarsPage(components))
            root.putChild(b"debug", debug)
            paths.append("/debug/vars")
        self.site = _QuietSite(root)
        self.site.displayTracebacks = False
        self.port: IListeningPort | None = None

    def privilegedStartService(self) -> None:
        """
        Listen (before privileges are dropped; a failure stops gor at start).
        """
        Service.privilegedStartService(self)
        self._listen()

    def startService(self) -> None:
        Service.startService(self)
        self._listen()

    def _listen(self) -> None:
        if self.port is not None:
            return
        self.port = self.reactor.listenTCP(self.portNumber, self.site, interface=self.host)
        address: Any = self.port.getHost()
        shown = f"[{address.host}]" if ":" in address.host else address.host
        self.log.info("metrics: serving {paths} on http://{host}:{port}/", paths=" ".join(self.paths), host=shown, port=address.port)

    def stopService(self) -> Any:
        """
        Stop listening.
        """
        Service.stopService(self)
        port, self.port = self.port, None
        if port is not None:
            return port.stopListening()
        return None


@dataclass
class MetricsConfig:
    """
    One address serving metrics.

    @ivar host: the interface (C{""}: every one).
    @ivar port: the TCP port.
    @ivar debugVars: also serve C{/debug/vars} (C{--http-pprof}).
    """

    host: str
    port: int
    debugVars: bool = False
    flags: list[str] = field(default_factory=list)

    def build(self, context: BuildContext, components: Callable[[], list[Any]]) -> MetricsService:
        """
        Build the service.
        """
        return MetricsService(context.reactor, self.host, self.port, components, self.debugVars)
