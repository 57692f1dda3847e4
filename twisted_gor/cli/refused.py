# -*- test-case-name: tests.test_flagtable -*-
"""
GoReplay flags this build refuses: declared (so C{--help} lists them and
the flag table shows them) and rejected when given, with one line naming the
feature and, where there is one, the way to get the same result (exit 2).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, INT, STRING, SIZE, DURATION, Flag, FlagValues

_BINARY = (
    "replaying non-HTTP payloads (GoReplay PRO's --output-binary) is not supported by twisted-gor;"
    " forward the messages with --output-tcp to a program of yours instead"
)

REASONS: dict[str, str] = {
    "output-binary": _BINARY,
    "output-binary-workers": _BINARY,
    "output-binary-timeout": _BINARY,
    "output-binary-track-response": _BINARY,
    "output-binary-debug": _BINARY,
    "output-tcp-response-buffer": "the response buffer of --output-binary (GoReplay PRO), which twisted-gor does not support",
    "output-file-buffer": (
        "the staging directory of s3:// outputs (GoReplay PRO), which twisted-gor does not support;"
        " write a local --output-file and upload it (aws s3 cp)"
    ),
}
"""Why each flag of this module is refused (its one-line error)."""

_KINDS = {
    "output-binary": STRING,
    "output-binary-workers": INT,
    "output-binary-timeout": DURATION,
    "output-binary-track-response": BOOL,
    "output-binary-debug": BOOL,
    "output-tcp-response-buffer": SIZE,
    "output-file-buffer": STRING,
}

FLAGS: list[Flag] = [
    Flag(name, _KINDS[name], "Refused (GoReplay PRO): see docs/flags.rst.", repeat=name == "output-binary")
    for name in REASONS
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Refuse any of these flags that was given.

    @raise ValueError: naming the first one given.
    """
    for flag in FLAGS:
        if flag.name in values.given:
            raise ValueError(f"--{flag.name}: {REASONS[flag.name]}")
