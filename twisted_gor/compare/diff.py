# -*- test-case-name: tests.test_compare_logic -*-
"""
What differs between two decoded responses: the status code, the headers
named with C{--compare-header}, and the body (structurally for JSON, byte for
byte otherwise), minus what C{--compare-ignore} patterns exclude.

A difference is located by a path: C{status}, C{header:<name>}, or a JSON
path for the body (C{$} is the whole body, C{$.items[3].price} a value
inside it).
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any, Sequence

from twisted_gor.compare.decode import DecodedResponse

MISSING = "(missing)"
"""How an absent value (header, JSON key, array element) is shown."""

VALUE_LIMIT = 80
"""Shown values are cut to this many characters."""

NOISY_HEADERS = frozenset(
    {"date", "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)
"""Headers a wildcard C{--compare-header} pattern never selects (framing and clock noise)."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

STATUS, HEADER, BODY = "status", "header", "body"
CATEGORIES = (STATUS, HEADER, BODY)


@dataclass(frozen=True)
class Difference:
    """
    One difference: where, and both values as short text.
    """

    path: str
    original: str
    replayed: str

    def asDict(self) -> dict[str, str]:
        """
        The JSON-report form.
        """
        return {"path": self.path, "original": self.original, "replayed": self.replayed}


def shorten(text: str, limit: int = VALUE_LIMIT) -> str:
    """
    C{text}, cut to C{limit} characters with a trailing C{...}.
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


def showJSON(value: Any) -> str:
    """
    A JSON value as compact JSON text, shortened.
    """
    return shorten(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True))


def keyPath(path: str, key: str) -> str:
    """
    The path of member C{key} of the object at C{path}.
    """
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def compilePathPattern(pattern: str) -> str:
    """
    A regular expression (text) for a glob-like JSON path pattern.

    C{*} matches within one step (a key or an index: C{$.items[*].id}),
    C{**} matches anything; a pattern also matches everything below the
    path it names (C{$.meta} ignores C{$.meta.took}).
    """
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^.\[\]]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out) + r"(?=\Z|[.\[])"


class IgnoreRules:
    """
    The C{--compare-ignore} patterns: JSON paths (starting with C{$}) and
    header names (anything else; glob, case-insensitive).
    """

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = list(patterns)
        paths = [compilePathPattern(p) for p in patterns if p.startswith("$")]
        self._paths = re.compile("|".join(f"(?:{p})" for p in paths)) if paths else None
        headers = [fnmatch.translate(p.lower()) for p in patterns if not p.startswith("$")]
        self._headers = re.compile("|".join(headers)) if headers else None

    @property
    def hasPaths(self) -> bool:
        """
        Whether any JSON path is ignored.
        """
        return self._paths is not None

    def ignoresPath(self, path: str) -> bool:
        """
        Whether the JSON value at C{path} (and what is below it) is ignored.
        """
        return self._paths is not None and self._paths.match(path) is not None

    def ignoresHeader(self, name: str) -> bool:
        """
        Whether header C{name} (lower-case) is ignored.
        """
        return self._headers is not None and self._headers.match(name) is not None


def _sameScalar(a: Any, b: Any) -> bool:
    if type(a) is type(b):
        return bool(a == b)
    # 1 and 1.0 are the same JSON number; True is not 1.
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return bool(a == b)
    return False


def diffJSON(
    original: Any, replayed: Any, ignore: IgnoreRules, limit: int = 5, path: str = "$"
) -> tuple[list[Difference], bool]:
    """
    Structural differences between two parsed JSON documents.

    @return: up to C{limit} differences in document order, and whether there
        were more.
    """
    found: list[Difference] = []
    checkIgnore = ignore.hasPaths

    def visit(a: Any, b: Any, where: str) -> bool:
        # Returns False once the limit is exceeded (stop walking).
        if checkIgnore and ignore.ignoresPath(where):
            return True
        if isinstance(a, dict) and isinstance(b, dict):
            for key, value in a.items():
                sub = keyPath(where, key)
                if key in b:
                    if not visit(value, b[key], sub):
                        return False
                elif not (checkIgnore and ignore.ignoresPath(sub)):
                    if not add(sub, showJSON(value), MISSING):
                        return False
            for key, value in b.items():
                if key not in a:
                    sub = keyPath(where, key)
                    if not (checkIgnore and ignore.ignoresPath(sub)):
                        if not add(sub, MISSING, showJSON(value)):
                            return False
            return True
        if isinstance(a, list) and isinstance(b, list):
            for index in range(max(len(a), len(b))):
                sub = f"{where}[{index}]"
                if index >= len(a):
                    ok = (checkIgnore and ignore.ignoresPath(sub)) or add(sub, MISSING, showJSON(b[index]))
                elif index >= len(b):
                    ok = (checkIgnore and ignore.ignoresPath(sub)) or add(sub, showJSON(a[index]), MISSING)
                else:
                    ok = visit(a[index], b[index], sub)
                if not ok:
                    return False
            return True
        if isinstance(a, (dict, list)) or isinstance(b, (dict, list)) or not _sameScalar(a, b):
            return add(where, showJSON(a), showJSON(b))
        return True

    def add(where: str, a: str, b: str) -> bool:
        if len(found) >= limit:
            return False
        found.append(Difference(where, a, b))
        return True

    complete = visit(original, replayed, path)
    return found, not complete


MAX_JSON_BODY = 1 << 20
"""Bodies larger than this are compared byte for byte, never parsed: parsing
runs on the reactor thread and would stall it."""


def _looksJSON(response: DecodedResponse) -> bool:
    contentType = response.header("content-type") or ""
    if "json" in contentType.lower():
        return True
    start = response.body[:64].lstrip()
    return start[:1] in (b"{", b"[")


def _parseJSON(body: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError):
        return False, None


def _showBytes(data: bytes, start: int) -> str:
    chunk = data[start : start + 40]
    text = chunk.decode("utf-8", "replace")
    return shorten(("..." if start else "") + text + ("..." if len(data) > start + 40 else ""))


def firstDifference(a: bytes, b: bytes) -> int:
    """
    Offset of the first byte where C{a} and C{b} differ (they differ).
    """
    lo, hi = 0, min(len(a), len(b))
    # Binary search on equal prefixes: a few C-level comparisons.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def diffBytes(original: bytes, replayed: bytes) -> Difference | None:
    """
    The first byte-level difference of two bodies, shown around where it is.
    """
    if original == replayed:
        return None
    offset = firstDifference(original, replayed)
    start = max(0, offset - 10)
    return Difference(
        f"$ (byte {offset}; {len(original)} vs {len(replayed)} bytes)",
        _showBytes(original, start),
        _showBytes(replayed, start),
    )


class Comparator:
    """
    Compares responses with the configured headers and ignore rules.

    @ivar headers: C{--compare-header} names or glob patterns (lower-case).
    @ivar ignore: the L{IgnoreRules}.
    @ivar limit: differences kept per category and pair.
    """

    def __init__(self, headers: Sequence[str] = (), ignore: Sequence[str] = (), limit: int = 5) -> None:
        self.headers = [h.lower() for h in headers]
        self._literal = [h for h in self.headers if not any(c in h for c in "*?[")]
        wild = [fnmatch.translate(h) for h in self.headers if h not in self._literal]
        self._wild = re.compile("|".join(wild)) if wild else None
        self.ignore = IgnoreRules(ignore)
        self.limit = limit

    def headerNames(self, original: DecodedResponse, replayed: DecodedResponse) -> list[str]:
        """
        The header names to compare for this pair, sorted.
        """
        names = set(self._literal)
        wild = self._wild
        if wild is not None:
            for name in list(original.headers) + list(replayed.headers):
                if name not in NOISY_HEADERS and wild.match(name):
                    names.add(name)
        return sorted(n for n in names if not self.ignore.ignoresHeader(n))

    def compare(self, original: DecodedResponse, replayed: DecodedResponse) -> dict[str, list[Difference]]:
        """
        The differences of a pair by category (L{STATUS}, L{HEADER}, L{BODY});
        empty when the responses are the same.
        """
        result: dict[str, list[Difference]] = {}
        if original.status != replayed.status:
            result[STATUS] = [Difference("status", str(original.status), str(replayed.status))]
        if self.headers:
            headerDiffs = []
            for name in self.headerNames(original, replayed):
                a, b = original.header(name), replayed.header(name)
                if a != b:
                    headerDiffs.append(
                        Difference(
                            "header:" + name,
                            MISSING if a is None else shorten(a),
                            MISSING if b is None else shorten(b),
                        )
                    )
            if headerDiffs:
                result[HEADER] = headerDiffs[: self.limit]
        bodyDiffs = self.compareBodies(original, replayed)
        if bodyDiffs:
            result[BODY] = bodyDiffs
        return result

    def compareBodies(self, original: DecodedResponse, replayed: DecodedResponse) -> list[Difference]:
        """
        Body differences: JSON paths when both bodies are JSON (and at most
        L{MAX_JSON_BODY}), else the first differing byte; nothing when the
        whole body (C{$}) is ignored.
        """
        a, b = original.body, replayed.body
        ignore = self.ignore
        if a == b:
            return []
        if ignore.ignoresPath("$"):
            return []
        if (_looksJSON(original) or _looksJSON(replayed)) and max(len(a), len(b)) <= MAX_JSON_BODY:
            okA, docA = _parseJSON(a)
            okB, docB = _parseJSON(b)
            if okA and okB:
                diffs, _ = diffJSON(docA, docB, ignore, self.limit)
                return diffs
        found = diffBytes(a, b)
        return [found] if found is not None else []
