# -*- test-case-name: tests.test_options -*-
"""
Declarative command-line flags with GoReplay's value syntaxes.

Each area of twisted-gor (core, HTTP replay, raw capture, gor-to-gor relay)
declares its flags as a list of L{Flag} in its own C{flags} module, with a
C{configure(values, config)} function that turns the parsed L{FlagValues} into
typed configuration. L{twisted_gor.cli.tap.Options} is generated from all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

BOOL = "bool"
STRING = "string"
INT = "int"
DURATION = "duration"
SIZE = "size"
MODE = "mode"

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


def parseDuration(text: str) -> float:
    """
    Parse a Go duration (C{500ms}, C{2s}, C{1m30s}, C{1h}) into seconds. A bare
    number is taken as seconds.

    @raise ValueError: with a message saying what is wrong.
    """
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    try:
        return sign * float(s)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise ValueError(f"invalid duration {text!r} (examples: 500ms, 2s, 1m30s)")
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


_SIZE_RE = re.compile(r"^\s*(.*?)\s*(kb|mb|gb|tb|k|m|g|t)?\s*$", re.IGNORECASE)
_SIZE_MULT = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parseGoInt(text: str) -> int:
    """
    Parse an integer in any Go literal form: decimal, C{0x..}, C{0o..},
    C{0b..}, leading-zero octal, C{_} separators.
    """
    s = text.strip().replace("_", "")
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    if not s:
        raise ValueError(f"invalid number {text!r}")
    lower = s.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(s, 0)
    elif len(s) > 1 and s[0] == "0":
        value = int(s, 8)
    else:
        value = int(s, 10)
    return -value if neg else value


def parseSize(text: str) -> int:
    """
    Parse a size: a Go integer literal, optionally followed by C{kb mb gb tb}
    (or C{k m g t}), powers of 1024, case-insensitive.
    """
    m = _SIZE_RE.match(text)
    if m is None or not m.group(1):
        raise ValueError(f"invalid size {text!r} (examples: 1024, 32mb, 1gb)")
    number, unit = m.group(1), m.group(2)
    try:
        value = parseGoInt(number)
    except ValueError:
        raise ValueError(f"invalid size {text!r} (examples: 1024, 32mb, 1gb)") from None
    if unit:
        value *= _SIZE_MULT[unit[0].lower()]
    return value


def parseInt(text: str) -> int:
    """
    Parse a decimal (or Go-literal) integer.
    """
    try:
        return parseGoInt(text)
    except ValueError:
        raise ValueError(f"invalid integer {text!r}") from None


def parseMode(text: str) -> int:
    """
    Parse file permission bits, always octal as C{chmod} takes them
    (C{600}, C{0640}, C{0o600}).
    """
    s = text.strip().lower()
    if s.startswith("0o"):
        s = s[2:]
    try:
        value = int(s, 8)
    except ValueError:
        raise ValueError(f"invalid mode {text!r} (octal, e.g. 0600 or 0640)") from None
    if not 0 <= value <= 0o777:
        raise ValueError(f"invalid mode {text!r} (octal, 0 to 0777)")
    return value


def nonNegative(value: float) -> None:
    """
    A C{Flag.check}: the value must not be negative.
    """
    if value < 0:
        raise ValueError(f"must not be negative, got {value}")


def positive(value: float) -> None:
    """
    A C{Flag.check}: the value must be above zero.
    """
    if value <= 0:
        raise ValueError(f"must be positive, got {value}")


_COERCERS: dict[str, Callable[[str], Any]] = {
    STRING: str,
    INT: parseInt,
    DURATION: parseDuration,
    SIZE: parseSize,
    MODE: parseMode,
}


@dataclass(frozen=True)
class Flag:
    """
    One command-line flag.

    @ivar name: the canonical (GoReplay) name without dashes, e.g. C{"output-http"}.
    @ivar kind: L{BOOL}, L{STRING}, L{INT}, L{DURATION}, L{SIZE} or L{MODE}.
    @ivar help: the one-line explanation shown by C{--help}.
    @ivar default: the value when the flag is not given (ignored for repeatable flags).
    @ivar repeat: each occurrence adds a value; the value is then a list.
    @ivar aliases: other spellings meaning exactly the same (Gor's old names).
    @ivar check: extra validation of each value (after coercion); raise
        L{ValueError} with a message.
    @ivar optionalValue: a boolean flag that also tolerates C{--flag=VALUE}
        (Gor's C{--output-dummy=...}); the value is ignored.
    @ivar group: the C{--help} heading, when not the one derived from the
        flag's name and area (see L{twisted_gor.cli.helptext}).
    """

    name: str
    kind: str
    help: str
    default: Any = None
    repeat: bool = False
    aliases: tuple[str, ...] = ()
    check: Callable[[Any], Any] | None = None
    optionalValue: bool = False
    group: str = ""

    def coerce(self, raw: str) -> Any:
        """
        Turn one raw value into its typed value.

        @raise ValueError: with a message naming what is wrong (not the flag).
        """
        value = _COERCERS[self.kind](raw)
        if self.check is not None:
            checked = self.check(value)
            if checked is not None:
                value = checked
        return value


@dataclass
class FlagValues:
    """
    Parsed values by canonical flag name, with their defaults.

    @ivar given: the names of the flags that appeared on the command line.
    """

    values: dict[str, Any] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        """
        The value of C{name}, or C{default} when no such flag is declared.
        """
        return self.values.get(name, default)


def defaultValues(flags: Sequence[Flag]) -> FlagValues:
    """
    The L{FlagValues} of a command line that sets nothing.
    """
    values = FlagValues()
    for f in flags:
        values.values[f.name] = [] if f.repeat else (False if f.kind == BOOL and f.default is None else f.default)
    return values
