"""
Public interfaces of twisted-gor.
"""

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

__all__ = [
    "IBackpressure",
    "IInput",
    "IMessageFilter",
    "IMessageReceiver",
    "IMiddleware",
    "IOutput",
    "IReplayObserver",
    "IReplaySource",
    "IResponseSource",
    "IStatsSource",
]
