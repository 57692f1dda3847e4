"""
Benchmark of the middleware stage: messages per second through

1. no middleware (file -> null, the baseline),
2. ``--middleware cat`` (an echo that costs the child nothing: gor's own limit),
3. ``--middleware "python3 bench/mw_echo.py"`` (a Python echo decoding and
   re-encoding each hex line, flushing each: the common user script),
4. ``--middleware-python bench.mw_inprocess:Echo`` (in process),

each replaying N requests of ~1 KiB from a file at full speed (``FILE|max``)
to ``--output-null``. Rate: N / gor's own elapsed time (service start to
summary, so draining the middleware counts). gor's CPU: utime+stime of the
gor process alone (not its child), from /proc, sampled every 10 ms until it
exits; reported as ms per 1,000 messages. The child's CPU is reported apart
(from the wait4 totals minus gor's own).

Run: python bench/bench_middleware.py [--records 100000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402

GOR = [sys.executable, "-m", "twisted_gor"]
TICK = os.sysconf("SC_CLK_TCK")


def writeFile(path: str, count: int, bodySize: int = 1000) -> None:
    body = b"x" * bodySize
    head = b"POST /bench/%d HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n"
    with open(path, "wb") as f:
        for start in range(0, count, 10000):
            f.write(
                b"".join(
                    encodeMessage(Message(1, b"%024x" % i, 1_700_000_000 * 10**9 + i, -1, head % (i, len(body)) + body))
                    for i in range(start, min(count, start + 10000))
                )
            )


def ownCpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def run(args: list[str]) -> tuple[float, float, float, str]:
    """
    Run gor; return (elapsed s, gor's own CPU s, child CPU s, stderr).
    """
    env = dict(os.environ, PYTHONPATH=REPO)
    err = tempfile.TemporaryFile()
    p = subprocess.Popen(GOR + args, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=REPO)
    own = 0.0
    deadline = time.monotonic() + 600
    while True:
        # wait4 (not Popen.poll) so that the rusage of gor and its waited-for
        # child is ours to read
        pid, status, usage = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
        sample = ownCpu(p.pid)
        if sample is not None:
            own = sample
        time.sleep(0.01)
    p.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    if p.returncode != 0:
        raise SystemExit(f"gor failed ({p.returncode}): {stderr[-2000:]}")
    m = re.search(r"summary: read=\d+ .*elapsed=([0-9.]+)s", stderr)
    assert m, stderr
    total = usage.ru_utime + usage.ru_stime
    return float(m.group(1)), own, max(0.0, total - own), stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    options = parser.parse_args()
    n = options.records
    work = tempfile.mkdtemp()
    path = os.path.join(work, "in.gor")
    writeFile(path, n)
    cases = [
        ("no middleware", []),
        ("--middleware cat", ["--middleware", "cat"]),
        ("--middleware python echo", ["--middleware", f"{sys.executable} {os.path.join(REPO, 'bench', 'mw_echo.py')}"]),
        ("--middleware-python (in process)", ["--middleware-python", "bench.mw_inprocess:Echo"]),
    ]
    print(f"{n} requests of ~1 KiB, FILE|max -> --output-null; median of {options.reps}")
    print(f"{'case':36} {'msg/s':>10} {'gor CPU ms/1k':>14} {'child CPU ms/1k':>16}")
    for name, extra in cases:
        results = []
        for _ in range(options.reps):
            elapsed, own, childCpu, stderr = run(["--input-file", path + "|max", "--output-null", *extra])
            if extra:
                m = re.search(r"summary: middleware: (.*)", stderr)
                assert m and f"received={n}" in m.group(1), stderr[-2000:]
            results.append((n / elapsed, own * 1e6 / n, childCpu * 1e6 / n))
        results.sort()
        rate, own, childCpu = results[len(results) // 2]
        print(f"{name:36} {rate:10,.0f} {own:14.1f} {childCpu:16.1f}")


if __name__ == "__main__":
    main()
