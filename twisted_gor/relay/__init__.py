"""
Gor-to-gor relay (C{--input-tcp}, C{--output-tcp}).

Modules: L{twisted_gor.relay.input} (the server), L{twisted_gor.relay.output}
(the client), L{twisted_gor.relay.flags}, L{twisted_gor.relay.address}.

The link is GoReplay's framing (C{.gor} records: meta line, payload,
C{\\n🐵🙈🙉\\n}); between two twisted-gors it is extended with
acknowledgements, negotiated when a connection opens so that a GoReplay peer
on either side sees GoReplay's framing only. Exact bytes (every control line
ends with one C{\\n}, 0x0a)::

    sender, on connect (TLS: after the handshake), a record without payload:
        "GORACK1 HELLO <session> <conn>\\n🐵🙈🙉\\n"                        (HELLO_PREFIX)
            session: 16 lowercase hex digits, random per --output-tcp
            conn: decimal, 1, 2, ... per session (its connections)
      then it writes no record before the receiver answered or --output-tcp-ack-wait passed
    receiver, on that hello only (it never writes to any other peer), one line:
        "GORACK1 OK\\n"       ack mode                                    (BANNER_OK)
      or, at --input-tcp-max-connections (a peer that is no twisted-gor is just closed):
        "GORACK1 BUSY\\n"     the sender closes and retries later           (BANNER_BUSY)
    sender, in ack mode:
        records sent for the first time: exactly GoReplay's framing,
            <meta line> "\\n" <payload> "\\n🐵🙈🙉\\n"
            (the k-th such record on connection <conn> has the delivery id <conn>:<k>)
        records sent again after a connection broke: a mark line, then the record,
            "#R<conn>:<k>\\n" <meta line> "\\n" <payload> "\\n🐵🙈🙉\\n"
        once asked to close, the end marker "#E\\n🐵🙈🙉\\n"                (END_RECORD)
    receiver, in ack mode:
        "ACK <n>\\n"          the first n records of this connection are taken (cumulative;
                              resent and skipped records count, the end marker does not)
        "CLOSING\\n"          stopping: send nothing more but the end marker  (CLOSING)

A GoReplay receiver never writes: after the wait the sender uses plain
framing on that connection (its reader drops the hello, a record without
payload; C{--output-tcp-ack-wait 0} sends no hello at all). A GoReplay
sender never reads, so the receiver never writes to a peer that did not say
hello (unread bytes would make its close a reset, losing its last records).

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
"""The receiver's answer to a hello: it acknowledges."""

BANNER_BUSY = b"GORACK1 BUSY\n"
"""Written by the receiver at its connection limit, before closing."""

HELLO_PREFIX = b"GORACK1 HELLO "
"""The sender's first bytes, followed by C{<session> <conn>} and the separator."""

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
