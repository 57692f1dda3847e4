"""
Gor-to-gor relay (C{--input-tcp}, C{--output-tcp}).

Modules: L{twisted_gor.relay.input} (the server), L{twisted_gor.relay.output}
(the client), L{twisted_gor.relay.flags}, L{twisted_gor.relay.address}.

The link is GoReplay's framing (C{.gor} records: meta line, payload,
C{\\n🐵🙈🙉\\n}); between two twisted-gors it is extended with
acknowledgements, negotiated when a connection opens so that a GoReplay peer
on either side sees plain framing only. Exact bytes (every control line
ends with one C{\\n}, 0x0a)::

    receiver, on accept (TLS: after the handshake), one line:
        "GORACK1 OK\\n"       it can acknowledge                       (BANNER_OK)
        "GORACK1 BUSY\\n"     at --input-tcp-max-connections; closes   (BANNER_BUSY)
    sender, having read "GORACK1 OK\\n" within --output-tcp-ack-wait, before any record:
        "GORACK1 HELLO <session> <conn>\\n"                            (HELLO_PREFIX)
            session: 16 lowercase hex digits, random per --output-tcp
            conn: decimal, 1, 2, ... per session (its ack-mode connections)
      then records:
        sent for the first time: exactly GoReplay's framing,
            <meta line> "\\n" <payload> "\\n🐵🙈🙉\\n"
            (the k-th such record on connection <conn> has the delivery id <conn>:<k>)
        sent again after a connection broke: a mark line, then the record,
            "#R<conn>:<k>\\n" <meta line> "\\n" <payload> "\\n🐵🙈🙉\\n"
        once asked to close, the end marker "#E\\n🐵🙈🙉\\n"                (END_RECORD)
    receiver, in ack mode only:
        "ACK <n>\\n"          the first n records of this connection are taken (cumulative;
                              resent and skipped records count, the end marker does not)
        "CLOSING\\n"          stopping: send nothing more but the end marker  (CLOSING)

A sender that reads nothing within the wait (a GoReplay receiver never
writes), or reads anything else, uses plain framing on that connection. A
receiver whose first bytes are not C{"GORACK1 HELLO "} reads plain framing (a
GoReplay sender never reads the banner; it stays in its socket buffer). So a
GoReplay peer on either side sees exactly GoReplay's framing.

Duplicates: a record is resent when the connection it was sent on broke
before its acknowledgement arrived; the receiver may have taken it. It
recognises that by the delivery id: connection C{conn} of that session took
its first C{fresh} fresh records in order, so C{k <= fresh} was taken; a
resent record taken before is remembered by id. Such records are dropped and
counted C{dropped.duplicate} (bounded: the last C{--input-tcp-dedup-window}
connections and resent ids per session, 256 sessions). A receiver that was
killed forgets; after its restart duplicates are possible, and the sender
counts every record it sent again as C{resent}.
"""

from twisted_gor.framing import SEPARATOR

BANNER_OK = b"GORACK1 OK\n"
"""Written by the receiver on accept: it can acknowledge."""

BANNER_BUSY = b"GORACK1 BUSY\n"
"""Written by the receiver at its connection limit, before closing."""

HELLO_PREFIX = b"GORACK1 HELLO "
"""The sender's first bytes in ack mode, followed by C{<session> <conn>\\n}."""

ACK_PREFIX = b"ACK "
"""C{ACK <n>\\n}: cumulative count of records of this connection taken."""

CLOSING = b"CLOSING\n"
"""The receiver stops: the sender sends nothing more but L{END_RECORD}."""

END_TAG = b"E"
"""The mark of the end marker."""

END_RECORD = b"#" + END_TAG + SEPARATOR
"""The end marker: C{#E} and the separator (C{#E\\n🐵🙈🙉\\n})."""

MAX_LINE = 128
"""Longest control line either side accepts."""

__all__ = ["BANNER_OK", "BANNER_BUSY", "HELLO_PREFIX", "ACK_PREFIX", "CLOSING", "END_TAG", "END_RECORD", "MAX_LINE"]
