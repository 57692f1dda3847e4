# -*- test-case-name: tests.test_ws -*-
"""
Flags of the WebSocket area (C{--output-ws*}); see L{twisted_gor.flags}.
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, DURATION, INT, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.limiter import splitFlagLimit
from twisted_gor.ws import output as _output

FLAGS: list[Flag] = [
    Flag(
        "output-ws",
        STRING,
        "Send requests and responses to a WebSocket server, one binary message each: ws://[user[:pass]@]host[:port]/path or wss://.",
        repeat=True,
    ),
    Flag(
        "output-ws-workers",
        INT,
        "Parallel persistent connections per --output-ws (default 10).",
        default=_output.DEFAULT_WORKERS,
        check=positive,
    ),
    Flag("output-ws-sticky", BOOL, "Send a request and its responses over the same connection (FNV-1a of the id)."),
    Flag("output-ws-skip-verify", BOOL, "Do not verify the wss:// server certificate."),
    Flag("output-ws-stats", BOOL, "Log output_ws:latest,mean,max,count,count/second queue stats (needs --stats)."),
    Flag(
        "output-ws-queue-size",
        SIZE,
        "Bytes buffered per --output-ws while it cannot send (default 64mb); overflow is dropped and counted.",
        default=_output.DEFAULT_QUEUE_BYTES,
        check=positive,
    ),
    Flag(
        "output-ws-timeout",
        DURATION,
        "At exit, how long --output-ws may take to deliver what is queued (default 5s).",
        default=_output.DEFAULT_STOP_TIMEOUT,
        check=nonNegative,
    ),
]


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add one L{_output.WSOutputConfig} per C{--output-ws}.
    """
    for raw in values["output-ws"]:
        address, limit = splitFlagLimit("output-ws", raw)
        try:
            target = _output.parseWebSocketURL(address)
        except ValueError as e:
            raise ValueError(f"--output-ws: {e}") from None
        config.outputs.append(
            _output.WSOutputConfig(
                target=target,
                limit=limit,
                workers=values["output-ws-workers"],
                sticky=values["output-ws-sticky"],
                skipVerify=values["output-ws-skip-verify"],
                queueBytes=values["output-ws-queue-size"],
                stopTimeout=values["output-ws-timeout"],
                showStats=values["output-ws-stats"],
            )
        )
