# -*- test-case-name: tests.test_summary -*-
"""
The C{gor} command's log lines: short and human, C{HH:MM:SS [component]
message}, warnings and errors marked (C{WARNING}, C{ERROR}), tracebacks
indented under their line.

The component is the area of twisted-gor that logged (C{http}, C{raw},
C{relay}...; C{gor} for the core), not Twisted's logger name. Twisted's own
chatter about ports and factories (C{Site starting on 9090}, C{Main loop
terminated.}) is left out unless C{--verbose}.
"""

from __future__ import annotations

import re
import sys
import time
from typing import IO, Any

from twisted.logger import ILogObserver, LogLevel, formatEvent
from zope.interface import implementer

_CHATTER = re.compile(
    r"^(?:\S+ starting on \d+|Starting factory |Stopping factory |\(\S+ Port \d+ Closed\)|Main loop terminated\.)"
)

_MARKS = {LogLevel.warn: "WARNING ", LogLevel.error: "ERROR ", LogLevel.critical: "CRITICAL "}


def componentOf(event: dict[str, Any]) -> str:
    """
    The short name of what logged C{event}: an area of twisted-gor, C{gor}
    for its core, C{twisted} for the rest.
    """
    namespace = str(event.get("log_namespace") or "")
    parts = namespace.split(".")
    if parts[0] == "twisted_gor":
        if len(parts) > 2 and parts[1] != "cli":
            package = sys.modules.get("twisted_gor." + parts[1])
            if package is not None and hasattr(package, "__path__"):
                return parts[1]
        return "gor"
    return "twisted"


def formatLine(event: dict[str, Any]) -> str | None:
    """
    The text of one event (several lines with a traceback), or L{None}
    when there is nothing to say.
    """
    text = formatEvent(event)
    failure = event.get("log_failure")
    if failure is not None:
        try:
            trace = failure.getTraceback()
        except Exception:
            trace = "(traceback unavailable)\n"
        text = f"{text}\n{trace}".rstrip("\n")
    elif not text:
        return None
    level = event.get("log_level", LogLevel.info)
    if event.get("isError"):
        level = LogLevel.error
    stamp = time.strftime("%H:%M:%S", time.localtime(event.get("log_time") or time.time()))
    mark = _MARKS.get(level, "")
    first, *rest = text.split("\n")
    lines = [f"{stamp} [{componentOf(event)}] {mark}{first}", *("\t" + line for line in rest)]
    return "\n".join(lines) + "\n"


@implementer(ILogObserver)
class ShortLogObserver:
    """
    Writes events to C{stream} in the short format; hides Twisted's chatter
    unless C{verbose}.
    """

    def __init__(self, stream: IO[str], verbose: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self.status: Any = None
        """A L{twisted_gor.cli.progress.ProgressLine} to clear and redraw around each line."""

    def __call__(self, event: dict[str, Any]) -> None:
        if not self.verbose and componentOf(event) == "twisted" and not event.get("isError"):
            level = event.get("log_level", LogLevel.info)
            if level < LogLevel.warn and _CHATTER.match(formatEvent(event)):
                return
        text = formatLine(event)
        if text is None:
            return
        status = self.status
        try:
            if status is not None:
                status.clear()
            self.stream.write(text)
            self.stream.flush()
            if status is not None:
                status.redraw()
        except (BrokenPipeError, ValueError):
            pass
