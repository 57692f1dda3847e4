"""
twisted-gor beside GoReplay, interleaved, on the loads of issue 14.

Each repetition runs every load once with each tool, one after the other
(twisted-gor, then GoReplay), so a change in the machine's load touches both
alike; the figures are medians over the repetitions, and the last column is
twisted-gor / GoReplay. The capture tool is pinned to one CPU, nginx and the
load generator to the other.

Loads:
  - capture at wrk's full rate (C{wrk -t1 -c10}, keep-alive): tiny GET, GET of
    a 4 KiB response, POST of 1 KiB, tiny GET and 4 KiB GET with
    C{--input-raw-track-response}; figures: CPU ms (user+sys of the capture
    process over the load window) per 1,000 requests nginx served, and
    completeness (requests, and responses with track-response, found in the
    output file over requests served);
  - capture paced by C{h2load --h1 -c10 --rps} at 1k and 5k requests/s;
  - idle: the capture process with no traffic, CPU as a share of one core;
  - replay of a file of GETs to nginx, as fast as each tool goes
    (C{"F|1000000000%" --input-file-read-depth 100000
    --output-http-workers 10}: the same flags for both) and with the default
    flags (C{"F|10000%"}); figures: requests/s at nginx (first to last
    request) and CPU ms per 1,000 requests;
  - file -> null (twisted-gor only: GoReplay has no null output).

Usage (root, nginx, wrk and h2load installed)::

    python bench/vs_goreplay.py --goreplay /path/to/goreplay/gor [--reps 3]
        [--duration 10] [--only capture-get,replay-max,...] [--json]

Without C{--goreplay}, only twisted-gor runs. Nothing here asserts a figure.
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
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 18090
STATUS_PORT = 18091
TICKS = os.sysconf("SC_CLK_TCK")
SEPARATOR = b"\n\xf0\x9f\x90\xb5\xf0\x9f\x99\x88\xf0\x9f\x99\x89\n"
TOOL_CPU = "1"
LOAD_CPU = "0"
SETTLE_WAIT = 3.0
"""Seconds waited after a capture load before the CPU is read (the idle CPU
of that wait, measured before the load, is taken off)."""

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_capture import NGINX_CONF, POST_LUA  # type: ignore[import-not-found]  # noqa: E402  (as bench_capture)


@dataclass
class Tool:
    """
    A capture/replay command line: C{argv} runs it, C{ready} is the text its
    log prints once it is capturing.
    """

    name: str
    argv: list[str]
    ready: str
    exitsAtEnd: bool


@dataclass
class Sample:
    """
    One load's figures for one tool in one repetition.
    """

    figures: dict[str, float] = field(default_factory=dict)


def cpuSeconds(pid: int) -> float:
    """
    CPU seconds of C{pid}: the sum of its threads' run time from
    C{/proc/PID/task/*/schedstat} (nanoseconds, exact, where C{/proc/PID/stat}
    counts 10 ms ticks), or user+sys ticks when schedstat is missing.
    """
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS


def peakRss(pid: int) -> float:
    """
    Peak RSS of C{pid} in MB.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def served() -> int:
    """
    nginx's count of handled requests (stub_status).
    """
    text = urllib.request.urlopen(f"http://127.0.0.1:{STATUS_PORT}/", timeout=5).read().decode()
    return int(text.splitlines()[2].split()[2])


def countRecords(path: str) -> tuple[int, int]:
    """
    Requests and responses in a .gor file (by the first byte of each record).
    """
    requests = responses = 0
    tail = b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 22)
            if not chunk:
                break
            data = tail + chunk
            parts = data.split(SEPARATOR)
            tail = parts.pop()
            for part in parts:
                kind = part[:1]
                if kind == b"1":
                    requests += 1
                elif kind == b"2":
                    responses += 1
    if tail[:1] == b"1":
        requests += 1
    elif tail[:1] == b"2":
        responses += 1
    return requests, responses


def settle(pid: int, timeout: float = 30.0) -> float:
    """
    Wait until C{pid} has caught up with what the kernel buffered (its CPU
    time stays put for 0.3 s, or C{timeout} passes), then return its CPU
    seconds: a tool that lags behind the load pays for the catch-up too.
    """
    deadline = time.monotonic() + timeout
    # GoReplay's pcap timeout is 2 s and its file flush interval 1 s: what
    # sits in a partly filled kernel block or its buffer is not lost to it
    time.sleep(SETTLE_WAIT)
    last = cpuSeconds(pid)
    still = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpuSeconds(pid)
        still = still + 1 if now - last < 0.002 else 0
        last = now
        if still >= 3:
            break
    return last


def waitForText(path: str, text: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """
    Wait until C{path} contains C{text}; fail if C{proc} ends or time runs out.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        if proc.poll() is not None:
            raise RuntimeError(f"exited {proc.returncode} before {text!r}: {open(path, errors='replace').read()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"no {text!r} in {path} after {timeout} s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, wait: float = 30.0) -> None:
    """
    Stop C{proc}; kill it if it outlives C{wait} seconds.
    """
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class Bench:
    """
    The shared set-up: a work directory, nginx, the tools.
    """

    def __init__(self, tools: list[Tool], duration: int) -> None:
        self.tools = tools
        self.duration = duration
        self.dir = tempfile.mkdtemp(prefix="vs-goreplay-")
        os.makedirs(os.path.join(self.dir, "www"))
        with open(os.path.join(self.dir, "www", "4k"), "w") as f:
            f.write("x" * 4096)
        with open(os.path.join(self.dir, "post.lua"), "w") as f:
            f.write(POST_LUA)
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=PORT, status=STATUS_PORT))
        self.nginx = subprocess.Popen(
            ["taskset", "-c", LOAD_CPU, "nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir],
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                served()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        """
        Stop nginx, remove the work directory (kept, and named, when
        C{VS_KEEP} is set in the environment: the tools' logs are in it).
        """
        stop(self.nginx, signal.SIGQUIT)
        if os.environ.get("VS_KEEP"):
            print(f"kept {self.dir}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- capture ----------------------------------------------------------------

    def startCapture(self, tool: Tool, track: bool) -> tuple[subprocess.Popen, str, str]:
        """
        Start C{tool} capturing nginx's port into a file: (process, file, log).
        """
        out = os.path.join(self.dir, f"{tool.name}.gor")
        log = os.path.join(self.dir, f"{tool.name}.log")
        for p in (out, log):
            if os.path.exists(p):
                os.unlink(p)
        argv = [*tool.argv, "--input-raw", f"127.0.0.1:{PORT}", "--output-file", out, "--output-file-append"]
        if track:
            argv.append("--input-raw-track-response")
        proc = subprocess.Popen(
            ["taskset", "-c", TOOL_CPU, *argv], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=self.dir
        )
        waitForText(log, tool.ready, proc)
        return proc, out, log

    def capture(self, tool: Tool, load: list[str], track: bool) -> dict[str, float]:
        """
        Capture while C{load} (a wrk or h2load command) runs.
        """
        proc, out, log = self.startCapture(tool, track)
        try:
            # the tool may still be opening its other interfaces: a warm-up
            # request proves the path before the window opens
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/warmup", timeout=5).read()
            time.sleep(2.0)  # start-up work (GoReplay's runtime) out of the way
            idle0 = cpuSeconds(proc.pid)
            time.sleep(1.0)
            before = served()
            cpu0 = cpuSeconds(proc.pid)
            idleRate = max(cpu0 - idle0, 0.0)  # CPU seconds per second with no load
            subprocess.run(["taskset", "-c", LOAD_CPU, *load], capture_output=True, check=True, cwd=self.dir)
            cpu1 = settle(proc.pid) - idleRate * SETTLE_WAIT
            after = served() - 1  # this stub_status request itself
            rss = peakRss(proc.pid)
        finally:
            stop(proc)
        requests = max(after - before, 1)
        got, responses = countRecords(out)
        got -= 1  # the warm-up request
        figures = {
            "cpu ms/1k": (cpu1 - cpu0) * 1e6 / requests,
            "complete %": 100.0 * got / requests,
            "served req/s": requests / self.duration,
            "peak RSS MB": rss,
        }
        if track:
            figures["responses %"] = 100.0 * (responses - 1) / requests
        drops = re.search(r"summary: input_raw[^\n]*dropped\.kernel=(\d+)", open(log, errors="replace").read())
        if drops:
            figures["kernel drops"] = float(drops.group(1))
        return figures

    def idle(self, tool: Tool) -> dict[str, float]:
        """
        CPU of a capture process that sees no traffic, as % of one core.
        """
        proc, _, _ = self.startCapture(tool, False)
        try:
            time.sleep(1.0)
            cpu0, t0 = cpuSeconds(proc.pid), time.monotonic()
            time.sleep(self.duration)
            cpu1, t1 = cpuSeconds(proc.pid), time.monotonic()
        finally:
            stop(proc)
        return {"idle % core": 100.0 * (cpu1 - cpu0) / (t1 - t0)}

    def wrk(self, path: str, lua: Optional[str] = None) -> list[str]:
        """
        A full-rate keep-alive wrk command.
        """
        cmd = ["wrk", "-t1", "-c10", f"-d{self.duration}s"]
        if lua:
            cmd += ["-s", os.path.join(self.dir, lua)]
        return [*cmd, f"http://127.0.0.1:{PORT}{path}"]

    def h2load(self, rate: int) -> list[str]:
        """
        A paced HTTP/1.1 load of C{rate} requests/s over 10 connections.
        """
        return ["h2load", "--h1", "-c10", "-t1", f"--rps={rate // 10}", f"-D{self.duration}", f"http://127.0.0.1:{PORT}/"]

    # -- replay -----------------------------------------------------------------

    def makeReplayFile(self, count: int) -> str:
        """
        A .gor file of C{count} GETs, 100 us apart (one per count: the
        loads replay different numbers of requests).
        """
        path = os.path.join(self.dir, f"replay-{count}.gor")
        if os.path.exists(path):
            return path
        start = time.time_ns()
        with open(path, "wb") as f:
            for i in range(count):
                head = f"1 {i:024x} {start + i * 100_000} 0\n".encode()
                f.write(head + f"GET /r?n={i} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() + SEPARATOR)
        return path

    def replay(self, tool: Tool, count: int, speed: str, tuned: bool) -> dict[str, float]:
        """
        Replay C{count} GETs to nginx; requests/s from the first to the last
        request nginx saw (stub_status polled every 5 ms, the polls
        themselves subtracted), CPU from the process's own accounting.
        """
        path = self.makeReplayFile(count)
        log = os.path.join(self.dir, f"{tool.name}-replay.log")
        argv = [*tool.argv, "--input-file", f"{path}|{speed}", "--output-http", f"http://127.0.0.1:{PORT}"]
        if tuned:
            argv += ["--input-file-read-depth", "100000", "--output-http-workers", "10"]
        base = served()
        polls = 1
        proc = subprocess.Popen(["taskset", "-c", TOOL_CPU, *argv], stdout=open(log, "w"), stderr=subprocess.STDOUT, cwd=self.dir)
        first = last = 0.0
        got = 0
        cpu = rss = 0.0
        exited = False
        limit = time.monotonic() + max(60.0, count / 500)
        try:
            while time.monotonic() < limit:
                got = served() - base - polls
                polls += 1
                t = time.monotonic()
                if not first and got > 0:
                    first = t
                if got >= count:
                    last = t
                    break
                pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    exited = True
                    cpu = usage.ru_utime + usage.ru_stime
                    got = served() - base - polls
                    last = time.monotonic()
                    break
                time.sleep(0.005)
            if not exited:
                cpu, rss = cpuSeconds(proc.pid), peakRss(proc.pid)
        finally:
            if not exited:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        delivered = min(got, count)
        seconds = max(last - first, 1e-3) if last else float("nan")
        figures = {
            "req/s": delivered / seconds,
            "delivered %": 100.0 * delivered / count,
            "cpu ms/1k": cpu * 1e6 / max(delivered, 1),
        }
        if rss:
            figures["peak RSS MB"] = rss
        return figures


def main() -> None:
    """
    Run the loads, interleaved, and print medians and ratios.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--goreplay", default="", help="path of a GoReplay binary to run beside twisted-gor")
    parser.add_argument("--gor", default=f"{sys.executable} -m twisted_gor", help="twisted-gor's command")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per capture load")
    parser.add_argument("--replay-requests", type=int, default=50_000)
    parser.add_argument("--only", default="", help="comma-separated load names (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of every sample at the end")
    options = parser.parse_args()

    tools = [Tool("twisted-gor", options.gor.split(), ": capturing on", True)]
    if options.goreplay:
        tools.append(Tool("goreplay", [options.goreplay], "BPF Filter", False))
    bench = Bench(tools, options.duration)
    n = options.replay_requests
    loads: dict[str, Callable[[Tool], dict[str, float]]] = {
        "capture-get": lambda t: bench.capture(t, bench.wrk("/"), False),
        "capture-4k": lambda t: bench.capture(t, bench.wrk("/4k"), False),
        "capture-post": lambda t: bench.capture(t, bench.wrk("/post", "post.lua"), False),
        "capture-get-track": lambda t: bench.capture(t, bench.wrk("/"), True),
        "capture-4k-track": lambda t: bench.capture(t, bench.wrk("/4k"), True),
        "capture-paced-1k": lambda t: bench.capture(t, bench.h2load(1000), False),
        "capture-paced-5k": lambda t: bench.capture(t, bench.h2load(5000), False),
        "idle": bench.idle,
        "replay-max": lambda t: bench.replay(t, n, "1000000000%", True),
        "replay-default": lambda t: bench.replay(t, n // 10, "10000%", False),
    }
    wanted = [name for name in options.only.split(",") if name] or list(loads)
    unknown = set(wanted) - set(loads)
    if unknown:
        parser.error(f"--only: unknown load(s) {', '.join(sorted(unknown))}; known: {', '.join(loads)}")
    samples: dict[str, dict[str, list[dict[str, float]]]] = {name: {t.name: [] for t in tools} for name in wanted}
    print(f"load average at start: {open('/proc/loadavg').read().split()[:3]}", flush=True)
    try:
        for rep in range(options.reps):
            for name in wanted:
                for tool in tools:
                    try:
                        result = loads[name](tool)
                    except Exception as e:  # one failed run is reported, not fatal
                        result = {"error": float("nan")}
                        print(f"  {name} {tool.name}: FAILED {e}", flush=True)
                    samples[name][tool.name].append(result)
                    shown = ", ".join(f"{k} {v:,.2f}" for k, v in result.items())
                    print(f"rep {rep + 1} {name:18} {tool.name:12} {shown}", flush=True)
    finally:
        bench.close()
    print(f"load average at end: {open('/proc/loadavg').read().split()[:3]}")
    print()
    header = f"{'load':18} {'figure':14} " + " ".join(f"{t.name:>12}" for t in tools)
    if len(tools) == 2:
        header += f" {'tg/GR':>7}"
    print(header)
    medians: dict[str, dict[str, dict[str, float]]] = {}
    for name in wanted:
        keys: list[str] = []
        for tool in tools:
            for s in samples[name][tool.name]:
                keys += [k for k in s if k not in keys]
        medians[name] = {}
        for key in keys:
            row = []
            for tool in tools:
                values = [s[key] for s in samples[name][tool.name] if key in s and s[key] == s[key]]
                value = statistics.median(values) if values else float("nan")
                medians[name].setdefault(tool.name, {})[key] = value
                row.append(value)
            line = f"{name:18} {key:14} " + " ".join(f"{v:12,.2f}" for v in row)
            if len(row) == 2 and row[1] and row[1] == row[1]:
                line += f" {row[0] / row[1]:7.2f}"
            print(line)
    if options.json:
        print(json.dumps({"bench": "vs_goreplay", "medians": medians, "samples": samples}))


if __name__ == "__main__":
    main()
