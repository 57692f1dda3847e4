# -*- test-case-name: tests.test_flagtable -*-
"""
The GoReplay 2.0 flag table of the docs (C{docs/flags.rst}), generated from
the flag declarations of every area (L{twisted_gor.cli.tap.allFlags}) and
the catalogue of GoReplay's open-source flags below, so that it cannot go
stale: C{python scripts/flagtable.py} rewrites it and
C{tests.test_flagtable} checks that the committed file matches and that every
flag in it parses.

A flag's status is computed: C{same} when declared here with GoReplay's
default, C{different default} when the defaults differ (the catalogue must
say why, or the test fails), C{extended} when the catalogue says what was
added, C{refused} when not declared here (the catalogue says why),
C{old spelling} for GoReplay's removed names (L{OLD}) accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from twisted_gor.flags import BOOL, DURATION, SIZE, Flag


@dataclass(frozen=True)
class GoFlag:
    """
    One flag of GoReplay 2.0 (open source).

    @ivar name: without dashes.
    @ivar default: GoReplay's default, typed as ours are (seconds, bytes),
        L{None} for none.
    @ivar note: why the default differs, or what is extended (C{"extended: ..."}).
    @ivar missing: why it is refused, when it is not declared here.
    """

    name: str
    default: Any = None
    note: str = ""
    missing: str = ""


MB = 1 << 20

GOREPLAY: tuple[GoFlag, ...] = (
    GoFlag("verbose", 0),
    GoFlag("stats"),
    GoFlag("exit-after"),
    GoFlag("split-output", note="extended: with --recognize-tcp-sessions, sessions stick to one output"),
    GoFlag("recognize-tcp-sessions", note="extended: PRO-only in GoReplay, implemented here"),
    GoFlag("copy-buffer-size", 5 * MB),
    GoFlag("middleware", ""),
    GoFlag("prettify-http"),
    GoFlag("http-pprof", "", missing="pprof is its own issue (not in this build yet); use --cpuprofile/--memprofile"),
    GoFlag("cpuprofile", ""),
    GoFlag("memprofile", ""),
    GoFlag("input-raw"),
    GoFlag("input-tcp"),
    GoFlag("input-file", note="extended: FILE|max replays as fast as possible"),
    GoFlag("input-dummy"),
    GoFlag("input-kafka-host", ""),
    GoFlag("input-kafka-topic", ""),
    GoFlag("input-kafka-json-format"),
    GoFlag("input-kafka-use-sasl"),
    GoFlag("input-kafka-mechanism", ""),
    GoFlag("input-kafka-username", ""),
    GoFlag("input-kafka-password", ""),
    GoFlag("input-kafka-offset", "-1"),
    GoFlag("output-kafka-host", ""),
    GoFlag("output-kafka-topic", ""),
    GoFlag("output-kafka-json-format"),
    GoFlag("output-kafka-use-sasl"),
    GoFlag("output-kafka-mechanism", ""),
    GoFlag("output-kafka-username", ""),
    GoFlag("output-kafka-password", ""),
    GoFlag("kafka-tls-ca-cert", ""),
    GoFlag("kafka-tls-client-cert", ""),
    GoFlag("kafka-tls-client-key", ""),
    GoFlag("output-http"),
    GoFlag("output-file"),
    GoFlag("output-tcp"),
    GoFlag("output-ws"),
    GoFlag("output-stdout"),
    GoFlag("output-null"),
    GoFlag("output-binary"),
    GoFlag("output-binary-workers", 0),
    GoFlag("output-binary-timeout", 0.0),
    GoFlag("output-binary-track-response"),
    GoFlag("output-binary-debug"),
    GoFlag("http-allow-method"),
    GoFlag("http-allow-url"),
    GoFlag("http-disallow-url"),
    GoFlag("http-allow-header"),
    GoFlag("http-disallow-header"),
    GoFlag("http-basic-auth-filter"),
    GoFlag("http-header-limiter"),
    GoFlag("http-param-limiter"),
    GoFlag("http-set-header"),
    GoFlag("http-set-param"),
    GoFlag("http-rewrite-url"),
    GoFlag("http-rewrite-header"),
    GoFlag("http-original-host"),
    GoFlag("output-http-workers", 0, note="-1 and 0 both mean dynamic, as in GoReplay"),
    GoFlag("output-http-workers-min", 0),
    GoFlag("output-http-queue-len", 1000, note="the queue is also bounded in bytes (--output-http-queue-size)"),
    GoFlag("output-http-worker-timeout", 2.0),
    GoFlag("output-http-timeout", 5.0),
    GoFlag("output-http-redirects", 0),
    GoFlag("output-http-track-response"),
    GoFlag("output-http-skip-verify"),
    GoFlag("output-http-response-buffer", 0, note="unused in GoReplay; here it bounds each tracked response"),
    GoFlag("output-http-stats"),
    GoFlag("output-http-stats-ms", 5000),
    GoFlag("output-http-elasticsearch", ""),
    GoFlag("output-file-append"),
    GoFlag("output-file-size-limit", 32 * MB, note="0 = never rotate by size (GoReplay cannot turn it off)"),
    GoFlag("output-file-queue-limit", 256, note="0 = never rotate by count; one file per template by default"),
    GoFlag("output-file-max-size-limit", 1 << 40, note="0 = no limit; reaching it drops and counts instead of stopping the input"),
    GoFlag("output-file-flush-interval", 1.0),
    GoFlag("output-file-buffer", "/tmp"),
    GoFlag("input-file-loop"),
    GoFlag("input-file-read-depth", 100),
    GoFlag("input-file-max-wait", 0.0),
    GoFlag("input-file-dry-run"),
    GoFlag("input-raw-engine", "libpcap", note="extended: vxlan is refused with a one-line reason"),
    GoFlag("input-raw-track-response"),
    GoFlag("input-raw-protocol", "http", note="extended: binary is refused with a one-line reason"),
    GoFlag("input-raw-expire", 2.0),
    GoFlag("input-raw-allow-incomplete"),
    GoFlag("input-raw-realip-header", ""),
    GoFlag("input-raw-bpf-filter", ""),
    GoFlag("input-raw-promisc"),
    GoFlag("input-raw-monitor"),
    GoFlag("input-raw-override-snaplen"),
    GoFlag("input-raw-buffer-size", 0, note="a bigger kernel buffer by default: fewer kernel drops"),
    GoFlag("input-raw-buffer-timeout", 0.0, note="0 meant 2s in GoReplay; 500ms: at low rates packets wait at most half a second"),
    GoFlag("input-raw-timestamp-type", ""),
    GoFlag("input-raw-stats"),
    GoFlag("input-raw-ignore-interface"),
    GoFlag("input-raw-vlan"),
    GoFlag("input-raw-vlan-vid"),
    GoFlag("input-raw-vxlan-port", 4789),
    GoFlag("input-raw-vxlan-vni"),
    GoFlag("input-tcp-secure"),
    GoFlag("input-tcp-certificate", ""),
    GoFlag("input-tcp-certificate-key", ""),
    GoFlag("output-tcp-secure"),
    GoFlag("output-tcp-skip-verify"),
    GoFlag("output-tcp-sticky"),
    GoFlag("output-tcp-workers", 10),
    GoFlag("output-tcp-stats"),
    GoFlag("output-tcp-response-buffer", 0),
    GoFlag("output-ws-skip-verify"),
    GoFlag("output-ws-sticky"),
    GoFlag("output-ws-workers", 10),
    GoFlag("output-ws-stats"),
)
"""GoReplay 2.0's open-source flags (reference §1.1-1.12)."""

OLD: tuple[tuple[str, str], ...] = (
    ("debug", "--verbose 3"),
    ("output-dummy", "--output-stdout (a value, even as a separate word, is ignored)"),
    ("output-http-header", "--http-set-header"),
    ("output-http-method", "--http-allow-method"),
    ("output-http-url-regexp", "Host + path matching, as in Gor 0.9"),
    ("output-http-header-filter", "Gor 0.9's header filter (absent header tested as empty)"),
    ("output-http-header-hash-filter", "Gor 0.9's a/b filter; the 1.x N% form is --http-header-limiter"),
    ("output-http-rewrite-url", "--http-rewrite-url"),
    ("http-diallow-url", "--http-disallow-url"),
    ("input-raw-immediate-mode", "--input-raw-buffer-timeout 0"),
    ("output-http-compatibility-mode", "accepted and ignored: there is one HTTP client"),
    ("output-http-debug", "--verbose 1"),
    ("input-http", "an HTTP listener (Gor 0.9.2-1.0)"),
)
"""GoReplay's removed spellings (reference §6.2), with what they mean here."""


def render(value: Any, kind: str | None) -> str:
    """
    A default as the table shows it (Go syntax for durations and sizes).
    """
    if value is None or value is False or value == "":
        return "-"
    if kind == BOOL:
        return "true"
    if kind == DURATION and isinstance(value, (int, float)):
        if value and value < 1:
            return f"{round(value * 1000)}ms"
        return f"{value:g}s"
    if kind == SIZE and isinstance(value, int) and value:
        for unit, size in (("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)):
            if value % size == 0:
                return f"{value // size}{unit}"
    return str(value)


def _same(ours: Any, go: Any) -> bool:
    empty = (None, False, "", 0, 0.0)
    if ours in empty and go in empty:
        return True
    return bool(ours == go)


@dataclass(frozen=True)
class Row:
    """
    One line of the table.
    """

    flag: str
    goDefault: str
    default: str
    status: str
    meaning: str


def rows(flags: Sequence[Flag], refused: dict[str, str] | None = None) -> list[Row]:
    """
    The GoReplay flags' rows, then the old spellings, then the flags only
    twisted-gor has.

    @param refused: the declared flags that are refused, with why
        (L{twisted_gor.cli.refused.REASONS} by default).
    @raise ValueError: a default differs without a reason in the catalogue,
        or a GoReplay flag is missing here without one.
    """
    if refused is None:
        from twisted_gor.cli.refused import REASONS

        refused = REASONS
    byName: dict[str, Flag] = {}
    for f in flags:
        for name in (f.name, *f.aliases):
            byName[name] = f
    out: list[Row] = []
    for go in GOREPLAY:
        ours = byName.get(go.name)
        if ours is None:
            if not go.missing:
                raise ValueError(f"--{go.name}: not declared and no reason given")
            out.append(Row(go.name, render(go.default, None), "", "refused: " + go.missing, ""))
            continue
        if go.name in refused:
            out.append(Row(go.name, render(go.default, ours.kind), "", "refused: " + refused[go.name], ""))
            continue
        kind = ours.kind
        goText, ourText = render(go.default, kind), render(ours.default, kind)
        if not _same(ours.default, go.default):
            if not go.note:
                raise ValueError(f"--{go.name}: default {ourText} differs from GoReplay's {goText} without a reason")
            status = "different default: " + go.note
        elif go.note.startswith("extended: "):
            status = "extended: " + go.note[len("extended: ") :]
        elif go.note:
            status = "same; " + go.note
        else:
            status = "same"
        out.append(Row(go.name, goText, ourText, status, ours.help))
    for name, meaning in OLD:
        if name in byName:
            out.append(Row(name, "(removed)", "", "old spelling", meaning))
    known = {go.name for go in GOREPLAY} | {name for name, _ in OLD}
    for f in flags:
        if f.name not in known:
            out.append(Row(f.name, "", render(f.default, f.kind), "twisted-gor only", f.help))
    return out


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("`", "'")


def table(flags: Sequence[Flag]) -> str:
    """
    The whole C{docs/flags.rst}.
    """
    lines = [
        "GoReplay flags in twisted-gor",
        "=============================",
        "",
        ".. Generated by scripts/flagtable.py from the flag declarations; do not edit.",
        "",
        "Every flag of GoReplay 2.0 (open source) with its status here, then GoReplay's",
        "old spellings still accepted, then the flags only twisted-gor has. Flags take",
        "one or two dashes; durations are Go's (500ms, 2s), sizes take kb/mb/gb/tb.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - flag",
        "     - GoReplay default",
        "     - default here",
        "     - status",
        "     - meaning here",
    ]
    for row in rows(flags):
        lines += [
            f"   * - ``--{row.flag}``",
            f"     - {_escape(row.goDefault) or '..'}",
            f"     - {_escape(row.default) or '..'}",
            f"     - {_escape(row.status)}",
            f"     - {_escape(row.meaning)}",
        ]
    return "\n".join(lines) + "\n"
