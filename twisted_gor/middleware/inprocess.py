# -*- test-case-name: tests.test_middleware,tests.test_middleware_e2e -*-
"""
Middleware in process: an L{IMiddleware} called with each message
(C{--middleware-python MODULE:NAME}, or L{PythonMiddlewareConfig} in a
L{twisted_gor.GorConfig}). Same semantics as C{--middleware}: what it
returns goes on, what it does not return is dropped, extra messages are
injected; no child process, no hex.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, ClassVar, Iterable

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.python.failure import Failure

from twisted_gor._interfaces import IMiddleware
from twisted_gor.base import resolveReactor
from twisted_gor.config import BuildContext, Capabilities
from twisted_gor.message import Message
from twisted_gor.middleware.stage import StageBase

DEFAULT_BUFFER_SIZE = 16 * 1024 * 1024
"""Bytes of messages whose Deferred has not fired yet (C{--middleware-buffer-size})."""


def loadMiddleware(spec: str) -> Any:
    """
    Load C{MODULE:NAME}: an object providing L{IMiddleware}, or a callable
    taking no arguments that returns one (a class, a factory).

    @raise ValueError: saying what is wrong.
    """
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"expected MODULE:NAME (e.g. mypkg.rewrite:TokenModifier), got {spec!r}")
    try:
        found: Any = import_module(module)
    except Exception as e:
        raise ValueError(f"cannot import {module!r}: {e}") from None
    for part in name.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ValueError(f"{module!r} has no {name!r}") from None
    if not IMiddleware.providedBy(found):
        if not callable(found):
            raise ValueError(f"{spec!r} is neither an IMiddleware nor a callable returning one")
        try:
            found = found()
        except Exception as e:
            raise ValueError(f"{spec!r}() raised {type(e).__name__}: {e}") from None
        if not IMiddleware.providedBy(found):
            raise ValueError(f"{spec!r}() returned {type(found).__name__}, which does not provide IMiddleware")
    return found


@dataclass
class PythonMiddlewareConfig(Capabilities):
    """
    Configuration of an in-process middleware.

    @ivar middleware: the L{IMiddleware} provider.
    @ivar bufferSize: bytes of messages whose Deferred has not fired yet;
        over half of it pausable inputs pause, over all of it live inputs'
        messages are dropped (C{dropped.queue_full}).
    @ivar stopTimeout: at exit, seconds pending Deferreds have to fire
        before they are cancelled.
    @ivar spec: how it was named (C{MODULE:NAME}), for messages.
    """

    middleware: Any = None
    bufferSize: int = DEFAULT_BUFFER_SIZE
    stopTimeout: float = 5.0
    spec: str = ""
    label: ClassVar[str] = "--middleware-python"

    def build(self, context: BuildContext) -> "InProcessMiddleware":
        """
        Build the stage.
        """
        if not IMiddleware.providedBy(self.middleware):
            raise ValueError(f"--middleware-python: {self.middleware!r} does not provide IMiddleware")
        return InProcessMiddleware(self, context.reactor, context.config.copyBufferSize, context.prettifier)


class InProcessMiddleware(StageBase):
    """
    The stage of an in-process middleware. A result given synchronously is
    emitted at once; a Deferred's message counts against the budget until
    it fires. The stage ignores the outputs' pause (the inputs are paused
    by them anyway; what the outputs cannot take they drop and count).
    """

    def __init__(
        self,
        config: PythonMiddlewareConfig,
        reactor: Any = None,
        copyBufferSize: int = 5 * 1024 * 1024,
        prettifier: Any = None,
    ) -> None:
        reactor = resolveReactor(reactor)
        label = config.spec or type(config.middleware).__name__
        StageBase.__init__(self, label, reactor, config.bufferSize, copyBufferSize, prettifier)
        self.config = config
        self.middleware = config.middleware
        self.handle = config.middleware.handleMessage
        self.waiting: dict[int, Deferred[Any]] = {}
        self._lastError = -1e9

    def startService(self) -> None:
        """
        Accept messages.
        """
        StageBase.startService(self)
        self.accepting = True

    def submit(self, message: Message) -> None:
        """
        Call the middleware with C{message}.
        """
        size = len(message.payload)
        flow = self.flow
        if flow.bytes >= flow.maxBytes:
            self.stats.increment("dropped.queue_full")
            return
        self.sent += 1
        self.ledger.sent(message.type, message.id)
        try:
            result = self.handle(message)
        except Exception:
            self._failed(Failure(), message, forget=True)
            return
        if isinstance(result, Deferred):
            flow.add(size)
            key = id(result)
            self.waiting[key] = result

            def done(value: Any) -> None:
                self.waiting.pop(key, None)
                flow.remove(size)
                self._emitAll(value, message)

            def failed(reason: Failure) -> None:
                self.waiting.pop(key, None)
                flow.remove(size)
                self._failed(reason, message, forget=True)

            result.addCallbacks(done, failed)
            return
        self._emitAll(result, message)

    def _emitAll(self, result: Iterable[Message] | None, message: Message) -> None:
        if result is None:
            return
        try:
            for out in result:
                if not isinstance(out, Message):
                    self.malformed(f"returned {type(out).__name__}, not a Message", repr(out).encode())
                    continue
                self.emitted(out)
        except Exception:
            self._failed(Failure(), message)

    def _failed(self, reason: Failure, message: Message, forget: bool = False) -> None:
        # A message the middleware failed on is counted as errors only (not
        # also as dropped by the middleware).
        if forget:
            self.ledger.returned(message.type, message.id)
        self.stats.increment("errors")
        now = self.reactor.seconds()
        if now - self._lastError >= 1.0:
            self._lastError = now
            self.log.failure(
                "middleware {label}: failed on a type-{kind} message; counted as errors, the message is dropped",
                reason,
                label=self.label,
                kind=message.type,
            )

    def stopService(self) -> Deferred[None]:
        """
        Wait (up to C{stopTimeout}) for pending Deferreds, cancel the rest.
        """
        StageBase.stopService(self)
        self.accepting = False
        self.flow.stop()
        if not self.waiting:
            self.settle()
            return succeed(None)
        pending = list(self.waiting.values())
        done: Deferred[None] = Deferred()

        def cancelRest() -> None:
            for d in list(self.waiting.values()):
                d.cancel()

        call = self.reactor.callLater(self.config.stopTimeout, cancelRest)

        def finished(_: object) -> None:
            if call.active():
                call.cancel()
            self.settle()
            done.callback(None)

        DeferredList(pending, consumeErrors=True).addCallback(finished)
        return done


__all__ = ["PythonMiddlewareConfig", "InProcessMiddleware", "loadMiddleware"]
