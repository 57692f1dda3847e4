"""
How fast can anything replay on one core here: the floor under twisted-gor's
replay rate (issue 14's 45k req/s bar).

Against the nginx of C{vs_goreplay.py} (its CPU), each on the other CPU, 10
keep-alive connections, one request in flight on each:

  - C{wrk -t1 -c10}: a C client, the machine's ceiling;
  - a bare Twisted client (this file, C{--client write}): C{transport.write}
    and a C{Content-Length}-only framing, nothing else: the reactor's floor;
  - the same bare client sending on the socket itself (C{--client send}), as
    twisted-gor's L{twisted_gor._writenow.WriteNow} does;
  - twisted-gor replaying a file of the same number of GETs with
    C{vs_goreplay.py}'s tuned flags (C{"F|1000000000%"}, read-depth 100000,
    10 workers).

Prints each repetition and the medians (requests/s at the client, or at
nginx's C{stub_status} for twisted-gor). Nothing here asserts a figure.

    python bench/bench_replay_floor.py [--reps 3] [--requests 50000]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vs_goreplay as vs  # type: ignore[import-not-found]  # noqa: E402  (a sibling script)

REQUEST = b"GET /r HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def bareClient(port: int, connections: int, total: int, direct: bool) -> None:
    """
    Send C{total} GETs over C{connections} connections, one in flight on
    each, and print the rate once every response came.
    """
    from twisted.internet import protocol, reactor

    state = {"sent": 0, "done": 0}
    started = time.monotonic()

    class Bare(protocol.Protocol):
        buffer = b""

        def connectionMade(self) -> None:
            transport: Any = self.transport
            self.send = transport.socket.send if direct else transport.write
            self.next()

        def next(self) -> None:
            if state["sent"] < total:
                state["sent"] += 1
                self.send(REQUEST)

        def dataReceived(self, data: bytes) -> None:
            buffer = self.buffer + data
            while True:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    break
                at = buffer.find(b"Content-Length: ", 0, end)
                length = int(buffer[at + 16 : buffer.index(b"\r\n", at)]) if at >= 0 else 0
                if len(buffer) < end + 4 + length:
                    break
                buffer = buffer[end + 4 + length :]
                state["done"] += 1
                if state["done"] == total:
                    sys.stdout.write(f"{total / (time.monotonic() - started):.0f} req/s\n")
                    reactor.stop()
                    return
                self.next()
            self.buffer = buffer

    factory = protocol.ClientFactory()
    factory.protocol = Bare
    for _ in range(connections):
        reactor.connectTCP("127.0.0.1", port, factory)
    reactor.callLater(120, reactor.stop)  # bounded, whatever happens
    reactor.run()


def rateOf(argv: list[str], marker: str) -> float:
    """
    Run C{argv} on the tool's CPU; the number after C{marker} in its output.
    """
    out = subprocess.run(["taskset", "-c", vs.TOOL_CPU, *argv], capture_output=True, text=True, timeout=180).stdout
    for line in out.splitlines():
        if marker in line:
            return float(re.findall(r"[\d.]+", line)[0])
    return float("nan")


def main() -> None:
    """
    Run the four clients, interleaved, and print medians.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--client", choices=["write", "send"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=vs.PORT, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.client:
        bareClient(options.port, 10, options.requests, options.client == "send")
        return
    me = [sys.executable, os.path.abspath(__file__), "--requests", str(options.requests)]
    gor = vs.Tool("twisted-gor", [sys.executable, "-m", "twisted_gor"], "", True)
    bench = vs.Bench([gor], 10)
    rates: dict[str, list[float]] = {}
    runs = {
        "wrk -t1 -c10 (C)": lambda: rateOf(["wrk", "-t1", "-c10", "-d3s", f"http://127.0.0.1:{vs.PORT}/r"], "Requests/sec:"),
        "bare Twisted, transport.write": lambda: rateOf([*me, "--client", "write"], " req/s"),
        "bare Twisted, socket.send": lambda: rateOf([*me, "--client", "send"], " req/s"),
        "twisted-gor replay (tuned)": lambda: bench.replay(gor, options.requests, "1000000000%", True)["req/s"],
    }
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    try:
        for rep in range(options.reps):
            for name, run in runs.items():
                rate = run()
                rates.setdefault(name, []).append(rate)
                print(f"rep {rep + 1} {name:32} {rate:10,.0f} req/s", flush=True)
    finally:
        bench.close()
    print()
    for name, values in rates.items():
        print(f"{name:32} median {statistics.median(values):10,.0f} req/s  ({min(values):,.0f}-{max(values):,.0f})")


if __name__ == "__main__":
    main()
