# -*- test-case-name: tests.test_http_modifiers -*-
"""
The HTTP filter chain: GoReplay's request modifiers and Gor's old filters.

Applied by the pipeline to every request (type 1) before it is routed to the
outputs, in GoReplay's order (reference §1.4, §3.4)::

    allow-method, set-header, set-param, allow-url (+ old url-regexp),
    disallow-url, allow-header (+ old header-filter), disallow-header,
    basic-auth, header limiter (+ old header-hash-filter), param limiter,
    rewrite-url, rewrite-header

A payload whose first line is not a valid request line passes untouched.

Old flags keep their own meaning (reference §6.2):

 - C{--output-http-url-regexp} matches C{Host} + request-target (Gor 0.9,
   so C{^www.} selects a host); C{--http-allow-url} the request-target only.
 - C{--output-http-header-filter} tests its regexp against the empty string
   when the header is absent; C{--http-allow-header} drops such requests.
 - C{--output-http-header-hash-filter name:a/b} needs a power-of-two C{b},
   keeps a request iff FNV-1a-32(value) <= a*2**32/b, and drops requests
   without the header; C{--http-header-limiter name:N%} keeps iff
   FNV-1a-32(value) mod 100 < N and keeps requests without the header.

One deliberate difference from GoReplay HEAD: a C{--http-rewrite-header} rule
whose header is absent is skipped; later rules still apply (GoReplay stops
at the first missing header, reference §4.3 M18).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

from zope.interface import implementer

from twisted_gor._interfaces import IMessageFilter
from twisted_gor.config import BuildContext
from twisted_gor.flags import parseGoInt
from twisted_gor import _httphead as proto
from twisted_gor.message import Message
from twisted_gor.stats import Counters


def fnv1a32(data: bytes) -> int:
    """
    The 32-bit FNV-1a hash of C{data}.
    """
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


_GO_REF = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def goReplacement(template: str) -> Callable[["re.Match[bytes]"], bytes]:
    """
    Translate a Go C{Regexp.Expand} template (C{$1}, C{${1}}, C{$name},
    C{$$}) into a function usable with L{re.sub}.

    As in Go, C{$1x} names the group C{1x} (usually absent, so empty) and an
    unknown group expands to nothing.
    """
    parts: list[bytes | str | int] = []
    pos = 0
    for m in _GO_REF.finditer(template):
        if m.start() > pos:
            parts.append(template[pos : m.start()].encode("utf-8"))
        if m.group(0) == "$$":
            parts.append(b"$")
        else:
            ref = m.group(1) if m.group(1) is not None else m.group(2)
            parts.append(int(ref) if ref.isdigit() else ref)
        pos = m.end()
    if pos < len(template):
        parts.append(template[pos:].encode("utf-8"))

    def expand(match: "re.Match[bytes]") -> bytes:
        out = []
        for part in parts:
            if isinstance(part, bytes):
                out.append(part)
                continue
            try:
                value = match.group(part)
            except IndexError:
                value = None
            if value is not None:
                out.append(value)
        return b"".join(out)

    return expand



def _compile(pattern: str, flagName: str) -> "re.Pattern[bytes]":
    try:
        return re.compile(pattern.encode("utf-8"))
    except re.error as e:
        raise ValueError(f"--{flagName}: invalid regexp {pattern!r}: {e}") from None


def parsePercent(text: str) -> int:
    """
    GoReplay's limiter fraction: C{N%} (N in any Go integer form, so C{010%}
    is 8%) or C{a/b} (floor of a/b*100).

    @raise ValueError: for anything else.
    """
    s = text.strip()
    if "%" in s:
        return parseGoInt(s[: s.index("%")])
    if "/" in s:
        a, b = s.split("/", 1)
        num, den = parseGoInt(a), parseGoInt(b)
        if den == 0:
            raise ValueError("division by zero")
        return (num * 100) // den
    raise ValueError("Value should be percent and contain '%'")


@dataclass(frozen=True)
class HeaderRegexp:
    """
    C{name} and a compiled regexp for its value.
    """

    name: bytes
    regexp: "re.Pattern[bytes]"


@dataclass(frozen=True)
class HashRule:
    """
    A consistent-sampling rule on a header or query parameter.
    """

    name: bytes
    percent: int = 0
    numerator: int = 0
    denominator: int = 0


@dataclass(frozen=True)
class RewriteRule:
    """
    A regexp and its (translated) replacement; C{name} for header rewrites.
    """

    regexp: "re.Pattern[bytes]"
    replace: Callable[["re.Match[bytes]"], bytes]
    name: bytes = b""


def parseHeaderRegexp(value: str, flagName: str) -> HeaderRegexp:
    """
    C{Name:regexp}: split at the first colon, name verbatim, regexp trimmed.
    """
    name, colon, pattern = value.partition(":")
    if not colon:
        raise ValueError(f"--{flagName}: need both header and value, colon-delimited (ex. user_id:^169$)")
    return HeaderRegexp(name.encode("utf-8"), _compile(pattern.strip(), flagName))


def parseHashRule(value: str, flagName: str) -> HashRule:
    """
    C{name:N%} or C{name:a/b} (GoReplay's header/param limiters).
    """
    name, colon, fraction = value.partition(":")
    if not colon:
        raise ValueError(f"--{flagName}: need both header and value, colon-delimited (ex. user_id:50%)")
    try:
        percent = parsePercent(fraction)
    except ValueError as e:
        raise ValueError(f"--{flagName}: {e}") from None
    return HashRule(name.strip().encode("utf-8"), percent=percent)


def parseOldHashRule(value: str, flagName: str) -> HashRule:
    """
    Gor 0.9's C{name:a/b} with a power-of-two denominator.
    """
    name, colon, fraction = value.partition(":")
    if not colon or "/" not in fraction:
        raise ValueError(f"--{flagName}: expected header:numerator/denominator (ex. user-id:1/32)")
    a, _, b = fraction.partition("/")
    try:
        num, den = parseGoInt(a), parseGoInt(b)
    except ValueError:
        raise ValueError(f"--{flagName}: invalid fraction {fraction!r}") from None
    if den <= 0 or den & (den - 1):
        raise ValueError(f"--{flagName}: the denominator must be a power of two, got {den}")
    if num < 0 or num > den:
        raise ValueError(f"--{flagName}: the fraction must be between 0 and 1, got {fraction!r}")
    return HashRule(name.strip().encode("utf-8"), numerator=num, denominator=den)


def parseSetHeader(value: str, flagName: str) -> tuple[bytes, bytes]:
    """
    C{Name: Value}, both trimmed.
    """
    name, colon, v = value.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"--{flagName}: Expected `Key: Value`")
    return name.strip().encode("utf-8"), v.strip().encode("utf-8")


def parseSetParam(value: str, flagName: str) -> tuple[bytes, bytes]:
    """
    C{name=value}, both trimmed.
    """
    name, eq, v = value.partition("=")
    if not eq or not name.strip():
        raise ValueError(f"--{flagName}: Expected `Key=Value`")
    return name.strip().encode("utf-8"), v.strip().encode("utf-8")


def parseRewriteUrl(value: str, flagName: str) -> RewriteRule:
    """
    C{regexp:replacement}, split at the first colon.
    """
    pattern, colon, replacement = value.partition(":")
    if not colon:
        raise ValueError(f"--{flagName}: need both src and target, colon-delimited (ex. /a:/b)")
    return RewriteRule(_compile(pattern, flagName), goReplacement(replacement))


def parseRewriteHeader(value: str, flagName: str) -> RewriteRule:
    """
    C{Name: regexp,replacement}.
    """
    name, colon, rest = value.partition(":")
    pattern, comma, replacement = rest.strip().partition(",")
    if not colon or not comma:
        raise ValueError(
            f"--{flagName}: need both header, regexp and rewrite target, colon-delimited (ex. Header: regexp,target)"
        )
    return RewriteRule(_compile(pattern, flagName), goReplacement(replacement), name.strip().encode("utf-8"))


@dataclass
class HttpModifierConfig:
    """
    Configuration of the HTTP filter chain (a pipeline filter).

    Every list is empty by default; L{isEmpty} tells whether any rule is set.
    """

    allowMethods: list[bytes] = field(default_factory=list)
    setHeaders: list[tuple[bytes, bytes]] = field(default_factory=list)
    setParams: list[tuple[bytes, bytes]] = field(default_factory=list)
    allowUrls: list["re.Pattern[bytes]"] = field(default_factory=list)
    oldUrlRegexps: list["re.Pattern[bytes]"] = field(default_factory=list)
    disallowUrls: list["re.Pattern[bytes]"] = field(default_factory=list)
    allowHeaders: list[HeaderRegexp] = field(default_factory=list)
    oldHeaderFilters: list[HeaderRegexp] = field(default_factory=list)
    disallowHeaders: list[HeaderRegexp] = field(default_factory=list)
    basicAuthFilters: list["re.Pattern[bytes]"] = field(default_factory=list)
    headerLimiters: list[HashRule] = field(default_factory=list)
    oldHashFilters: list[HashRule] = field(default_factory=list)
    paramLimiters: list[HashRule] = field(default_factory=list)
    rewriteUrls: list[RewriteRule] = field(default_factory=list)
    rewriteHeaders: list[RewriteRule] = field(default_factory=list)

    def isEmpty(self) -> bool:
        """
        Whether no rule is configured (then no filter is installed at all).
        """
        return not any(getattr(self, name) for name in self.__dataclass_fields__)

    def build(self, context: BuildContext) -> "HttpModifier":
        """
        Build the filter.
        """
        return HttpModifier(self)


def _decodeBasic(value: bytes) -> bytes | None:
    if value[:6].lower() != b"basic ":
        return None
    encoded = value[6:].strip()
    for cut in range(0, 4):
        try:
            return base64.b64decode(encoded[: len(encoded) - cut] if cut else encoded)
        except (binascii.Error, ValueError):
            continue
    return b""


@implementer(IMessageFilter)
class HttpModifier:
    """
    The filter chain; see the module docstring for the order and semantics.
    """

    name = "http_modifier"

    def __init__(self, config: HttpModifierConfig) -> None:
        self.config = config
        self.stats = Counters()

    def filterMessage(self, message: Message) -> Message | None:
        """
        Return the modified message, or L{None} (counted by reason) to drop it.
        """
        payload = self.modify(message.payload)
        if payload is None:
            return None
        if payload is message.payload:
            return message
        return message.replace(payload=payload)

    def _drop(self, reason: str) -> None:
        self.stats.increment("dropped." + reason)

    def modify(self, payload: bytes) -> bytes | None:
        """
        Apply the chain to raw request bytes; L{None} means dropped.
        """
        if not proto.isRequestLine(payload):
            return payload
        c = self.config
        if c.allowMethods and proto.method(payload) not in c.allowMethods:
            self._drop("method")
            return None
        for name, newValue in c.setHeaders:
            payload = proto.setHeader(payload, name, newValue)
        if c.setParams:
            target = proto.requestTarget(payload) or b""
            for name, newValue in c.setParams:
                target = proto.setQueryParam(target, name, newValue)
            payload = proto.setRequestTarget(payload, target)
        target = proto.requestTarget(payload) or b""
        if c.allowUrls and not any(r.search(target) for r in c.allowUrls):
            self._drop("url")
            return None
        if c.oldUrlRegexps:
            full = (proto.getHeader(payload, b"Host") or b"") + target
            if not any(r.search(full) for r in c.oldUrlRegexps):
                self._drop("url")
                return None
        if c.disallowUrls and any(r.search(target) for r in c.disallowUrls):
            self._drop("url")
            return None
        for rule in c.allowHeaders:
            value = proto.getHeader(payload, rule.name)
            if value is None or not rule.regexp.search(value):
                self._drop("header")
                return None
        for rule in c.oldHeaderFilters:
            value = proto.getHeader(payload, rule.name)
            if not rule.regexp.search(value or b""):
                self._drop("header")
                return None
        for rule in c.disallowHeaders:
            value = proto.getHeader(payload, rule.name)
            if value is not None and rule.regexp.search(value):
                self._drop("header")
                return None
        if c.basicAuthFilters:
            auth = proto.getHeader(payload, b"Authorization")
            decoded = _decodeBasic(auth) if auth is not None else None
            if decoded is not None and not all(r.search(decoded) for r in c.basicAuthFilters):
                self._drop("basic_auth")
                return None
        for hrule in c.headerLimiters:
            value = proto.getHeader(payload, hrule.name)
            if value is not None and fnv1a32(value) % 100 >= hrule.percent:
                self._drop("header_limiter")
                return None
        for hrule in c.oldHashFilters:
            value = proto.getHeader(payload, hrule.name)
            if value is None or fnv1a32(value) > (hrule.numerator << 32) // hrule.denominator:
                self._drop("hash_filter")
                return None
        for hrule in c.paramLimiters:
            value = proto.queryParam(target, hrule.name)
            if value is not None and fnv1a32(value) % 100 >= hrule.percent:
                self._drop("param_limiter")
                return None
        for rrule in c.rewriteUrls:
            if rrule.regexp.search(target):
                payload = proto.setRequestTarget(payload, rrule.regexp.sub(rrule.replace, target))
                break
        for rrule in c.rewriteHeaders:
            value = proto.getHeader(payload, rrule.name)
            if value is None:
                continue
            if rrule.regexp.search(value):
                payload = proto.setHeader(payload, rrule.name, rrule.regexp.sub(rrule.replace, value))
        return payload


def buildModifierConfig(
    allowMethods: Sequence[str] = (),
    setHeaders: Sequence[str] = (),
    setParams: Sequence[str] = (),
    allowUrls: Sequence[str] = (),
    oldUrlRegexps: Sequence[str] = (),
    disallowUrls: Sequence[str] = (),
    allowHeaders: Sequence[str] = (),
    oldHeaderFilters: Sequence[str] = (),
    disallowHeaders: Sequence[str] = (),
    basicAuthFilters: Sequence[str] = (),
    headerLimiters: Sequence[str] = (),
    oldHashFilters: Sequence[str] = (),
    paramLimiters: Sequence[str] = (),
    rewriteUrls: Sequence[str] = (),
    rewriteHeaders: Sequence[str] = (),
) -> HttpModifierConfig:
    """
    Parse flag values (strings, as on the command line) into a config.

    @raise ValueError: C{"--flag: what is wrong"}.
    """
    return HttpModifierConfig(
        allowMethods=[m.encode("utf-8") for m in allowMethods],
        setHeaders=[parseSetHeader(v, "http-set-header") for v in setHeaders],
        setParams=[parseSetParam(v, "http-set-param") for v in setParams],
        allowUrls=[_compile(v, "http-allow-url") for v in allowUrls],
        oldUrlRegexps=[_compile(v, "output-http-url-regexp") for v in oldUrlRegexps],
        disallowUrls=[_compile(v, "http-disallow-url") for v in disallowUrls],
        allowHeaders=[parseHeaderRegexp(v, "http-allow-header") for v in allowHeaders],
        oldHeaderFilters=[parseHeaderRegexp(v, "output-http-header-filter") for v in oldHeaderFilters],
        disallowHeaders=[parseHeaderRegexp(v, "http-disallow-header") for v in disallowHeaders],
        basicAuthFilters=[_compile(v, "http-basic-auth-filter") for v in basicAuthFilters],
        headerLimiters=[parseHashRule(v, "http-header-limiter") for v in headerLimiters],
        oldHashFilters=[parseOldHashRule(v, "output-http-header-hash-filter") for v in oldHashFilters],
        paramLimiters=[parseHashRule(v, "http-param-limiter") for v in paramLimiters],
        rewriteUrls=[parseRewriteUrl(v, "http-rewrite-url") for v in rewriteUrls],
        rewriteHeaders=[parseRewriteHeader(v, "http-rewrite-header") for v in rewriteHeaders],
    )
