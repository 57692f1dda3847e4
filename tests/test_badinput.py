"""
Bad input never hangs and never stops silently (issue 9 item 4), through the
real C{gor} command.
"""

from __future__ import annotations

import os
import re
import struct
import zlib

from twisted.trial.unittest import TestCase

from tests.pcapgen import Conversation, writePcap
from tests.support import runGor
from twisted_gor.framing import encodeMessage, iterMessages
from twisted_gor.message import Message

START = 1_700_000_000 * 10**9


def records(count: int, size: int = 0, start: int = START) -> list[Message]:
    return [
        Message(1, b"%024x" % i, start + i * 1000, -1, b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i + b"%x" % i * size)
        for i in range(count)
    ]


def summaryValue(text: str, key: str) -> int:
    m = re.search(rf"summary: read=.*\b{re.escape(key)}=(\d+)", text)
    return int(m.group(1)) if m else 0


def errorLines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "] ERROR " in line or "] CRITICAL " in line]


class Base(TestCase):
    timeout = 90

    def path(self, name: str) -> str:
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        return os.path.join(directory, name)


class FileInputTests(Base):
    """
    C{--input-file}: unrepresentable timestamps, loops over nothing, gzip
    errors.
    """

    async def test_hugeTimestamp(self) -> None:
        """
        A record with a 400-digit timestamp is skipped and counted; the
        replay goes on to the end and gor exits 0.
        """
        good = records(10)
        bad = b"1 " + b"b" * 24 + b" " + b"9" * 400 + b" -1\nGET /bad HTTP/1.1\r\n\r\n"
        data = b"".join(encodeMessage(m) for m in good[:5])
        data += bad + b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
        data += b"".join(encodeMessage(m) for m in good[5:])
        for suffix in ("|max", ""):
            source = self.path("huge.gor")
            with open(source, "wb") as f:
                f.write(data)
            result = await runGor("--input-file", source + suffix, "--output-stdout", timeout=20)
            self.assertEqual(result.rc, 0, result.errText)
            self.assertEqual(list(iterMessages(result.out)), good)
            self.assertIn("skipped.malformed=1", result.errText)
            self.assertEqual(summaryValue(result.errText, "skipped"), 1, result.errText)
            self.assertIn("timestamp out of range", result.errText)

    async def test_loopOverNothing(self) -> None:
        """
        C{--input-file-loop} over a file without a valid record exits 1 with
        one error line, instead of idling forever.
        """
        source = self.path("nothing.gor")
        with open(source, "wb") as f:
            f.write(b"not a record\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n")
        result = await runGor("--input-file", source, "--input-file-loop", "--output-null", timeout=20)
        self.assertEqual(result.rc, 1, result.errText)
        errors = errorLines(result.errText)
        self.assertTrue(errors and "no valid record to replay in a loop" in errors[0], result.errText)
        # The input's line, and the summary's "exit 1" line that repeats it.
        self.assertEqual(len(errors), 2, result.errText)
        self.assertNotIn("Traceback", result.errText)

    async def test_gzipErrorKeepsWhatCameBefore(self) -> None:
        """
        A corrupt byte in a gzip recording: every record decompressed before
        it is replayed (the old reader lost the whole 1 MiB being read); the
        error is logged and counted.
        """
        messages = records(30_000, size=8)
        raw = [encodeMessage(m) for m in messages]
        keep = 17_000  # about 1.6 MiB: not on a 1 MiB boundary
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        data = compressor.compress(b"".join(raw[:keep])) + compressor.flush(zlib.Z_FULL_FLUSH)
        corruptAt = len(data)
        data += compressor.compress(b"".join(raw[keep:])) + compressor.flush()
        corrupted = bytearray(data)
        corrupted[corruptAt] = 0xFF  # an invalid deflate block type
        source = self.path("corrupt.gor.gz")
        with open(source, "wb") as f:
            f.write(bytes(corrupted))
        self.assertGreater(sum(len(r) for r in raw[:keep]), 1 << 20)
        result = await runGor("--input-file", source + "|max", "--output-stdout", timeout=30)
        out = list(iterMessages(result.out))
        self.assertEqual(out[:keep], messages[:keep])
        self.assertEqual(len(out), keep)
        self.assertIn("corrupt gzip data", result.errText)
        self.assertIn("skipped.read_error=1", result.errText)

    async def test_gzipCutShort(self) -> None:
        """
        A gzip recording that ends early (a full disk): every whole record is
        replayed and the cut is reported.
        """
        messages = records(5000, size=8)
        data = zlib.compress(b"".join(encodeMessage(m) for m in messages), 9, zlib.MAX_WBITS | 16)
        source = self.path("short.gor.gz")
        with open(source, "wb") as f:
            f.write(data[: len(data) * 2 // 3])
        result = await runGor("--input-file", source + "|max", "--output-stdout", timeout=30)
        out = list(iterMessages(result.out))
        self.assertGreater(len(out), 1000)
        self.assertEqual(out, messages[: len(out)])
        self.assertIn("end-of-stream marker", result.errText)


def pcapOfRequests(path: str, count: int, corruptPacket: int | None = None, body: int = 0) -> list[bytes]:
    """
    A savefile of C{count} requests on their own connections; optionally the
    header of one packet made impossible (caplen above snaplen).
    """
    packets = []
    requests = []
    for i in range(count):
        payload = b"x" * body
        request = b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (i, len(payload)) + payload
        requests.append(request)
        c = Conversation(client=("10.0.0.1", 20000 + i), start=1_600_000_000_000_000_000 + i * 10_000_000)
        c.handshake().send(request).close()
        packets.extend(c.packets)
    packets.sort(key=lambda p: p[0])
    writePcap(path, packets)
    if corruptPacket is not None:
        with open(path, "r+b") as f:
            data = bytearray(f.read())
            offset = 24
            for _ in range(corruptPacket):
                offset += 16 + struct.unpack_from("<I", data, offset + 8)[0]
            struct.pack_into("<I", data, offset + 8, 0x7FFFFFF)
            f.seek(0)
            f.write(data)
    return requests


class PcapFileTests(Base):
    """
    The C{pcap_file} engine on corrupt, empty and foreign files.
    """

    async def test_corruptRecordHeader(self) -> None:
        """
        A record header with caplen above snaplen, half-way: the requests
        before it are emitted, the corruption is logged and counted, the rest
        of the file is not read, and gor exits 1.
        """
        source = self.path("corrupt.pcap")
        requests = pcapOfRequests(source, 100, corruptPacket=350)
        result = await runGor("--input-raw", source + ":80", "--output-stdout", timeout=30)
        self.assertEqual(result.rc, 1, result.errText)
        out = [m.payload for m in iterMessages(result.out)]
        self.assertGreater(len(out), 30)
        self.assertLess(len(out), 100)
        self.assertEqual(out, requests[: len(out)])
        errors = errorLines(result.errText)
        self.assertIn("corrupt pcap record", errors[0])
        self.assertIn("bigger than snaplen", errors[0])
        self.assertIn("the rest of the file is not read", errors[0])
        self.assertIn("failed.pcap_file=1", result.errText)

    async def test_emptyAndForeignFiles(self) -> None:
        """
        An empty file and a text file given to the C{pcap_file} engine exit 2
        with one line naming the flag.
        """
        empty = self.path("empty.pcap")
        open(empty, "wb").close()
        text = self.path("notes.txt")
        with open(text, "w") as f:
            f.write("these are not packets\n" * 10)
        for path in (empty, text):
            result = await runGor(
                "--input-raw", path + ":80", "--input-raw-engine", "pcap_file", "--output-null", timeout=20
            )
            self.assertEqual(result.rc, 2, result.errText)
            self.assertEqual(result.errText.strip().count("\n"), 0, result.errText)
            self.assertIn("--input-raw", result.errText)
            self.assertIn(path, result.errText)
            self.assertNotIn("Traceback", result.errText)


class TruncationTests(Base):
    """
    A captured request longer than C{--copy-buffer-size} is cut and counted.
    """

    async def test_truncatedCounted(self) -> None:
        """
        Three requests with 300 KB bodies, one small, C{--copy-buffer-size
        100kb}: the three are emitted cut to 100 KB and counted as truncated
        in the stats and the summary.
        """
        source = self.path("big.pcap")
        big = pcapOfRequests(source, 3, body=300_000)
        result = await runGor(
            "--input-raw", source + ":80", "--output-stdout", "--copy-buffer-size", "100kb", timeout=30
        )
        self.assertEqual(result.rc, 0, result.errText)
        out = [m.payload for m in iterMessages(result.out)]
        self.assertEqual(out, [r[:102_400] for r in big])
        self.assertRegex(result.errText, r"summary: pipeline: .*truncated=3")
        self.assertEqual(summaryValue(result.errText, "truncated"), 3, result.errText)


class GzipReaderTests(TestCase):
    """
    L{twisted_gor.files.input.GzipReader} on its own.
    """

    def readAll(self, data: bytes) -> tuple[bytes, BaseException | None]:
        import io

        from twisted_gor.files.input import GzipReader

        reader = GzipReader(io.BytesIO(data))
        out = b""
        try:
            while True:
                chunk = reader.read(1 << 16)
                if not chunk:
                    return out, None
                out += chunk
        except Exception as e:
            return out, e

    def test_members(self) -> None:
        """
        Concatenated members (an appended recording) are read as one stream.
        """
        import gzip

        a, b = b"first " * 50_000, b"second " * 50_000
        self.assertEqual(self.readAll(gzip.compress(a) + gzip.compress(b)), (a + b, None))

    def test_corruptKeepsPrefix(self) -> None:
        """
        Everything before a corrupt block comes out before the error.
        """
        data = bytes(range(256)) * 4000
        c = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        stream = bytearray(c.compress(data) + c.flush(zlib.Z_FULL_FLUSH))
        at = len(stream)
        stream += c.compress(data) + c.flush()
        stream[at] = 0xFF
        out, error = self.readAll(bytes(stream))
        self.assertEqual(out, data)
        self.assertIsNotNone(error)
