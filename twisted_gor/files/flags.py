# -*- test-case-name: tests.test_options -*-
"""
Flags of the files area: C{--input-file} and C{--output-file} (see L{twisted_gor.flags}).
"""

from __future__ import annotations

import math
import os

from twisted_gor.config import GorConfig
from twisted_gor.files.input import FileInputConfig as _In
from twisted_gor.files.output import FileOutputConfig as _Out
from twisted_gor.flags import BOOL, DURATION, INT, MODE, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.limiter import PercentageLimit, splitFlagLimit


FLAGS: list[Flag] = [
    Flag(
        "input-file",
        STRING,
        "Replay a .gor file or glob (.gz read as gzip); 'FILE|200%' = 2x speed, 'FILE|max' = no waits.",
        repeat=True,
    ),
    Flag("input-file-loop", BOOL, "Start the --input-file files again when all are consumed."),
    Flag(
        "input-file-max-wait",
        DURATION,
        "Cap any single wait between replayed records (e.g. 1s); 0 = no cap.",
        default=0.0,
        check=nonNegative,
    ),
    Flag(
        "input-file-read-depth",
        INT,
        "Records per file read ahead to reorder out-of-order timestamps (default 100).",
        default=_In.readDepth,
    ),
    Flag(
        "input-file-read-ahead-size",
        SIZE,
        "Bytes of records read ahead across all --input-file files, at most (default 16mb).",
        default=_In.readAheadSize,
        check=positive,
    ),
    Flag(
        "input-file-dry-run",
        BOOL,
        "Read the files without emitting, then log a summary (records, duration).",
    ),
    Flag(
        "output-file",
        STRING,
        "Write messages to a .gor file (.gz compressed); %Y %m %d %H %M %S %NS %r %t %i expand.",
        repeat=True,
    ),
    Flag(
        "output-file-append",
        BOOL,
        "Append to an existing file instead of truncating it.",
    ),
    Flag(
        "output-file-flush-interval",
        DURATION,
        "Flush buffered records to disk this often (default 1s).",
        default=_Out.flushInterval,
        check=nonNegative,
    ),
    Flag(
        "output-file-size-limit",
        SIZE,
        "Rotate to a new numbered file (_0, _1, ...) after this many bytes; 0 = never.",
        default=_Out.sizeLimit,
    ),
    Flag(
        "output-file-queue-limit",
        INT,
        "Rotate to a new numbered file after this many records; 0 = never.",
        default=_Out.queueLimit,
    ),
    Flag(
        "output-file-max-size-limit",
        SIZE,
        "Stop writing (and count drops) once this output wrote this many bytes; 0 = no limit.",
        default=_Out.maxSize,
    ),
    Flag(
        "output-file-mode",
        MODE,
        f"Permissions (octal) of the files --output-file creates, whatever the umask (default {_Out.mode:04o}: "
        "recordings hold production traffic, so only their owner may read them). Not a GoReplay flag.",
        default=_Out.mode,
    ),
]


S3_REFUSAL = (
    "--{flag}: s3:// locations (a GoReplay PRO feature) are not supported by twisted-gor;"
    " use a local path ({hint})"
)
"""The refusal of C{s3://} in C{--input-file}/C{--output-file}."""


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add this area's inputs and outputs to C{config}.
    """
    from twisted_gor.files.input import FileInputConfig, expandInputFiles
    from twisted_gor.files.output import FileOutputConfig

    readDepth = values["input-file-read-depth"]
    if readDepth < 1:
        raise ValueError("--input-file-read-depth: must be at least 1")
    for raw in values["input-file"]:
        fastest = raw.endswith("|max")
        pattern, limit = (raw[: -len("|max")], None) if fastest else splitFlagLimit("input-file", raw)
        if pattern.lower().startswith("s3://"):
            raise ValueError(S3_REFUSAL.format(flag="input-file", hint="download it first: aws s3 cp s3://BUCKET/KEY ."))
        paths = expandInputFiles(pattern)
        if not paths:
            raise ValueError(f"--input-file: no such file: {pattern!r}")
        speed = math.inf if fastest else 1.0
        if isinstance(limit, PercentageLimit):
            speed, limit = limit.percent / 100.0, None
            if speed <= 0:
                raise ValueError(f"--input-file: replay speed must be above 0%, got {raw!r}")
        config.inputs.append(
            FileInputConfig(
                pattern=pattern,
                paths=paths,
                speed=speed,
                limit=limit,
                loop=values["input-file-loop"],
                maxWait=values["input-file-max-wait"] or None,
                readDepth=readDepth,
                dryRun=values["input-file-dry-run"],
                readAheadSize=values["input-file-read-ahead-size"],
            )
        )

    for raw in values["output-file"]:
        path, limit = splitFlagLimit("output-file", raw)
        if not path:
            raise ValueError("--output-file: empty path")
        if path.lower().startswith("s3://"):
            raise ValueError(S3_REFUSAL.format(flag="output-file", hint="then upload: aws s3 cp FILE s3://BUCKET/"))
        directory = os.path.dirname(os.path.abspath(path.split("%", 1)[0] + "x"))
        if not os.path.isdir(directory):
            raise ValueError(f"--output-file: directory does not exist: {directory!r}")
        config.outputs.append(
            FileOutputConfig(
                pathTemplate=path,
                limit=limit,
                append=values["output-file-append"],
                flushInterval=values["output-file-flush-interval"] or 0.1,
                sizeLimit=values["output-file-size-limit"],
                queueLimit=values["output-file-queue-limit"],
                maxSize=values["output-file-max-size-limit"],
                mode=values["output-file-mode"],
            )
        )
