"""
Flags of the response comparison (see L{twisted_gor.flags}).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import Flag, FlagValues

FLAGS: list[Flag] = []


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add the comparison output to C{config}.
    """
