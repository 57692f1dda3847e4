# -*- test-case-name: tests.test_interfaces -*-
"""
The seams of twisted-gor.

An I{input} is a service that pushes L{Message}s into an L{IMessageReceiver};
an I{output} is a service that accepts them. The pipeline between them applies
limits, filters and routing. Every input, output and filter keeps its counters in
a L{twisted_gor.stats.Counters} so that nothing is dropped without a trace.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

from twisted.application.service import IService


class IMessageReceiver(Interface):
    """
    Something messages are pushed into.
    """

    def messageReceived(message):  # type: ignore[no-untyped-def]
        """
        Accept one L{twisted_gor.message.Message}. Must not block and must not
        raise for reasons of load: a receiver that cannot keep up drops the
        message and counts it.
        """


class IBatchReceiver(IMessageReceiver):
    """
    A receiver that also takes messages in batches (the file input at full
    speed hands over a read's worth at once). Optional: inputs push one
    message at a time into receivers that do not provide it.
    """

    def messagesReceived(messages):  # type: ignore[no-untyped-def]
        """
        Accept a list of messages, in order: the same as calling
        C{messageReceived} with each, stopping after the message that made
        the receiver pause its inputs (backpressure) as an input emitting
        one at a time stops. Returns how many were taken; the caller keeps
        the others for when it is resumed.
        """


class IBatchWriter(Interface):
    """
    An output that also writes messages in batches. Optional: the pipeline
    calls C{write} per message for outputs that do not provide it.
    """

    def writeMany(messages):  # type: ignore[no-untyped-def]
        """
        Accept a list of messages, in order: the same as calling C{write}
        with each, counters included; all of them, even if the output asks
        for a pause on the way (it bounds what it holds, the batch included:
        the file input's batches hold at most its read-ahead budget). An
        exception counts one error for the batch.
        """


class IStatsSource(Interface):
    """
    A component whose counters are shown by C{--stats} and in the exit summary.
    """

    name = Attribute("Short label used in stats lines, e.g. C{'output_http(http://staging)'}.")
    stats = Attribute("A L{twisted_gor.stats.Counters} of this component.")


class IBackpressure(Interface):
    """
    Given to outputs so they can tell the pipeline they are saturated.

    Pausable inputs (files, gor-to-gor TCP connections) stop producing while any
    output is paused; live captures cannot pause and the outputs drop (and
    count) what they cannot queue.
    """

    def pause(output):  # type: ignore[no-untyped-def]
        """
        C{output} is saturated: stop pausable inputs until it resumes.
        """

    def resume(output):  # type: ignore[no-untyped-def]
        """
        C{output} can take messages again.
        """


class IInput(IService, IStatsSource):
    """
    A source of messages: a Twisted service that pushes into a receiver.
    """

    def setReceiver(receiver):  # type: ignore[no-untyped-def]
        """
        Set the L{IMessageReceiver} this input pushes to; called before
        C{startService}.
        """

    def pauseProducing():  # type: ignore[no-untyped-def]
        """
        Stop emitting for now, if this input can (a capture cannot and ignores it).
        """

    def resumeProducing():  # type: ignore[no-untyped-def]
        """
        Emit again after L{pauseProducing}.
        """

    def whenExhausted():  # type: ignore[no-untyped-def]
        """
        Return a L{Deferred} that fires (with L{None}) once this input will emit
        nothing more, or L{None} for an endless input (a capture, a listener).
        """


class IOutput(IService, IStatsSource):
    """
    A sink of messages: a Twisted service.

    C{stopService} returns a Deferred that fires once everything accepted has
    been delivered, flushed or (after the output's own timeout) counted as lost.
    """

    acceptedTypes = Attribute(
        "A frozenset of the message types this output takes, e.g. C{frozenset({1})}"
        " for an HTTP replay; the pipeline only routes those types to it."
    )

    observesAll = Attribute(
        "When true the output gets every message it accepts even with"
        " --split-output (an observer such as a comparison, not a destination)."
        " L{twisted_gor.base.OutputBase} makes it false."
    )

    def setBackpressure(backpressure):  # type: ignore[no-untyped-def]
        """
        Give this output the L{IBackpressure} of the pipeline; called before
        C{startService}.
        """

    def write(message):  # type: ignore[no-untyped-def]
        """
        Accept one message. Never blocks; an output that cannot queue it drops
        and counts it.
        """


class ITakenReporter(Interface):
    """
    Says when messages handed over have been I{taken}: delivered where the
    component puts them, or counted as dropped by it (the acknowledging relay
    acknowledges a record only then). Optional: a component that does not
    provide it has taken a message when its C{write} (or C{messageReceived})
    returned. L{twisted_gor.base.OutputBase} provides it that way; a file
    output once the records are written to the OS (its buffer written and
    flushed, not C{fsync}ed); the pipeline once every output that provides it
    says so.
    """

    def whenTaken():  # type: ignore[no-untyped-def]
        """
        Return a L{Deferred} that fires (with L{None}, never with a failure)
        once every message accepted before this call has been taken.
        """


class IResponseSource(Interface):
    """
    An output that also produces messages (an HTTP replay emitting replayed
    responses as type 3).
    """

    def setResponseReceiver(receiver):  # type: ignore[no-untyped-def]
        """
        Set the L{IMessageReceiver} that produced messages are pushed to.
        """


class IMessageFilter(IStatsSource):
    """
    A step of the pipeline that may change or drop requests (type 1 only).
    """

    def filterMessage(message):  # type: ignore[no-untyped-def]
        """
        Return the (possibly changed) message, or L{None} to drop it; a filter
        counts its own drops by reason.
        """


class IReplayObserver(Interface):
    """
    Told about every request an L{IReplaySource} replayed: the one channel
    for observing replays (type-3 messages are derived from the same result).
    An output providing this whose config C{requires} C{REPLAY_RESULTS} is
    connected to every replay source by the service.
    """

    def replayed(result):  # type: ignore[no-untyped-def]
        """
        One L{twisted_gor.message.ReplayResult}. Must not block or raise.
        """


class IReplaySource(Interface):
    """
    An output that replays requests (C{--output-http}) and reports each
    replay to its observers.
    """

    def addReplayObserver(observer):  # type: ignore[no-untyped-def]
        """
        Report every replay to the L{IReplayObserver} C{observer} from now on
        (responses are then kept, up to the output's response buffer).
        """


class IMiddleware(Interface):
    """
    Middleware in process (C{--middleware-python}, or
    L{twisted_gor.PythonMiddlewareConfig} in a L{twisted_gor.GorConfig}):
    the semantics of GoReplay's C{--middleware} without a child process or
    hex encoding.

    It sees every message the inputs produce (requests, original responses
    and, with C{--output-http-track-response}, replayed responses) before the
    filters and outputs do. What it returns goes on: the message itself or a
    changed copy (keep its type and id), nothing to drop it, extra messages
    to inject them. It may also hold a message and return it from a later
    call. Correlate requests and responses by L{Message.id}.
    """

    def handleMessage(message):  # type: ignore[no-untyped-def]
        """
        Take one L{twisted_gor.message.Message}.

        @return: an iterable of L{twisted_gor.message.Message}s to pass on
            (possibly empty), or a L{Deferred} firing with one. Must not
            block the reactor; an exception or failed Deferred is counted
            as C{errors} and the message is dropped.
        """


class IMiddlewareStage(IService, IStatsSource, IMessageReceiver):
    """
    The stage between the inputs and the pipeline's routing (an external
    C{--middleware} or an in-process one): the inputs push into it with
    C{messageReceived}, it pushes what the middleware emits into its
    receiver (the pipeline). Its C{stopService} fires once it has drained.
    """

    def setReceiver(receiver):  # type: ignore[no-untyped-def]
        """
        Set the L{IMessageReceiver} that what the middleware emits goes to.
        """

    def setBackpressure(backpressure):  # type: ignore[no-untyped-def]
        """
        Set the L{IBackpressure} this stage pauses (and resumes) the inputs
        feeding it with, when the middleware falls behind.
        """

    def pauseProducing():  # type: ignore[no-untyped-def]
        """
        The outputs are saturated: emit nothing for now, if it can.
        """

    def resumeProducing():  # type: ignore[no-untyped-def]
        """
        Emit again after L{pauseProducing}.
        """


class IProgressSource(Interface):
    """
    An input that knows how much of a finite source it has done (the files
    of C{--input-file}), for the C{--progress} line.
    """

    def progress():  # type: ignore[no-untyped-def]
        """
        Return C{(done, total)} bytes of the source now, or L{None} while
        unknown (files not opened yet, an endless loop).
        """
