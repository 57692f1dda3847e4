# -*- test-case-name: tests.test_options -*-
"""
Core flags: logging, stats, C{--exit-after}, C{--split-output},
C{--copy-buffer-size} and profiling (see L{twisted_gor.flags}).
"""

from __future__ import annotations

import os

from twisted_gor.config import GorConfig

_Defaults = GorConfig
from twisted_gor.flags import BOOL, DURATION, INT, SIZE, STRING, Flag, FlagValues, nonNegative


FLAGS: list[Flag] = [
    Flag("verbose", INT, "Log level: 0 normal, 1-2 connections and errors, 3+ every message.", default=0),
    Flag("debug", BOOL, "Old spelling of --verbose 3."),
    Flag("stats", BOOL, "Log every component's counters periodically (needed by --output-*-stats)."),
    Flag("stats-interval", DURATION, "How often --stats logs counters (default 5s).", default=_Defaults.statsInterval),
    Flag("exit-after", DURATION, "Stop after this long (e.g. 30s, 5m) and exit 0.", default=None, check=nonNegative),
    Flag(
        "split-output",
        BOOL,
        "Round-robin each message to one output instead of sending it to all.",
    ),
    Flag(
        "recognize-tcp-sessions",
        BOOL,
        "Keep TCP sessions: --input-raw records each request's client connection and its close;"
        " --output-http replays each one over one connection, in order, after each answer.",
    ),
    Flag(
        "copy-buffer-size",
        SIZE,
        "Truncate payloads longer than this (default 5mb); truncations are counted.",
        default=_Defaults.copyBufferSize,
    ),
    Flag(
        "prettify-http",
        BOOL,
        "De-chunk and gunzip/inflate HTTP bodies (fixing Content-Length) for the middleware and the outputs.",
    ),
    Flag("progress", BOOL, "Show a progress line of file replays on stderr even when it is not a terminal."),
    Flag("no-progress", BOOL, "No progress line, even when stderr is a terminal (where it is shown by default)."),
    Flag("cpuprofile", STRING, "Write a cProfile (pstats) profile of the whole run to this file at exit.", default=""),
    Flag("memprofile", STRING, "Write a tracemalloc memory profile (snapshot + top list) to this file at exit.", default=""),
]


def _writableDirectory(flagName: str, path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"--{flagName}: directory does not exist: {directory!r}")


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Fill C{config}'s general settings from the core flags.
    """
    config.verbose = 3 if values["debug"] else values["verbose"]
    config.stats = values["stats"]
    config.statsInterval = values["stats-interval"]
    if config.statsInterval <= 0:
        raise ValueError("--stats-interval: must be positive")
    exitAfter = values["exit-after"]
    config.exitAfter = exitAfter if exitAfter else None
    config.splitOutput = values["split-output"]
    config.recognizeTcpSessions = values["recognize-tcp-sessions"]
    config.prettifyHttp = values["prettify-http"]
    if values["progress"] and values["no-progress"]:
        raise ValueError("--progress: not with --no-progress")
    config.progress = True if values["progress"] else False if values["no-progress"] else None
    if values["copy-buffer-size"] < 1:
        raise ValueError("--copy-buffer-size: must be at least 1 byte")
    config.copyBufferSize = values["copy-buffer-size"]
    for name, attribute in (("cpuprofile", "cpuProfile"), ("memprofile", "memProfile")):
        path = values[name]
        if path:
            _writableDirectory(name, path)
            setattr(config, attribute, path)
