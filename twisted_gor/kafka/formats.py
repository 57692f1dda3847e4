# -*- test-case-name: tests.test_kafka_formats -*-
"""
GoReplay's Kafka message values, both ways (reference section 2.7, K1-K4).

Raw (the default): the meta line, C{\\n}, the payload; no separator.

JSON (C{--output-kafka-json-format}, C{--input-kafka-json-format}): one object
with GoReplay's keys in its order: C{Req_URL}, C{Req_Type}, C{Req_ID},
C{Req_Ts}, C{Req_Method}, then C{Req_Body} and C{Req_Headers} only when not
empty. Like Go's C{encoding/json}: no spaces, C{<>&} and U+2028/U+2029
escaped, invalid UTF-8 replaced, header names canonical (C{Content-Type}),
sorted (Go sorts map keys), repeated headers joined with C{", "}. A payload
whose head is not a valid request (a response, C{HTTP1.1}) has an empty
C{Req_URL} and no C{Req_Headers}, as GoReplay writes it: JSON is lossy
(header order, responses' status lines); raw is byte-exact.
"""

from __future__ import annotations

import json
from typing import Any

from twisted_gor._http1 import FramingError, parseHead
from twisted_gor._httphead import headersEnd
from twisted_gor.message import MalformedMeta, Message, parseMeta

_GO_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"})


class BadValue(ValueError):
    """
    A Kafka value that is not a gor message; C{reason} names the counter
    (C{skipped.<reason>}).
    """

    def __init__(self, reason: str, detail: str) -> None:
        ValueError.__init__(self, detail)
        self.reason = reason


def canonicalHeaderName(name: str) -> str:
    """
    Go's C{textproto.CanonicalMIMEHeaderKey}: the first letter and every
    letter after a C{-} upper case, the others lower case; a name with a
    space or a byte that is not a token character is left as it is.
    """
    for c in name:
        if c == " " or not (c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")):
            return name
    out = []
    upper = True
    for c in name:
        out.append(c.upper() if upper else c.lower())
        upper = c == "-"
    return "".join(out)


def _goString(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def encodeRaw(message: Message) -> bytes:
    """
    The raw value: meta line, newline, payload (K1).
    """
    return b"%s\n%s" % (message.meta(), message.payload)


def encodeJSON(message: Message) -> bytes:
    """
    The JSON value of C{message}, as GoReplay's C{--output-kafka-json-format}
    writes it (K2).
    """
    payload = message.payload
    meta = message.meta().split(b" ")
    space = payload.find(b" ")
    methodBytes = payload[:space] if space >= 0 else payload
    url = ""
    headers: dict[str, str] = {}
    end = headersEnd(payload)
    if end >= 0:
        try:
            frame = parseHead(payload[:end], True)
        except FramingError:
            frame = None
        if frame is not None:
            url = _goString(frame.target)
            for name, value in frame.headers:
                key = canonicalHeaderName(_goString(name))
                text = _goString(value)
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
    document: dict[str, Any] = {
        "Req_URL": url,
        "Req_Type": _goString(meta[0]),
        "Req_ID": _goString(meta[1]) if len(meta) > 1 else "",
        "Req_Ts": _goString(meta[2]) if len(meta) > 2 else "",
        "Req_Method": _goString(methodBytes),
    }
    bodyBytes = payload[end:] if end >= 0 else b""
    if bodyBytes:
        document["Req_Body"] = _goString(bodyBytes)
    if headers:
        document["Req_Headers"] = dict(sorted(headers.items()))
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.translate(_GO_ESCAPES).encode("utf-8")


def decodeRaw(value: bytes) -> Message:
    """
    The message of a raw value (K3): the meta line up to the first newline,
    the payload after it, byte for byte.

    GoReplay only takes values starting with C{1} or C{2} (so it cannot read
    the replayed responses, C{3}, its own output writes); every valid type is
    taken here.

    @raise BadValue: C{not_record} (no meta line), C{malformed} (a meta line
        that does not parse).
    """
    newline = value.find(b"\n")
    if newline <= 0 or value[:1] not in (b"1", b"2", b"3"):
        raise BadValue("not_record", "not a gor record (no meta line)")
    meta = value[:newline]
    try:
        kind, id_, timestamp, latency = parseMeta(meta)
    except MalformedMeta as e:
        raise BadValue("malformed", str(e)) from None
    return Message(kind, id_, timestamp, latency, value[newline + 1 :], rawMeta=meta)


def _field(document: dict[str, Any], key: str, required: bool = True) -> str:
    value = document.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadValue("bad_json", f"{key} is missing or not a string")
    return value


def decodeJSON(value: bytes) -> Message:
    """
    The message of a JSON value (K4): C{"<Req_Type> <Req_ID> <Req_Ts>\\n"}
    then C{"<Req_Method> <Req_URL> HTTP/1.1\\r\\n"}, one C{"Name: Value\\r\\n"}
    per header (in the document's order), C{"\\r\\n"} and the body.

    @raise BadValue: C{bad_json} (not JSON, not an object of GoReplay's
        shape), C{malformed} (its meta fields do not parse).
    """
    try:
        document = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        raise BadValue("bad_json", "not a JSON document") from None
    if not isinstance(document, dict):
        raise BadValue("bad_json", "not a JSON object")
    kind = _field(document, "Req_Type")
    id_ = _field(document, "Req_ID")
    ts = _field(document, "Req_Ts")
    method = _field(document, "Req_Method", required=False)
    url = _field(document, "Req_URL", required=False)
    bodyText = _field(document, "Req_Body", required=False)
    headers = document.get("Req_Headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BadValue("bad_json", "Req_Headers is not an object of strings")
    meta = f"{kind} {id_} {ts}".encode("utf-8")
    try:
        parsed = parseMeta(meta)
    except MalformedMeta as e:
        raise BadValue("malformed", str(e)) from None
    lines = [f"{method} {url} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {text}\r\n" for name, text in headers.items())
    lines.append("\r\n")
    lines.append(bodyText)
    payload = "".join(lines).encode("utf-8")
    return Message(parsed[0], parsed[1], parsed[2], parsed[3], payload, rawMeta=meta)
