# -*- test-case-name: tests.test_command -*-
"""
The C{gor} command: the twistd plugin's service, run in the foreground, logging
to stderr so that stdout carries only C{--output-stdout} data.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

from twisted.logger import FilteringLogObserver, LogLevel, LogLevelFilterPredicate, globalLogBeginner

from twisted_gor.cli.logformat import ShortLogObserver
from twisted_gor.cli.signals import installQuietSignals
from twisted_gor.cli.tap import Options
from twisted_gor.redact import RedactingFile


def startLogging(verbose: int) -> None:
    """
    Send log events to stderr in the short format
    (L{twisted_gor.cli.logformat}): info and above, or debug with
    C{--verbose}. Every line is redacted (L{twisted_gor.redact}), whatever
    logged it.
    """
    level = LogLevel.debug if verbose > 0 else LogLevel.info
    observer = FilteringLogObserver(
        ShortLogObserver(RedactingFile(sys.stderr), verbose=verbose > 0),  # type: ignore[arg-type]
        [LogLevelFilterPredicate(defaultLogLevel=level)],
    )
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


async def _run(reactor: Any, options: Options, services: list[Any]) -> None:
    from twisted_gor.service import makeGorService

    assert options.config is not None
    service = makeGorService(options.config, reactor)
    services.append(service)
    installQuietSignals(reactor)
    service.privilegedStartService()
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    service.startService()
    await service.whenDone()


def main(argv: Sequence[str] | None = None) -> None:
    """
    Parse the command line (exit 2 with one line on a usage error), then run
    until done (C{--exit-after}, inputs exhausted, every output failed) or
    SIGINT/SIGTERM; exit 0, or 1 when an input or output failed for good
    (L{twisted_gor.service.GorService.exitCode}).
    """
    options = Options()
    options.parseOptions(list(sys.argv[1:] if argv is None else argv))
    assert options.config is not None
    startLogging(options.config.verbose)
    from twisted.internet import task

    services: list[Any] = []
    try:
        task.react(lambda reactor: _deferred(_run(reactor, options, services)))
    except SystemExit as e:
        if e.code or not services or not services[0].exitCode:
            raise
        sys.exit(services[0].exitCode)


def _deferred(coro: Any) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coro)
