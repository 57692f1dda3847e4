# -*- test-case-name: tests.test_framing -*-
"""
The unit that flows through gor: a typed, timestamped HTTP message.

GoReplay calls the first line of a record its *meta line*::

    <type> <id> <timestamp ns> <latency ns>\\n

and everything after it the payload (raw HTTP/1.x bytes).

Session data (C{--recognize-tcp-sessions}) rides in a fifth field,
C{s=<session>:<n>}: the captured client connection and the request's
position on it (1, 2, ...). GoReplay splits the meta line on every space and
reads fields 1 to 4 by position, so a fifth field is ignored by its readers.
The close of that connection is a record of its own, meta
C{1 <session> <ts> -1 s=<session>:<n>:end} with an empty payload (C{n}
requests were sent on it): GoReplay's reader treats a record with an empty
payload as one without meta and drops it (reference §2.3), so it is skipped
there; here it is a L{Message} whose L{Message.isSessionEnd} is true.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

REQUEST: Final = 1
"""Type of a request captured or read from a source."""

RESPONSE: Final = 2
"""Type of an original (production) response."""

REPLAYED_RESPONSE: Final = 3
"""Type of a response received when replaying a request (``--output-http-track-response``)."""

MESSAGE_TYPES: Final = frozenset({REQUEST, RESPONSE, REPLAYED_RESPONSE})

INT64_MAX: Final = (1 << 63) - 1
"""Timestamps and latencies are Go C{int64} nanoseconds, as GoReplay writes them."""

INT64_MIN: Final = -(1 << 63)


SESSION_FIELD: Final = b"s="
"""The prefix of the fifth meta field that carries session data."""

SESSION_END: Final = b":end"
"""The suffix of the session field of a connection's close record."""


class MalformedMeta(ValueError):
    """A meta line that cannot be parsed; the message says why."""


class Message:
    """
    One gor message.

    @ivar type: L{REQUEST}, L{RESPONSE} or L{REPLAYED_RESPONSE}.
    @ivar id: the request id, shared by a request and its responses (opaque ASCII bytes).
    @ivar timestamp: Unix time in nanoseconds.
    @ivar latency: nanoseconds (capture duration or round trip), -1 when unknown.
    @ivar payload: the raw HTTP bytes.
    @ivar rawMeta: the meta line exactly as read (without its newline), kept so that a
        record copied from one file to another stays byte-identical; L{None} for
        messages made here.

    The compiled record decoder and capture path
    (C{twisted_gor._framing.useMessageClass}) fill these slots directly,
    without calling C{__init__}: keep C{__init__} a plain assignment of its
    arguments to the slots (it checks the slots, and falls back to calling
    the class if they change).
    """

    __slots__ = ("type", "id", "timestamp", "latency", "payload", "rawMeta", "_session")

    def __init__(
        self,
        type: int,
        id: bytes,
        timestamp: int,
        latency: int,
        payload: bytes,
        rawMeta: bytes | None = None,
        session: bytes | None = None,
    ) -> None:
        self.type = type
        self.id = id
        self.timestamp = timestamp
        self.latency = latency
        self.payload = payload
        self.rawMeta = rawMeta
        self._session = session

    @property
    def session(self) -> bytes | None:
        """
        The session field's value (C{<session>:<n>} or C{<session>:<n>:end},
        see L{parseSession}), or L{None}: given when the message was made, else
        read from the fifth field of L{rawMeta}, so that any reader keeping the
        meta line keeps the session too.
        """
        session = self._session
        if session is None and self.rawMeta is not None and b" s=" in self.rawMeta:
            parts = self.rawMeta.split(b" ", 5)
            if len(parts) > 4 and parts[4].startswith(SESSION_FIELD) and len(parts[4]) > 2:
                session = self._session = parts[4][2:]
        return session

    @property
    def isSessionEnd(self) -> bool:
        """
        Whether this is the record of a captured connection's close (an empty
        payload and a session field ending in C{:end}).
        """
        if self.payload:
            return False
        session = self.session
        return session is not None and session.endswith(SESSION_END)

    def meta(self) -> bytes:
        """
        The meta line (without its trailing newline) this message is written with.
        """
        if self.rawMeta is not None:
            return self.rawMeta
        if self._session is not None:
            return b"%d %s %d %d s=%s" % (self.type, self.id, self.timestamp, self.latency, self._session)
        return b"%d %s %d %d" % (self.type, self.id, self.timestamp, self.latency)

    def replace(self, **changes: object) -> "Message":
        """
        Return a copy with some fields changed; the original meta line is dropped
        when a meta field changes.
        """
        fields = {
            "type": self.type,
            "id": self.id,
            "timestamp": self.timestamp,
            "latency": self.latency,
            "payload": self.payload,
        }
        fields.update(changes)
        rawMeta = self.rawMeta
        session = self.session
        if rawMeta is not None and set(changes) - {"payload"}:
            rawMeta = None
        return Message(rawMeta=rawMeta, session=session, **fields)  # type: ignore[arg-type]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.type == other.type
            and self.id == other.id
            and self.timestamp == other.timestamp
            and self.latency == other.latency
            and self.payload == other.payload
            and self.session == other.session
        )

    def __hash__(self) -> int:
        return hash((self.type, self.id, self.timestamp, self.latency, self.payload))

    def __repr__(self) -> str:
        return (
            f"Message(type={self.type}, id={self.id!r}, timestamp={self.timestamp}, "
            f"latency={self.latency}, payload={self.payload[:40]!r}"
            f"{'...' if len(self.payload) > 40 else ''})"
        )


def parseMeta(meta: bytes) -> tuple[int, bytes, int, int]:
    """
    Parse a meta line (without newline) into C{(type, id, timestamp, latency)}.

    Like GoReplay, at least three space-separated fields are required; a missing
    latency is -1.

    @raise MalformedMeta: when the line has fewer than three fields, a field is
        not a number where one is required, or the timestamp or latency does
        not fit GoReplay's int64 (a 400-digit timestamp cannot be replayed).
    """
    parts = meta.split(b" ")
    if len(parts) < 3:
        raise MalformedMeta(f"meta line has {len(parts)} field(s), at least 3 needed")
    try:
        kind = int(parts[0])
        timestamp = int(parts[2])
        latency = int(parts[3]) if len(parts) > 3 and parts[3] else -1
    except ValueError:
        raise MalformedMeta("meta line has a non-numeric type, timestamp or latency") from None
    if kind not in MESSAGE_TYPES:
        raise MalformedMeta(f"unknown message type {kind}")
    if not INT64_MIN <= timestamp <= INT64_MAX:
        raise MalformedMeta("timestamp out of range (not a 64-bit number of nanoseconds)")
    if not INT64_MIN <= latency <= INT64_MAX:
        raise MalformedMeta("latency out of range (not a 64-bit number of nanoseconds)")
    if not parts[1]:
        raise MalformedMeta("empty message id")
    return kind, parts[1], timestamp, latency


def parseSession(value: bytes) -> tuple[bytes, int, bool]:
    """
    Parse a session field's value into C{(session, position, end)}:
    C{b"ab12:3"} is the third request of session C{ab12}; C{b"ab12:3:end"}
    is the close of that session after its third request.

    @raise MalformedMeta: the value is not of that form.
    """
    end = value.endswith(SESSION_END)
    if end:
        value = value[: -len(SESSION_END)]
    sid, sep, position = value.rpartition(b":")
    if not sep or not sid or not position.isdigit():
        raise MalformedMeta(f"malformed session field {value[:40]!r}")
    return sid, int(position), end


def sessionEnd(sid: bytes, requests: int, timestamp: int) -> Message:
    """
    The close record of captured connection C{sid} after C{requests}
    requests (see the module docstring).
    """
    return Message(REQUEST, sid, timestamp, -1, b"", session=b"%s:%d%s" % (sid, requests, SESSION_END))


def newRequestId() -> bytes:
    """
    A random 24-hex-character id, as GoReplay makes for synthetic messages.
    """
    return os.urandom(12).hex().encode("ascii")


@dataclass
class ReplayResult:
    """
    What an L{twisted_gor.interfaces.IReplayObserver} is told about each
    replayed request.

    @ivar request: the message as received from the pipeline.
    @ivar sent: the bytes actually sent.
    @ivar status: the response status, or 0 when it failed.
    @ivar response: the response bytes (as kept), or L{None}.
    @ivar start: replay start, Unix ns.
    @ivar rtt: round trip, ns.
    @ivar error: the failure reason, or L{None}.
    """

    request: Message
    sent: bytes
    status: int
    response: bytes | None
    start: int
    rtt: int
    error: str | None = None

    def asMessage(self) -> Message | None:
        """
        The type-3 message of this replay (L{None} when it failed).
        """
        if self.response is None:
            return None
        return Message(REPLAYED_RESPONSE, self.request.id, self.start, self.rtt, self.response)
