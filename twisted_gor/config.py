# -*- test-case-name: tests.test_service -*-
"""
Typed configuration of a gor pipeline, independent of the command line.

Embedders build a L{GorConfig} directly; the C{gor} command and the twistd
plugin build one from flags. Each input, output and filter configuration knows
how to build its runtime object from a L{BuildContext}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from twisted_gor.limiter import Limit

if TYPE_CHECKING:
    from twisted_gor._interfaces import IInput, IMessageFilter, IOutput


@dataclass
class BuildContext:
    """
    What a configuration needs to build its runtime object.

    @ivar reactor: the reactor to use (never the global one implicitly).
    @ivar config: the whole configuration, for global settings.
    """

    reactor: Any
    config: "GorConfig"


@runtime_checkable
class InputConfig(Protocol):
    """
    Configuration of one input.
    """

    limit: Limit | None

    def build(self, context: BuildContext) -> "IInput":
        """
        Build the input service.
        """


@runtime_checkable
class OutputConfig(Protocol):
    """
    Configuration of one output.
    """

    limit: Limit | None

    def build(self, context: BuildContext) -> "IOutput":
        """
        Build the output service.
        """


@runtime_checkable
class FilterConfig(Protocol):
    """
    Configuration of a pipeline filter (the HTTP modifiers).
    """

    def build(self, context: BuildContext) -> "IMessageFilter":
        """
        Build the filter.
        """


@dataclass
class GorConfig:
    """
    Everything a gor pipeline needs.

    @ivar inputs: input configurations, one input service each.
    @ivar outputs: output configurations, one output service each.
    @ivar filters: applied in order to every request before routing.
    @ivar splitOutput: round-robin each message to one output instead of all.
    @ivar exitAfter: seconds after which the pipeline is done, or L{None}.
    @ivar exitWhenInputsExhausted: finish once every input is finite and exhausted.
    @ivar stats: log every component's counters every C{statsInterval} seconds.
    @ivar copyBufferSize: payloads longer than this are truncated (and counted).
    @ivar extras: settings owned by an area that has no better place (keyed by area).
    """

    inputs: list[InputConfig] = field(default_factory=list)
    outputs: list[OutputConfig] = field(default_factory=list)
    filters: list[FilterConfig] = field(default_factory=list)
    splitOutput: bool = False
    exitAfter: float | None = None
    exitWhenInputsExhausted: bool = True
    stats: bool = False
    statsInterval: float = 5.0
    copyBufferSize: int = 5 * 1024 * 1024
    verbose: int = 0
    cpuProfile: str | None = None
    memProfile: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
