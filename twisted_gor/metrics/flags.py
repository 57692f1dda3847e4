# -*- test-case-name: tests.test_metrics -*-
"""
Flags of the metrics area: C{--metrics}, C{--http-pprof} (see L{twisted_gor.flags}).
"""

from __future__ import annotations

from typing import Any

from twisted_gor.config import GorConfig
from twisted_gor.flags import STRING, Flag, FlagValues

GROUP = "Monitoring"
"""The heading of these flags in C{--help}."""


def parseListenAddress(text: str) -> tuple[str, int]:
    """
    C{host:port}, C{:port} (every interface) or C{[v6]:port} into C{(host, port)}.

    @raise ValueError: with the expected form.
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid address {text!r} (examples: 127.0.0.1:9090, :9090)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _checkAddress(text: str) -> str:
    parseListenAddress(text)
    return text


FLAGS: list[Flag] = [
    Flag(
        "metrics",
        STRING,
        "Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9090, :9090 for every interface).",
        default="",
        check=_checkAddress,
    ),
    Flag(
        "http-pprof",
        STRING,
        "GoReplay's debug endpoint: the same /metrics plus the counters as JSON at /debug/vars on ADDR.",
        default="",
        check=_checkAddress,
    ),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add one metrics service per distinct address (C{prometheus_client} and
    L{twisted.web} are imported only then).
    """
    byAddress: dict[tuple[str, int], Any] = {}
    for name, debugVars in (("metrics", False), ("http-pprof", True)):
        text = values[name]
        if not text:
            continue
        host, port = parseListenAddress(text)
        found = byAddress.get((host, port))
        if found is None:
            from twisted_gor.metrics.server import MetricsConfig

            found = byAddress[(host, port)] = MetricsConfig(host, port)
            config.services.append(found)
        found.debugVars = found.debugVars or debugVars
        found.flags.append(name)
