"""
GoReplay's token modifier as an in-process middleware (no child process, no
hex): ``handleMessage`` gets each message and returns what goes on::

    gor --input-file prod.gor --output-http http://staging \\
        --output-http-track-response \\
        --middleware-python examples.token_modifier_inprocess:TokenModifier

(the module must be importable: run from the checkout, or set
``PYTHONPATH``), or in a program: ``GorConfig(...,
middleware=PythonMiddlewareConfig(TokenModifier()))``.

For every login (``POST /login``) it learns the token production answered
(type 2) and the token staging answered (type 3, with
``--output-http-track-response``), and rewrites later requests carrying
production's ``Authorization: Bearer`` token to staging's. Every message is
passed on; at most ``LIMIT`` logins and aliases are remembered.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Iterable

from zope.interface import implementer

from twisted_gor import REPLAYED_RESPONSE, REQUEST, RESPONSE, IMiddleware, Message

LIMIT = 100_000


def _remember(table: "OrderedDict[bytes, bytes]", key: bytes, value: bytes) -> None:
    table[key] = value
    table.move_to_end(key)
    while len(table) > LIMIT:
        table.popitem(last=False)


def _token(payload: bytes) -> bytes | None:
    _, _, body = payload.partition(b"\r\n\r\n")
    try:
        token = json.loads(body).get("token")
    except (ValueError, AttributeError):
        return None
    return token.encode("ascii") if isinstance(token, str) and token.isascii() else None


@implementer(IMiddleware)
class TokenModifier:
    """
    Map production's auth tokens to staging's.
    """

    def __init__(self) -> None:
        self.logins: OrderedDict[bytes, bytes] = OrderedDict()
        self.tokens: dict[int, OrderedDict[bytes, bytes]] = {RESPONSE: OrderedDict(), REPLAYED_RESPONSE: OrderedDict()}
        self.aliases: OrderedDict[bytes, bytes] = OrderedDict()

    def handleMessage(self, message: Message) -> Iterable[Message]:
        if message.type == REQUEST:
            if message.payload.startswith(b"POST /login "):
                _remember(self.logins, message.id, b"")
                return [message]
            return [self.rewrite(message)]
        if message.id in self.logins:
            token = _token(message.payload)
            if token is not None:
                _remember(self.tokens[message.type], message.id, token)
                original = self.tokens[RESPONSE].get(message.id)
                replayed = self.tokens[REPLAYED_RESPONSE].get(message.id)
                if original is not None and replayed is not None:
                    _remember(self.aliases, original, replayed)
                    del self.logins[message.id]
                    del self.tokens[RESPONSE][message.id], self.tokens[REPLAYED_RESPONSE][message.id]
        return [message]

    def rewrite(self, message: Message) -> Message:
        head, sep, body = message.payload.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        for i, line in enumerate(lines):
            name, colon, value = line.partition(b":")
            if colon and name.strip().lower() == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                alias = self.aliases.get(token)
                if scheme.lower() == b"bearer" and alias is not None:
                    lines[i] = name + b": Bearer " + alias
                    return message.replace(payload=b"\r\n".join(lines) + sep + body)
        return message
