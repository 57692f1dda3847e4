# -*- test-case-name: tests.test_kafka_unit -*-
"""
What the producer and the consumer share: the connection settings (brokers,
SASL, TLS) as librdkafka configuration, the names of client errors, and one
reporter that turns client errors into counters and rate-limited log lines.

The SASL password lives only in the dict handed to librdkafka: it is never
logged, and L{KafkaConnection}'s C{repr} hides it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from twisted_gor.redact import MASK
from twisted_gor.stats import Counters

MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
"""SASL mechanisms GoReplay offers (and librdkafka speaks)."""


@dataclass
class KafkaConnection:
    """
    Where and how to connect.

    @ivar hosts: C{host:port} of the bootstrap brokers.
    @ivar useSasl: authenticate with SASL.
    @ivar mechanism: one of L{MECHANISMS}.
    @ivar username: SASL user.
    @ivar password: SASL password (never shown).
    @ivar caCert: PEM CA file; TLS is used when it or C{clientCert} is set.
    @ivar clientCert: PEM client certificate (with C{clientKey}).
    @ivar clientKey: PEM key of C{clientCert}.
    """

    hosts: list[str]
    useSasl: bool = False
    mechanism: str = "PLAIN"
    username: str = ""
    password: str = field(default="", repr=False)
    caCert: str = ""
    clientCert: str = ""
    clientKey: str = ""

    @property
    def tls(self) -> bool:
        """
        Whether to use TLS (GoReplay: a CA or a client certificate given).
        """
        return bool(self.caCert or self.clientCert)

    def describe(self) -> str:
        """
        The brokers and the security, for log lines (no password).
        """
        security = []
        if self.tls:
            security.append("TLS")
        if self.useSasl:
            security.append(f"SASL {self.mechanism} as {self.username!r} (password {MASK})")
        return ",".join(self.hosts) + (f" ({', '.join(security)})" if security else "")

    def librdkafka(self) -> dict[str, Any]:
        """
        The librdkafka settings of this connection.
        """
        conf: dict[str, Any] = {
            "bootstrap.servers": ",".join(self.hosts),
            "client.id": "twisted-gor",
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 2000,
            "socket.keepalive.enable": True,
        }
        if self.useSasl:
            conf["security.protocol"] = "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
            conf["sasl.mechanism"] = self.mechanism
            conf["sasl.username"] = self.username
            conf["sasl.password"] = self.password
        elif self.tls:
            conf["security.protocol"] = "SSL"
        if self.caCert:
            conf["ssl.ca.location"] = self.caCert
        if self.clientCert:
            conf["ssl.certificate.location"] = self.clientCert
            conf["ssl.key.location"] = self.clientKey
        return conf


def errorReason(error: Any) -> str:
    """
    A counter-friendly name of a C{confluent_kafka.KafkaError}:
    C{_MSG_TIMED_OUT} is C{msg_timed_out}, C{UNKNOWN_TOPIC_OR_PART} is
    C{unknown_topic_or_part}.
    """
    try:
        name = str(error.name())
    except Exception:
        return "unknown"
    return name.strip("_").lower() or "unknown"


_HINTS = {
    "all_brokers_down": "no broker reachable",
    "transport": "broker connection failed",
    "authentication": "authentication failed (check the SASL mechanism, user and password)",
    "ssl": "TLS failed (check the certificates)",
    "unknown_topic_or_part": "unknown topic",
    "topic_authorization_failed": "not authorized for the topic",
    "resolve": "cannot resolve a broker's name",
}


class ClientErrors:
    """
    Client errors as counters (C{<prefix>.<reason>}) and log lines: the
    first of each reason is logged at once, then at most one line per
    C{interval} seconds per reason, with how many came meanwhile.

    Call it on the reactor thread only.
    """

    log = Logger()

    def __init__(self, source: Any, clock: Any, prefix: str = "client_errors", interval: float = 30.0) -> None:
        """
        @param source: the component (its C{name} and C{stats} are used).
        """
        self.source = source
        self.clock = clock
        self.prefix = prefix
        self.interval = interval
        self._next: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def report(self, reason: str, detail: str, what: str = "", retrying: str = "retrying with backoff") -> None:
        """
        Count one error of C{reason}; log it unless one was logged lately.
        """
        stats: Counters = self.source.stats
        stats.increment(f"{self.prefix}.{reason}")
        now = self.clock.seconds()
        if now < self._next.get(reason, 0.0):
            self._quiet[reason] = self._quiet.get(reason, 0) + 1
            return
        self._next[reason] = now + self.interval
        quiet = self._quiet.pop(reason, 0)
        self.log.warn(
            "{name}: {hint}{what}: {detail}; {retrying}{more}",
            name=self.source.name,
            hint=_HINTS.get(reason, reason.replace("_", " ")),
            what=what,
            detail=detail,
            retrying=retrying,
            more=f" ({quiet} more since the last line)" if quiet else "",
        )


class _ForwardHandler(logging.Handler):
    """
    librdkafka's own log lines, to twisted.logger at debug level, on the
    reactor thread.
    """

    log = Logger(namespace="twisted_gor.kafka.librdkafka")

    def __init__(self, name: str, callFromThread: Callable[..., Any]) -> None:
        logging.Handler.__init__(self)
        self._name = name
        self._callFromThread = callFromThread

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:
            return
        self._callFromThread(self.log.debug, "{name}: librdkafka: {text}", name=self._name, text=text)


def librdkafkaLogger(name: str, reactor: Any) -> logging.Logger:
    """
    A C{logging.Logger} for librdkafka's C{logger} setting that forwards to
    twisted.logger (debug level) instead of librdkafka writing to stderr.
    """
    logger = logging.getLogger(f"twisted_gor.kafka.{name}.{id(reactor):x}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(_ForwardHandler(name, reactor.callFromThread))
    return logger


def releaseClient(reactor: Any, release: Callable[[Any], None], client: Any) -> Deferred[None]:
    """
    Call C{release(client)} on a thread of C{reactor}'s pool (destroying a
    librdkafka client joins its threads: never on the reactor thread); at
    once with a reactor that has no threads (a test clock).
    """
    if IReactorThreads.providedBy(reactor):
        return deferToThreadPool(reactor, reactor.getThreadPool(), release, client)
    return maybeDeferred(release, client)
