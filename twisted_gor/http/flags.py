# -*- test-case-name: tests.test_http_flags -*-
"""
Flags of the HTTP replay area: C{--output-http} and its options, the HTTP
filters and modifiers (GoReplay's names and Gor's old ones), C{--input-http}.
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, DURATION, INT, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.http.output import HttpOutputConfig as _Defaults
from twisted_gor.limiter import splitLimit


GROUP = "HTTP filters and modifiers"
"""The heading of the flags of this area that no --input-/--output- flag owns, in --help."""

def _goTimeout(value: float) -> float:
    """
    GoReplay's rule for C{--output-http-timeout}: a positive value below
    100 ms becomes 1 s (kept so that a GoReplay command line behaves the same).
    """
    positive(value)
    return 1.0 if value < 0.1 else value


FLAGS: list[Flag] = [
    Flag(
        "output-http",
        STRING,
        "Replay requests to this URL (scheme optional, http:// by default); 'URL|10' or 'URL|10%' limits.",
        repeat=True,
    ),
    Flag(
        "output-http-workers",
        INT,
        "HTTP workers (connections) per output: N fixed; -1 or 0 = dynamic (see --output-http-workers-min/-max).",
        default=_Defaults.workers,
    ),
    Flag("output-http-workers-min", INT, "Minimum workers when scaling dynamically; 0 (the default) means 1.", default=_Defaults.workersMin),
    Flag("output-http-workers-max", INT, "Maximum workers when scaling dynamically; 0 (the default) means 500.", default=_Defaults.workersMax),
    Flag(
        "output-http-worker-timeout",
        DURATION,
        "Stop one idle dynamic worker this often while the queue is empty (default 2s).",
        default=_Defaults.workerTimeout,
        check=positive,
    ),
    Flag(
        "output-http-queue-len",
        INT,
        "Requests queued per output before new ones are dropped (default 100).",
        default=_Defaults.queueLen,
    ),
    Flag(
        "output-http-queue-size",
        SIZE,
        "Bytes of requests queued per output before new ones are dropped (default 64mb).",
        default=_Defaults.queueBytes,
        check=positive,
    ),
    Flag(
        "output-http-timeout",
        DURATION,
        "Whole request+response timeout per replayed request (default 5s; below 100ms means 1s, as in GoReplay).",
        default=_Defaults.timeout,
        check=_goTimeout,
    ),
    Flag(
        "output-http-session-timeout",
        DURATION,
        "With --recognize-tcp-sessions: close a replayed session idle this long without its recorded close (default 60s).",
        default=_Defaults.sessionTimeout,
        check=positive,
    ),
    Flag("output-http-redirects", INT, "Follow up to N same-target redirects (default 0: don't).", default=_Defaults.redirects),
    Flag(
        "output-http-track-response",
        BOOL,
        "Emit each replayed response as a type-3 message (same id) to the other outputs.",
    ),
    Flag("output-http-skip-verify", BOOL, "Don't verify the TLS certificate of https targets."),
    Flag(
        "output-http-response-buffer",
        SIZE,
        "Keep at most this many bytes of each tracked response (default 5mb).",
        default=_Defaults.responseBuffer,
        check=nonNegative,
    ),
    Flag(
        "output-http-response-budget",
        SIZE,
        "Keep at most this many bytes of tracked responses at once, all workers together (default 64mb).",
        default=_Defaults.responseBudget,
        check=positive,
    ),
    Flag(
        "output-http-stats",
        BOOL,
        "Log 'output_http:latest,mean,max,count,count/second' queue stats (needs --stats).",
    ),
    Flag("output-http-stats-ms", INT, "Period of --output-http-stats in ms (default 5000).", default=5000),
    Flag("http-original-host", BOOL, "Keep the request's Host header instead of the target's host."),
    Flag(
        "http-allow-method",
        STRING,
        "Only replay this method (case-sensitive, repeat to allow several).",
        repeat=True,
        aliases=("output-http-method",),
    ),
    Flag(
        "http-allow-url",
        STRING,
        "Only replay requests whose request-target (path?query) matches this regexp (several = OR).",
        repeat=True,
    ),
    Flag(
        "output-http-url-regexp",
        STRING,
        "Old Gor filter: only replay requests whose Host + path matches this regexp (e.g. ^www.).",
        repeat=True,
    ),
    Flag(
        "http-disallow-url",
        STRING,
        "Drop requests whose request-target matches this regexp.",
        repeat=True,
        aliases=("http-diallow-url",),
    ),
    Flag(
        "http-allow-header",
        STRING,
        "'Name:regexp': drop requests without the header or whose value doesn't match (several = AND).",
        repeat=True,
    ),
    Flag(
        "output-http-header-filter",
        STRING,
        "Old Gor filter 'Name:regexp': drop requests whose header value (empty if absent) doesn't match.",
        repeat=True,
    ),
    Flag(
        "http-disallow-header",
        STRING,
        "'Name:regexp': drop requests whose header value matches.",
        repeat=True,
    ),
    Flag(
        "http-basic-auth-filter",
        STRING,
        "Drop requests whose decoded Basic auth 'user:pass' doesn't match this regexp.",
        repeat=True,
    ),
    Flag(
        "http-header-limiter",
        STRING,
        "'Name:N%' consistent sampling: keep iff FNV-1a(value) mod 100 < N (no header: kept).",
        repeat=True,
    ),
    Flag(
        "output-http-header-hash-filter",
        STRING,
        "Old Gor 'Name:a/b' (b a power of two): keep a/b of the values by FNV-1a hash (no header: dropped);"
        " the 1.x 'Name:N%' form is --http-header-limiter.",
        repeat=True,
    ),
    Flag(
        "http-param-limiter",
        STRING,
        "'name:N%' consistent sampling on a query parameter (no parameter: kept).",
        repeat=True,
    ),
    Flag(
        "http-set-header",
        STRING,
        "'Name: Value': replace or add a header ('Host: x' implies --http-original-host).",
        repeat=True,
        aliases=("output-http-header",),
    ),
    Flag("http-set-param", STRING, "'name=value': replace or add a query parameter.", repeat=True),
    Flag(
        "http-rewrite-url",
        STRING,
        "'regexp:replacement' on the request-target ($1 / ${1} groups); first matching rule wins.",
        repeat=True,
        aliases=("output-http-rewrite-url",),
    ),
    Flag(
        "http-rewrite-header",
        STRING,
        "'Name: regexp,replacement' on a header value.",
        repeat=True,
    ),
    Flag(
        "input-http",
        STRING,
        "Listen for HTTP requests on [host]:port, answer 200 at once and emit each as a request.",
        repeat=True,
    ),
    Flag(
        "output-http-compatibility-mode",
        BOOL,
        "Gor 1.0-1.2 (removed in 1.3): accepted and ignored; there is one HTTP client.",
    ),
    Flag("output-http-debug", BOOL, "Gor 0.11-1.2 (removed in 1.3): the same as --verbose 1."),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add the HTTP filter chain, the C{--output-http} outputs and the
    C{--input-http} inputs to C{config}.
    """
    from twisted_gor.http.input import HttpInputConfig, parseListenAddress
    from twisted_gor.http.modifiers import buildModifierConfig
    from twisted_gor.http.output import HttpOutputConfig, parseTarget

    if values["output-http-debug"]:
        config.verbose = max(config.verbose, 1)
    modifiers = buildModifierConfig(
        allowMethods=values["http-allow-method"],
        setHeaders=values["http-set-header"],
        setParams=values["http-set-param"],
        allowUrls=values["http-allow-url"],
        oldUrlRegexps=values["output-http-url-regexp"],
        disallowUrls=values["http-disallow-url"],
        allowHeaders=values["http-allow-header"],
        oldHeaderFilters=values["output-http-header-filter"],
        disallowHeaders=values["http-disallow-header"],
        basicAuthFilters=values["http-basic-auth-filter"],
        # 1.x wrote the new limiter's 'Name:N%' under the old name: it is that limiter
        headerLimiters=[*values["http-header-limiter"], *(v for v in values["output-http-header-hash-filter"] if v.endswith("%"))],
        oldHashFilters=[v for v in values["output-http-header-hash-filter"] if not v.endswith("%")],
        paramLimiters=values["http-param-limiter"],
        rewriteUrls=values["http-rewrite-url"],
        rewriteHeaders=values["http-rewrite-header"],
    )
    if not modifiers.isEmpty():
        config.filters.append(modifiers)

    queueLen = values["output-http-queue-len"]
    if queueLen <= 0:
        raise ValueError("--output-http-queue-len: must be at least 1")
    statsMs = values["output-http-stats-ms"]
    if statsMs <= 0:
        raise ValueError("--output-http-stats-ms: must be positive")
    redirects = values["output-http-redirects"]
    if redirects < 0:
        raise ValueError("--output-http-redirects: must not be negative")
    if values["output-http-workers-min"] < 0 or values["output-http-workers-max"] < 0:
        raise ValueError("--output-http-workers-min/-max: must not be negative")
    originalHost = values["http-original-host"] or any(
        name.lower() == b"host" for name, _ in modifiers.setHeaders
    )
    for raw in values["output-http"]:
        try:
            url, limit = splitLimit(raw)
            target = parseTarget(url)
        except ValueError as e:
            raise ValueError(f"--output-http: {e}") from None
        config.outputs.append(
            HttpOutputConfig(
                target=target,
                limit=limit,
                workers=values["output-http-workers"],
                workersMin=values["output-http-workers-min"],
                workersMax=values["output-http-workers-max"],
                workerTimeout=values["output-http-worker-timeout"],
                queueLen=queueLen,
                queueBytes=values["output-http-queue-size"],
                timeout=values["output-http-timeout"],
                redirects=redirects,
                trackResponse=values["output-http-track-response"],
                skipVerify=values["output-http-skip-verify"],
                responseBuffer=values["output-http-response-buffer"] or _Defaults.responseBuffer,
                responseBudget=values["output-http-response-budget"],
                originalHost=originalHost,
                showStats=values["output-http-stats"],
                statsInterval=statsMs / 1000.0,
                sessions=bool(values["recognize-tcp-sessions"]),
                sessionTimeout=values["output-http-session-timeout"],
            )
        )

    for raw in values["input-http"]:
        try:
            address, limit = splitLimit(raw)
            host, port = parseListenAddress(address)
        except ValueError as e:
            raise ValueError(f"--input-http: {e}") from None
        config.inputs.append(HttpInputConfig(host=host, port=port, limit=limit))
