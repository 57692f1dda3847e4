"""
Gor-to-gor relay (C{--input-tcp}, C{--output-tcp}).

Modules: L{twisted_gor.relay.input} (the server), L{twisted_gor.relay.output}
(the client), L{twisted_gor.relay.flags}, L{twisted_gor.relay.address}.

The link is GoReplay's framing (C{.gor} records: meta line, payload,
C{\\n🐵🙈🙉\\n}); between two twisted-gors it is extended with
acknowledgements, negotiated when a connection opens so that a GoReplay peer
on either side sees plain framing only. Exact bytes (all ASCII lines end with
one C{\\n}, 0x0a)::

    receiver, on accept (TLS: after the handshake), one line:
        "GORACK1 OK\\n"      will acknowledge if asked   (L{BANNER_OK})
        "GORACK1 BUSY\\n"    at --input-tcp-max-connections; then closes  (L{BANNER_BUSY})
    sender, having read "GORACK1 OK\\n" within --output-tcp-ack-wait:
        "GORACK1 HELLO <session>\\n"                      (L{HELLO_PREFIX}; session: 16 hex digits, random per output)
      then each record prefixed by its delivery tag line:
        "#<seq>\\n" <meta line> "\\n" <payload> "\\n🐵🙈🙉\\n"   (seq: decimal, from 1, per session)
      and, once asked to close, the end marker  "#E\\n🐵🙈🙉\\n"  (L{END_RECORD})
    receiver, in ack mode only:
        "ACK <n>\\n"         the first n records of this connection are taken   (cumulative)
        "CLOSING\\n"         stopping: send no more, finish with the end marker

A sender that reads nothing within the wait (a GoReplay receiver never
writes), or reads anything else, uses plain framing. A receiver whose first
bytes are not C{"GORACK1 HELLO "} reads plain framing (a GoReplay sender
never reads the banner; it stays in its socket buffer). So a GoReplay peer on
either side sees exactly GoReplay's framing.

Duplicates (records resent after a connection broke, whose acknowledgement
was lost) are recognised by C{(session, seq)}: the receiver remembers the
last C{--input-tcp-dedup-window} delivery tags and drops repeats, counted as
C{dropped.duplicate}; across a receiver restart they cannot be recognised,
and the sender counts every record it sent again as C{resent}.
"""

from twisted_gor.framing import SEPARATOR

BANNER_OK = b"GORACK1 OK\n"
"""Written by the receiver on accept: it can acknowledge."""

BANNER_BUSY = b"GORACK1 BUSY\n"
"""Written by the receiver at its connection limit, before closing."""

HELLO_PREFIX = b"GORACK1 HELLO "
"""The sender's first bytes in ack mode, followed by the session and C{\\n}."""

ACK_PREFIX = b"ACK "
"""C{ACK <n>\\n}: cumulative count of records of this connection taken."""

CLOSING = b"CLOSING\n"
"""The receiver stops: the sender sends nothing more but L{END_RECORD}."""

END_TAG = b"E"
"""The delivery tag of the end marker."""

END_RECORD = b"#" + END_TAG + SEPARATOR
"""The end marker: C{#E} and the separator (C{#E\\n🐵🙈🙉\\n})."""

MAX_LINE = 128
"""Longest control line either side accepts."""

__all__ = ["BANNER_OK", "BANNER_BUSY", "HELLO_PREFIX", "ACK_PREFIX", "CLOSING", "END_TAG", "END_RECORD", "MAX_LINE"]
