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
       [--hole-seconds 15] [--wrk-seconds 5] [--goreplay PATH] [--json]

Each round also replays with the default flags (C{"F|10000%"}), and with
C{--goreplay PATH} runs that GoReplay binary on the same file with its best
flags (C{"F|1000000000%"}, read-depth 100000, 10 workers), stopped when nginx
has counted every request; then prints our rates over its. Rates "at nginx"
come from nginx's stub_status count polled every 5 ms (first request to
last), the same measure for both tools; CPU is user+sys of the replaying
process (wait4) per 1,000 requests. C{--wrk-seconds 0} skips wrk and
C{--hole-seconds 0} the black-hole run.
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
    location = /nginx_status {{ stub_status; }}
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


def runGor(args: list[str]) -> tuple[float, str, int, float]:
    """
    Run gor pinned to CPU 0; return (wall seconds, stderr, peak RSS kB of
    that process, CPU seconds user+sys of that process).
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
    return wall, text, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def processCpu(pid: int) -> float:
    """
    CPU seconds (user+sys) of process C{pid} and its children now running
    (nginx's master and workers), from /proc.
    """
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    total = 0.0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def nginxRequests(port: int) -> int:
    """
    nginx's stub_status request count (this query included).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"GET /nginx_status HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", data)
    return int(m.group(3)) if m else 0


class Watch(threading.Thread):
    """
    Polls nginx's request count every C{interval} seconds (bounded by
    C{limit} seconds) and notes when the first of C{total} requests arrived
    and when the last did: the replay rate seen by the target, the same
    measure for both tools (GoReplay prints no summary and never exits at the
    end of a file).
    """

    def __init__(self, port: int, total: int, limit: float = 120.0, interval: float = 0.005) -> None:
        threading.Thread.__init__(self, daemon=True)
        self.port = port
        self.total = total
        self.limit = limit
        self.interval = interval
        self.base = nginxRequests(port)
        self.first = 0.0
        self.last = 0.0
        self.seen = 0
        self.done = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        polls = 0
        deadline = time.monotonic() + self.limit
        try:
            while time.monotonic() < deadline:
                # (stopping is checked after a poll: nginx counts a request
                # once its response is written, so the last one may be
                # counted after the replaying process has exited)
                stopping = self.stopping.is_set()
                count = nginxRequests(self.port)
                polls += 1
                now = time.monotonic()
                self.seen = count - self.base - polls
                if self.seen > 0 and not self.first:
                    self.first = now
                if self.seen >= self.total:
                    self.last = now
                    return
                if stopping:
                    return
                time.sleep(self.interval)
        finally:
            self.done.set()

    @property
    def rate(self) -> float:
        span = self.last - self.first
        return self.total / span if self.last and span > 0 else 0.0


def runGoReplay(binary: str, path: str, port: int, total: int, limit: float = 120.0) -> tuple[float, int, float, int]:
    """
    Run GoReplay (pinned to CPU 0) with its best flags until nginx has seen
    C{total} requests (or C{limit} seconds pass), then stop it; return
    (req/s at nginx, peak RSS kB, CPU seconds, requests seen).
    """
    watch = Watch(port, total, limit)
    proc = subprocess.Popen(
        [
            "taskset", "-c", "0", binary,
            "--input-file", path + "|1000000000%",
            "--input-file-read-depth", "100000",
            "--output-http", f"http://127.0.0.1:{port}",
            "--output-http-workers", "10",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        watch.start()
        watch.done.wait(limit + 5)
    finally:
        watch.stopping.set()
        proc.kill()
        _, _, usage = os.wait4(proc.pid, 0)
        watch.join()
    return watch.rate, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, watch.seen


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
    parser.add_argument("--goreplay", metavar="PATH", help="also run this GoReplay binary with its best flags, interleaved")
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
    runs: list[tuple[str, list[str]]] = [
        (
            f"gor --output-http-workers {workers}",
            ["--input-file-read-depth", "1000", "--output-http-workers", str(workers)],
        )
        for workers in (opts.workers, -1)
    ]
    runs.append(("gor defaults (F|10000%)", []))
    try:
        for round in range(1, opts.rounds + 1):
            for label, extra in runs:
                ceiling = wrkRate(port, opts.wrk_seconds) if opts.wrk_seconds > 0 else 0.0
                speed = "|10000%" if not extra else "|1000000000%"
                before = tcpCounters()
                watch = Watch(port, opts.requests)
                nginxBefore = processCpu(nginx.pid)
                watch.start()
                wall, err, rss, cpu = runGor(
                    ["--input-file", path + speed, "--output-http", f"127.0.0.1:{port}", *extra]
                )
                watch.stopping.set()
                watch.join()
                nginxPer1k = 1000 * (processCpu(nginx.pid) - nginxBefore) / opts.requests * 1000
                after = tcpCounters()
                tcp = {k: after[k] - before[k] for k in TCP_KEYS}
                c = counters(err, "output_http")
                elapsed = re.findall(r"summary: .*elapsed=([\d.]+)s", err)
                seconds = float(elapsed[-1]) if elapsed else wall
                rate = c.get("succeeded", 0) / seconds if seconds else 0.0
                cpuPer1k = 1000 * cpu / opts.requests * 1000
                print(
                    f"round {round}: wrk {ceiling:,.0f} req/s; {label}: "
                    f"{c.get('succeeded', 0)}/{opts.requests} succeeded in {seconds:.2f}s = {rate:,.0f} req/s "
                    f"(at nginx {watch.rate:,.0f} req/s; process wall time incl. interpreter start {wall:.2f}s) "
                    f"({100 * rate / ceiling if ceiling else 0:.0f}% of wrk), CPU {cpuPer1k:.1f} ms/1k (nginx {nginxPer1k:.1f}), "
                    f"peak RSS {rss / 1024:.0f} MB, counters {c}, kernel TCP during the run {tcp}",
                    flush=True,
                )
                sample(f"{label}: replay rate", rate, "req/s", "higher")
                sample(f"{label}: replay rate at nginx", watch.rate, "req/s", "higher")
                sample(f"{label}: CPU per 1k requests", cpuPer1k, "ms", "lower", 1.0)
                sample(f"{label}: nginx CPU per 1k requests", nginxPer1k, "ms", "none")
                if ceiling:
                    sample(f"{label}: share of wrk", 100 * rate / ceiling, "%", "higher")
                    sample("wrk on the same URL", ceiling, "req/s", "none")
                sample(f"{label}: peak RSS", rss / 1024, "MB", "lower", 2.0)
                key = f"{label}: every request succeeded"
                checks[key] = checks.get(key, True) and c.get("succeeded", 0) == opts.requests
            if opts.goreplay:
                grate, grss, gcpu, seen = runGoReplay(opts.goreplay, path, port, opts.requests)
                gcpuPer1k = 1000 * gcpu / opts.requests * 1000
                print(
                    f"round {round}: GoReplay (speed max, read-depth 100000, 10 workers): {seen}/{opts.requests} "
                    f"at nginx, {grate:,.0f} req/s, CPU {gcpuPer1k:.1f} ms/1k (until stopped), "
                    f"peak RSS {grss / 1024:.0f} MB",
                    flush=True,
                )
                sample("GoReplay best flags: replay rate at nginx", grate, "req/s", "none")
                sample("GoReplay best flags: CPU per 1k requests", gcpuPer1k, "ms", "none")
                sample("GoReplay best flags: peak RSS", grss / 1024, "MB", "none")
    finally:
        nginx.terminate()
        nginx.wait()

    if opts.goreplay:
        gor = samples.get(("GoReplay best flags: replay rate at nginx", "req/s", "none", 0.0))
        if gor:
            best = statistics.median(gor)
            for (name, unit, _, _), values in list(samples.items()):
                if name.startswith("gor ") and name.endswith("replay rate at nginx") and best:
                    print(f"ratio {name[: -len(': replay rate at nginx')]} / GoReplay best: "
                          f"{statistics.median(values) / best:.2f}x (medians at nginx)")

    if opts.hole_seconds <= 0:
        shutil.rmtree(tmp, ignore_errors=True)
        report(opts, samples, checks)
        return
    holePort = freePort()
    stop = threading.Event()
    t = threading.Thread(target=blackHole, args=(holePort, stop), daemon=True)
    t.start()
    try:
        # A non-pausable source would drop at the queue; a file input is paused
        # by backpressure. Both keep memory bounded: measure the file case.
        before = tcpCounters()
        wall, err, rss, _ = runGor(
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
    report(opts, samples, checks)


def report(opts: argparse.Namespace, samples: dict[tuple[str, str, str, float], list[float]], checks: dict[str, bool]) -> None:
    if opts.json:
        figures = {
            name: {"value": statistics.median(values), "unit": unit, "better": better, "floor": floor}
            for (name, unit, better, floor), values in samples.items()
        }
        print(json.dumps({"bench": "http", "figures": figures, "checks": checks}))


if __name__ == "__main__":
    main()
