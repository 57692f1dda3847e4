# -*- test-case-name: tests.test_compare_output -*-
"""
Flags of the response comparison (see L{twisted_gor.flags}).
"""

from __future__ import annotations

import os

from twisted_gor.config import GorConfig
from twisted_gor.compare.output import CompareOutputConfig as _Defaults
from twisted_gor.flags import DURATION, INT, STRING, Flag, FlagValues

GROUP = "Comparison"
"""The heading of the comparison flags in --help."""

FLAGS: list[Flag] = [
    Flag(
        "output-compare",
        STRING,
        "Compare production responses (type 2) with replayed ones (type 3) by request id; "
        "write a report to this file at exit: JSON, or one self-contained HTML page for a .html name. Implies --output-http-track-response "
        "(and --input-raw-track-response).",
    ),
    Flag(
        "compare-header",
        STRING,
        "Also compare this response header (glob patterns allowed, e.g. 'X-*' or '*'); none by default.",
        repeat=True,
    ),
    Flag(
        "compare-ignore",
        STRING,
        "Ignore differences at a JSON path pattern ('$.timestamp', '$.items[*].id', '$' for whole bodies) "
        "or in a header name pattern.",
        repeat=True,
    ),
    Flag(
        "compare-max-pending",
        INT,
        "Request ids waiting for their pair of responses, at most (older ones are counted unpaired).",
        default=_Defaults.maxPending,
    ),
    Flag(
        "compare-max-age",
        DURATION,
        "How long a request id waits for its pair of responses.",
        default=_Defaults.maxAge,
    ),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add the comparison output to C{config}; it wants both kinds of responses,
    so the service turns on tracking wherever they can come from.
    """
    from twisted_gor.compare.output import CompareOutputConfig

    path = values["output-compare"]
    if not path:
        for name in ("compare-header", "compare-ignore"):
            if values[name]:
                raise ValueError(f"--{name}: needs --output-compare")
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(f"--output-compare: no such directory: {directory}")
    if values["compare-max-pending"] < 1:
        raise ValueError("--compare-max-pending: must be at least 1")
    if values["compare-max-age"] <= 0:
        raise ValueError("--compare-max-age: must be positive")
    for pattern in values["compare-ignore"]:
        if not pattern:
            raise ValueError("--compare-ignore: empty pattern")
    config.outputs.append(
        CompareOutputConfig(
            path=path,
            headers=list(values["compare-header"]),
            ignore=list(values["compare-ignore"]),
            maxPending=values["compare-max-pending"],
            maxAge=values["compare-max-age"],
        )
    )
