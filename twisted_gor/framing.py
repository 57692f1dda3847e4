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

import functools
import os
from typing import Callable, Iterator

from twisted_gor.message import INT64_MAX, INT64_MIN, MESSAGE_TYPES, SESSION_END, MalformedMeta, Message, parseMeta

_FAST_TYPES = {b"%d" % kind: kind for kind in MESSAGE_TYPES}
"""The meta line's first field, as written, for each message type."""

SEPARATOR = "\n\U0001f435\U0001f648\U0001f649\n".encode("utf-8")
"""The record separator, C{0a f0 9f 90 b5 f0 9f 99 88 f0 9f 99 89 0a}."""

assert len(SEPARATOR) == 14


def encodeMessage(message: Message) -> bytes:
    """
    Frame one message as GoReplay writes it.
    """
    return b"".join((message.meta(), b"\n", message.payload, SEPARATOR))


def encodeRecordsPure(messages: list[Message]) -> tuple[bytes, list[int]]:
    """
    The records of C{messages} framed as L{encodeMessage} frames each, joined,
    and the size of each (the reference of the compiled L{encodeRecords}).
    """
    parts: list[bytes] = []
    sizes: list[int] = []
    extend = parts.extend
    size = sizes.append
    sep = SEPARATOR
    for message in messages:
        meta = message.rawMeta
        if meta is None:
            meta = message.meta()
        payload = message.payload
        extend((meta, b"\n", payload, sep))
        size(len(meta) + len(payload) + 15)
    return b"".join(parts), sizes


MessageFactory = Callable[[int, bytes, int, int, bytes, bytes], Message]
"""Makes a message of C{(type, id, timestamp, latency, payload, meta)}."""


def splitRecordsPure(
    buffer: bytes, start: int, scan: int, out: list[Message], factory: MessageFactory
) -> tuple[int, int]:
    """
    Decode the well-formed records of C{buffer} from C{start} (the first
    separator searched from C{scan}, at or after C{start}), appending
    C{factory(type, id, timestamp, latency, payload, meta)} to C{out}; stop
    at the first record that is anything else (malformed, a session's close,
    numbers written unusually), for the caller's full check.

    The reference of the compiled L{splitRecords}, which stops at more
    records (numbers not plainly written: with C{+}, C{_}, spaces) but
    never decodes one differently.

    @return: C{(stop, end)}: C{stop} is where decoding stopped, C{end} the
        position of the separator that ends the record starting there, or
        -1 when no complete record starts there.
    """
    sep = SEPARATOR
    find = buffer.find
    append = out.append
    types = _FAST_TYPES
    while True:
        end = find(sep, scan)
        if end < 0:
            return start, -1
        newline = find(b"\n", start, end)
        if newline <= start or newline + 1 >= end:
            return start, end
        meta = buffer[start:newline]
        parts = meta.split(b" ", 4)
        if len(parts) != 4 or not parts[1] or parts[0] not in types:
            return start, end
        try:
            timestamp = int(parts[2])
            latency = int(parts[3]) if parts[3] else -1
        except ValueError:
            return start, end
        if not (
            -0x8000000000000000 <= timestamp <= 0x7FFFFFFFFFFFFFFF
            and -0x8000000000000000 <= latency <= 0x7FFFFFFFFFFFFFFF
        ):
            return start, end
        append(factory(types[parts[0]], parts[1], timestamp, latency, buffer[newline + 1 : end], meta))
        start = scan = end + 14


PURE = os.environ.get("TWISTED_GOR_PURE", "") not in ("", "0")
"""Whether C{TWISTED_GOR_PURE} (read once, at import) selects the pure-Python twins."""

splitRecords = splitRecordsPure
encodeRecords = encodeRecordsPure
COMPILED = False
"""Whether the compiled twins (C{twisted_gor._framing}) are in use."""
if not PURE:
    try:
        from twisted_gor import _framing
    except ImportError:  # not built: the pure twins
        pass
    else:
        _framing.useMessageClass(Message)
        splitRecords = _framing.splitRecords  # noqa: F811
        encodeRecords = functools.partial(_framing.encodeRecords, pure=encodeRecordsPure)  # noqa: F811
        COMPILED = True


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
        messages: list[Message] = []
        start = 0
        if self._chunks:
            # A separator in this read, or split across the previous one?
            # (Looking at the held tail and this read's first bytes only:
            # no copy of the whole read just to search it.)
            tail = self._tail
            split = (tail + data[:13]).find(sep)
            if split >= 0:
                first = split + 14 - len(tail)
            else:
                first = data.find(sep)
                if first < 0:
                    self._hold(data, tail + data[-13:])
                    return []
                first += 14
            # Only the held record is joined (to the bytes of this read that
            # end it); the rest of the read is decoded where it is.
            self._chunks.append(data[:first])
            head = b"".join(self._chunks)
            scan = max(0, self._held - 13)
            self._chunks = []
            self._held = 0
            # (head ends with the first separator of held + data: decoding
            # takes all of it, the offset moves past it)
            self._decodeFrom(head, 0, scan, messages)
            self.offset -= first
            start = first
        self._decodeFrom(data, start, start, messages)
        return messages

    def _decodeFrom(self, buffer: bytes, start: int, scan: int, messages: list[Message]) -> None:
        """
        Decode the records of C{buffer} from C{start} (the first separator
        searched from C{scan}) into C{messages}; hold what is left.
        """
        sep = SEPARATOR
        split = splitRecords
        while True:
            if self._discarding:
                end = buffer.find(sep, scan)
                if end < 0:
                    break
                self._discarding = False
                self._report(self._discardStart, "record larger than the maximum record size")
            else:
                start, end = split(buffer, start, scan, messages, Message)
                if end < 0:
                    break
                # a record the fast path leaves: malformed, a session's
                # close, or written unusually (the full check)
                self._decodeOne(buffer, start, end, messages)
            start = end + 14
            scan = start
        self.offset += start
        if start < len(buffer):
            rest = buffer[start:] if start else buffer
            self._hold(rest, rest)

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
