# -*- test-case-name: tests.test_options -*-
"""
Flags of the basic area: C{--input-dummy}, C{--output-stdout}, C{--output-null}.
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, STRING, Flag, FlagValues
from twisted_gor.limiter import splitFlagLimit


FLAGS: list[Flag] = [
    Flag("input-dummy", STRING, "Emit a 'GET /' request every second (the value is ignored).", repeat=True),
    Flag(
        "output-stdout",
        BOOL,
        "Write every message to stdout in .gor framing.",
        aliases=("output-dummy",),
        optionalValue=True,
    ),
    Flag("output-null", BOOL, "Accept and discard every message."),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add this area's inputs and outputs to C{config}.
    """
    from twisted_gor.basic.components import DummyInputConfig, NullOutputConfig, StdoutOutputConfig

    for raw in values["input-dummy"]:
        _, limit = splitFlagLimit("input-dummy", raw)
        config.inputs.append(DummyInputConfig(limit=limit))
    if values["output-stdout"]:
        config.outputs.append(StdoutOutputConfig(limit=None))
    if values["output-null"]:
        config.outputs.append(NullOutputConfig(limit=None))
