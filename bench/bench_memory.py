"""
Peak RSS of gor with large messages: one case per queue or buffer of issue 9
item 3 ("memory bounded in bytes everywhere"). Every case runs one gor child
process and reports its peak RSS (its C{VmHWM}, polled every 20 ms); all traffic
stays on loopback; every case is bounded in size and in time (the child is
killed after C{--timeout} seconds, which fails the case's check).

Cases (sizes are the issue's unless scaled by the options):

 - C{file-dead}: C{--input-file} of 3,000 records of 256 KiB, replayed as
   fast as possible to a target that accepts and never answers, 1 worker;
 - C{black-hole}: C{--input-file} of 6,000 POSTs of 32 KiB to the same kind
   of target, default (dynamic) workers;
 - C{input-http}: one POST with a body of C{--http-body-mb} (256 MiB here
   instead of the issue's 1 GiB) to C{--input-http}, C{--output-null};
 - C{input-tcp}: 50 clients of C{--input-tcp} that each send 17 MiB and never
   a record separator, C{--output-null} (gor reads them slowly today: how
   much it has received, and so the figure, depends on the time allowed,
   C{--timeout} / 2 for all the clients);
 - C{track-response}: C{--output-http-track-response}, default (dynamic)
   workers, 500 requests to a target answering each with a head announcing
   a body of 1 GiB, of which it sends 6 MiB (more than the 5 MiB
   C{--output-http-response-buffer} keeps) and then holds the connection:
   every worker holds a big response at once, without moving 500 GiB;
 - C{syn-flood}: a pcap file of 300,000 SYNs from distinct addresses
   (C{--input-raw FILE:80 --input-raw-engine pcap_file}).

Usage: python bench/bench_memory.py [--case NAME ...] [--seconds 15]
       [--http-body-mb 256] [--response-mb 1024] [--syns 300000] [--json]

With --json, one JSON object of the figures is printed as the last line:
{"bench": "memory", "figures": {NAME: {"value", "unit", "better", "floor"}},
"checks": {NAME: true|false}}; bench/ab.py reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402

MiB = 1 << 20
CHUNK = b"x" * MiB
"""One buffer for every sending thread, so that this script stays small."""
FIGURES: dict[str, dict[str, object]] = {}
CHECKS: dict[str, bool] = {}


def figure(name: str, value: float, unit: str = "MB", better: str = "lower", floor: float = 2.0) -> None:
    FIGURES[name] = {"value": value, "unit": unit, "better": better, "floor": floor}


def freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gor:
    """
    One gor child; L{finish} waits for it (killing it after C{timeout}) and
    returns its peak RSS in MiB (its VmHWM, polled) and its stderr.
    """

    def __init__(self, args: list[str], timeout: float) -> None:
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twisted_gor", *args],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self.err,
            env={**os.environ, "PYTHONPATH": REPO},
        )
        self.killed = False
        self._timer = threading.Timer(timeout, self._kill)
        self._timer.daemon = True
        self._timer.start()
        self.peakKiB = 0
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """
        Read the child's VmHWM every 20 ms until it exits. Not C{ru_maxrss}:
        Linux folds the parent's high-water mark into a child's at exec, so
        that would report this script's own peak for any lighter case. A
        sample taken between fork and exec is also this script's, so samples
        count only once the child runs gor.
        """
        path = f"/proc/{self.proc.pid}/status"
        execed = False
        while True:
            try:
                if not execed:
                    with open(f"/proc/{self.proc.pid}/cmdline", "rb") as f:
                        execed = b"twisted_gor" in f.read()
                    if not execed:
                        threading.Event().wait(0.002)
                        continue
                with open(path) as f:
                    text = f.read()
            except OSError:
                return
            m = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
            if m is None:
                return  # a zombie: no memory any more
            self.peakKiB = max(self.peakKiB, int(m.group(1)))
            threading.Event().wait(0.02)

    def _kill(self) -> None:
        self.killed = True
        self.proc.kill()

    def signal(self, number: int = signal.SIGINT) -> None:
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, number)
            except ProcessLookupError:
                pass

    def log(self) -> str:
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def _exited(self, timeout: float) -> bool:
        """
        Wait up to C{timeout} seconds; whether the child has exited (a
        zombie, not reaped: L{finish} reaps it for its rusage).
        """
        threading.Event().wait(timeout)
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    def finish(self) -> tuple[float, str]:
        self._poller.join()
        _, status = os.waitpid(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._timer.cancel()
        return self.peakKiB / 1024, self.log()


def counters(err: str, prefix: str) -> dict[str, int]:
    """
    The last exit-summary counters of the component named C{prefix}...
    """
    found: dict[str, int] = {}
    for line in err.splitlines():
        m = re.search(r"summary: (\S+): (.*)$", line)
        if m and m.group(1).startswith(prefix):
            found = {k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split()) if v.isdigit()}
    return found


class Server(threading.Thread):
    """
    A loopback listener running C{handle(conn)} per connection on threads,
    until L{close}.
    """

    def __init__(self, handle: Callable[[socket.socket, threading.Event], None]) -> None:
        threading.Thread.__init__(self, daemon=True)
        self.handle = handle
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.held.append(c)
            threading.Thread(target=self.handle, args=(c, self.stop), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for c in self.held:
            c.close()
        self.sock.close()


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """
    A black hole: accept, read, never answer.
    """
    conn.settimeout(0.2)
    while not stop.is_set():
        try:
            if not conn.recv(1 << 16):
                return
        except socket.timeout:
            continue
        except OSError:
            return


def bigResponder(size: int, send: int) -> Callable[[socket.socket, threading.Event], None]:
    """
    Answer each connection's first request with a head announcing C{size}
    bytes of body, send C{send} bytes of it, then hold the connection open
    (a huge response still arriving).
    """

    def handle(conn: socket.socket, stop: threading.Event) -> None:
        conn.settimeout(0.2)
        data = b""
        try:
            while b"\r\n\r\n" not in data and not stop.is_set():
                try:
                    more = conn.recv(1 << 16)
                except socket.timeout:
                    continue
                if not more:
                    return
                data += more
            conn.settimeout(5.0)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            left = send
            while left > 0 and not stop.is_set():
                conn.sendall(CHUNK[: min(left, MiB)])
                left -= MiB
            silent(conn, stop)
        except OSError:
            return

    return handle


def writeRecords(path: str, count: int, bodySize: int) -> None:
    body = b"b" * bodySize
    with open(path, "wb") as f:
        for i in range(count):
            payload = (
                b"POST /m?i=%d HTTP/1.1\r\nHost: prod.example\r\nContent-Length: %d\r\n\r\n" % (i, bodySize) + body
            )
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000 + i * 1_000_000, -1, payload)))


def replayCase(name: str, tmp: str, opts: argparse.Namespace, count: int, bodySize: int, workers: list[str]) -> None:
    path = os.path.join(tmp, f"{name}.gor")
    writeRecords(path, count, bodySize)
    hole = Server(silent)
    hole.start()
    try:
        gor = Gor(
            [
                "--input-file", path + "|max",
                "--output-http", f"127.0.0.1:{hole.port}",
                "--output-http-timeout", "2s",
                *workers,
                "--exit-after", f"{opts.seconds}s",
            ],
            opts.timeout,
        )
        rss, err = gor.finish()
    finally:
        hole.close()
        os.unlink(path)
    c = counters(err, "output_http")
    i = counters(err, "input_file")
    print(f"{name}: {count} x {bodySize >> 10} KiB, peak RSS {rss:.0f} MiB; input {i}; output {c}", flush=True)
    figure(f"{name}: peak RSS", rss)
    CHECKS[f"{name}: ended by itself"] = not gor.killed


def caseFileDead(tmp: str, opts: argparse.Namespace) -> None:
    replayCase("file-dead", tmp, opts, 3000, 256 << 10, ["--output-http-workers", "1"])


def caseBlackHole(tmp: str, opts: argparse.Namespace) -> None:
    replayCase("black-hole", tmp, opts, 6000, 32 << 10, [])


def caseInputHttp(tmp: str, opts: argparse.Namespace) -> None:
    port = freePort()
    gor = Gor(["--input-http", f"127.0.0.1:{port}", "--output-null", "--exit-after", f"{opts.timeout / 2}s"], opts.timeout)
    size = opts.http_body_mb * MiB
    sent = 0
    try:
        for _ in range(200):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if gor._exited(0.05):
                    break
        else:
            s = None
        if s is not None:
            chunk = CHUNK
            with s:
                s.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
                try:
                    while sent < size:
                        s.sendall(chunk)
                        sent += len(chunk)
                    s.settimeout(30)
                    s.recv(4096)
                except OSError:
                    pass
    finally:
        gor.signal()
        rss, err = gor.finish()
    print(f"input-http: one POST of {opts.http_body_mb} MiB ({sent >> 20} MiB sent), peak RSS {rss:.0f} MiB; "
          f"input {counters(err, 'input_http')}", flush=True)
    figure("input-http: peak RSS", rss)
    CHECKS["input-http: ended by itself"] = not gor.killed


def caseInputTcp(tmp: str, opts: argparse.Namespace) -> None:
    port = freePort()
    gor = Gor(["--input-tcp", f"127.0.0.1:{port}", "--output-null", "--exit-after", f"{opts.timeout / 2}s"], opts.timeout)
    per = opts.tcp_mb * MiB
    done = [0]
    lock = threading.Lock()

    def client() -> None:
        chunk = CHUNK
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                left = per
                while left > 0:
                    s.sendall(chunk[: min(left, MiB)])
                    left -= MiB
                with lock:
                    done[0] += 1
                s.settimeout(2)
                s.recv(1)
        except OSError:
            pass

    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                if gor._exited(0.05):
                    break
        threads = [threading.Thread(target=client, daemon=True) for _ in range(opts.tcp_clients)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + opts.timeout / 2
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
    finally:
        gor.signal()
        rss, err = gor.finish()
    print(f"input-tcp: {opts.tcp_clients} clients x {opts.tcp_mb} MiB without a separator ({done[0]} sent all), "
          f"peak RSS {rss:.0f} MiB; input {counters(err, 'input_tcp')}", flush=True)
    figure("input-tcp: peak RSS", rss)
    CHECKS["input-tcp: ended by itself"] = not gor.killed


def caseTrackResponse(tmp: str, opts: argparse.Namespace) -> None:
    path = os.path.join(tmp, "track.gor")
    with open(path, "wb") as f:
        for i in range(opts.track_requests):
            payload = b"GET /big?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
            f.write(encodeMessage(Message(1, b"%024x" % i, 1_000_000_000 + i, -1, payload)))
    target = Server(bigResponder(opts.response_mb * MiB, opts.response_sent_mb * MiB))
    target.start()
    try:
        gor = Gor(
            [
                "--input-file", path + "|max",
                "--output-http", f"127.0.0.1:{target.port}",
                "--output-http-track-response",
                "--output-http-timeout", f"{max(1.0, opts.seconds - 2)}s",
                "--output-null",
                "--exit-after", f"{opts.seconds}s",
            ],
            opts.timeout,
        )
        rss, err = gor.finish()
    finally:
        target.close()
    print(f"track-response: {opts.track_requests} requests answered with {opts.response_mb} MiB bodies "
          f"({opts.response_sent_mb} MiB of each sent), default workers, peak RSS {rss:.0f} MiB; "
          f"output {counters(err, 'output_http')}", flush=True)
    figure("track-response: peak RSS", rss)
    CHECKS["track-response: ended by itself"] = not gor.killed


def writeSynPcap(path: str, count: int) -> None:
    """
    C{count} SYNs to 10.0.0.2:80 from distinct addresses 11.x.y.z, 1 us apart.
    """
    start = 1_600_000_000 * 10**9
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        eth = b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00"
        dst = socket.inet_aton("10.0.0.2")
        parts = []
        for i in range(count):
            src = struct.pack("!I", (11 << 24) + i + 1)
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0x4000, 64, 6, 0, src, dst)
            tcp = struct.pack("!HHIIBBHHH", 40000 + i % 20000, 80, i * 7919, 0, 5 << 4, 0x02, 65535, 0, 0)
            frame = eth + ip + tcp
            ts = start + i * 1000
            parts.append(struct.pack("<IIII", ts // 10**9, ts % 10**9, len(frame), len(frame)) + frame)
            if len(parts) >= 10000:
                f.write(b"".join(parts))
                parts = []
        f.write(b"".join(parts))


def caseSynFlood(tmp: str, opts: argparse.Namespace) -> None:
    path = os.path.join(tmp, "syn.pcap")
    writeSynPcap(path, opts.syns)
    gor = Gor(
        ["--input-raw", f"{path}:80", "--input-raw-engine", "pcap_file", "--output-null",
         "--exit-after", f"{opts.timeout / 2}s"],
        opts.timeout,
    )
    rss, err = gor.finish()
    os.unlink(path)
    print(f"syn-flood: {opts.syns} SYNs from distinct addresses, peak RSS {rss:.0f} MiB; "
          f"input {counters(err, 'input_raw')}", flush=True)
    figure("syn-flood: peak RSS", rss)
    CHECKS["syn-flood: ended by itself"] = not gor.killed


CASES: dict[str, Callable[[str, argparse.Namespace], None]] = {
    "file-dead": caseFileDead,
    "black-hole": caseBlackHole,
    "input-http": caseInputHttp,
    "input-tcp": caseInputTcp,
    "track-response": caseTrackResponse,
    "syn-flood": caseSynFlood,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="repeatable; default: all")
    parser.add_argument("--seconds", type=float, default=15.0, help="--exit-after of the replay cases")
    parser.add_argument("--timeout", type=float, default=60.0, help="kill a gor child after this many seconds")
    parser.add_argument("--http-body-mb", type=int, default=256)
    parser.add_argument("--response-mb", type=int, default=1024, help="body size the target announces")
    parser.add_argument("--response-sent-mb", type=int, default=6, help="body bytes the target sends of each")
    parser.add_argument("--track-requests", type=int, default=500)
    parser.add_argument("--tcp-clients", type=int, default=50)
    parser.add_argument("--tcp-mb", type=int, default=17)
    parser.add_argument("--syns", type=int, default=300_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures at the end")
    opts = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_memory")
    try:
        for name in opts.case or list(CASES):
            CASES[name](tmp, opts)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.json:
        print(json.dumps({"bench": "memory", "figures": FIGURES, "checks": CHECKS}))


if __name__ == "__main__":
    main()
