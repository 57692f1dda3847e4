#!/usr/bin/env python3
"""
GoReplay's token modifier, as a ``--middleware`` program (standard library
only; it runs unchanged under GoReplay)::

    gor --input-file prod.gor --output-http http://staging \\
        --output-http-track-response \\
        --middleware "python3 examples/token_modifier.py"

Production and staging issue different auth tokens: a request replayed with
production's ``Authorization: Bearer <token>`` is refused by staging. This
middleware learns, for every login (``POST /login``), the token production
answered (the original response, type 2) and the token staging answered
(the replayed response, type 3), and rewrites later requests that carry
production's token to carry staging's. Tokens are read from a JSON body
``{"token": "..."}`` (add ``--prettify-http`` if the responses are gzipped).

Every message is echoed (responses too, so that outputs such as
``--output-file`` still get them); nothing is dropped. Memory is bounded: at
most ``LIMIT`` logins and aliases are remembered (oldest forgotten first).
"""

from __future__ import annotations

import json
import sys
from collections import OrderedDict

LIMIT = 100_000
LOGIN = b"POST /login "


def _remember(table: "OrderedDict[bytes, bytes]", key: bytes, value: bytes) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > LIMIT:
        table.popitem(last=False)


def _token(payload: bytes) -> bytes | None:
    """The token of a login response's JSON body, if any."""
    _, _, body = payload.partition(b"\r\n\r\n")
    try:
        token = json.loads(body).get("token")
    except (ValueError, AttributeError):
        return None
    return token.encode("ascii") if isinstance(token, str) and token.isascii() else None


class TokenModifier:
    """The protocol-free part: one decoded message in, one out."""

    def __init__(self) -> None:
        self.logins: OrderedDict[bytes, bytes] = OrderedDict()  # request id -> b"" (or a token seen early)
        self.original: OrderedDict[bytes, bytes] = OrderedDict()  # request id -> production's token
        self.replayed: OrderedDict[bytes, bytes] = OrderedDict()  # request id -> staging's token
        self.aliases: OrderedDict[bytes, bytes] = OrderedDict()  # production's token -> staging's

    def process(self, meta: bytes, payload: bytes) -> bytes:
        kind, id_ = meta[:1], meta.split(b" ", 2)[1]
        if kind == b"1":
            if payload.startswith(LOGIN):
                _remember(self.logins, id_, b"")
            else:
                payload = self.rewrite(payload)
        elif id_ in self.logins:
            token = _token(payload)
            if token is not None:
                _remember(self.original if kind == b"2" else self.replayed, id_, token)
                if id_ in self.original and id_ in self.replayed:
                    _remember(self.aliases, self.original.pop(id_), self.replayed.pop(id_))
                    del self.logins[id_]
                    sys.stderr.write("token alias learned\n")
        return payload

    def rewrite(self, payload: bytes) -> bytes:
        head, sep, body = payload.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        for i, line in enumerate(lines):
            name, colon, value = line.partition(b":")
            if colon and name.strip().lower() == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                alias = self.aliases.get(token)
                if scheme.lower() == b"bearer" and alias is not None:
                    lines[i] = name + b": Bearer " + alias
                    return b"\r\n".join(lines) + sep + body
        return payload


def main() -> None:
    modifier = TokenModifier()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        try:
            data = bytes.fromhex(line.strip().decode("ascii"))
        except ValueError:
            continue
        meta, nl, payload = data.partition(b"\n")
        if not nl:
            continue
        payload = modifier.process(meta, payload)
        out.write((meta + b"\n" + payload).hex().encode("ascii") + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
