"""
Flags of this area (see L{twisted_gor.flags}).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import Flag, FlagValues

FLAGS: list[Flag] = []


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add this area's inputs, outputs and filters to C{config}.
    """
