"""
What a dead target costs gor: replay at a steady rate to (1) a port that
refuses and (2) a target that accepts and never answers, and report gor's CPU
seconds, peak RSS, peak open sockets and connection attempts.

Run: python bench/bench_deadtarget.py [--rate 1000] [--seconds 20] [--json]

Each gor run stops after --seconds + 10 s (--exit-after), so a version that
slows the replay down to the pace of timeouts is measured over the same time.

With --json, one JSON object of the figures is printed as the last line
(the format bench/ab.py reads). Traffic goes only to loopback; each run is
bounded by --seconds plus the replay's drain timeout.
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402

FIGURES: dict[str, dict[str, object]] = {}
CHECKS: dict[str, bool] = {}


def figure(name: str, value: float, unit: str, better: str = "lower") -> None:
    """
    Record and print one figure.
    """
    FIGURES[name] = {"value": value, "unit": unit, "better": better}
    print(f"{name}: {value:,.3f} {unit}" if isinstance(value, float) else f"{name}: {value} {unit}")


def recording(path: str, rate: int, seconds: float) -> int:
    """
    Write C{rate * seconds} GETs spaced 1/rate apart; return how many.
    """
    count = int(rate * seconds)
    step = int(1e9 / rate)
    with open(path, "wb") as f:
        for i in range(count):
            payload = b"GET /%d HTTP/1.1\r\nHost: staging\r\n\r\n" % i
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000 + i * step, -1, payload)))
    return count


def blackHole(stop: threading.Event) -> tuple[socket.socket, threading.Thread]:
    """
    A listener that accepts (kernel backlog) and never reads or answers.
    """
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    listener.settimeout(0.05)
    held: list[socket.socket] = []

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except socket.timeout:
                continue
        for conn in held:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return listener, thread


def sockets(pid: int) -> int:
    """
    Open sockets of process C{pid}.
    """
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    n = 0
    for fd in fds:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def run(name: str, url: str, path: str, seconds: float) -> None:
    """
    Replay C{path} to C{url} (gor under C{/usr/bin/time}, for its CPU and
    peak RSS) and record the figures under C{name}.
    """
    proc = subprocess.Popen(
        ["/usr/bin/time", "-f", "GOR_CPU=%U %S GOR_RSS=%M",
         sys.executable, "-m", "twisted_gor", "--input-file", path, "--output-http", url,
         "--exit-after", f"{seconds + 10:g}s"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    peak = 0
    deadline = time.monotonic() + seconds + 30
    while proc.poll() is None and time.monotonic() < deadline:
        # /usr/bin/time's child is gor: sample its sockets
        for child in open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split():
            peak = max(peak, sockets(int(child)))
        time.sleep(0.02)  # the bench process samples; this is not a reactor
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
    _, err = proc.communicate(timeout=30)
    line = next((ln for ln in err.splitlines() if "summary: output_http(" in ln), "")
    counts = {k: int(v) for k, v in re.findall(r"([a-z_.]+)=(\d+)", line.split("):", 1)[-1])}
    usage = re.search(r"GOR_CPU=([\d.]+) ([\d.]+) GOR_RSS=(\d+)", err)
    cpu = float(usage.group(1)) + float(usage.group(2)) if usage else -1.0
    figure(f"{name}: gor CPU", cpu, "s")
    figure(f"{name}: peak RSS", float(usage.group(3)) / 1024 if usage else -1.0, "MB")
    figure(f"{name}: peak open sockets", float(peak), "sockets")
    figure(f"{name}: connection attempts", float(counts.get("connections", 0)), "connects")
    emitted = re.search(r"summary: input_file\(.*?emitted=(\d+)", err)
    accounted = counts.get("sent", 0) + counts.get("dropped.queue_full", 0) + counts.get("dropped.shutdown", 0)
    CHECKS[f"{name}: every emitted request accounted for"] = emitted is not None and accounted == int(emitted.group(1))
    figure(f"{name}: requests replayed or counted in time", float(accounted), "requests", "higher")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "steady.gor")
    count = recording(path, args.rate, args.seconds)
    print(f"{count} requests at {args.rate} req/s for {args.seconds:g}s per target")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refusing = closed.getsockname()[1]
    closed.close()
    run("refusing", f"http://127.0.0.1:{refusing}", path, args.seconds)
    stop = threading.Event()
    listener, thread = blackHole(stop)
    try:
        run("black hole", f"http://127.0.0.1:{listener.getsockname()[1]}", path, args.seconds)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    for check, ok in CHECKS.items():
        print(f"check {check}: {'ok' if ok else 'FAILED'}")
    if args.json:
        print(json.dumps({"bench": "deadtarget", "figures": FIGURES, "checks": CHECKS}))


if __name__ == "__main__":
    main()
