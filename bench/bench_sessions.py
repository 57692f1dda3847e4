"""
Benchmark of session-faithful replay (C{--recognize-tcp-sessions}): a
recording of 1,000 sessions x 10 requests (each session's requests 10 ms
apart, a session starting every 2 ms, each closed 5 ms after its last
request) replayed at full speed (C{|10000%}) to nginx on loopback, beside a
plain replay of the same file (the close records are then ignored and the
requests go independently over the workers' connections).

Prints, per mode, the median over the rounds of: elapsed seconds (gor's own
summary, start-up excluded), sessions/s, requests/s, and checks that every
request was answered (nginx is started as in bench_http.py).

Usage: python bench/bench_sessions.py [--sessions 1000] [--requests 10]
       [--workers 50] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_http import freePort, runGor, startNginx  # noqa: E402

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message, sessionEnd  # noqa: E402

MS = 1_000_000
START = 1_700_000_000_000_000_000


def writeFile(path: str, sessions: int, requests: int) -> None:
    """
    The recording: C{sessions} sessions of C{requests} requests each, in
    timestamp order, with their close records.
    """
    records: list[Message] = []
    for i in range(sessions):
        sid = b"%016x%08x" % (i, 7)
        begin = START + i * 2 * MS
        for j in range(requests):
            payload = b"GET /s%d/r%d HTTP/1.1\r\nHost: prod.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n" % (i, j)
            records.append(Message(1, sid[:16] + b"%08x" % j, begin + j * 10 * MS, 1000, payload, session=b"%s:%d" % (sid, j + 1)))
        records.append(sessionEnd(sid, requests, begin + (requests - 1) * 10 * MS + 5 * MS))
    records.sort(key=lambda m: m.timestamp)
    with open(path, "wb") as f:
        for m in records:
            f.write(encodeMessage(m))


def counters(text: str, prefix: str = "output_http") -> dict[str, int]:
    found: dict[str, int] = {}
    for line in text.splitlines():
        _, sep, rest = line.partition("summary: ")
        if sep and rest.startswith(prefix):
            pairs = rest.partition(": ")[2]
            found = {k: int(v) for k, _, v in (p.partition("=") for p in pairs.split()) if v.isdigit()}
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-sessions-")
    port = freePort()
    nginx = startNginx(tmp, port)
    total = options.sessions * options.requests
    figures: dict[str, dict[str, object]] = {}
    checks: dict[str, bool] = {}
    try:
        path = os.path.join(tmp, "sessions.gor")
        writeFile(path, options.sessions, options.requests)
        modes = {"plain": [], "sessions": ["--recognize-tcp-sessions"]}
        results: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(options.rounds):
            for mode, extra in modes.items():
                wall, text, _rss = runGor(
                    [
                        "--input-file", path + "|10000%", "--output-http", f"http://127.0.0.1:{port}",
                        "--output-http-workers", str(options.workers),
                        *extra,
                    ]
                )  # fmt: skip
                match = re.search(r"summary: read=.* elapsed=([0-9.]+)s", text)
                stats = counters(text)
                ok = stats.get("succeeded", 0) == total
                if mode == "sessions":
                    ok = ok and stats.get("sessions.completed", 0) == options.sessions
                checks[f"{mode}: every request answered"] = checks.get(f"{mode}: every request answered", True) and ok
                if not ok or match is None:
                    print(f"{mode}: incomplete run: {stats}\n{text[-1500:]}", file=sys.stderr)
                results[mode].append(float(match.group(1)) if match else wall)
        for mode, values in results.items():
            elapsed = statistics.median(values)
            print(
                f"{mode:9} workers={options.workers} elapsed={elapsed:.2f}s"
                f"  {options.sessions / elapsed:8.0f} sessions/s  {total / elapsed:8.0f} req/s"
                f"  (rounds: {', '.join(f'{v:.2f}' for v in values)})"
            )
            figures[f"{mode}: requests/s"] = {"value": total / elapsed, "unit": "req/s", "better": "higher", "floor": 200}
            if mode == "sessions":
                figures["sessions: sessions/s"] = {
                    "value": options.sessions / elapsed, "unit": "sessions/s", "better": "higher", "floor": 20,
                }  # fmt: skip
    finally:
        nginx.terminate()
        nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    if options.json:
        print(json.dumps({"bench": "sessions", "figures": figures, "checks": checks}))


if __name__ == "__main__":
    main()
