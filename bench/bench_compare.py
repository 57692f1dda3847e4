"""
Comparison throughput: N request/response/replay triples compared offline.

    python bench/bench_compare.py [N] [--gor] [--json]

In-process (CompareOutput.write on a Clock) and, with --gor, through
C{gor --input-file F --output-compare R} (elapsed from wall time).
Bodies: ~1 KiB JSON; 10% differ in one field, 5% in status; half of the
replays are chunked+gzip.

With --json, one JSON object of the figures is printed as the last line:
{"bench": "compare", "figures": {NAME: {"value": V, "unit": U, "better":
"higher"|"lower"|"none"}}, "checks": {}}. The human output above it is
unchanged; bench/ab.py reads it.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa: E402

from twisted_gor._blockingio import SynchronousWorker  # noqa: E402
from twisted_gor.compare.output import CompareOutput, CompareOutputConfig  # noqa: E402
from twisted_gor.framing import encodeMessage  # noqa: E402
from twisted_gor.message import Message  # noqa: E402


def triples(n: int) -> list[Message]:
    items = [{"id": i, "name": f"item {i}", "price": i * 1.5, "tags": ["a", "b"]} for i in range(12)]
    messages = []
    for i in range(n):
        body = json.dumps({"items": items, "page": i % 50, "ts": i}).encode()
        other = body
        if i % 10 == 0:
            changed = {"items": items[:-1] + [dict(items[-1], price=0)], "page": i % 50, "ts": i}
            other = json.dumps(changed).encode()
        status = 500 if i % 20 == 1 else 200
        id_ = b"%024x" % i
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        if i % 2:
            data = gzip.compress(other, 1)
            replay = (
                b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (status, len(data), data)
            )
        else:
            replay = b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                status,
                len(other),
            ) + other
        messages.append(Message(1, id_, i, -1, b"GET /items/%d?p=1 HTTP/1.1\r\nHost: x\r\n\r\n" % (i % 1000)))
        messages.append(Message(2, id_, i, 1, head + body))
        messages.append(Message(3, id_, i, 1, replay))
    return messages


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100_000
    messages = triples(n)
    tmp = tempfile.mkdtemp()
    output = CompareOutput(CompareOutputConfig(path=os.path.join(tmp, "r.json"), ignore=["$.ts"]), Clock())
    output.workerFactory = SynchronousWorker
    output.startService()
    start = time.perf_counter()
    for m in messages:
        output.write(m)
    elapsed = time.perf_counter() - start
    output.stopService()
    stats = output.stats
    print(
        f"in-process: {stats['compared']} pairs in {elapsed:.2f}s = {stats['compared'] / elapsed:,.0f} comparisons/s"
        f" (same={stats['same']} body={stats['differs.body']} status={stats['differs.status']})"
    )
    figures = {"in-process comparison rate": {"value": stats["compared"] / elapsed, "unit": "pairs/s", "better": "higher"}}
    if "--gor" in sys.argv:
        path = os.path.join(tmp, "in.gor")
        with open(path, "wb") as f:
            f.write(b"".join(encodeMessage(m) for m in messages))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "twisted_gor", "--input-file", path, "--output-compare", os.path.join(tmp, "g.json"),
             "--compare-ignore", "$.ts", "--compare-max-pending", str(10 * n)],
            check=True, capture_output=True,
        )
        elapsed = time.perf_counter() - start
        with open(os.path.join(tmp, "g.json")) as r:
            compared = json.load(r)["totals"]["compared"]
        print(f"gor command: {compared} pairs in {elapsed:.2f}s wall (incl. start-up) = {compared / elapsed:,.0f} comparisons/s")
        figures["gor command comparison rate"] = {"value": compared / elapsed, "unit": "pairs/s", "better": "higher"}
    if "--json" in sys.argv:
        print(json.dumps({"bench": "compare", "figures": figures, "checks": {}}))


if __name__ == "__main__":
    main()
