"""
WebSocket output benchmark: messages/s through
C{gor --input-file F|max --output-ws ws://...} into an autobahn sink
(bench/ws_sink.py, another process), and gor's CPU time per 1,000 messages.

Usage: python bench/bench_ws.py [--messages N] [--size BYTES] [--workers W ...]

A plain script (blocking is fine here): it drives real processes, bounded
in count (N messages) and time (120 s per run).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402


def run(path: str, messages: int, workers: int) -> tuple[float, float, float]:
    env = dict(os.environ, PYTHONPATH=REPO)
    sink = subprocess.Popen([sys.executable, os.path.join(REPO, "bench", "ws_sink.py"), str(messages)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline().split()[1])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        gor = subprocess.run(
            [sys.executable, "-m", "twisted_gor", "--input-file", path + "|max", "--output-ws", f"ws://127.0.0.1:{port}/",
             "--output-ws-workers", str(workers), "--output-ws-queue-size", "1gb"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=120,
        )
        done = sink.stdout.readline().split()
        elapsed = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if gor.returncode != 0 or not done or int(done[1]) != messages:
            raise SystemExit(f"run failed: rc={gor.returncode} sink={done} {gor.stderr[-2000:]}")
        gorCpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return elapsed, gorCpu, float(done[3])
    finally:
        sink.terminate()
        sink.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 10])
    args = parser.parse_args()
    body = b"x" * args.size
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.gor")
        with open(path, "wb") as f:
            for i in range(args.messages):
                req = b"POST /%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (i, len(body), body)
                f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, req)))
        for workers in args.workers:
            elapsed, gorCpu, sinkCpu = run(path, args.messages, workers)
            print(
                f"workers={workers}: {args.messages} x {args.size} B in {elapsed:.2f}s = {args.messages / elapsed:,.0f} msg/s;"
                f" gor CPU {gorCpu * 1000 / args.messages * 1000:.0f} ms per 1,000 messages"
                f" (incl. start-up), sink CPU {sinkCpu:.2f}s"
            )


if __name__ == "__main__":
    main()
