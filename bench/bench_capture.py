"""
Capture benchmark: nginx on loopback driven by wrk (keep-alive, full rate)
while C{gor --input-raw ... --output-file} and C{tcpdump -w} capture the same
traffic. Prints requests served (nginx stub_status) vs captured (records in
the file), completeness, and CPU ms per 1,000 requests of gor and tcpdump
(user+sys from /proc/<pid>/stat over the load window).

Usage (root): python bench/bench_capture.py [--duration 10] [--only NAME]
[--port 18080] [--goreplay /path/to/gor] [--base /work/main] [--pure]
[--no-tcpdump] [--repeat N]

Loads: wrk at full rate (tiny GET, with track-response, 4 KiB responses, 1 KiB
POSTs) and h2load --h1 paced at 5k and 1k requests/s. Every load is run by each
tool in turn (interleaved): this checkout (C{gor}), another checkout's venv
(C{--base}, the A of an A/B), this checkout with C{TWISTED_GOR_PURE=1}
(C{--pure}: the pure-Python twins) and GoReplay (C{--goreplay}, with
C{--output-file-append}); with GoReplay the CPU ratios to it are printed.

Offline (no root, no load generator): C{--file dump.pcap:PORT} runs
C{gor --input-raw dump.pcap:PORT --output-null} (plus C{--track}) and prints
CPU microseconds per emitted message (user+sys of the whole process, start-up
included; best of three runs). C{--record dump.pcap} makes such a file: the
same nginx/wrk GET load captured by tcpdump with gor's data-only filter.

With --json, one JSON object of the figures is printed as the last line:
{"bench": "capture", "figures": {NAME: {"value": V, "unit": U, "better":
"higher"|"lower"|"none", "floor": F}}, "checks": {NAME: true|false}}, where a
difference below F (in the unit) is noise. The human output
above it is unchanged; bench/ab.py reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import RecordDecoder  # noqa: E402

PORT = 18080
STATUS_PORT = 18081
EXTRA: list[str] = os.environ.get("GOR_EXTRA", "").split()
TICKS = os.sysconf("SC_CLK_TCK")

#: Figures for --json: name -> {"value", "unit", "better"}.
FIGURES: dict[str, dict[str, object]] = {}
#: Correctness checks for --json: name -> passed.
CHECKS: dict[str, bool] = {}


def figure(name: str, value: float, unit: str, better: str, floor: float = 0.0) -> None:
    """
    Record a figure for --json; C{better} is C{"higher"}, C{"lower"} or
    C{"none"} (a calibration figure, not a property of gor); a difference
    smaller than C{floor} (in C{unit}) is noise however large its ratio.
    """
    FIGURES[name] = {"value": value, "unit": unit, "better": better, "floor": floor}

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "ok"; }}
        location = /4k {{ root {dir}/www; default_type text/plain; }}
        location /post {{ return 200 "ok"; }}
    }}
    server {{
        listen 127.0.0.1:{status};
        location / {{ stub_status; }}
    }}
}}
"""

POST_LUA = 'wrk.method = "POST"\nwrk.body = string.rep("x", 1024)\nwrk.headers["Content-Type"] = "text/plain"\n'

SCENARIOS = [
    ("GET tiny", "/", False, None),
    ("GET tiny + track-response", "/", True, None),
    ("GET 4 KiB + track-response", "/4k", True, None),
    ("POST 1 KiB body", "/post", False, "post.lua"),
    ("paced 5k req/s", "/", False, "rps=500"),
    ("paced 1k req/s", "/", False, "rps=100"),
]
"""(name, path, track responses, wrk script or C{rps=N}: h2load --h1 -c 10
at N requests/s per connection)."""

TOOLS = ("gor",)
"""What captures: C{gor} (this checkout), C{pure} (C{TWISTED_GOR_PURE=1}),
C{goreplay} (C{--goreplay PATH}); set from the command line."""
GOREPLAY = ""
BASE = ""


def cpu(pid: int) -> float:
    """
    user+sys CPU seconds of C{pid}.
    """
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss(pid: int) -> int:
    """
    Peak RSS (kB) of C{pid}.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def served() -> int:
    """
    nginx's handled request count.
    """
    text = urllib.request.urlopen(f"http://127.0.0.1:{STATUS_PORT}/").read().decode()
    return int(text.splitlines()[2].split()[2])


def countRecords(path: str) -> tuple[int, int]:
    """
    Requests and responses in a .gor file.
    """
    decoder = RecordDecoder(lambda offset, reason: None)
    counts = {1: 0, 2: 0}
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            for m in decoder.feed(chunk):
                counts[m.type] = counts.get(m.type, 0) + 1
    for m in decoder.feed(b""):
        counts[m.type] = counts.get(m.type, 0) + 1
    return counts[1], counts[2]


def waitFor(path: str, text: str, timeout: float = 15.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path) and text in open(path, errors="replace").read():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{text!r} not seen in {path}: {open(path, errors='replace').read()[-2000:]}")


def run(
    name: str, path: str, track: bool, lua: str | None, workdir: str, duration: float, gorCpu: str, loadCpu: str,
    tool: str = "gor", tcpdumpToo: bool = True,
) -> dict:
    out = os.path.join(workdir, "capture.gor")
    log = os.path.join(workdir, "gor.log")
    pcapOut = os.path.join(workdir, "capture.pcap")
    for p in (out, pcapOut):
        if os.path.exists(p):
            os.unlink(p)
    env = dict(os.environ, PYTHONPATH=REPO)
    if tool == "goreplay":
        args = [GOREPLAY, "--input-raw", f"127.0.0.1:{PORT}", "--output-file", out, "--output-file-append"]
    else:
        python = sys.executable
        if tool == "base":
            # another checkout (e.g. main) with its own venv
            python = os.path.join(BASE, ".venv", "bin", "python")
            env["PYTHONPATH"] = BASE
        args = [python, "-m", "twisted_gor", "--input-raw", f"127.0.0.1:{PORT}", "--output-file", out, "--stats", *EXTRA]
        if tool == "pure":
            env["TWISTED_GOR_PURE"] = "1"
        else:
            env.pop("TWISTED_GOR_PURE", None)
    if track:
        args.append("--input-raw-track-response")
    cwd = BASE if tool == "base" else REPO
    gor = subprocess.Popen(["taskset", "-c", gorCpu, *args], stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env, cwd=cwd)
    bpf = f"tcp dst port {PORT}" + (f" or tcp src port {PORT}" if track else "")
    tcpdumpLog = os.path.join(workdir, "tcpdump.log")
    procs = [gor]
    tcpdump = None
    if tcpdumpToo:
        tcpdump = subprocess.Popen(
            ["taskset", "-c", gorCpu, "tcpdump", "-i", "lo", "-w", pcapOut, "-B", "32768", bpf],
            stdout=subprocess.DEVNULL,
            stderr=open(tcpdumpLog, "w"),
        )
        procs.append(tcpdump)
    try:
        if tool == "goreplay":
            time.sleep(2.0)  # GoReplay logs nothing when its capture starts
        else:
            waitFor(log, ": capturing on")
        if tcpdump is not None:
            waitFor(tcpdumpLog, "listening")
        time.sleep(0.5)
        before = served()
        gorCpu0 = cpu(gor.pid)
        dumpCpu0 = cpu(tcpdump.pid) if tcpdump is not None else 0.0
        if lua and lua.startswith("rps="):
            load = ["taskset", "-c", loadCpu, "h2load", "--h1", "-c10", "-t1", f"--rps={lua[4:]}", f"-D{int(duration)}"]
        else:
            load = ["taskset", "-c", loadCpu, "wrk", "-t1", "-c10", f"-d{int(duration)}s"]
            if lua:
                load += ["-s", os.path.join(workdir, lua)]
        result = subprocess.run([*load, f"http://127.0.0.1:{PORT}{path}"], capture_output=True, text=True)
        time.sleep(1.0)
        after = served() - 1
        gorCpu1 = cpu(gor.pid)
        dumpCpu1 = cpu(tcpdump.pid) if tcpdump is not None else 0.0
        peak = rss(gor.pid)
    finally:
        # SIGTERM: a bench started in the background inherits an ignored SIGINT
        gor.send_signal(signal.SIGTERM)
        if tcpdump is not None:
            tcpdump.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()  # never leave a capture running behind a failed run
                proc.wait(10)
                raise
    requests = after - before
    if not os.path.exists(out):
        raise RuntimeError("no capture file; gor log:\n" + open(log).read()[-3000:])
    captured, responses = countRecords(out)
    text = open(log).read()
    stats = re.findall(r"summary: input_raw\([^)]*\): (.*)", text)
    others = re.findall(r"summary: ((?:output|pipeline|read)[^\n]*)", text)
    problems = re.findall(r"\] (?:ERROR|CRITICAL|WARNING) ([^\n]*)", text)[:5]
    rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout) or re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", result.stdout)
    return {
        "name": name,
        "served": requests,
        "rps": float(rate.group(1)) if rate else 0.0,
        "captured": captured,
        "responses": responses,
        "gorMsPer1k": (gorCpu1 - gorCpu0) * 1e6 / max(requests, 1),
        "dumpMsPer1k": (dumpCpu1 - dumpCpu0) * 1e6 / max(requests, 1),
        "rssMB": peak / 1024,
        "stats": stats[-1] if stats else "",
        "others": others,
        "problems": problems,
    }


def runFile(target: str, track: bool) -> tuple[int, float]:
    """
    Run gor over a pcap file to the null output: (messages, CPU seconds).
    """
    args = [sys.executable, "-m", "twisted_gor", "--input-raw", target, "--output-null", *EXTRA]
    if track:
        args.append("--input-raw-track-response")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONPATH=REPO), cwd=REPO)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = status
    match = re.search(r"summary: read=\d+ emitted=(\d+)", out)
    if not match:
        raise RuntimeError(out[-2000:])
    return int(match.group(1)), usage.ru_utime + usage.ru_stime


def fileMain(target: str) -> None:
    """
    Offline figures: CPU per message for a pcap file.
    """
    for track in (False, True):
        runs = [runFile(target, track) for _ in range(3)]
        messages, seconds = min(runs, key=lambda r: r[1])
        label = "with track-response" if track else "requests only"
        print(f"{target} {label:20} messages={messages} cpu={seconds:.2f}s  {seconds * 1e6 / max(messages, 1):.2f} us/message")
        figure(f"pcap file, {label}: CPU per message", seconds * 1e6 / max(messages, 1), "us", "lower")
        figure(f"pcap file, {label}: messages", messages, "", "none")


def record(path: str, duration: int, loadCpu: str) -> None:
    """
    Capture nginx/wrk GET traffic with tcpdump (data-only filter) into C{path}.
    """
    workdir = tempfile.mkdtemp(prefix="bench-capture-")
    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=PORT, status=STATUS_PORT))
    nginx = subprocess.Popen(["taskset", "-c", loadCpu, "nginx", "-c", os.path.join(workdir, "nginx.conf"), "-p", workdir])
    bpf = (
        f"tcp port {PORT} and (tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0"
        " or (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) > 0)"
    )
    try:
        time.sleep(0.5)
        log = os.path.join(workdir, "tcpdump.log")
        tcpdump = subprocess.Popen(["tcpdump", "-i", "lo", "-B", "65536", "-w", path, bpf], stderr=open(log, "w"))
        waitFor(log, "listening")
        subprocess.run(["taskset", "-c", loadCpu, "wrk", "-t1", "-c10", f"-d{duration}s", f"http://127.0.0.1:{PORT}/"], capture_output=True)
        time.sleep(0.5)
        tcpdump.send_signal(signal.SIGINT)
        tcpdump.wait(30)
        print(open(log).read().strip())
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    global PORT, STATUS_PORT, GOREPLAY, TOOLS, BASE
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--only", default="")
    parser.add_argument("--gor-cpu", default="1")
    parser.add_argument("--load-cpu", default="0")
    parser.add_argument("--file", default="", help="FILE.pcap:PORT: offline CPU per message")
    parser.add_argument("--record", default="", help="write a pcap of the GET load to this path")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    parser.add_argument("--port", type=int, default=18080, help="nginx port (the stub_status port is the next one)")
    parser.add_argument("--goreplay", default="", help="also run GoReplay (this binary) on each load, interleaved")
    parser.add_argument("--base", default="", help="also run another checkout (its .venv), e.g. /work/main: the A of an A/B")
    parser.add_argument("--pure", action="store_true", help="also run with TWISTED_GOR_PURE=1 (the pure-Python twins)")
    parser.add_argument("--no-tcpdump", action="store_true", help="do not run tcpdump beside the capture")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every tool on every load (medians printed)")
    options = parser.parse_args()
    PORT, STATUS_PORT = options.port, options.port + 1
    tools = (["base"] if options.base else []) + ["gor"] + (["pure"] if options.pure else []) + (["goreplay"] if options.goreplay else [])
    TOOLS = tuple(tools)
    GOREPLAY = options.goreplay
    BASE = os.path.abspath(options.base) if options.base else ""
    if options.file:
        fileMain(options.file)
        if options.json:
            print(json.dumps({"bench": "capture", "figures": FIGURES, "checks": CHECKS}))
        return
    if os.geteuid() != 0:
        sys.exit("bench_capture needs root to capture")
    for tool in ("nginx", "wrk", "tcpdump", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found")
    if options.record:
        record(options.record, options.duration, options.load_cpu)
        return
    workdir = tempfile.mkdtemp(prefix="bench-capture-")
    with open(os.path.join(workdir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=PORT, status=STATUS_PORT))
    os.mkdir(os.path.join(workdir, "www"))
    with open(os.path.join(workdir, "www", "4k"), "w") as f:
        f.write("x" * 4096)
    with open(os.path.join(workdir, "post.lua"), "w") as f:
        f.write(POST_LUA)
    nginx = subprocess.Popen(["taskset", "-c", options.load_cpu, "nginx", "-c", os.path.join(workdir, "nginx.conf"), "-p", workdir])
    try:
        time.sleep(0.5)
        print(f"{'scenario':30} {'tool':>8} {'req/s':>8} {'served':>8} {'captured':>8} {'complete':>9} {'resp':>8} {'ms/1k':>7} {'tcpdump ms/1k':>14} {'ratio':>6} {'RSS MB':>7}")
        for name, path, track, lua in SCENARIOS:
            if options.only and options.only not in name:
                continue
            perTool: dict[str, list[float]] = {tool: [] for tool in TOOLS}
            for _ in range(options.repeat):
                for tool in TOOLS:
                    r = run(
                        name, path, track, lua, workdir, options.duration, options.gor_cpu, options.load_cpu,
                        tool=tool, tcpdumpToo=not options.no_tcpdump,
                    )  # fmt: skip
                    complete = 100.0 * r["captured"] / max(r["served"], 1)
                    ratio = r["gorMsPer1k"] / r["dumpMsPer1k"] if r["dumpMsPer1k"] else float("inf")
                    resp = f"{r['responses']}" if track else "-"
                    perTool[tool].append(r["gorMsPer1k"])
                    if tool == "gor":
                        ours = (r, complete, ratio)
                    print(
                        f"{name:30} {tool:>8} {r['rps']:8.0f} {r['served']:8d} {r['captured']:8d} {complete:8.2f}% {resp:>8} "
                        f"{r['gorMsPer1k']:7.2f} {r['dumpMsPer1k']:14.1f} {ratio:6.1f} {r['rssMB']:7.0f}"
                    )
                    if tool != "goreplay":
                        print(f"    gor counters: {r['stats']}")
                        for line in r["others"] + r["problems"]:
                            print(f"    {line}")
                    sys.stdout.flush()
            medians = {tool: sorted(v)[len(v) // 2] for tool, v in perTool.items()}
            if "goreplay" in medians and medians["goreplay"]:
                for tool in TOOLS:
                    if tool != "goreplay":
                        print(f"    {name}: {tool} / goreplay CPU (median of {options.repeat}): {medians[tool] / medians['goreplay']:.2f}x")
                        figure(f"{name}: {tool} / goreplay CPU", medians[tool] / medians["goreplay"], "x", "lower")
            r, complete, ratio = ours
            figure(f"{name}: completeness", complete, "%", "higher")
            if track:
                figure(f"{name}: responses captured", 100.0 * r["responses"] / max(r["served"], 1), "%", "higher")
            figure(f"{name}: gor CPU per 1k requests", r["gorMsPer1k"], "ms", "lower")
            figure(f"{name}: gor / tcpdump CPU", ratio, "x", "none")
            figure(f"{name}: gor peak RSS", r["rssMB"], "MB", "lower", floor=2.0)
            figure(f"{name}: wrk rate", r["rps"], "req/s", "none")
            figure(f"{name}: tcpdump CPU per 1k requests", r["dumpMsPer1k"], "ms", "none")
            CHECKS[f"{name}: no errors or warnings logged"] = not r["problems"]
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    if options.json:
        print(json.dumps({"bench": "capture", "figures": FIGURES, "checks": CHECKS}))


if __name__ == "__main__":
    main()
