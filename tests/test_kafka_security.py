"""
Kafka with SASL and TLS through the real C{gor} command: SASL PLAIN against
noida-db, a failed SCRAM login against tansu with authentication on, and
TLS with client certificates through a TLS front (in the test process) to
tansu, which advertises the front's address, so that every connection gor
makes is TLS.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor as _reactor
from twisted.internet import ssl
from twisted.protocols.portforward import ProxyFactory
from twisted.trial.unittest import SkipTest

from tests.certs import makeCertificates
from tests.kafkabroker import Broker, consume, createTopic, skipReason
from tests.support import fileRecords, freePort, runGor
from tests.test_kafka_e2e import KafkaTestCase, pairs, rawValue, summary

reactor: Any = _reactor


class SASLPlainTests(KafkaTestCase):
    """
    SASL PLAIN both ways (noida-db takes any PLAIN credentials).
    """

    async def test_plainBothWays(self) -> None:
        """
        Produce and consume with SASL PLAIN; the password is never shown,
        not even with --verbose 3.
        """
        messages = pairs(20)
        source = self.writeFile(messages)
        sasl = ["--output-kafka-use-sasl", "--output-kafka-username", "alice", "--output-kafka-password", "pa55-word-xyz"]
        result = await runGor("--input-file", source + "|max", *self.kafkaOut("sasl", *sasl), "--verbose", "3", timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(summary(result.errText, "output_kafka")["delivered"], 40, result.errText)
        self.assertIn("SASL PLAIN as 'alice'", result.errText)
        self.assertNotIn("pa55-word-xyz", result.errText + result.out.decode("utf-8", "replace"))

        out = self.tmp()
        process = await self.replayInto(
            out,
            40,
            *self.kafkaIn("sasl", "--input-kafka-offset", "-2|max", *[a.replace("output", "input") for a in sasl]),
            "--verbose",
            "3",
        )
        self.assertEqual(fileRecords(out), messages)
        self.assertNotIn("pa55-word-xyz", process.logText)


class SASLFailureTests(KafkaTestCase):
    """
    A broker that refuses the login (tansu with authentication, no such user).
    """

    kind = "tansu"

    async def asyncSetUp(self) -> None:
        reason = skipReason(self.kind)
        if reason is not None:
            raise SkipTest(reason)
        self.broker = Broker(self.kind, authentication=True)
        self.addCleanup(self.broker.stop)
        await self.broker.start(reactor)

    async def test_refusedLogin(self) -> None:
        """
        One clear log line and a counter; gor goes on retrying, and at exit
        what was not delivered is counted; the password is never shown.
        """
        source = self.writeFile(pairs(1))
        result = await runGor(
            "--input-file", source + "|max",
            *self.kafkaOut("t", "--output-kafka-use-sasl", "--output-kafka-mechanism", "SCRAM-SHA-512",
                           "--output-kafka-username", "alice", "--output-kafka-password", "wr0ng-pw-xyz",
                           "--output-kafka-timeout", "3s"),
            timeout=60,
        )  # fmt: skip
        text = result.errText
        self.assertNotIn("wr0ng-pw-xyz", text + result.out.decode("utf-8", "replace"))
        lines = [line for line in text.splitlines() if "authentication failed" in line]
        self.assertEqual(len(lines), 1, text)
        self.assertIn("retrying with backoff", lines[0])
        counters = summary(text, "output_kafka")
        self.assertGreaterEqual(counters.get("client_errors.authentication", 0), 1, text)
        self.assertEqual(counters.get("dropped.stop_timeout", 0), 2, text)


class TLSTests(KafkaTestCase):
    """
    TLS with a CA and a client certificate.
    """

    kind = "tansu"

    async def asyncSetUp(self) -> None:
        reason = skipReason(self.kind)
        if reason is not None:
            raise SkipTest(reason)
        self.certs = makeCertificates(self._certDir())
        self.tlsPort = freePort()
        self.broker = Broker(self.kind, advertisedPort=self.tlsPort)
        self.addCleanup(self.broker.stop)
        await self.broker.start(reactor)
        with open(self.certs["ca"], "rb") as f:
            ca = ssl.Certificate.loadPEM(f.read())
        with open(self.certs["key"], "rb") as k, open(self.certs["cert"], "rb") as c:
            server = ssl.PrivateCertificate.loadPEM(k.read() + c.read())
        # Client certificates are required and must be signed by the test CA.
        options = server.options(ca)
        self.front = reactor.listenSSL(self.tlsPort, ProxyFactory("127.0.0.1", self.broker.port), options, interface="127.0.0.1")
        self.addCleanup(self.front.stopListening)

    def _certDir(self) -> str:
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    def tlsArgs(self) -> list[str]:
        return [
            "--kafka-tls-ca-cert", self.certs["ca"],
            "--kafka-tls-client-cert", self.certs["cert"],
            "--kafka-tls-client-key", self.certs["key"],
        ]  # fmt: skip

    async def test_tlsBothWays(self) -> None:
        """
        Produce and consume over TLS only (the broker is reachable through
        the TLS front alone, as advertised).
        """
        bootstrap = f"127.0.0.1:{self.tlsPort}"
        tls: dict[str, Any] = {
            "security.protocol": "SSL",
            "ssl.ca.location": self.certs["ca"],
            "ssl.certificate.location": self.certs["cert"],
            "ssl.key.location": self.certs["key"],
        }
        await createTopic(bootstrap, "tls", 1, extra=tls)
        messages = pairs(30)
        source = self.writeFile(messages)
        out = ["--output-kafka-host", bootstrap, "--output-kafka-topic", "tls"]
        result = await runGor("--input-file", source + "|max", *out, *self.tlsArgs(), timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        self.assertEqual(summary(result.errText, "output_kafka")["delivered"], 60, result.errText)
        found = await consume(bootstrap, "tls", 60, extra=tls)
        self.assertEqual([v for _, _, _, v in found], [rawValue(m) for m in messages])

        path = self.tmp()
        inArgs = ["--input-kafka-host", bootstrap, "--input-kafka-topic", "tls", "--input-kafka-offset", "-2|max"]
        await self.replayInto(path, 60, *inArgs, *self.tlsArgs())
        self.assertEqual(fileRecords(path), messages)
