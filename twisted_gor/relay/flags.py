# -*- test-case-name: tests.test_relay_unit -*-
"""
Flags of the relay area: gor-to-gor TCP (C{--input-tcp}, C{--output-tcp});
see L{twisted_gor.flags}.
"""

from __future__ import annotations

import os

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, DURATION, INT, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.limiter import splitFlagLimit
from twisted_gor.relay import input as _input
from twisted_gor.relay import output as _output
from twisted_gor.relay.address import parseHostPort


FLAGS: list[Flag] = [
    Flag("input-tcp", STRING, "Listen (e.g. ':28020') for messages from other gors' --output-tcp.", repeat=True),
    Flag("input-tcp-secure", BOOL, "Serve --input-tcp over TLS (needs the certificate and key flags)."),
    Flag("input-tcp-certificate", STRING, "PEM certificate (chain) of the --input-tcp TLS server.", default=""),
    Flag("input-tcp-certificate-key", STRING, "PEM private key of the --input-tcp TLS server.", default=""),
    Flag(
        "input-tcp-max-record-size",
        SIZE,
        "Skip (and count) --input-tcp records longer than this (default 16mb); bounds memory per connection.",
        default=_input.DEFAULT_MAX_RECORD_SIZE,
        check=positive,
    ),
    Flag(
        "input-tcp-idle-timeout",
        DURATION,
        "Close --input-tcp connections that send nothing for this long (default 5m; 0 = never).",
        default=_input.DEFAULT_IDLE_TIMEOUT,
        check=nonNegative,
    ),
    Flag(
        "input-tcp-max-connections",
        INT,
        "Refuse (and count) --input-tcp connections beyond this many open ones (default 1024; 0 = no limit).",
        default=_input.DEFAULT_MAX_CONNECTIONS,
        check=nonNegative,
    ),
    Flag(
        "input-tcp-dedup-window",
        INT,
        "Per acknowledging sender, remember its last N connections and resent records, to drop"
        " records resent although taken before, as dropped.duplicate (default 20000; 0 = off).",
        default=_input.DEFAULT_DEDUP_WINDOW,
        check=nonNegative,
    ),
    Flag(
        "input-tcp-buffer-size",
        SIZE,
        "Bytes of incomplete --input-tcp records held across all connections (default 64mb); past it the"
        " connection holding the most is closed, as dropped.buffer_budget (0 = no budget).",
        default=_input.TCPInputConfig.bufferSize,
        check=nonNegative,
    ),
    Flag(
        "input-tcp-record-timeout",
        DURATION,
        "Close an --input-tcp connection whose record makes no progress to its separator for this long,"
        " as dropped.record_timeout (default 30s; 0 = never).",
        default=_input.TCPInputConfig.recordTimeout,
        check=nonNegative,
    ),
    Flag("output-tcp", STRING, "Forward requests and responses to another gor's --input-tcp at HOST:PORT.", repeat=True),
    Flag(
        "output-tcp-workers",
        INT,
        "Parallel persistent connections per --output-tcp (default 10).",
        default=_output.DEFAULT_WORKERS,
        check=positive,
    ),
    Flag("output-tcp-sticky", BOOL, "Send a request and its responses over the same connection (FNV-1a of the id)."),
    Flag("output-tcp-secure", BOOL, "Connect to --output-tcp with TLS."),
    Flag("output-tcp-skip-verify", BOOL, "Do not verify the --output-tcp server certificate."),
    Flag(
        "output-tcp-ca-certificate",
        STRING,
        "Verify the --output-tcp server against this PEM CA certificate instead of the system roots.",
        default="",
    ),
    Flag(
        "output-tcp-queue-len",
        INT,
        "Messages buffered per --output-tcp while it cannot send (default 10000); overflow is dropped and counted.",
        default=_output.DEFAULT_QUEUE_LEN,
        check=positive,
    ),
    Flag(
        "output-tcp-queue-size",
        SIZE,
        "Bytes buffered per --output-tcp while it cannot send (default 64mb).",
        default=_output.DEFAULT_QUEUE_BYTES,
        check=positive,
    ),
    Flag(
        "output-tcp-timeout",
        DURATION,
        "At exit, how long --output-tcp may take to deliver what is queued (default 5s).",
        default=_output.DEFAULT_STOP_TIMEOUT,
        check=nonNegative,
    ),
    Flag(
        "output-tcp-ack-wait",
        DURATION,
        "How long a new --output-tcp connection waits for a twisted-gor receiver's banner before"
        " using GoReplay's plain framing without acknowledgements (default 1s; 0 = always plain).",
        default=_output.DEFAULT_ACK_WAIT,
        check=nonNegative,
    ),
    Flag("output-tcp-stats", BOOL, "Log output_tcp:latest,mean,max,count,count/second queue stats (needs --stats)."),
]


def _address(flagName: str, raw: str, requireHost: bool) -> tuple[str, int]:
    try:
        return parseHostPort(raw, requireHost)
    except ValueError as e:
        raise ValueError(f"--{flagName}: {e}") from None


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add this area's inputs and outputs to C{config}.
    """
    secure = values["input-tcp-secure"]
    certificate = values["input-tcp-certificate"] or None
    key = values["input-tcp-certificate-key"] or None
    if secure and values["input-tcp"]:
        if not certificate or not key:
            raise ValueError("--input-tcp-secure: needs --input-tcp-certificate and --input-tcp-certificate-key")
        for name, path in (("input-tcp-certificate", certificate), ("input-tcp-certificate-key", key)):
            if not os.path.isfile(path):
                raise ValueError(f"--{name}: no such file: {path!r}")
        try:
            _input.loadTLSOptions(certificate, key)
        except Exception as e:
            raise ValueError(f"--input-tcp-certificate: cannot load the certificate and key: {e}") from None
    for raw in values["input-tcp"]:
        address, limit = splitFlagLimit("input-tcp", raw)
        host, port = _address("input-tcp", address, requireHost=False)
        config.inputs.append(
            _input.TCPInputConfig(
                host=host,
                port=port,
                limit=limit,
                maxRecordSize=values["input-tcp-max-record-size"],
                idleTimeout=values["input-tcp-idle-timeout"],
                maxConnections=values["input-tcp-max-connections"],
                certificate=certificate if secure else None,
                certificateKey=key if secure else None,
                dedupWindow=values["input-tcp-dedup-window"],
                bufferSize=values["input-tcp-buffer-size"],
                recordTimeout=values["input-tcp-record-timeout"],
            )
        )

    ca = values["output-tcp-ca-certificate"] or None
    if ca is not None and not os.path.isfile(ca):
        raise ValueError(f"--output-tcp-ca-certificate: no such file: {ca!r}")
    for raw in values["output-tcp"]:
        address, limit = splitFlagLimit("output-tcp", raw)
        host, port = _address("output-tcp", address, requireHost=True)
        config.outputs.append(
            _output.TCPOutputConfig(
                host=host,
                port=port,
                limit=limit,
                workers=values["output-tcp-workers"],
                sticky=values["output-tcp-sticky"],
                queueLen=values["output-tcp-queue-len"],
                queueBytes=values["output-tcp-queue-size"],
                secure=values["output-tcp-secure"],
                skipVerify=values["output-tcp-skip-verify"],
                caCertificate=ca,
                stopTimeout=values["output-tcp-timeout"],
                showStats=values["output-tcp-stats"],
                ackWait=values["output-tcp-ack-wait"],
            )
        )
