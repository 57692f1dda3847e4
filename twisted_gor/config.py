# -*- test-case-name: tests.test_service -*-
"""
Typed configuration of a gor pipeline, independent of the command line.

Embedders build a L{GorConfig} directly; the C{gor} command and the twistd
plugin build one from flags. Each input, output and filter configuration knows
how to build its runtime object from a L{BuildContext}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable, Protocol, runtime_checkable

from twisted_gor.limiter import Limit
from twisted_gor.selfports import SelfPorts

if TYPE_CHECKING:
    from twisted.application.service import IService

    from twisted_gor._interfaces import IInput, IMessageFilter, IMiddleware, IMiddlewareStage, IOutput
    from twisted_gor.prettify import Prettifier


CAPTURED_RESPONSES = "captured-responses"
"""Capability: original responses (type 2) from a capture (C{--input-raw-track-response})."""

REPLAYED_RESPONSES = "replayed-responses"
"""Capability: replayed responses (type 3) from a replay (C{--output-http-track-response})."""

REPLAY_RESULTS = "replay-results"
"""Capability: an L{twisted_gor.interfaces.IReplayObserver} channel from every replay."""

_PROVIDER_HINTS = {
    CAPTURED_RESPONSES: "a capture (--input-raw)",
    REPLAYED_RESPONSES: "a replay (--output-http)",
    REPLAY_RESULTS: "a replay (--output-http)",
}


class Capabilities:
    """
    What a component configuration provides and needs, declared on its class.

    A config that C{wants} a capability gets it turned on in every component
    that C{provides} it, when there is one (a comparison wants both kinds of
    responses, but also works on a recording that holds them); one that
    C{requires} it is refused without a provider. Components learn what is
    turned on from L{BuildContext.enabled}: nothing probes attributes and the
    order of the configs does not matter.

    @cvar label: how a message names the component (its flag).
    """

    provides: ClassVar[frozenset[str]] = frozenset()
    wants: ClassVar[frozenset[str]] = frozenset()
    requires: ClassVar[frozenset[str]] = frozenset()
    label: ClassVar[str] = ""


def _declared(config: object, kind: str) -> frozenset[str]:
    value: object = getattr(type(config), kind, frozenset())
    return value if isinstance(value, frozenset) else frozenset()


def enabledCapabilities(configs: Iterable[object]) -> frozenset[str]:
    """
    The capabilities some config wants or requires and some config provides.

    @raise ValueError: a required capability has no provider; the message
        starts with the needing component's label (its flag).
    """
    configs = list(configs)
    provided: set[str] = set()
    needed: set[str] = set()
    for c in configs:
        provided |= _declared(c, "provides")
        needed |= _declared(c, "wants") | _declared(c, "requires")
    for c in configs:
        for capability in sorted(_declared(c, "requires") - provided):
            label = getattr(type(c), "label", "") or type(c).__name__
            hint = _PROVIDER_HINTS.get(capability, capability)
            raise ValueError(f"{label}: needs {hint}, and none is configured")
    return frozenset(needed & provided)


@dataclass
class BuildContext:
    """
    What a configuration needs to build its runtime object.

    @ivar reactor: the reactor to use (never the global one implicitly).
    @ivar config: the whole configuration, for global settings.
    @ivar enabled: the capabilities to turn on (see L{Capabilities}).
    @ivar selfPorts: the local endpoints of this service's own outgoing
        connections, which its captures ignore.
    @ivar prettifier: the service's C{--prettify-http} step (shared by the
        middleware stage and the pipeline, one set of counters), or L{None}.
    """

    reactor: Any
    config: "GorConfig"
    enabled: frozenset[str] = frozenset()
    selfPorts: SelfPorts = field(default_factory=SelfPorts)
    prettifier: "Prettifier | None" = None


@runtime_checkable
class InputConfig(Protocol):
    """
    Configuration of one input (inherit L{Capabilities} to declare any).
    """

    limit: Limit | None

    def build(self, context: BuildContext) -> "IInput":
        """
        Build the input service.
        """


@runtime_checkable
class OutputConfig(Protocol):
    """
    Configuration of one output (inherit L{Capabilities} to declare any).
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


@runtime_checkable
class MiddlewareConfig(Protocol):
    """
    Configuration of the middleware stage between inputs and outputs
    (L{twisted_gor.ExternalMiddlewareConfig} for C{--middleware},
    L{twisted_gor.PythonMiddlewareConfig} for an L{twisted_gor.IMiddleware}
    in process). Inherit L{Capabilities} to declare any.
    """

    def build(self, context: BuildContext) -> "IMiddlewareStage":
        """
        Build the stage.
        """


@runtime_checkable
class ServiceConfig(Protocol):
    """
    Configuration of a service that runs beside the pipeline and looks at
    its components (the C{--metrics} endpoint): started before the outputs,
    stopped after them.
    """

    def build(self, context: BuildContext, components: Callable[[], list[Any]]) -> "IService":
        """
        Build the service; C{components()} gives every component with
        counters (inputs, filters, the pipeline, outputs) whenever called.
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
    @ivar recognizeTcpSessions: C{--recognize-tcp-sessions}; with
        C{splitOutput}, each session (else each id) sticks to one output.
    @ivar middleware: the middleware every input's messages go through before
        the filters and outputs: a L{MiddlewareConfig}, or an
        L{twisted_gor.IMiddleware} provider (run in process with the
        defaults of L{twisted_gor.PythonMiddlewareConfig}), or L{None}.
    @ivar prettifyHttp: de-chunk and decompress HTTP bodies (see
        L{twisted_gor.prettify}) for the middleware and the outputs.
    @ivar services: services beside the pipeline (see L{ServiceConfig}).
    @ivar progress: the C{gor} command's progress line: forced on or off,
        or L{None} (when stderr is a terminal).
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
    recognizeTcpSessions: bool = False
    verbose: int = 0
    cpuProfile: str | None = None
    memProfile: str | None = None
    middleware: "MiddlewareConfig | IMiddleware | None" = None
    prettifyHttp: bool = False
    services: list[ServiceConfig] = field(default_factory=list)
    progress: bool | None = None

    def enabledCapabilities(self) -> frozenset[str]:
        """
        See L{enabledCapabilities}; also the check that every requirement
        has a provider.

        @raise ValueError: naming the component whose requirement is unmet.
        """
        middleware = [self.middleware] if self.middleware is not None else []
        return enabledCapabilities([*self.inputs, *self.outputs, *self.filters, *middleware])


@dataclass
class Prebuilt(Capabilities):
    """
    The configuration of an input or output you made yourself: plug your own
    L{twisted_gor.interfaces.IInput} or L{twisted_gor.interfaces.IOutput}
    (usually a subclass of L{twisted_gor.InputBase} or
    L{twisted_gor.OutputBase}) into a L{GorConfig}::

        GorConfig(inputs=[FileInputConfig("rec.gor")],
                  outputs=[Prebuilt(MyOutput())])

    @ivar component: the input or output, used as it is.
    @ivar limit: its C{--input-*}/C{--output-*} style rate limit, if any.
    """

    component: Any
    limit: Limit | None = None

    def build(self, context: BuildContext) -> Any:
        """
        Return the component.
        """
        return self.component
