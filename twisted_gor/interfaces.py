"""
Public interfaces of twisted-gor.
"""

from twisted_gor._interfaces import (
    IBackpressure,
    IInput,
    IMessageFilter,
    IMessageReceiver,
    IOutput,
    IResponseSource,
    IStatsSource,
)

__all__ = [
    "IBackpressure",
    "IInput",
    "IMessageFilter",
    "IMessageReceiver",
    "IOutput",
    "IResponseSource",
    "IStatsSource",
]
