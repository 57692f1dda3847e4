# -*- test-case-name: tests.test_pipeline -*-
"""
The emitter: routes messages from inputs through limits and filters to outputs.

Per message: the input's limit, payload truncation to C{--copy-buffer-size},
the filters (requests only; the first response of a filtered request is
dropped too), then every accepting output (or one, round-robin, with
C{--split-output}) behind its own limit, after C{--prettify-http}. Every drop
is counted with a reason.
With C{--split-output --recognize-tcp-sessions} the output is not the next
in turn but FNV-1a-32(key) mod the number of outputs, the key being the
message's session (see L{twisted_gor.message}) or else its id, as GoReplay
PRO does: a session, or a request and its responses, stay on one output.

With a middleware stage (L{Pipeline.setStage}) the inputs push into the
stage, and what the middleware emits takes the steps above (GoReplay's
order: filters and prettify apply to what the middleware emits). The stage
pauses the inputs when the middleware falls behind; saturated outputs pause
the inputs and the stage.

Outputs are isolated: an exception raised by one output's C{write} (or by a
filter) is counted as C{errors} on that component, logged (at most once per
second per component), and never reaches the input or the other outputs.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from typing import Callable, Sequence

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_gor._interfaces import (
    IBackpressure,
    IBatchReceiver,
    IBatchWriter,
    IInput,
    IMessageFilter,
    IMessageReceiver,
    IMiddlewareStage,
    IOutput,
    ITakenReporter,
)
from twisted_gor.limiter import Limit, Limiter, makeLimiter
from twisted_gor.message import MESSAGE_TYPES, REQUEST, Message
from twisted_gor.stats import Counters


_payloadOf = operator.attrgetter("payload")


def _fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def stickyKey(message: Message) -> bytes:
    """
    What C{--split-output --recognize-tcp-sessions} keys the output on: the
    session id of a message with session data, else its id.
    """
    session = message.session
    if session is not None:
        if session.endswith(b":end"):
            session = session[:-4]
        sid = session.rpartition(b":")[0]
        if sid:
            return sid
    return message.id


class FilteredIds:
    """
    Ids of recently filtered requests (bounded size and age), so that their
    responses are dropped too.
    """

    def __init__(self, clock: IReactorTime, maxSize: int = 100_000, ttl: float = 60.0) -> None:
        self._ids: OrderedDict[bytes, float] = OrderedDict()
        self._clock = clock
        self._maxSize = maxSize
        self._ttl = ttl

    def add(self, id_: bytes) -> None:
        """
        Remember a filtered request id.
        """
        ids = self._ids
        ids[id_] = self._clock.seconds() + self._ttl
        ids.move_to_end(id_)
        while len(ids) > self._maxSize:
            ids.popitem(last=False)

    def pop(self, id_: bytes) -> bool:
        """
        Whether C{id_} was filtered (and still fresh); forgets it.
        """
        until = self._ids.pop(id_, None)
        return until is not None and until >= self._clock.seconds()

    def __len__(self) -> int:
        return len(self._ids)


class ErrorReporter:
    """
    Counts exceptions raised by components as C{errors} and logs them, at
    most once per C{interval} seconds per component (with how many were not
    logged), so a component failing on every message cannot flood the log.
    """

    log = Logger()

    def __init__(self, clock: IReactorTime, interval: float = 1.0) -> None:
        self._clock = clock
        self._interval = interval
        self._next: dict[int, float] = {}
        self._quiet: dict[int, int] = {}

    def report(self, component: object, stats: Counters, what: str) -> None:
        """
        Count and maybe log the exception being handled.
        """
        stats.increment("errors")
        key = id(component)
        now = self._clock.seconds()
        if now < self._next.get(key, 0.0):
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return
        self._next[key] = now + self._interval
        quiet = self._quiet.pop(key, 0)
        self.log.failure(
            "{name}: {what} raised; counted as errors, the message is dropped for it{more}",
            Failure(),
            name=getattr(component, "name", component),
            what=what,
            more=f" ({quiet} more not logged)" if quiet else "",
        )


class _Route:
    __slots__ = ("output", "limiter", "stats")

    def __init__(self, output: IOutput, limiter: Limiter | None, stats: Counters) -> None:
        self.output = output
        self.limiter = limiter
        self.stats = stats


@implementer(IBatchReceiver, ITakenReporter)
class _InputPort:
    """
    What one input pushes into: applies that input's limit, then the pipeline.
    """

    def __init__(self, pipeline: "Pipeline", input: IInput, limiter: Limiter) -> None:
        self._pipeline = pipeline
        self._entry: IMessageReceiver = pipeline.entry
        self._limiter = limiter
        self._stats: Counters = input.stats

    def messageReceived(self, message: Message) -> None:
        if not self._limiter.allow():
            self._stats.increment("dropped.limit")
            return
        self._entry.messageReceived(message)

    def messagesReceived(self, messages: list[Message]) -> int:
        allow = self._limiter.allow
        receive = self._entry.messageReceived
        paused = self._pipeline._paused
        taken = 0
        for message in messages:
            taken += 1
            if not allow():
                self._stats.increment("dropped.limit")
                continue
            receive(message)
            if paused:
                break
        return taken

    def whenTaken(self) -> Deferred[None]:
        return self._pipeline.whenTaken()


@implementer(IBatchReceiver, IBackpressure, ITakenReporter)
class Pipeline:
    """
    Fan-out from inputs to outputs.

    @ivar stats: counters of the routing itself (filtered, truncated, unrouted).
    @ivar entry: what inputs push into: this pipeline, or its middleware
        stage (L{setStage}).
    """

    name = "pipeline"

    def __init__(
        self,
        outputs: Sequence[tuple[IOutput, Limit | None]],
        filters: Sequence[IMessageFilter] = (),
        splitOutput: bool = False,
        copyBufferSize: int = 5 * 1024 * 1024,
        clock: IReactorTime | None = None,
        stickySessions: bool = False,
        prettifier: Callable[[Message], Message] | None = None,
    ) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        assert clock is not None
        self._clock = clock
        self.stats = Counters()
        self._filters = list(filters)
        self._filteredIds = FilteredIds(clock)
        self._split = splitOutput
        self._sticky = stickySessions
        self._copyBufferSize = copyBufferSize
        self._inputs: list[IInput] = []
        self._paused: set[int] = set()
        self._prettify = prettifier
        self.entry: IMessageReceiver = self
        self._stage: IMiddlewareStage | None = None
        self._stagePausedBy: set[int] = set()
        self.errors = ErrorReporter(clock)
        allRoutes = [
            _Route(output, makeLimiter(limit, clock) if limit is not None else None, output.stats)
            for output, limit in outputs
        ]
        # Observers (outputs with a true ``observesAll``, e.g. a comparison)
        # get every message they accept, outside --split-output's rotation.
        self._routes: dict[int, list[_Route]] = {
            kind: [r for r in allRoutes if kind in r.output.acceptedTypes and not r.output.observesAll]
            for kind in MESSAGE_TYPES
        }
        self._observers: dict[int, list[_Route]] = {
            kind: [r for r in allRoutes if kind in r.output.acceptedTypes and r.output.observesAll]
            for kind in MESSAGE_TYPES
        }
        self._hasObservers = any(self._observers.values())
        self._next: dict[int, int] = {kind: 0 for kind in MESSAGE_TYPES}
        # Per type, when no rotation and no per-output limit is involved, the
        # outputs' write methods in order: the per-message fast path.
        self._direct: dict[int, tuple[tuple[Callable[[Message], None], ...], tuple[_Route, ...]]] = {}
        if not splitOutput:
            for kind in MESSAGE_TYPES:
                chosen = [*self._routes[kind], *self._observers[kind]]
                if chosen and all(r.limiter is None for r in chosen):
                    self._direct[kind] = (tuple(r.output.write for r in chosen), tuple(chosen))
        # Batches (L{messagesReceived}) go straight to the outputs when every
        # type takes the same direct route (no rotation, no per-output limit,
        # no observer) and every output takes batches: (route, writeMany).
        self._batchRoutes: tuple[tuple[_Route, Callable[[list[Message]], None]], ...] | None = None
        routesPerKind = {self._direct[kind][1] if kind in self._direct else None for kind in MESSAGE_TYPES}
        if len(routesPerKind) == 1 and not self._hasObservers:
            (shared,) = routesPerKind
            if shared is not None and all(IBatchWriter.providedBy(r.output) for r in shared):
                self._batchRoutes = tuple((r, IBatchWriter(r.output).writeMany) for r in shared)
        for output, _ in outputs:
            output.setBackpressure(self)
        self._reporters = [r for r in (ITakenReporter(o, None) for o, _ in outputs) if r is not None]

    def whenTaken(self) -> Deferred[None]:
        """
        See L{ITakenReporter.whenTaken}: once every output that reports it has
        taken what it was given (the others took it when C{write} returned).
        """
        waits = [r.whenTaken() for r in self._reporters]
        waits = [d for d in waits if not d.called]
        if not waits:
            return succeed(None)
        done: Deferred[None] = Deferred()
        DeferredList(waits, consumeErrors=True).addCallback(lambda _: done.callback(None))
        return done

    def setStage(self, stage: IMiddlewareStage) -> None:
        """
        Put a middleware stage between the inputs and the routing: inputs
        connected from now on push into C{stage}, which pushes into this
        pipeline; the stage pauses the inputs (not itself) when its
        middleware falls behind, and saturated outputs pause the stage too.
        """
        self._stage = stage
        self.entry = stage
        stage.setReceiver(self)
        stage.setBackpressure(self)

    def connectInput(self, input: IInput, limit: Limit | None = None) -> None:
        """
        Make C{input} push into this pipeline (or its stage), behind its own
        C{limit}.
        """
        self._inputs.append(input)
        if limit is None:
            input.setReceiver(self.entry)
        else:
            input.setReceiver(_InputPort(self, input, makeLimiter(limit, self._clock)))
        if self._paused:
            input.pauseProducing()

    def messageReceived(self, message: Message) -> None:
        """
        Route one message (from an input port or an output producing responses).
        """
        stats = self.stats
        if len(message.payload) > self._copyBufferSize:
            message = message.replace(payload=message.payload[: self._copyBufferSize])
            stats.increment("truncated")
        if message.type == REQUEST:
            filters = self._filters
            if filters and message.payload:
                # (a session's close record has no payload: nothing to filter)
                for f in filters:
                    try:
                        filtered = f.filterMessage(message)
                    except Exception:
                        self.errors.report(f, f.stats, "filterMessage")
                        self._filteredIds.add(message.id)
                        stats.increment("dropped.filter_error")
                        return
                    if filtered is None:
                        self._filteredIds.add(message.id)
                        stats.increment("dropped.filtered")
                        return
                    message = filtered
        elif self._filters and self._filteredIds.pop(message.id):
            stats.increment("dropped.filtered_response")
            return
        if not message.payload and message.type == REQUEST and message.isSessionEnd:
            self._routeSessionEnd(message)
            return
        if self._prettify is not None:
            message = self._prettify(message)
        direct = self._direct.get(message.type)
        if direct is not None:
            for write in direct[0]:
                try:
                    write(message)
                except Exception:
                    route = direct[1][direct[0].index(write)]
                    self.errors.report(route.output, route.stats, "write")
            return
        routes = self._routes.get(message.type)
        if self._hasObservers:
            routes = self._withObservers(message, routes)
        elif self._split and routes:
            routes = [routes[self._turn(message, len(routes))]]
        if not routes:
            stats.increment("dropped.no_output")
            return
        self._writeAll(routes, message)

    def messagesReceived(self, messages: list[Message]) -> int:
        """
        Route a batch: in one pass to the outputs' C{writeMany} when nothing
        applies per message (no filter, no prettifier, nothing to truncate,
        the same outputs for every type, all taking batches); else as
        L{messageReceived} with each, stopping after one that paused the
        inputs. Returns how many were taken.
        """
        if not messages:
            return 0
        routes = self._batchRoutes
        if (
            routes is None
            or self._filters
            or self._prettify is not None
            or max(map(len, map(_payloadOf, messages))) > self._copyBufferSize
        ):
            receive = self.messageReceived
            paused = self._paused
            taken = 0
            for message in messages:
                receive(message)
                taken += 1
                if paused:
                    break
            return taken
        for route, writeMany in routes:
            try:
                writeMany(messages)
            except Exception:
                self.errors.report(route.output, route.stats, "writeMany")
        return len(messages)

    def _writeAll(self, routes: list[_Route], message: Message) -> None:
        """
        Write C{message} to every route, each behind its own limit; an
        output's exception is reported, never raised.
        """
        for route in routes:
            limiter = route.limiter
            if limiter is not None and not limiter.allow():
                route.stats.increment("dropped.limit")
                continue
            try:
                route.output.write(message)
            except Exception:
                self.errors.report(route.output, route.stats, "write")

    def _routeSessionEnd(self, message: Message) -> None:
        """
        A captured connection's close record (no HTTP in it) goes to the
        outputs, not to observers (comparisons, exports: it is no request).
        """
        routes = self._routes.get(REQUEST) or []
        if self._split and routes:
            routes = [routes[self._turn(message, len(routes))]]
        self._writeAll(routes, message)

    def _withObservers(self, message: Message, routes: list[_Route] | None) -> list[_Route]:
        kind = message.type
        chosen = list(routes or ())
        if self._split and chosen:
            chosen = [chosen[self._turn(message, len(chosen))]]
        return chosen + self._observers[kind]

    def _turn(self, message: Message, count: int) -> int:
        """
        The index of the output (of C{count}) that C{message} goes to with
        C{--split-output}.
        """
        if self._sticky:
            return _fnv1a32(stickyKey(message)) % count
        kind = message.type
        index = self._next[kind]
        self._next[kind] = (index + 1) % count
        return index

    def pause(self, output: object) -> None:
        """
        An output (or the middleware stage) is saturated: pause every input
        that can pause; an output pauses the stage as well.
        """
        first = not self._paused
        self._paused.add(id(output))
        if first:
            self.stats.increment("paused")
            for input in self._inputs:
                input.pauseProducing()
        stage = self._stage
        if stage is not None and output is not stage:
            if not self._stagePausedBy:
                stage.pauseProducing()
            self._stagePausedBy.add(id(output))

    def resume(self, output: object) -> None:
        """
        An output (or the stage) has room again: resume inputs once nothing
        is saturated, and the stage once no output is.
        """
        self._paused.discard(id(output))
        if not self._paused:
            for input in self._inputs:
                input.resumeProducing()
        if self._stage is not None and id(output) in self._stagePausedBy:
            self._stagePausedBy.discard(id(output))
            if not self._stagePausedBy:
                self._stage.resumeProducing()

