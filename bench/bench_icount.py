"""
Instructions per message of gor's hot paths, counted by valgrind's callgrind,
A/B between git revisions: a figure that does not move with the machine's load.

    python bench/bench_icount.py --base REV [--head REV] [--only files,capture,http]

Wall-clock figures on a shared 2-core machine vary by 15% and more while
other work runs; the number of instructions a run executes does not (the same
total twice, whatever the other core does). Each workload runs gor at two
sizes under callgrind and reports (Ir(large) - Ir(small)) / (messages more),
so start-up and imports cancel out:

    files    --input-file 1 KiB POSTs|max to --output-null, and to --output-file
    capture  --input-raw FILE.pcap:PORT --output-null (offline capture of a pcap
             of GETs that this script records with tcpdump, nginx and wrk)
    http     --input-file GETs|1000000000% to --output-http (10 workers) at an
             nginx started here: the replay client's per-request cost

What callgrind does not see: system calls (kernel time) and the effect of
batching at full speed (under callgrind gor runs ~50x slower, so the replay
target answers every request before the next read: one response per read).
Use bench/ab.py for wall-clock throughput beside it.

Each revision is checked out with C{git worktree add --detach} into
/tmp/gor-icount-<rev> (reused), and run with C{PYTHONPATH} pointing at it,
under this interpreter. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PCAP_PORT = 18080
NGINX_PORT = 18097


def checkout(rev: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", rev], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    if sha == subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip():
        status = subprocess.run(["git", "status", "--porcelain", "twisted_gor"], cwd=REPO, capture_output=True, text=True)
        if not status.stdout.strip():
            return REPO
    path = Path(f"/tmp/gor-icount-{sha[:10]}")
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=REPO, check=True, capture_output=True)
    if (path / "setup.py").exists():
        # the compiled speed-ups, as an installed copy would run them
        subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=path, check=True, capture_output=True)
    return path


def instructions(tree: Path, args: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cg.out")
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", "twisted_gor", *args],
            cwd=tree,
            env=dict(os.environ, PYTHONPATH=str(tree)),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if not match:
            raise RuntimeError(f"no callgrind total for {args}:\n{proc.stderr[-2000:]}")
        return int(match.group(1))


def writeRecords(path: str, count: int, kind: str) -> None:
    sep = "\n\U0001f435\U0001f648\U0001f649\n".encode()
    with open(path, "wb") as f:
        for i in range(count):
            if kind == "post":
                body = b"x" * 964
                payload = b"POST /bench/%d HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n" % (i, len(body)) + body
            else:
                payload = b"GET /bench?i=%d HTTP/1.1\r\nHost: prod.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n" % i
            meta = b"1 %024x %d -1" % (i, 1_700_000_000 * 10**9 + i * 1000)
            f.write(meta + b"\n" + payload + sep)


def startNginx(tmp: str) -> subprocess.Popen[bytes]:
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(
            f"worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; keepalive_requests 10000000; client_body_temp_path {tmp}/body;"
            f" proxy_temp_path {tmp}/p; fastcgi_temp_path {tmp}/f; uwsgi_temp_path {tmp}/u; scgi_temp_path {tmp}/s;\n"
            f"  server {{ listen 127.0.0.1:{NGINX_PORT}; location / {{ return 200 \"ok\"; }} }} }}\n"
        )
    proc = subprocess.Popen(["nginx", "-c", conf, "-p", tmp])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", NGINX_PORT), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def recordPcap(tmp: str, seconds: int) -> str:
    path = os.path.join(tmp, "get.pcap")
    subprocess.run(
        [sys.executable, str(HERE / "bench_capture.py"), "--record", path, "--duration", str(seconds)],
        check=True,
        capture_output=True,
    )
    return path


def firstPackets(src: str, dst: str, count: int) -> None:
    subprocess.run(["tcpdump", "-r", src, "-c", str(count), "-w", dst], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--only", default="files,capture,http")
    parser.add_argument("--small", type=int, default=10000, help="messages in the small run")
    parser.add_argument("--large", type=int, default=30000, help="messages in the large run")
    opts = parser.parse_args()
    only = set(opts.only.split(","))
    trees = {"base": checkout(opts.base), "head": checkout(opts.head)}
    print(f"base {opts.base} at {trees['base']}; head {opts.head} at {trees['head']}")
    tmp = tempfile.mkdtemp(prefix="bench-icount-")
    nginx = None
    rows: list[tuple[str, float, float]] = []
    try:
        workloads: list[tuple[str, int, object]] = []
        sizes = (opts.small, opts.large)
        if "files" in only:
            for n in sizes:
                writeRecords(os.path.join(tmp, f"post{n}.gor"), n, "post")
            workloads.append(("file -> null, 1 KiB", 1, lambda n: ["--input-file", f"{tmp}/post{n}.gor|max", "--output-null"]))
            workloads.append(
                ("file -> file, 1 KiB", 1, lambda n: ["--input-file", f"{tmp}/post{n}.gor|max", "--output-file", f"{tmp}/out{n}.gor"])
            )
        if "capture" in only:
            full = recordPcap(tmp, 3)
            for n in sizes:
                # a request and its response are two packets (data only)
                firstPackets(full, os.path.join(tmp, f"get{n}.pcap"), 2 * n)
            workloads.append(
                ("offline capture, tiny GET", 1, lambda n: ["--input-raw", f"{tmp}/get{n}.pcap:{PCAP_PORT}", "--output-null"])
            )
        if "http" in only:
            nginx = startNginx(tmp)
            hs = (opts.small // 2, opts.large // 2)
            for n in hs:
                writeRecords(os.path.join(tmp, f"get{n}.gor"), n, "get")
            workloads.append(
                (
                    "replay to nginx, 10 workers",
                    2,
                    lambda n: [
                        "--input-file", f"{tmp}/get{n}.gor|1000000000%", "--input-file-read-depth", "1000",
                        "--output-http", f"127.0.0.1:{NGINX_PORT}", "--output-http-workers", "10",
                    ],
                )
            )
        for name, divisor, argsFor in workloads:
            small, large = opts.small // divisor, opts.large // divisor
            per: dict[str, float] = {}
            for side, tree in trees.items():
                a = instructions(tree, argsFor(small))  # type: ignore[operator]
                b = instructions(tree, argsFor(large))  # type: ignore[operator]
                per[side] = (b - a) / (large - small)
            rows.append((name, per["base"], per["head"]))
            print(f"{name:32s} base {per['base']:9,.0f}  head {per['head']:9,.0f}  instructions/message  head/base {per['head'] / per['base']:.3f}", flush=True)
    finally:
        if nginx is not None:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
