# -*- test-case-name: tests.test_service -*-
"""
The gor service: inputs, pipeline and outputs composed as one Twisted service.

L{makeGorService} is the public entry point for embedding gor into any Twisted
application::

    from twisted_gor import makeGorService
    makeGorService(config).setServiceParent(application)

Wiring is declared, not probed: each config says which capabilities it
provides, wants or requires (L{twisted_gor.config.Capabilities}); the service
computes what to turn on before building anything, hands it out in the
L{BuildContext}, and connects every L{IReplayObserver} output to every
L{IReplaySource} output. The order of the configs does not matter.

With a middleware (L{GorConfig.middleware}) its stage sits between the inputs
and the pipeline: inputs and the replayed responses of L{IResponseSource}
outputs (the one channel type-3 messages take) go into the stage, what the
middleware emits goes into the pipeline. Stopping: inputs, then the stage
(it drains its middleware), then the outputs. A stage that fails (its
middleware exited) stops the service, which then exits 1.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from twisted_gor._interfaces import (
    IInput,
    IMessageFilter,
    IMiddleware,
    IMiddlewareStage,
    IOutput,
    IReplayObserver,
    IReplaySource,
    IResponseSource,
)
from twisted_gor.base import Failing, resolveReactor
from twisted_gor.config import BuildContext, GorConfig
from twisted_gor.pipeline import Pipeline
from twisted_gor.prettify import Prettifier
from twisted_gor.selfports import SelfPorts
from twisted_gor.stats import formatStats


class StartError(Exception):
    """
    A component of the service could not start (a port in use, a capture
    without permission, a file that cannot be opened).

    @ivar component: the component's name.
    @ivar error: what it raised.
    """

    def __init__(self, component: str, error: BaseException) -> None:
        Exception.__init__(self, f"{component}: {error}")
        self.component = component
        self.error = error


class GorService(MultiService):
    """
    A running gor pipeline.

    Stopping it stops the inputs first, then lets every output drain and flush,
    then logs a summary of every counter.

    @ivar inputs: the input services.
    @ivar outputs: the output services.
    @ivar pipeline: the router between them.
    @ivar middleware: the middleware stage, or L{None}.
    @ivar prettifier: the C{--prettify-http} step, or L{None}.
    @ivar selfPorts: local endpoints of this service's own outgoing
        connections (its captures ignore them; another service's do not).
    @ivar stopReactorWhenDone: stop the reactor once L{whenDone} fires (the
        C{gor} command and twistd set this; embedders usually don't).
    """

    log = Logger()
    stopReactorWhenDone = False

    def __init__(self, config: GorConfig, reactor: Any = None) -> None:
        MultiService.__init__(self)
        self.config = config
        self.reactor = resolveReactor(reactor)
        self.selfPorts = SelfPorts()
        self.prettifier = Prettifier(config.copyBufferSize) if config.prettifyHttp else None
        context = BuildContext(self.reactor, config, config.enabledCapabilities(), self.selfPorts, self.prettifier)
        self.outputs: list[IOutput] = [o.build(context) for o in config.outputs]
        for observer in self.outputs:
            if IReplayObserver.providedBy(observer):
                for source in self.outputs:
                    if IReplaySource.providedBy(source):
                        source.addReplayObserver(observer)
        self.filters: list[IMessageFilter] = [f.build(context) for f in config.filters]
        self.pipeline = Pipeline(
            [(out, cfg.limit) for out, cfg in zip(self.outputs, config.outputs)],
            self.filters,
            splitOutput=config.splitOutput,
            stickySessions=config.recognizeTcpSessions,
            copyBufferSize=config.copyBufferSize,
            clock=self.reactor,
            prettifier=self.prettifier,
        )
        self.middleware: IMiddlewareStage | None = None
        middleware: Any = config.middleware
        if IMiddleware.providedBy(middleware):
            # An IMiddleware given as it is runs in process with the defaults.
            from twisted_gor.middleware.inprocess import PythonMiddlewareConfig

            middleware = PythonMiddlewareConfig(middleware)
        if middleware is not None:
            self.middleware = middleware.build(context)
            self.pipeline.setStage(self.middleware)
        for output in self.outputs:
            if IResponseSource.providedBy(output):
                output.setResponseReceiver(self.pipeline.entry)
        self.inputs: list[IInput] = [i.build(context) for i in config.inputs]
        for input, cfg in zip(self.inputs, config.inputs):
            self.pipeline.connectInput(input, cfg.limit)
        self.extraServices: list[IService] = []
        if config.cpuProfile or config.memProfile:
            from twisted_gor.profiling import ProfilingService

            self.extraServices.append(ProfilingService(config.cpuProfile, config.memProfile))
        for extra in config.services:
            self.extraServices.append(extra.build(context, self.components))
        seen: dict[str, int] = {}
        stages = [self.middleware] if self.middleware is not None else []
        for service in (*self.extraServices, *self.outputs, *stages, *self.inputs):
            name = service.name
            if name is not None:
                # Service names must be unique within a MultiService; the same
                # output given twice gets "#2", which also tells their stats apart.
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    service.name = f"{name}#{seen[name]}"
            service.setServiceParent(self)
        for component in (*self.inputs, *stages, *self.outputs):
            if isinstance(component, Failing):
                component.failureObserver = self._componentFailed
        self._isDone = False
        self._waiters: list[Deferred[None]] = []
        self._exitCall: IDelayedCall | None = None
        self._statsLoop: LoopingCall | None = None
        self._startedAt = 0.0

    def components(self) -> list[Any]:
        """
        Every component with counters, inputs first.
        """
        stages = [self.middleware] if self.middleware is not None else []
        steps = [self.prettifier] if self.prettifier is not None else []
        return [*self.inputs, *stages, *self.filters, *steps, self.pipeline, *self.outputs]

    def failures(self) -> list[tuple[str, str]]:
        """
        C{(name, reason)} of every input and output that failed for good (see
        L{twisted_gor.base.Failing}).
        """
        found = []
        stages = [self.middleware] if self.middleware is not None else []
        for component in (*self.inputs, *stages, *self.outputs):
            reason = getattr(component, "failure", None)
            if reason is not None:
                found.append((str(component.name), str(reason)))
        return found

    @property
    def exitCode(self) -> int:
        """
        What the process should exit with: 1 when a component failed for good
        (see L{failures}), else 0.
        """
        return 1 if self.failures() else 0

    def _componentFailed(self, component: Any) -> None:
        if component is self.middleware:
            self._finished("the middleware failed")
            return
        if self.outputs and all(getattr(o, "failure", None) is not None for o in self.outputs):
            self._finished("every output failed")

    def whenDone(self) -> Deferred[None]:
        """
        A Deferred that fires once the pipeline has nothing more to do:
        C{exitAfter} elapsed, or every input is finite and exhausted.
        """
        d: Deferred[None] = Deferred()
        if self._isDone:
            d.callback(None)
        else:
            self._waiters.append(d)
        return d

    def _finished(self, why: str) -> None:
        if self._isDone:
            return
        self.log.info("gor: {why}; stopping", why=why)
        self._isDone = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)
        if self.stopReactorWhenDone and self.reactor.running:
            # A signal may have started the stop already: that is no error.
            try:
                self.reactor.stop()
            except ReactorNotRunning:
                pass

    def privilegedStartService(self) -> None:
        """
        Let each component open what needs privileges.

        @raise StartError: naming the component that failed.
        """
        for child in list(self):
            try:
                child.privilegedStartService()
            except Exception as e:
                raise StartError(str(child.name), e) from e

    def startService(self) -> None:
        """
        Start every component, then the timers.

        @raise StartError: naming the component that failed (the others
            started so far are stopped by L{stopService}).
        """
        self._startedAt = self.reactor.seconds()
        if self.config.exitAfter:
            # armed before the inputs start, so that time spent starting them
            # counts towards --exit-after
            self._exitCall = self.reactor.callLater(self.config.exitAfter, self._finished, "--exit-after elapsed")
        Service.startService(self)
        for child in list(self):
            try:
                child.startService()
            except Exception as e:
                raise StartError(str(child.name), e) from e
        self.log.info(
            "gor: started with {inputs} input(s): {inputNames}; {outputs} output(s): {outputNames}",
            inputs=len(self.inputs),
            inputNames=", ".join(i.name for i in self.inputs),
            outputs=len(self.outputs),
            outputNames=", ".join(o.name for o in self.outputs),
        )
        exhausted = [i.whenExhausted() for i in self.inputs]
        if self.config.exitWhenInputsExhausted and exhausted and all(d is not None for d in exhausted):
            DeferredList([d for d in exhausted if d is not None]).addCallback(
                lambda _: self._finished("every input is exhausted")
            )
        if self.config.stats:
            self._statsLoop = LoopingCall(self._logStats)
            self._statsLoop.clock = self.reactor
            self._statsLoop.start(self.config.statsInterval, now=False)

    def _logStats(self) -> None:
        for line in formatStats(self.components()):
            self.log.info("stats: {line}", line=line)

    def stopService(self) -> Deferred[None]:
        """
        Stop inputs, then drain the outputs that produce messages, then the
        other outputs, then the rest; log the summary.
        """
        if not self.running:
            return succeed(None)
        self.running = False
        if self._exitCall is not None and self._exitCall.active():
            self._exitCall.cancel()
        if self._statsLoop is not None and self._statsLoop.running:
            self._statsLoop.stop()

        def stopAll(services: list[Any]) -> Deferred[Any]:
            results = []
            for service in reversed(services):
                if service.running:
                    results.append(_maybeDeferred(service.stopService))
            return DeferredList(results, consumeErrors=True)

        # Outputs that produce messages (replays tracking responses) drain
        # first, so the outputs recording those messages are still open.
        producers = [o for o in self.outputs if IResponseSource.providedBy(o)]
        consumers = [o for o in self.outputs if not IResponseSource.providedBy(o)]
        # The stage drains into the outputs, so it stops before them; replayed
        # responses arriving after it stopped are counted by it as dropped.
        stages = [self.middleware] if self.middleware is not None else []
        d = stopAll(self.inputs)
        d.addCallback(lambda _: stopAll(stages))
        d.addCallback(lambda _: stopAll(producers))
        d.addCallback(lambda _: stopAll(consumers))
        d.addCallback(lambda _: stopAll(self.extraServices))
        d.addCallback(lambda _: self._summary())
        return d

    def _droppedByMiddleware(self) -> int:
        # The middleware's own drops are named dropped_by_middleware (the
        # issue's name), outside the "dropped." prefix the total sums.
        return self.middleware.stats["dropped_by_middleware"] if self.middleware is not None else 0

    def _summary(self) -> None:
        elapsed = self.reactor.seconds() - self._startedAt
        components = self.components()
        for line in formatStats(components):
            self.log.info("summary: {line}", line=line)
        errors = sum(c.stats["errors"] for c in components)
        truncated = sum(c.stats["truncated"] for c in components)
        # A filter's drops are counted by the pipeline (dropped.filtered) too:
        # its counters say why, the totals count each message once.
        counted = [c for c in components if not IMessageFilter.providedBy(c)]
        self.log.info(
            "summary: read={read} emitted={emitted} skipped={skipped} dropped={dropped} failed={failed}"
            "{truncated}{errors} elapsed={elapsed:.3f}s",
            read=sum(_readCount(i) for i in self.inputs),
            emitted=sum(i.stats["emitted"] for i in self.inputs),
            skipped=sum(c.stats.total("skipped") for c in counted),
            dropped=sum(c.stats.total("dropped") for c in counted) + self._droppedByMiddleware(),
            failed=sum(o.stats.total("failed") for o in self.outputs),
            truncated=f" truncated={truncated}" if truncated else "",
            errors=f" errors={errors}" if errors else "",
            elapsed=elapsed,
        )
        for name, reason in self.failures():
            self.log.error("summary: exit 1: {name} failed: {reason}", name=name, reason=reason)


def _readCount(input: IInput) -> int:
    """
    Messages an input took from its source: its own C{read} counter, or what it
    emitted plus what its limit dropped.
    """
    stats = input.stats
    return stats["read"] or stats["emitted"] + stats["dropped.limit"]


def _maybeDeferred(f: Any) -> Deferred[Any]:
    try:
        result = f()
    except BaseException:
        return fail(Failure())
    if isinstance(result, Deferred):
        return result
    return succeed(result)


def makeGorService(config: GorConfig, reactor: Any = None) -> GorService:
    """
    Build the gor service tree for C{config}.

    @param reactor: the reactor to use; the global one (imported lazily) when
        L{None}.
    """
    return GorService(config, reactor)
