# -*- test-case-name: tests.test_framing -*-
"""
GoReplay's record framing, shared by ``.gor`` files, ``--output-stdout`` and the
gor-to-gor TCP link: meta line, newline, payload, then the 14-byte separator
``\\n🐵🙈🙉\\n``.

A record with an empty payload is malformed, except a session's close record
(meta ending in C{s=<session>:<n>:end}, see L{twisted_gor.message}), which
GoReplay's reader skips and this one returns.
"""

from __future__ import annotations

from typing import Callable, Iterator

from twisted_gor.message import INT64_MAX, INT64_MIN, MESSAGE_TYPES, SESSION_END, MalformedMeta, Message, parseMeta

_FAST_TYPES = {b"%d" % kind: kind for kind in MESSAGE_TYPES}
"""The meta line's first field, as written, for each message type."""
_BAD = 1 << 64
"""Outside the 64-bit range: sends a record to the full check."""

SEPARATOR = "\n\U0001f435\U0001f648\U0001f649\n".encode("utf-8")
"""The record separator, C{0a f0 9f 90 b5 f0 9f 99 88 f0 9f 99 89 0a}."""

assert len(SEPARATOR) == 14


def encodeMessage(message: Message) -> bytes:
    """
    Frame one message as GoReplay writes it.
    """
    return b"".join((message.meta(), b"\n", message.payload, SEPARATOR))


MalformedCallback = Callable[[int, str], None]
"""Called with the byte offset of a skipped record and the reason."""


class RecordDecoder:
    """
    Incremental decoder of a stream of gor records.

    Feed it bytes as they arrive; it returns the complete messages found so
    far. Malformed records are skipped and reported to C{onMalformed} with their
    byte offset in the stream; a record longer than C{maxRecordSize} is
    discarded (everything up to its separator), so memory stays bounded whatever
    the peer sends.

    @ivar offset: bytes consumed from the stream so far.
    """

    def __init__(
        self,
        onMalformed: MalformedCallback | None = None,
        maxRecordSize: int = 0,
    ) -> None:
        # Bytes of an incomplete record, kept as the reads that brought them
        # and joined once, when its separator arrives: a record dripping in
        # small reads costs linear time, not a copy of the whole per read.
        self._chunks: list[bytes] = []
        self._held = 0
        self._tail = b""
        self._onMalformed = onMalformed
        self._maxRecordSize = maxRecordSize
        self._discarding = False
        self._discardStart = 0
        self.offset = 0

    @property
    def pending(self) -> int:
        """
        How many bytes wait for their separator.
        """
        return self._held

    @property
    def discarding(self) -> bool:
        """
        Whether an oversize record is being discarded (up to its separator).
        """
        return self._discarding

    def feed(self, data: bytes) -> list[Message]:
        """
        Add C{data} and return the messages it completes.
        """
        sep = SEPARATOR
        if self._chunks:
            # A separator in this read, or split across the previous one?
            # (Looking at the held tail and this read's first bytes only:
            # no copy of the whole read just to search it.)
            if data.find(sep) < 0 and sep not in self._tail + data[:13]:
                self._hold(data, self._tail + data[-13:])
                return []
            scan = max(0, self._held - 13)
            self._chunks.append(data)
            buffer = b"".join(self._chunks)
            self._chunks = []
            self._held = 0
        else:
            buffer = data
            scan = 0
        messages: list[Message] = []
        append = messages.append
        find = buffer.find
        start = 0
        while True:
            end = find(sep, scan)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False
                self._report(self._discardStart, "record larger than the maximum record size")
            else:
                # _decodeOne's well-formed case, inlined (one call less per record)
                newline = find(b"\n", start, end)
                if newline > 0 and newline + 1 < end:
                    meta = buffer[start:newline]
                    parts = meta.split(b" ", 4)
                    if len(parts) == 4 and parts[1] and parts[0] in _FAST_TYPES:
                        try:
                            timestamp = int(parts[2])
                            latency = int(parts[3]) if parts[3] else -1
                        except ValueError:
                            timestamp = latency = _BAD
                        if (
                            -0x8000000000000000 <= timestamp <= 0x7FFFFFFFFFFFFFFF
                            and -0x8000000000000000 <= latency <= 0x7FFFFFFFFFFFFFFF
                        ):
                            append(Message(_FAST_TYPES[parts[0]], parts[1], timestamp, latency, buffer[newline + 1 : end], meta))
                            start = end + 14
                            scan = start
                            continue
                self._decodeOne(buffer, start, end, messages)
            start = end + 14
            scan = start
        self.offset += start
        if start < len(buffer):
            rest = buffer[start:] if start else buffer
            self._hold(rest, rest)
        return messages

    def _hold(self, data: bytes, probe: bytes) -> None:
        """
        Keep C{data} (the start or more of an incomplete record); C{probe}
        ends with the last bytes held, to find a separator split across reads.
        """
        if data:
            self._chunks.append(data)
            self._held += len(data)
            self._tail = probe[-13:]
        if self._maxRecordSize and self._held > self._maxRecordSize:
            if not self._discarding:
                self._discarding = True
                self._discardStart = self.offset
            # keep only a tail long enough to find a separator split across
            # reads (never more than was held: a limit under 13 bytes)
            keep = min(13, self._held)
            tail = self._tail[-keep:] if keep else b""
            self.offset += self._held - len(tail)
            self._chunks = [tail] if tail else []
            self._held = len(tail)

    def _decodeOne(self, buffer: bytes, start: int, end: int, out: list[Message]) -> None:
        newline = buffer.find(b"\n", start, end)
        if newline < 0 or newline + 1 >= end:
            if newline + 1 == end and buffer.endswith(SESSION_END, start, newline) and b" s=" in buffer[start:newline]:
                # a captured connection's close (see twisted_gor.message)
                meta = buffer[start:newline]
                try:
                    kind, id_, timestamp, latency = parseMeta(meta)
                except MalformedMeta as e:
                    self._report(self.offset + start, str(e))
                    return
                out.append(Message(kind, id_, timestamp, latency, b"", meta))
                return
            if end > start:
                self._report(self.offset + start, "record has no payload")
            return
        meta = buffer[start:newline]
        parts = meta.split(b" ", 4)
        try:
            # the common, well-formed case without a function call per record
            kind = int(parts[0])
            timestamp = int(parts[2])
            latency = int(parts[3]) if len(parts) > 3 and parts[3] else -1
            if (
                kind not in MESSAGE_TYPES
                or not parts[1]
                or (len(parts) > 4 and not parts[4].startswith(b"s="))
                or not INT64_MIN <= timestamp <= INT64_MAX
                or not INT64_MIN <= latency <= INT64_MAX
            ):
                raise ValueError
            id_ = parts[1]
        except (ValueError, IndexError):
            try:
                kind, id_, timestamp, latency = parseMeta(meta)
            except MalformedMeta as e:
                self._report(self.offset + start, str(e))
                return
        out.append(Message(kind, id_, timestamp, latency, buffer[newline + 1 : end], meta))

    def _report(self, offset: int, reason: str) -> None:
        if self._onMalformed is not None:
            self._onMalformed(offset, reason)

    def finish(self) -> int:
        """
        Declare the end of the stream; return how many trailing bytes were left
        without a separator (a truncated last record), 0 when the stream ended
        cleanly.
        """
        left = self._held
        if self._discarding:
            self._report(self._discardStart, "record larger than the maximum record size")
            self._discarding = False
        elif left:
            self._report(self.offset, f"truncated last record ({left} bytes without separator)")
        self._chunks = []
        self._held = 0
        self._tail = b""
        return left


def iterMessages(data: bytes, onMalformed: MalformedCallback | None = None) -> Iterator[Message]:
    """
    Decode every complete record of C{data}.
    """
    decoder = RecordDecoder(onMalformed)
    yield from decoder.feed(data)
    decoder.finish()
