"""
GoReplay's Kafka values (reference K1-K4), the shared pacer, and the Kafka
flags: unit tests of logic, no broker.
"""

from __future__ import annotations

import json
import math

from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.cli.tap import Options, UsageFailure
from twisted_gor.kafka.flags import parseHosts, parseOffset
from twisted_gor.kafka.formats import BadValue, canonicalHeaderName, decodeJSON, decodeRaw, encodeJSON, encodeRaw
from twisted_gor.kafka.input import KafkaInputConfig
from twisted_gor.kafka.output import KafkaOutputConfig
from twisted_gor.limiter import AbsoluteLimit
from twisted_gor.message import Message
from twisted_gor.pacing import Pacer

K_META = b"1 2 3"
K_PAYLOAD = b"GET / HTTP1.1\r\nHeader: 1\r\n\r\n"


class GoReplayCasesTests(SynchronousTestCase):
    """
    The four cases of GoReplay's output_kafka_test.go / input_kafka_test.go.
    """

    def message(self) -> Message:
        return Message(1, b"2", 3, -1, K_PAYLOAD, rawMeta=K_META)

    def test_K1rawOutput(self) -> None:
        """
        A raw value is the meta line, a newline and the payload.
        """
        self.assertEqual(encodeRaw(self.message()), K_META + b"\n" + K_PAYLOAD)

    def test_K2jsonOutput(self) -> None:
        """
        An invalid request line gives an empty URL, no headers, no body.
        """
        self.assertEqual(
            encodeJSON(self.message()),
            b'{"Req_URL":"","Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Method":"GET"}',
        )

    def test_K3rawInput(self) -> None:
        """
        A raw value gives back its meta line and payload byte for byte.
        """
        message = decodeRaw(K_META + b"\n" + K_PAYLOAD)
        self.assertEqual((message.meta(), message.payload), (K_META, K_PAYLOAD))
        self.assertEqual((message.type, message.id, message.timestamp, message.latency), (1, b"2", 3, -1))

    def test_K4jsonInput(self) -> None:
        """
        A JSON document is rebuilt into a request.
        """
        value = (
            b'{"Req_URL":"/","Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Method":"GET",'
            b'"Req_Headers":{"Header":"1"}}'
        )
        message = decodeJSON(value)
        self.assertEqual(message.meta() + b"\n" + message.payload, b"1 2 3\nGET / HTTP/1.1\r\nHeader: 1\r\n\r\n")


class JSONTests(SynchronousTestCase):
    """
    The JSON format beyond K2: canonical names, repeated headers, body, Go's escapes.
    """

    def test_fullRequest(self) -> None:
        """
        Keys in GoReplay's order, headers canonical and sorted, repeated ones
        joined, the body kept, C{<>&} escaped as Go does.
        """
        payload = (
            b"POST /a?b=1&c=<2> HTTP/1.1\r\nhost: example.org\r\nx-multi: 1\r\nX-MULTI: 2\r\n"
            b"content-length: 7\r\n\r\n{\"k\":1}"
        )
        value = encodeJSON(Message(1, b"abc", 1700000000000000000, 5, payload))
        self.assertEqual(
            value,
            b'{"Req_URL":"/a?b=1\\u0026c=\\u003c2\\u003e","Req_Type":"1","Req_ID":"abc",'
            b'"Req_Ts":"1700000000000000000","Req_Method":"POST","Req_Body":"{\\"k\\":1}",'
            b'"Req_Headers":{"Content-Length":"7","Host":"example.org","X-Multi":"1, 2"}}',
        )
        self.assertEqual(list(json.loads(value)), ["Req_URL", "Req_Type", "Req_ID", "Req_Ts", "Req_Method", "Req_Body", "Req_Headers"])

    def test_response(self) -> None:
        """
        A response is no request: empty URL, no headers, the method field is
        its version, the body kept (GoReplay's JSON is lossy there).
        """
        value = encodeJSON(Message(2, b"abc", 1, 1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        self.assertEqual(
            json.loads(value),
            {"Req_URL": "", "Req_Type": "2", "Req_ID": "abc", "Req_Ts": "1", "Req_Method": "HTTP/1.1", "Req_Body": "ok"},
        )

    def test_canonicalNames(self) -> None:
        """
        Go's CanonicalMIMEHeaderKey.
        """
        self.assertEqual(canonicalHeaderName("content-type"), "Content-Type")
        self.assertEqual(canonicalHeaderName("X-FORWARDED-FOR"), "X-Forwarded-For")
        self.assertEqual(canonicalHeaderName("bad name"), "bad name")

    def test_roundTrip(self) -> None:
        """
        A request written as JSON reads back as the same request line,
        headers and body.
        """
        payload = b"GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
        message = decodeJSON(encodeJSON(Message(1, b"i", 9, -1, payload)))
        self.assertEqual(message.payload, b"GET /x HTTP/1.1\r\nAccept: */*\r\nHost: a\r\n\r\n")
        self.assertEqual((message.type, message.id, message.timestamp), (1, b"i", 9))


class BadValueTests(SynchronousTestCase):
    """
    Values that are not gor messages are refused with the counter's reason.
    """

    def reason(self, decode: object, value: bytes) -> str:
        with self.assertRaises(BadValue) as caught:
            decode(value)  # type: ignore[operator]
        return caught.exception.reason

    def test_raw(self) -> None:
        """
        No meta line, or one that does not parse.
        """
        self.assertEqual(self.reason(decodeRaw, b"hello world"), "not_record")
        self.assertEqual(self.reason(decodeRaw, b""), "not_record")
        self.assertEqual(self.reason(decodeRaw, b"1 onlytwo\nGET / HTTP/1.1\r\n\r\n"), "malformed")
        self.assertEqual(self.reason(decodeRaw, b"1 id notanumber\nx"), "malformed")

    def test_rawSessionRecords(self) -> None:
        """
        Session data (a fifth meta field) and a session's close record (an
        empty payload) go through a raw value unchanged.
        """
        for value in (b"1 ab 5 -1 s=0a1b:3\nGET / HTTP/1.1\r\n\r\n", b"1 0a1b 9 -1 s=0a1b:4:end\n"):
            message = decodeRaw(value)
            self.assertEqual(encodeRaw(message), value)
            self.assertIsNotNone(message.session)

    def test_rawType3(self) -> None:
        """
        Replayed responses are taken (GoReplay drops them).
        """
        self.assertEqual(decodeRaw(b"3 id 1 2\nHTTP/1.1 200 OK\r\n\r\n").type, 3)

    def test_json(self) -> None:
        """
        Not JSON, not an object, missing or mistyped fields.
        """
        self.assertEqual(self.reason(decodeJSON, b"{not json"), "bad_json")
        self.assertEqual(self.reason(decodeJSON, b"[1, 2]"), "bad_json")
        self.assertEqual(self.reason(decodeJSON, b'{"Req_Type":"1","Req_ID":"2"}'), "bad_json")
        self.assertEqual(self.reason(decodeJSON, b'{"Req_Type":1,"Req_ID":"2","Req_Ts":"3"}'), "bad_json")
        self.assertEqual(
            self.reason(decodeJSON, b'{"Req_Type":"1","Req_ID":"2","Req_Ts":"3","Req_Headers":{"A":1}}'), "bad_json"
        )
        self.assertEqual(self.reason(decodeJSON, b'{"Req_Type":"9","Req_ID":"2","Req_Ts":"3"}'), "malformed")


class PacerTests(SynchronousTestCase):
    """
    The shared replay pacing (file and Kafka replay).
    """

    def test_speed(self) -> None:
        """
        At 200% a 1 s gap is due after 0.5 s, on absolute deadlines.
        """
        pacer = Pacer(2.0)
        self.assertEqual(pacer.deadline(10**9, 100.0), 100.0)
        pacer.advance(10**9, 100.0)
        deadline = pacer.deadline(2 * 10**9, 100.1)
        self.assertEqual(deadline, 100.5)
        # Asking again changes nothing until the message is emitted.
        self.assertEqual(pacer.deadline(2 * 10**9, 100.3), 100.5)
        pacer.advance(2 * 10**9, deadline)
        self.assertEqual(pacer.deadline(4 * 10**9, 101.7), 101.5)

    def test_outOfOrder(self) -> None:
        """
        An earlier timestamp is due at once and keeps the reference.
        """
        pacer = Pacer(1.0)
        pacer.advance(5 * 10**9, 0.0)
        self.assertEqual(pacer.deadline(4 * 10**9, 1.0), 0.0)
        self.assertTrue(pacer.advance(4 * 10**9, 0.0))
        self.assertEqual(pacer.lastTimestamp, 5 * 10**9)
        self.assertEqual(pacer.deadline(6 * 10**9, 1.0), 1.0)

    def test_maxWait(self) -> None:
        """
        One gap is capped by maxWait.
        """
        pacer = Pacer(1.0, maxWait=2.0)
        pacer.advance(0, 10.0)
        self.assertEqual(pacer.deadline(60 * 10**9, 10.0), 12.0)

    def test_restart(self) -> None:
        """
        After a restart the next message is due at once; the first timestamp stays.
        """
        pacer = Pacer(1.0)
        pacer.advance(7, 1.0)
        pacer.restart()
        self.assertEqual(pacer.deadline(10**12, 3.0), 3.0)
        self.assertEqual(pacer.firstTimestamp, 7)


class FlagTests(SynchronousTestCase):
    """
    The Kafka flags into typed configuration; bad values exit 2.
    """

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def test_output(self) -> None:
        """
        GoReplay's output flags, SASL and compression.
        """
        options = self.parse(
            "--input-raw", ":80",
            "--output-kafka-host", "k1:9092, k2",
            "--output-kafka-topic", "t",
            "--output-kafka-json-format",
            "--output-kafka-use-sasl", "--output-kafka-mechanism", "scram-sha-512",
            "--output-kafka-username", "u", "--output-kafka-password", "pw",
            "--output-kafka-compression", "zstd",
        )  # fmt: skip
        assert options.config is not None
        [output] = [o for o in options.config.outputs if isinstance(o, KafkaOutputConfig)]
        self.assertEqual(output.connection.hosts, ["k1:9092", "k2:9092"])
        self.assertEqual((output.topic, output.jsonFormat, output.compression), ("t", True, "zstd"))
        conf = output.connection.librdkafka()
        self.assertEqual(conf["security.protocol"], "SASL_PLAINTEXT")
        self.assertEqual(conf["sasl.mechanism"], "SCRAM-SHA-512")
        self.assertNotIn("pw", repr(output.connection))
        self.assertNotIn("pw", output.connection.describe())

    def test_input(self) -> None:
        """
        GoReplay's input flags, the offset with its speed, the group.
        """
        options = self.parse(
            "--input-kafka-host", "k:1", "--input-kafka-topic", "t",
            "--input-kafka-offset", "-2|200%", "--input-kafka-group-id", "g",
            "--output-null",
        )  # fmt: skip
        assert options.config is not None
        [input] = options.config.inputs
        assert isinstance(input, KafkaInputConfig)
        self.assertEqual((input.offset, input.speed, input.groupId, input.paced), (-2, 2.0, "g", True))

    def test_offsets(self) -> None:
        """
        -1 (not paced), -2, absolute; |max; an absolute |N is a rate limit.
        """
        self.assertEqual(parseOffset("-1"), (-1, 1.0, None))
        self.assertEqual(parseOffset("42"), (42, 1.0, None))
        offset, speed, limit = parseOffset("-2|max")
        self.assertEqual((offset, math.isinf(speed), limit), (-2, True, None))
        self.assertEqual(parseOffset("-2|10"), (-2, 1.0, AbsoluteLimit(10)))
        for bad in ("-3", "newest", "-2|0%", "1|x"):
            self.assertRaises(ValueError, parseOffset, bad)

    def test_hosts(self) -> None:
        """
        Comma-separated brokers, default port 9092, IPv6 in brackets.
        """
        self.assertEqual(parseHosts("f", "a,b:1,[::1]:2,[::1]"), ["a:9092", "b:1", "[::1]:2", "[::1]:9092"])
        for bad in ("", ",", "a:x", "a:0", "::1:2"):
            self.assertRaises(ValueError, parseHosts, "f", bad)

    def assertUsage(self, *args: str) -> str:
        import io
        import sys

        err = io.StringIO()
        old, sys.stderr = sys.stderr, err
        try:
            with self.assertRaises(UsageFailure) as caught:
                self.parse(*args)
        finally:
            sys.stderr = old
        self.assertEqual(caught.exception.code, 2)
        text = err.getvalue()
        self.assertEqual(len(text.strip().splitlines()), 1, text)
        return text

    def test_badValues(self) -> None:
        """
        Each bad combination is one line naming the flag; exit 2.
        """
        out = ["--output-null"]
        kin = ["--input-kafka-host", "k:1", "--input-kafka-topic", "t"]
        self.assertIn("--output-kafka-host", self.assertUsage("--input-raw", ":80", "--output-kafka-host", "k"))
        self.assertIn("--input-kafka-topic", self.assertUsage("--input-kafka-topic", "t", *out))
        self.assertIn("--input-kafka-offset", self.assertUsage(*kin, "--input-kafka-offset", "-3", *out))
        self.assertIn("--input-kafka-offset", self.assertUsage(*kin, "--input-kafka-offset", "oldest", *out))
        self.assertIn("--input-kafka-mechanism", self.assertUsage(*kin, "--input-kafka-mechanism", "MD5", *out))
        self.assertIn("--input-kafka-use-sasl", self.assertUsage(*kin, "--input-kafka-use-sasl", *out))
        self.assertIn("--kafka-tls-client-cert", self.assertUsage(*kin, "--kafka-tls-client-cert", "/etc/hostname", *out))
        self.assertIn("--kafka-tls-ca-cert", self.assertUsage(*kin, "--kafka-tls-ca-cert", "/etc/hostname", *out))
        self.assertIn("--kafka-tls-ca-cert", self.assertUsage(*kin, "--kafka-tls-ca-cert", "/no/such.pem", *out))
        self.assertIn("--output-kafka-compression", self.assertUsage(
            "--input-raw", ":80", "--output-kafka-host", "k", "--output-kafka-topic", "t",
            "--output-kafka-compression", "brotli",
        ))  # fmt: skip

    def test_passwordNeverPrinted(self) -> None:
        """
        A usage error about SASL does not show the password.
        """
        text = self.assertUsage(
            "--input-kafka-host", "k:1", "--input-kafka-topic", "t", "--input-kafka-use-sasl",
            "--input-kafka-password", "s3cr3t-pw", "--output-null",
        )  # fmt: skip
        self.assertNotIn("s3cr3t-pw", text)
