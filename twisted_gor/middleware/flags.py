# -*- test-case-name: tests.test_middleware -*-
"""
Flags of the middleware area: C{--middleware}, C{--middleware-python} and
their bounds (see L{twisted_gor.flags}).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import DURATION, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.middleware import external as _external
from twisted_gor.middleware import inprocess as _inprocess

FLAGS: list[Flag] = [
    Flag(
        "middleware",
        STRING,
        "Run this program (split on spaces, no shell) and pass every message through it as GoReplay's hex lines.",
        default="",
    ),
    Flag(
        "middleware-python",
        STRING,
        "Pass every message through an in-process IMiddleware: MODULE:NAME, an object or a callable returning one.",
        default="",
    ),
    Flag(
        "middleware-buffer-size",
        SIZE,
        "Bytes queued toward the middleware (default 16mb); pausable inputs pause at half, live ones drop past it.",
        default=_external.DEFAULT_BUFFER_SIZE,
        check=positive,
    ),
    Flag(
        "middleware-max-message-size",
        SIZE,
        "Largest message read back from --middleware (default 0: twice --copy-buffer-size); longer lines are malformed.",
        default=0,
        check=nonNegative,
    ),
    Flag(
        "middleware-timeout",
        DURATION,
        "At exit, how long the middleware has to answer and exit once its input is closed (default 5s), then it is killed.",
        default=_external.DEFAULT_STOP_TIMEOUT,
        check=nonNegative,
    ),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Set C{config.middleware} from the flags.
    """
    command = values["middleware"]
    spec = values["middleware-python"]
    if command and spec:
        raise ValueError("--middleware-python: only one middleware at a time (--middleware is given too)")
    if command:
        try:
            argv = _external.splitCommand(command)
        except ValueError as e:
            raise ValueError(f"--middleware: {e}") from None
        config.middleware = _external.ExternalMiddlewareConfig(
            argv=argv,
            bufferSize=values["middleware-buffer-size"],
            maxMessageSize=values["middleware-max-message-size"],
            stopTimeout=values["middleware-timeout"],
        )
    elif spec:
        try:
            middleware = _inprocess.loadMiddleware(spec)
        except ValueError as e:
            raise ValueError(f"--middleware-python: {e}") from None
        config.middleware = _inprocess.PythonMiddlewareConfig(
            middleware=middleware,
            bufferSize=values["middleware-buffer-size"],
            stopTimeout=values["middleware-timeout"],
            spec=spec,
        )
