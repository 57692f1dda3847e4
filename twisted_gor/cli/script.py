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
from twisted_gor.cli.signals import honourSigint, installQuietSignals
from twisted_gor.cli.subcommands import SUBCOMMANDS
from twisted_gor.cli.subcommands import run as runSubcommand
from twisted_gor.cli.tap import Options
from twisted_gor.cli.startup import describe
from twisted_gor.redact import RedactingFile, redactText
from twisted_gor.service import StartError


def startLogging(verbose: int) -> ShortLogObserver:
    """
    Send log events to stderr in the short format
    (L{twisted_gor.cli.logformat}): info and above, or debug with
    C{--verbose}. Every line is redacted (L{twisted_gor.redact}), whatever
    logged it.
    """
    level = LogLevel.debug if verbose > 0 else LogLevel.info
    short = ShortLogObserver(RedactingFile(sys.stderr), verbose=verbose > 0)  # type: ignore[arg-type]
    observer = FilteringLogObserver(short, [LogLevelFilterPredicate(defaultLogLevel=level)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    return short


async def _run(reactor: Any, service: Any, failures: list[str], logger: ShortLogObserver) -> None:
    from twisted.internet.defer import Deferred

    # task.react calls this before the reactor runs; its signal handlers are
    # installed as it starts. Start once they are, so that "gor: started"
    # means a SIGTERM from then on stops gor cleanly.
    running: Deferred[None] = Deferred()
    reactor.callWhenRunning(running.callback, None)
    await running
    installQuietSignals(reactor)
    progress = _progressLine(service, reactor)
    if progress is not None:
        logger.status = progress

        def stopProgress() -> None:
            progress.stop()
            logger.status = None

        # before the summary: the line ends when the inputs are done
        service.whenDone().addCallback(lambda _: stopProgress())
        reactor.addSystemEventTrigger("before", "shutdown", stopProgress)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    try:
        service.startService()
    except StartError as e:
        failures.append(describe(e))
        return
    if progress is not None:
        progress.start()
    await service.whenDone()


def _progressLine(service: Any, reactor: Any) -> Any:
    from twisted_gor.cli.progress import ProgressLine

    wanted = service.config.progress
    tty = sys.stderr.isatty()
    line = ProgressLine(service, sys.stderr, reactor, tty=tty)
    if wanted is False or not line.sources():
        return None
    if wanted is None and not tty:
        return None
    return line


def _fail(message: str) -> None:
    sys.stderr.write(f"gor: {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> None:
    """
    Parse the command line (exit 2 with one line on a usage error), open
    what needs privileges (exit 2 with one line naming what failed and how to
    fix it: L{twisted_gor.cli.startup}), then run until done
    (C{--exit-after}, inputs exhausted, every output failed) or
    SIGINT/SIGTERM; exit 0, or 1 when an input or output failed for good
    (L{twisted_gor.service.GorService.exitCode}).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    honourSigint()
    if args and args[0] in SUBCOMMANDS:
        runSubcommand(args)
    options = Options()
    options.parseOptions(args)
    assert options.config is not None
    logger = startLogging(options.config.verbose)
    from twisted.internet import reactor, task

    from twisted_gor.service import makeGorService

    try:
        service = makeGorService(options.config, reactor)
        service.privilegedStartService()
    except (StartError, OSError, ValueError) as e:
        _fail(redactText(describe(e)))
    failures: list[str] = []
    try:
        task.react(lambda reactor: _deferred(_run(reactor, service, failures, logger)))
    except SystemExit as e:
        if failures:
            _fail(failures[0])
        if e.code or not service.exitCode:
            raise
        sys.exit(service.exitCode)


def _deferred(coro: Any) -> Any:
    from twisted.internet.defer import Deferred

    return Deferred.fromCoroutine(coro)
