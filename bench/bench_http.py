"""
Benchmark of --output-http: replay a 50k-request file at full speed to nginx
on loopback (1 worker), interleaved with wrk on the same URL (each gor run is
compared with the wrk run just before it); then peak RSS while replaying to a
black-hole target.

Each round: wrk, gor --output-http-workers N, wrk, gor --output-http-workers
-1. Around every gor run the kernel's TCP counters that would explain stuck
connects are read (ListenOverflows, ListenDrops, TCPSynRetrans from
/proc/net/netstat, system-wide).

Usage: python bench/bench_http.py [--requests 50000] [--workers 10] [--rounds 3]
       [--hole-seconds 15] [--wrk-seconds 5] [--json]
Prints figures; see bench/README-http.md.

With --json, one JSON object of the figures (medians over the rounds) is
printed as the last line: {"bench": "http", "figures": {NAME: {"value": V,
"unit": U, "better": "higher"|"lower"|"none", "floor": F}}, "checks": {NAME:
true|false}}, where a difference below F (in the unit) is noise.
The human output above it is unchanged; bench/ab.py reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def startNginx(tmp: str, port: int) -> subprocess.Popen[bytes]:
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"""
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "ok"; }}
  }}
}}
"""
        )
    proc = subprocess.Popen(["taskset", "-c", "1", "nginx", "-c", conf, "-p", tmp])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def writeFile(path: str, count: int) -> None:
    with open(path, "wb") as f:
        for i in range(count):
            payload = b"GET /bench?i=%d HTTP/1.1\r\nHost: prod.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n" % i
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000 + i * 1_000_000, -1, payload)))


def runGor(args: list[str]) -> tuple[float, str, int]:
    """
    Run gor pinned to CPU 0; return (wall seconds, stderr, peak RSS kB of
    that process).
    """
    start = time.monotonic()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, "-m", "twisted_gor", *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONPATH": REPO},
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - start
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    return wall, text, usage.ru_maxrss


TCP_KEYS = ("ListenOverflows", "ListenDrops", "TCPSynRetrans")


def tcpCounters() -> dict[str, int]:
    """
    System-wide TCP counters from /proc/net/netstat that stuck connects show up in.
    """
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    values: dict[str, int] = {}
    for names, numbers in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            values = dict(zip(names.split()[1:], (int(n) for n in numbers.split()[1:])))
    return {k: values.get(k, 0) for k in TCP_KEYS}


def wrkRate(port: int, seconds: int = 5) -> float:
    """
    wrk -t1 -c10 for C{seconds} against nginx, pinned to CPU 0; requests/s.
    """
    out = subprocess.run(
        ["taskset", "-c", "0", "wrk", "-t1", "-c10", f"-d{seconds}s", f"http://127.0.0.1:{port}/bench?i=1"],
        capture_output=True,
        text=True,
    ).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def counters(err: str, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in err.splitlines():
        m = re.search(r"summary: (\S+): (.*)$", line)
        if m and m.group(1).startswith(prefix):
            found = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split())}
    return found


def blackHole(port: int, stop: threading.Event) -> None:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(4096)
    s.settimeout(0.2)
    held = []
    while not stop.is_set():
        try:
            c, _ = s.accept()
            held.append(c)
        except socket.timeout:
            pass
    for c in held:
        c.close()
    s.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--hole-seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk-seconds", type=int, default=5, help="duration of each wrk run")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    opts = parser.parse_args()
    samples: dict[tuple[str, str, str, float], list[float]] = {}
    checks: dict[str, bool] = {}

    def sample(name: str, value: float, unit: str, better: str, floor: float = 0.0) -> None:
        samples.setdefault((name, unit, better, floor), []).append(value)

    with open("/proc/loadavg") as f:
        print(f"load average before: {f.read().split()[:3]}", flush=True)
    tmp = tempfile.mkdtemp(prefix="bench_http")
    port = freePort()
    nginx = startNginx(tmp, port)
    path = os.path.join(tmp, "in.gor")
    writeFile(path, opts.requests)
    try:
        for round in range(1, opts.rounds + 1):
            for workers in (opts.workers, -1):
                ceiling = wrkRate(port, opts.wrk_seconds)
                before = tcpCounters()
                wall, err, rss = runGor(
                    [
                        "--input-file", path + "|1000000000%",
                        "--input-file-read-depth", "1000",
                        "--output-http", f"127.0.0.1:{port}",
                        "--output-http-workers", str(workers),
                    ]
                )
                after = tcpCounters()
                tcp = {k: after[k] - before[k] for k in TCP_KEYS}
                c = counters(err, "output_http")
                elapsed = re.findall(r"summary: .*elapsed=([\d.]+)s", err)
                seconds = float(elapsed[-1]) if elapsed else wall
                rate = c.get("succeeded", 0) / seconds if seconds else 0.0
                print(
                    f"round {round}: wrk {ceiling:,.0f} req/s; gor --output-http-workers {workers}: "
                    f"{c.get('succeeded', 0)}/{opts.requests} succeeded in {seconds:.2f}s = {rate:,.0f} req/s "
                    f"(process wall time incl. interpreter start {wall:.2f}s) "
                    f"({100 * rate / ceiling if ceiling else 0:.0f}% of wrk), peak RSS {rss / 1024:.0f} MB, "
                    f"counters {c}, kernel TCP during the run {tcp}",
                    flush=True,
                )
                label = f"gor --output-http-workers {workers}"
                sample(f"{label}: replay rate", rate, "req/s", "higher")
                sample(f"{label}: share of wrk", 100 * rate / ceiling if ceiling else 0.0, "%", "higher")
                sample(f"{label}: peak RSS", rss / 1024, "MB", "lower", 2.0)
                sample("wrk on the same URL", ceiling, "req/s", "none")
                key = f"{label}: every request succeeded"
                checks[key] = checks.get(key, True) and c.get("succeeded", 0) == opts.requests
    finally:
        nginx.terminate()
        nginx.wait()

    holePort = freePort()
    stop = threading.Event()
    t = threading.Thread(target=blackHole, args=(holePort, stop), daemon=True)
    t.start()
    try:
        # A non-pausable source would drop at the queue; a file input is paused
        # by backpressure. Both keep memory bounded: measure the file case.
        before = tcpCounters()
        wall, err, rss = runGor(
            [
                "--input-file", path + "|1000000000%",
                "--output-http", f"127.0.0.1:{holePort}",
                "--output-http-timeout", "2s",
                "--exit-after", f"{opts.hole_seconds}s",
            ]
        )
        c = counters(err, "output_http")
        after = tcpCounters()
        tcp = {k: after[k] - before[k] for k in TCP_KEYS}
        print(
            f"black hole, {opts.hole_seconds:.0f}s, default workers: peak RSS {rss / 1024:.0f} MB, counters {c}, "
            f"kernel TCP during the run {tcp}"
        )
        sample("black hole: peak RSS", rss / 1024, "MB", "lower", 2.0)
    finally:
        stop.set()
        t.join()
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.json:
        figures = {
            name: {"value": statistics.median(values), "unit": unit, "better": better, "floor": floor}
            for (name, unit, better, floor), values in samples.items()
        }
        print(json.dumps({"bench": "http", "figures": figures, "checks": checks}))


if __name__ == "__main__":
    main()
