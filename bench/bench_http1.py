"""
HTTP/1 framing micro-benchmark: CPU nanoseconds per byte of the replay
client's response parser and of the capture parser, old (the copies of
commit 3d7e60c, loaded from git into temporary modules) against new (the
shared L{twisted_gor._http1} framer), plus llhttp through C{httptools} on the
same bytes (parsing only: it reports no byte offsets of message ends, which
capture needs). Rounds are interleaved; medians are printed.

Usage: python bench/bench_http1.py [--rounds 7] [--old 3d7e60c]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from types import ModuleType
from typing import Any, Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.http.client import ResponseParser  # noqa: E402
from twisted_gor.raw.httpstream import HTTPStreamParser  # noqa: E402


def loadOld(commit: str, path: str, name: str) -> ModuleType:
    """
    Load C{path} as it was at C{commit} as module C{name}.
    """
    source = subprocess.run(["git", "-C", REPO, "show", f"{commit}:{path}"], check=True, capture_output=True).stdout
    directory = tempfile.mkdtemp(prefix="bench-http1-")
    filename = os.path.join(directory, name + ".py")
    with open(filename, "wb") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(name, filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chunked(body: bytes, size: int) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


BODY = os.urandom(32 * 1024)
RESPONSES = {
    "CL 64 KiB": b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n%s"
    % (2 * len(BODY), BODY * 2),
    "chunked 64 KiB (1 KiB chunks)": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY * 2, 1024),
    "small (nginx)": b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 00:05:00 GMT\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
}
GET = b"GET /path?q=1 HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def clientRun(cls: Any, chunks: list[bytes], repeat: int) -> None:
    for _ in range(repeat):
        p = cls(keep=1 << 30)
        for chunk in chunks:
            p.feed(chunk)
        assert p.done


def captureRun(cls: Any, chunks: list[bytes], repeat: int, isRequest: bool) -> None:
    count = [0]

    def onMessage(*args: Any) -> None:
        count[0] += 1

    p = cls(isRequest, onMessage, lambda *a: None, lambda seq: None)
    seq = 0
    for _ in range(repeat):
        for chunk in chunks:
            p.feed(chunk, 1, seq, 1, True)
            seq += len(chunk)
    assert count[0] >= repeat, count


def httptoolsRun(chunks: list[bytes], repeat: int, isRequest: bool) -> None:
    import httptools  # type: ignore[import-untyped]

    count = [0]

    class Callbacks:
        def on_message_complete(self) -> None:
            count[0] += 1

    parser = (httptools.HttpRequestParser if isRequest else httptools.HttpResponseParser)(Callbacks())
    for _ in range(repeat):
        if not isRequest:
            parser = httptools.HttpResponseParser(Callbacks())
        for chunk in chunks:
            parser.feed_data(chunk)
    assert count[0] >= repeat


def timed(fn: Callable[[], None]) -> float:
    t = time.process_time_ns()
    fn()
    return time.process_time_ns() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--old", default="3d7e60c")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    options = parser.parse_args()
    oldClient = loadOld(options.old, "twisted_gor/http/client.py", "old_client")
    oldStream = loadOld(options.old, "twisted_gor/raw/httpstream.py", "old_httpstream")
    cases: list[tuple[str, int, dict[str, Callable[[], None]]]] = []
    for name, data in RESPONSES.items():
        for read in (65536, 1460, 1):
            if read == 1 and len(data) > 4096:
                data = data[: 16 * 1024] if name.startswith("CL") else data
            chunks = pieces(data, read)
            if read == 1 and name.startswith("CL"):
                # Keep 1-byte runs short: the old parser is quadratic here.
                sub = b"HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n" + BODY[:16384]
                chunks = pieces(sub, 1)
            size = sum(map(len, chunks))
            repeat = max(1, 200_000 // size)
            cases.append(
                (
                    f"client   {name}, {read}-byte reads",
                    size * repeat,
                    {
                        "old": lambda c=chunks, r=repeat: clientRun(oldClient.ResponseParser, c, r),
                        "new": lambda c=chunks, r=repeat: clientRun(ResponseParser, c, r),
                        "httptools": lambda c=chunks, r=repeat: httptoolsRun(c, r, False),
                    },
                )
            )
    for size in (64 * 1024, 256 * 1024):
        # The figure: a target sending 1-byte chunks; the old parser
        # re-sliced the rest of each read after every chunk (quadratic).
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY * 8, 1)
        chunks = pieces(data[: size + 45], size) and [data[: size + 45 - (size + 45) % 6]]
        whole = chunks[0]
        cut = whole.rfind(b"\r\n1\r\n")
        chunks = [whole[: cut + 2] + b"0\r\n\r\n"]
        cases.append(
            (
                f"client   1-byte chunks, one {len(chunks[0]) // 1024} KiB read",
                len(chunks[0]),
                {
                    "old": lambda c=chunks: clientRun(oldClient.ResponseParser, c, 1),
                    "new": lambda c=chunks: clientRun(ResponseParser, c, 1),
                    "httptools": lambda c=chunks: httptoolsRun(c, 1, False),
                },
            )
        )
    for size in (64 * 1024, 256 * 1024):
        data = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + (BODY * 8)[:size]
        chunks = pieces(data, 1)
        cases.append(
            (
                f"client   CL {size // 1024} KiB, 1-byte reads (whole response)",
                len(data),
                {
                    "old": lambda c=chunks: clientRun(oldClient.ResponseParser, c, 1),
                    "new": lambda c=chunks: clientRun(ResponseParser, c, 1),
                    "httptools": lambda c=chunks: httptoolsRun(c, 1, False),
                },
            )
        )
    requests = GET * 1000
    responses = RESPONSES["small (nginx)"] * 1000
    for label, data, isRequest in (("GETs", requests, True), ("small responses", responses, False)):
        for read in (1460, 1):
            chunks = pieces(data, read)
            if read == 1:
                chunks = chunks[: len(GET) * 50]
            size = sum(map(len, chunks))
            repeat = max(1, 400_000 // size)
            cases.append(
                (
                    f"capture  pipelined {label}, {read}-byte segments",
                    size * repeat,
                    {
                        "old": lambda c=chunks, r=repeat, q=isRequest: captureRun(oldStream.HTTPStreamParser, c, r, q),
                        "new": lambda c=chunks, r=repeat, q=isRequest: captureRun(HTTPStreamParser, c, r, q),
                        "httptools": lambda c=chunks, r=repeat, q=isRequest: httptoolsRun(c, r, q),
                    },
                )
            )
    print(f"ns per byte, median of {options.rounds} interleaved rounds (old = {options.old})")
    print(f"{'case':62} {'old':>8} {'new':>8} {'new/old':>8} {'httptools':>10}")
    for label, total, runs in cases:
        if options.only not in label:
            continue
        results: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(options.rounds):
            for key, fn in runs.items():
                results[key].append(timed(fn) / total)
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"{label:62} {med['old']:8.2f} {med['new']:8.2f} {med['new'] / med['old']:8.2f} {med['httptools']:10.2f}")


if __name__ == "__main__":
    main()
