# -*- test-case-name: tests.test_kafka_formats -*-
"""
Flags of the Kafka area: GoReplay's C{--output-kafka-*}, C{--input-kafka-*}
and C{--kafka-tls-*}, and ours (C{--input-kafka-group-id}, the budgets,
compression and timeouts); see L{twisted_gor.flags}.
"""

from __future__ import annotations

import math
import os

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, DURATION, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.kafka.client import MECHANISMS, KafkaConnection
from twisted_gor.kafka.input import NEWEST, OLDEST, KafkaInputConfig
from twisted_gor.kafka.output import COMPRESSIONS, KafkaOutputConfig
from twisted_gor.limiter import Limit, PercentageLimit, splitFlagLimit

DEFAULT_PORT = 9092


def _connectionFlags(side: str) -> list[Flag]:
    what = "the producer" if side == "output" else "the consumer"
    return [
        Flag(f"{side}-kafka-use-sasl", BOOL, f"Authenticate {what} with SASL."),
        Flag(
            f"{side}-kafka-mechanism",
            STRING,
            f"SASL mechanism of {what}: PLAIN (default), SCRAM-SHA-256 or SCRAM-SHA-512.",
            default="",
        ),
        Flag(f"{side}-kafka-username", STRING, f"SASL user of {what}.", default=""),
        Flag(f"{side}-kafka-password", STRING, f"SASL password of {what} (never printed).", default=""),
    ]


FLAGS: list[Flag] = [
    Flag(
        "output-kafka-host",
        STRING,
        "Send every message to Kafka: comma-separated brokers, e.g. '192.168.0.1:9092,192.168.0.2:9092'.",
        default="",
    ),
    Flag("output-kafka-topic", STRING, "Topic --output-kafka-host writes to.", default=""),
    Flag("output-kafka-json-format", BOOL, "Write JSON documents (GoReplay's Req_* fields) instead of raw gor text."),
    *_connectionFlags("output"),
    Flag(
        "output-kafka-compression",
        STRING,
        f"Compression of --output-kafka-host batches: {', '.join(COMPRESSIONS)} (default snappy, as GoReplay).",
        default="snappy",
    ),
    Flag(
        "output-kafka-buffer-size",
        SIZE,
        "Bytes waiting for the broker, at most (default 64mb): file inputs pause at 90%, live ones are"
        " dropped past it (dropped.queue_full).",
        default=KafkaOutputConfig.bufferSize,
        check=positive,
    ),
    Flag(
        "output-kafka-delivery-timeout",
        DURATION,
        "A message the broker has not taken after this long fails (failed.msg_timed_out); default 0 = wait"
        " for the broker as long as it takes, within the buffer.",
        default=KafkaOutputConfig.deliveryTimeout,
        check=nonNegative,
    ),
    Flag(
        "output-kafka-timeout",
        DURATION,
        "At exit, how long to wait for the broker to take what is waiting (default 5s).",
        default=KafkaOutputConfig.stopTimeout,
        check=nonNegative,
    ),
    Flag(
        "input-kafka-host",
        STRING,
        "Read messages from Kafka: comma-separated brokers, e.g. '192.168.0.1:9092,192.168.0.2:9092'.",
        default="",
    ),
    Flag("input-kafka-topic", STRING, "Topic --input-kafka-host reads (every partition, or the group's share).", default=""),
    Flag("input-kafka-json-format", BOOL, "Values are JSON documents (GoReplay's Req_* fields)."),
    *_connectionFlags("input"),
    Flag(
        "input-kafka-offset",
        STRING,
        "Where to start: -1 newest (default, live), -2 oldest, or an offset; any but -1 replays at the recorded"
        " pace, '-2|200%' twice as fast, '-2|max' without waits.",
        default=str(NEWEST),
    ),
    Flag(
        "input-kafka-group-id",
        STRING,
        "Consumer group: gors with the same group share the topic's partitions; offsets are committed once"
        " the outputs took the messages. Not a GoReplay flag.",
        default="",
    ),
    Flag(
        "input-kafka-buffer-size",
        SIZE,
        "Bytes fetched ahead of the pipeline, about at most (default 16mb; peak RSS is about"
        " 60 MB plus 3.5 times this).",
        default=KafkaInputConfig.bufferSize,
        check=positive,
    ),
    Flag("kafka-tls-ca-cert", STRING, "PEM CA certificate to verify the brokers; turns TLS on.", default=""),
    Flag("kafka-tls-client-cert", STRING, "PEM client certificate (with --kafka-tls-client-key); turns TLS on.", default=""),
    Flag("kafka-tls-client-key", STRING, "PEM key of --kafka-tls-client-cert.", default=""),
]


def parseHosts(flagName: str, text: str) -> list[str]:
    """
    Split a comma-separated broker list into C{host:port} items (port 9092
    when missing).

    @raise ValueError: naming the flag.
    """
    hosts = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        host, port = item, str(DEFAULT_PORT)
        if item.startswith("["):
            close = item.find("]")
            if close < 0:
                raise ValueError(f"--{flagName}: invalid broker {item!r}")
            host, rest = item[: close + 1], item[close + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"--{flagName}: invalid broker {item!r}")
                port = rest[1:]
        elif ":" in item:
            host, _, port = item.rpartition(":")
        if not host or (":" in host and not host.startswith("[")):
            raise ValueError(f"--{flagName}: invalid broker {item!r} (expected HOST:PORT)")
        if not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"--{flagName}: invalid port in {item!r}")
        hosts.append(f"{host}:{int(port)}")
    if not hosts:
        raise ValueError(f"--{flagName}: no broker given")
    return hosts


def parseOffset(text: str) -> tuple[int, float, Limit | None]:
    """
    C{--input-kafka-offset}: C{OFFSET}, C{OFFSET|N%} (speed), C{OFFSET|max}
    or C{OFFSET|N} (a rate limit, as on every input).

    @return: C{(offset, speed, limit)}.
    @raise ValueError: naming the flag.
    """
    speed = 1.0
    limit: Limit | None
    if text.endswith("|max"):
        raw, limit = text[: -len("|max")], None
        speed = math.inf
    else:
        raw, limit = splitFlagLimit("input-kafka-offset", text)
    if isinstance(limit, PercentageLimit):
        speed, limit = limit.percent / 100.0, None
        if speed <= 0:
            raise ValueError(f"--input-kafka-offset: replay speed must be above 0%, got {text!r}")
    try:
        offset = int(raw.strip())
    except ValueError:
        raise ValueError(f"--input-kafka-offset: not a number: {raw!r} (-1 newest, -2 oldest, or an offset)") from None
    if offset < OLDEST:
        raise ValueError(f"--input-kafka-offset: {offset} is below -2 (-1 newest, -2 oldest, or an offset)")
    return offset, speed, limit


def _connection(values: FlagValues, side: str, hosts: list[str]) -> KafkaConnection:
    useSasl = values[f"{side}-kafka-use-sasl"]
    mechanism = (values[f"{side}-kafka-mechanism"] or "PLAIN").upper()
    if mechanism not in MECHANISMS:
        raise ValueError(f"--{side}-kafka-mechanism: {mechanism!r} is not one of {', '.join(MECHANISMS)}")
    username = values[f"{side}-kafka-username"]
    password = values[f"{side}-kafka-password"]
    if useSasl and not username:
        raise ValueError(f"--{side}-kafka-use-sasl: needs --{side}-kafka-username (and --{side}-kafka-password)")
    ca, cert, key = values["kafka-tls-ca-cert"], values["kafka-tls-client-cert"], values["kafka-tls-client-key"]
    return KafkaConnection(
        hosts=hosts,
        useSasl=useSasl,
        mechanism=mechanism,
        username=username,
        password=password,
        caCert=ca,
        clientCert=cert,
        clientKey=key,
    )


def _checkTLS(values: FlagValues) -> None:
    cert, key = values["kafka-tls-client-cert"], values["kafka-tls-client-key"]
    if bool(cert) != bool(key):
        raise ValueError("--kafka-tls-client-cert: needs --kafka-tls-client-key (they come together)")
    from OpenSSL import crypto

    loaders = {
        "kafka-tls-ca-cert": lambda data: crypto.load_certificate(crypto.FILETYPE_PEM, data),
        "kafka-tls-client-cert": lambda data: crypto.load_certificate(crypto.FILETYPE_PEM, data),
        "kafka-tls-client-key": lambda data: crypto.load_privatekey(crypto.FILETYPE_PEM, data),
    }
    for name, load in loaders.items():
        path = values[name]
        if not path:
            continue
        if not os.path.isfile(path):
            raise ValueError(f"--{name}: no such file: {path!r}")
        try:
            with open(path, "rb") as f:
                load(f.read())
        except Exception:
            raise ValueError(f"--{name}: not a PEM {'key' if name.endswith('key') else 'certificate'}: {path!r}") from None


def _pair(values: FlagValues, side: str) -> tuple[list[str], str] | None:
    host, topic = values[f"{side}-kafka-host"], values[f"{side}-kafka-topic"]
    if not host and not topic:
        return None
    if not host:
        raise ValueError(f"--{side}-kafka-topic: needs --{side}-kafka-host")
    if not topic:
        raise ValueError(f"--{side}-kafka-host: needs --{side}-kafka-topic")
    return parseHosts(f"{side}-kafka-host", host), topic


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add this area's input and output to C{config}.
    """
    output = _pair(values, "output")
    inputPair = _pair(values, "input")
    if output is None and inputPair is None:
        return
    _checkTLS(values)
    compression = values["output-kafka-compression"].lower()
    if compression not in COMPRESSIONS:
        raise ValueError(f"--output-kafka-compression: {compression!r} is not one of {', '.join(COMPRESSIONS)}")
    if output is not None:
        hosts, topic = output
        config.outputs.append(
            KafkaOutputConfig(
                connection=_connection(values, "output", hosts),
                topic=topic,
                jsonFormat=values["output-kafka-json-format"],
                compression=compression,
                bufferSize=values["output-kafka-buffer-size"],
                deliveryTimeout=values["output-kafka-delivery-timeout"],
                stopTimeout=values["output-kafka-timeout"],
            )
        )
    if inputPair is not None:
        hosts, topic = inputPair
        offset, speed, limit = parseOffset(values["input-kafka-offset"])
        config.inputs.append(
            KafkaInputConfig(
                connection=_connection(values, "input", hosts),
                topic=topic,
                limit=limit,
                jsonFormat=values["input-kafka-json-format"],
                offset=offset,
                speed=speed,
                groupId=values["input-kafka-group-id"],
                bufferSize=values["input-kafka-buffer-size"],
            )
        )
