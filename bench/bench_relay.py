"""
Relay benchmark: messages/s through C{gor --input-file F|max --output-tcp} →
C{gor --input-tcp --output-null}, and CPU time per 1,000 messages on each side
(utime + stime from /proc/<pid>/stat, start-up excluded).

Usage: python bench/bench_relay.py [--messages N] [--size BYTES] [--workers W ...] [--tls] [--json]

With --json, one JSON object of the figures (medians over --repeat) is printed
as the last line: {"bench": "relay", "figures": {NAME: {"value": V, "unit": U,
"better": "higher"|"lower"|"none"}}, "checks": {}}. The human output above it
is unchanged; bench/ab.py reads it.

A plain script (blocking is fine here): it drives two real gor processes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpuSeconds(pid: int) -> float:
    """
    utime + stime of a process, in seconds.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """
    A gor process whose stderr lines are collected by a thread.
    """

    def __init__(self, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=REPO)
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "twisted_gor", *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env
        )
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            self.lines.append(raw.decode("utf-8", "replace"))

    def waitFor(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.lines):
                m = regex.search(self.lines[seen])
                seen += 1
                if m:
                    return m
            time.sleep(0.005)
        raise TimeoutError(f"{pattern!r} not seen; stderr:\n{''.join(self.lines[-20:])}")


def writeFile(path: str, count: int, size: int) -> None:
    body = b"b" * max(0, size - 60)
    with open(path, "wb") as f:
        for i in range(count):
            payload = b"POST /bench/%d HTTP/1.1\r\nHost: t\r\n\r\n%s" % (i, body)
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, payload)))


def run(count: int, size: int, workers: int, directory: str, tlsArgs: tuple[list[str], list[str]]) -> dict[str, float]:
    source = os.path.join(directory, f"in-{count}-{size}.gor")
    if not os.path.exists(source):
        writeFile(source, count, size)
    port = freePort()
    receiver = Proc("--input-tcp", f"127.0.0.1:{port}", "--output-null", "--stats", "--stats-interval", "100ms", *tlsArgs[0])
    try:
        receiver.waitFor("input_tcp: listening")
        r0 = cpuSeconds(receiver.popen.pid)
        sender = Proc(
            "--input-file", source + "|max", "--output-tcp", f"{'localhost' if tlsArgs[0] else '127.0.0.1'}:{port}",
            "--output-tcp-workers", str(workers), *tlsArgs[1],
        )
        sender.waitFor("gor: started")
        t0 = time.monotonic()
        s0 = cpuSeconds(sender.popen.pid)
        s1 = s0
        done = re.compile(r"input_tcp\(.*\bread=%d\b" % count)
        seen = 0
        t1 = None
        while t1 is None:
            if sender.popen.poll() is None:
                try:
                    s1 = cpuSeconds(sender.popen.pid)
                except OSError:
                    pass
            while seen < len(receiver.lines):
                if done.search(receiver.lines[seen]):
                    t1 = time.monotonic()
                seen += 1
            if time.monotonic() - t0 > 300:
                raise TimeoutError("receiver never read everything:\n" + "".join(receiver.lines[-5:]))
            time.sleep(0.01)
        r1 = cpuSeconds(receiver.popen.pid)
        sender.popen.wait(60)
    finally:
        receiver.popen.terminate()
        receiver.popen.wait(30)
    # stats granularity is 100 ms: subtract half a period
    elapsed = max(1e-3, t1 - t0 - 0.05)
    return {
        "rate": count / elapsed,
        "senderCpuPer1k": (s1 - s0) * 1000 / count * 1000,
        "receiverCpuPer1k": (r1 - r0) * 1000 / count * 1000,
        "elapsed": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=300, help="approximate payload bytes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tls", action="store_true", help="TLS between the two gors (self-signed, skip-verify)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    args = parser.parse_args()
    figures: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as directory:
        tlsArgs: tuple[list[str], list[str]] = ([], [])
        if args.tls:
            sys.path.insert(0, os.path.join(REPO, "tests"))
            from tests.test_relay_e2e import makeCertificates

            certs = makeCertificates(directory)
            tlsArgs = (
                ["--input-tcp-secure", "--input-tcp-certificate", certs["cert"], "--input-tcp-certificate-key", certs["key"]],
                ["--output-tcp-secure", "--output-tcp-ca-certificate", certs["ca"]],
            )
        print(f"relay bench: {args.messages} messages of ~{args.size} bytes, python {sys.version.split()[0]}"
              f"{', TLS' if args.tls else ''}")
        print("workers | messages/s (median) | sender CPU ms/1k msgs | receiver CPU ms/1k msgs")
        for workers in args.workers:
            results = sorted(
                (run(args.messages, args.size, workers, directory, tlsArgs) for _ in range(args.repeat)),
                key=lambda r: r["rate"],
            )
            mid = results[len(results) // 2]
            print(
                f"{workers:7d} | {mid['rate']:19,.0f} | {mid['senderCpuPer1k']:21.1f} | {mid['receiverCpuPer1k']:23.1f}"
            )
            label = f"{workers} workers"
            figures[f"{label}: relay rate"] = {"value": mid["rate"], "unit": "msg/s", "better": "higher"}
            figures[f"{label}: sender CPU per 1k"] = {"value": mid["senderCpuPer1k"], "unit": "ms", "better": "lower"}
            figures[f"{label}: receiver CPU per 1k"] = {"value": mid["receiverCpuPer1k"], "unit": "ms", "better": "lower"}
    if args.json:
        print(json.dumps({"bench": "relay", "figures": figures, "checks": {}}))


if __name__ == "__main__":
    main()
