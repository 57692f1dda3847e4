"""
Benchmark of the core pipeline on files.

1. file -> null and file -> file at full speed (``FILE|max``), 1 KiB requests:
   messages per second, from gor's own elapsed time for the input.
2. Replay timing precision: 2,000 records 1 ms apart (and 500 records 10 ms
   apart) replayed at 100% to stdout; the gaps between arrivals on the pipe
   are compared with the recorded gaps (p50/p99/max error, total duration).

Run: python bench/bench_files.py [--records 200000] [--json]

With --json, one JSON object of the figures is printed as the last line:
{"bench": "files", "figures": {NAME: {"value": V, "unit": U, "better":
"higher"|"lower"|"none", "floor": F}}, "checks": {NAME: true|false}}, where a
difference below F (in the unit) is noise. The human output
above it is unchanged; bench/ab.py reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import SEPARATOR, encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402

GOR = [sys.executable, "-m", "twisted_gor"]

#: Figures for C{--json}: name -> {"value", "unit", "better"}.
FIGURES: dict[str, dict[str, object]] = {}
#: Correctness checks for C{--json}: name -> passed.
CHECKS: dict[str, bool] = {}


def figure(name: str, value: float, unit: str, better: str, floor: float = 0.0) -> None:
    """
    Record a figure for C{--json}; C{better} is C{"higher"}, C{"lower"} or
    C{"none"} (a calibration figure, not a property of gor); a difference
    smaller than C{floor} (in C{unit}) is noise however large its ratio.
    """
    FIGURES[name] = {"value": value, "unit": unit, "better": better, "floor": floor}


def writeFile(path: str, count: int, gapNs: int, bodySize: int) -> None:
    head = b"POST /bench/%d HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n"
    start = 1_700_000_000 * 10**9
    with open(path, "wb") as f:
        chunk = []
        for i in range(count):
            body = b"x" * max(0, bodySize - 60)
            chunk.append(encodeMessage(Message(1, b"%024x" % i, start + i * gapNs, -1, head % (i, len(body)) + body)))
            if len(chunk) == 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))


def run(args: list[str]) -> tuple[float, str]:
    env = dict(os.environ, PYTHONPATH=REPO)
    t0 = time.perf_counter()
    p = subprocess.run(GOR + args, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"gor failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, p.stderr


def inputElapsed(stderr: str) -> float:
    m = re.search(r"done: .*elapsed=([0-9.]+)s", stderr)
    assert m, stderr
    return float(m.group(1))


def throughput(tmp: str, count: int) -> None:
    src = os.path.join(tmp, "in.gor")
    writeFile(src, count, 1000, 1024)
    size = os.path.getsize(src)
    print(f"file: {count} records of ~1 KiB, {size / 2**20:.1f} MiB")
    for label, out in (("file -> null", ["--output-null"]), ("file -> file", ["--output-file", os.path.join(tmp, "out.gor")])):
        wall, err = run(["--input-file", src + "|max", *out])
        elapsed = inputElapsed(err)
        print(f"{label:14s}: {count / elapsed:10,.0f} msg/s  ({elapsed:.2f}s in gor, {wall:.2f}s wall incl. start-up)")
        figure(label, count / elapsed, "msg/s", "higher")
    with open(src, "rb") as a, open(os.path.join(tmp, "out.gor"), "rb") as b:
        identical = a.read() == b.read()
        print("file -> file copy identical:", identical)
        CHECKS["file -> file copy identical"] = identical


def precision(tmp: str, count: int, gapMs: float) -> None:
    src = os.path.join(tmp, f"timing{gapMs}.gor")
    writeFile(src, count, int(gapMs * 1e6), 200)
    env = dict(os.environ, PYTHONPATH=REPO)
    p = subprocess.Popen(GOR + ["--input-file", src, "--output-stdout"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None
    fd = p.stdout.fileno()
    arrivals: list[float] = []
    buf = b""
    while True:
        data = os.read(fd, 1 << 16)
        now = time.perf_counter()
        if not data:
            break
        buf += data
        n = buf.count(SEPARATOR)
        if n:
            arrivals.extend([now] * n)
            buf = buf[buf.rfind(SEPARATOR) + len(SEPARATOR) :]
    p.wait()
    assert len(arrivals) == count, (len(arrivals), count)
    gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:])]
    errors = sorted(abs(g - gapMs) for g in gaps)
    p50 = statistics.median(errors)
    p99 = errors[int(len(errors) * 0.99) - 1]
    total = (arrivals[-1] - arrivals[0]) * 1000
    recorded = (count - 1) * gapMs
    print(
        f"timing {count} x {gapMs:g} ms: gap error p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {errors[-1]:.3f} ms; "
        f"duration {total:.1f} ms vs recorded {recorded:.1f} ms ({total / recorded:.4f}x)"
    )
    label = f"timing {count} x {gapMs:g} ms"
    figure(f"{label}: gap error p50", p50, "ms", "lower", floor=0.1)
    figure(f"{label}: gap error p99", p99, "ms", "lower", floor=0.1)
    figure(f"{label}: duration error", abs(total / recorded - 1) * 100, "%", "lower", floor=0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        throughput(tmp, args.records)
        precision(tmp, 2000, 1.0)
        precision(tmp, 500, 10.0)
    if args.json:
        print(json.dumps({"bench": "files", "figures": FIGURES, "checks": CHECKS}))


if __name__ == "__main__":
    main()
