# -*- test-case-name: tests.test_exports -*-
"""
twisted-gor: capture live HTTP traffic and replay it, on Twisted.

A GoReplay-compatible re-implementation: the same flags, the same ``.gor``
file format and the same gor-to-gor wire format, built from Twisted services.

This module is the public API for embedders; every name in L{__all__} is
re-exported from the private module that implements it, and is imported
only when first used (so C{import twisted_gor} stays cheap and never imports
the reactor)::

    from twisted_gor import GorConfig, FileInputConfig, HttpOutputConfig, makeGorService, parseTarget

    config = GorConfig(
        inputs=[FileInputConfig("requests.gor")],
        outputs=[HttpOutputConfig(parseTarget("http://staging:8080"))],
    )
    makeGorService(config).setServiceParent(application)

Your own inputs and outputs subclass L{InputBase} and L{OutputBase} and go
into a config as L{Prebuilt}; L{twisted_gor.testing} has in-memory ones and a
fake pcap handle for tests.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"

_EXPORTS: dict[str, str] = {
    # the service
    "makeGorService": "twisted_gor.service",
    "GorService": "twisted_gor.service",
    "GorConfig": "twisted_gor.config",
    "BuildContext": "twisted_gor.config",
    "Capabilities": "twisted_gor.config",
    "Prebuilt": "twisted_gor.config",
    "CAPTURED_RESPONSES": "twisted_gor.config",
    "REPLAYED_RESPONSES": "twisted_gor.config",
    "REPLAY_RESULTS": "twisted_gor.config",
    # messages
    "Message": "twisted_gor.message",
    "ReplayResult": "twisted_gor.message",
    "REQUEST": "twisted_gor.message",
    "RESPONSE": "twisted_gor.message",
    "REPLAYED_RESPONSE": "twisted_gor.message",
    "newRequestId": "twisted_gor.message",
    "encodeMessage": "twisted_gor.framing",
    "RecordDecoder": "twisted_gor.framing",
    # interfaces
    "IInput": "twisted_gor._interfaces",
    "IOutput": "twisted_gor._interfaces",
    "IMessageReceiver": "twisted_gor._interfaces",
    "IMessageFilter": "twisted_gor._interfaces",
    "IBackpressure": "twisted_gor._interfaces",
    "IResponseSource": "twisted_gor._interfaces",
    "IReplaySource": "twisted_gor._interfaces",
    "IReplayObserver": "twisted_gor._interfaces",
    "IStatsSource": "twisted_gor._interfaces",
    "IMiddleware": "twisted_gor._interfaces",
    # building your own components
    "InputBase": "twisted_gor.base",
    "OutputBase": "twisted_gor.base",
    "FlowControl": "twisted_gor.flow",
    "Counters": "twisted_gor.stats",
    "AbsoluteLimit": "twisted_gor.limiter",
    "PercentageLimit": "twisted_gor.limiter",
    "parseLimit": "twisted_gor.limiter",
    # each input's and output's configuration
    "DummyInputConfig": "twisted_gor.basic.components",
    "NullOutputConfig": "twisted_gor.basic.components",
    "StdoutOutputConfig": "twisted_gor.basic.components",
    "FileInputConfig": "twisted_gor.files.input",
    "FileOutputConfig": "twisted_gor.files.output",
    "HttpOutputConfig": "twisted_gor.http.output",
    "parseTarget": "twisted_gor.http.output",
    "HttpInputConfig": "twisted_gor.http.input",
    "RawInputConfig": "twisted_gor.raw.input",
    "TCPInputConfig": "twisted_gor.relay.input",
    "TCPOutputConfig": "twisted_gor.relay.output",
    "WSOutputConfig": "twisted_gor.ws.output",
    "parseWebSocketURL": "twisted_gor.ws.output",
    "ElasticsearchOutputConfig": "twisted_gor.export.elasticsearch",
    "parseElasticsearchURL": "twisted_gor.export.elasticsearch",
    "CompareOutputConfig": "twisted_gor.compare.output",
    "ExternalMiddlewareConfig": "twisted_gor.middleware.external",
    "PythonMiddlewareConfig": "twisted_gor.middleware.inprocess",
    "KafkaConnection": "twisted_gor.kafka.client",
    "KafkaInputConfig": "twisted_gor.kafka.input",
    "KafkaOutputConfig": "twisted_gor.kafka.output",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'twisted_gor' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from twisted_gor._interfaces import (
        IBackpressure,
        IInput,
        IMessageFilter,
        IMessageReceiver,
        IMiddleware,
        IOutput,
        IReplayObserver,
        IReplaySource,
        IResponseSource,
        IStatsSource,
    )
    from twisted_gor.base import InputBase, OutputBase
    from twisted_gor.basic.components import DummyInputConfig, NullOutputConfig, StdoutOutputConfig
    from twisted_gor.compare.output import CompareOutputConfig
    from twisted_gor.config import (
        CAPTURED_RESPONSES,
        REPLAY_RESULTS,
        REPLAYED_RESPONSES,
        BuildContext,
        Capabilities,
        GorConfig,
        Prebuilt,
    )
    from twisted_gor.export.elasticsearch import ElasticsearchOutputConfig, parseElasticsearchURL
    from twisted_gor.files.input import FileInputConfig
    from twisted_gor.files.output import FileOutputConfig
    from twisted_gor.flow import FlowControl
    from twisted_gor.framing import RecordDecoder, encodeMessage
    from twisted_gor.http.input import HttpInputConfig
    from twisted_gor.kafka.client import KafkaConnection
    from twisted_gor.kafka.input import KafkaInputConfig
    from twisted_gor.kafka.output import KafkaOutputConfig
    from twisted_gor.http.output import HttpOutputConfig, parseTarget
    from twisted_gor.middleware.external import ExternalMiddlewareConfig
    from twisted_gor.middleware.inprocess import PythonMiddlewareConfig
    from twisted_gor.limiter import AbsoluteLimit, PercentageLimit, parseLimit
    from twisted_gor.message import REPLAYED_RESPONSE, REQUEST, RESPONSE, Message, ReplayResult, newRequestId
    from twisted_gor.raw.input import RawInputConfig
    from twisted_gor.relay.input import TCPInputConfig
    from twisted_gor.relay.output import TCPOutputConfig
    from twisted_gor.ws.output import WSOutputConfig, parseWebSocketURL
    from twisted_gor.service import GorService, makeGorService
