# -*- test-case-name: tests.test_cli -*-
"""
C{gor --help}: the flags grouped, every default shown, wrapped to the
terminal's width without breaking words.

Groups are derived, so a new area's flags land in the right place without
touching this module:

  - I{Inputs} and I{Outputs}: flags named C{input-X} / C{output-X} (one word
    after the role), whatever area declares them;
  - then one group per such flag with tuning flags, C{--input-raw options}
    for C{input-raw-*} (a flag belongs to the longest declared flag name
    it extends);
  - then each area's other flags under the area's C{GROUP} (a module
    attribute of its C{flags} module; else derived from the package name),
    or a L{twisted_gor.flags.Flag.group} of their own;
  - the general flags (the core's) last, with C{--help} and C{--version}.
"""

from __future__ import annotations

import math
import re
import shutil
import textwrap
from typing import Any, Sequence

from twisted_gor.flags import BOOL, DURATION, INT, MODE, SIZE, STRING, Flag

_ROLE = re.compile(r"^(input|output)-[a-z0-9]+$")
_METAVARS = {STRING: "VALUE", INT: "N", DURATION: "DURATION", SIZE: "SIZE", MODE: "MODE"}
_HAS_DEFAULT = re.compile(r"\(default\b", re.IGNORECASE)


def _formatSize(value: int) -> str:
    for unit, shift in (("gb", 30), ("mb", 20), ("kb", 10)):
        if value >= 1 << shift and value % (1 << shift) == 0:
            return f"{value >> shift}{unit}"
    return str(value)


def _formatDuration(value: float) -> str:
    if value == 0:
        return "0"
    for unit, seconds in (("h", 3600.0), ("m", 60.0), ("s", 1.0), ("ms", 1e-3)):
        count = value / seconds
        if count >= 1 and math.isclose(count, round(count), abs_tol=1e-9):
            return f"{int(round(count))}{unit}"
    return f"{value:g}s"


def formatDefault(flag: Flag) -> str:
    """
    The default of C{flag} as a user would type it (C{none} when unset).
    """
    value = flag.default
    if flag.repeat:
        return "none"
    if value is None or value == "":
        return "none"
    if flag.kind == SIZE and isinstance(value, int):
        return _formatSize(value)
    if flag.kind == DURATION and isinstance(value, (int, float)):
        return _formatDuration(float(value))
    if flag.kind == MODE and isinstance(value, int):
        return f"0{value:o}"
    return str(value)


def flagHelp(flag: Flag) -> str:
    """
    The help text of C{flag} with its default (unless its text gives it),
    how to repeat it and its old names.
    """
    text = flag.help.strip()
    extra = []
    if flag.kind != BOOL and not _HAS_DEFAULT.search(text):
        extra.append(f"(default: {formatDefault(flag)})")
    if flag.repeat:
        extra.append("(repeatable)")
    if flag.aliases:
        extra.append("(old name" + ("s" if len(flag.aliases) > 1 else "") + ": " + ", ".join("--" + a for a in flag.aliases) + ")")
    return " ".join([text, *extra])


def _derivedGroup(module: Any) -> str:
    explicit = getattr(module, "GROUP", "")
    if explicit:
        return str(explicit)
    parts = str(module.__name__).split(".")
    area = parts[-2] if len(parts) > 2 else parts[-1]
    return f"{area.capitalize()} options"


def groups(modules: Sequence[Any], general: str = "twisted_gor.coreflags") -> list[tuple[str, list[Flag]]]:
    """
    C{(heading, flags)} in the order shown.
    """
    every = [(module, flag) for module in modules for flag in module.FLAGS]
    names = {flag.name for _, flag in every}
    inputs = [f for _, f in every if _ROLE.match(f.name) and f.name.startswith("input-") and not f.group]
    outputs = [f for _, f in every if _ROLE.match(f.name) and f.name.startswith("output-") and not f.group]
    owned: dict[str, list[Flag]] = {}
    byArea: dict[str, list[Flag]] = {}
    last: list[Flag] = []
    for module, flag in every:
        if flag in inputs or flag in outputs:
            continue
        if flag.group:
            byArea.setdefault(flag.group, []).append(flag)
            continue
        owner = _owner(flag.name, names)
        if owner is not None:
            owned.setdefault(owner, []).append(flag)
        elif module.__name__ == general:
            last.append(flag)
        else:
            byArea.setdefault(_derivedGroup(module), []).append(flag)
    result: list[tuple[str, list[Flag]]] = [("Inputs", inputs), ("Outputs", outputs)]
    for role in (*inputs, *outputs):
        if role.name in owned:
            result.append((f"--{role.name} options", owned.pop(role.name)))
    for owner, flags in owned.items():
        result.append((f"--{owner} options", flags))
    result.extend(byArea.items())
    result.append(("General", last))
    return [(heading, flags) for heading, flags in result if flags]


def _owner(name: str, names: set[str]) -> str | None:
    best = None
    for other in names:
        if other != name and name.startswith(other + "-") and _ROLE.match(other):
            if best is None or len(other) > len(best):
                best = other
    return best


def _entry(flag: Flag) -> str:
    metavar = _METAVARS.get(flag.kind, "")
    return f"--{flag.name}" + (f" {metavar}" if metavar else "")


def renderHelp(
    synopsis: str, description: str, sections: list[tuple[str, list[Flag]]], extra: Sequence[tuple[str, str]],
    width: int | None = None,
) -> str:
    """
    The whole help text.

    @param extra: C{(entry, help)} lines added to the General group
        (C{--help}, C{--version}).
    @param width: columns (default: the terminal's, C{COLUMNS}, else 80).
    """
    if width is None:
        width = shutil.get_terminal_size((80, 24)).columns
    width = max(40, width)
    column = min(34, width // 3)
    out = [*textwrap.wrap(synopsis, width, break_long_words=False, break_on_hyphens=False), ""]
    out.extend(textwrap.wrap(description, width, break_long_words=False, break_on_hyphens=False))
    for heading, flags in sections:
        out.extend(["", heading + ":"])
        rows = [(_entry(f), flagHelp(f)) for f in flags]
        if heading == "General":
            rows.extend(extra)
        for entry, text in rows:
            lines = textwrap.wrap(
                text, max(20, width - column), break_long_words=False, break_on_hyphens=False
            ) or [""]
            first = f"  {entry}"
            if len(first) + 2 > column:
                out.append(first)
                out.extend(" " * column + line for line in lines)
            else:
                out.append(first.ljust(column) + lines[0])
                out.extend(" " * column + line for line in lines[1:])
    return "\n".join(out) + "\n"
