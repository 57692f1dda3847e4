#!/usr/bin/env python3
"""
Run the fuzz targets of C{tests/fuzz} in the long profile and print, per
target: cases run, failures (crashes and broken properties), hangs, the
slowest case, the largest tracemalloc peak of one (sampled) case and the
peak RSS.

Each target runs in its own process (so its peak RSS is its own), one after
the other::

    python bench/fuzz.py                       # GOR_FUZZ=long: 10,000 cases per target
    python bench/fuzz.py --examples 500 gorfile http   # 500 per test
    python bench/fuzz.py --json                # one JSON object, as every bench script

A failure prints hypothesis's falsifying example (and its reproduction
blob) above the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = {
    "gorfile": "tests.fuzz.test_gorfile",
    "relay": "tests.fuzz.test_relay",
    "pcap": "tests.fuzz.test_pcap",
    "http": "tests.fuzz.test_http",
}


def runOne(name: str) -> dict[str, Any]:
    """
    Run one target's tests in this process (the profile comes from the
    environment) and return its figures.
    """
    from twisted.trial import reporter, runner

    from tests.fuzz import _harness

    loader = runner.TestLoader()
    suite = loader.loadByName(TARGETS[name], recurse=True)
    stream = sys.stderr
    result = reporter.TreeReporter(stream)
    started = time.perf_counter()
    suite.run(result)
    elapsed = time.perf_counter() - started
    record = _harness.RECORDS.get(name, _harness.TargetRecord(name))
    return {
        "target": name,
        "tests": result.testsRun,
        "cases": record.cases,
        "failures": len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses),
        "expected_failures": len(result.expectedFailures),
        "hangs": record.hangs,
        "slowest_case_s": round(record.slowest, 3),
        "traced_cases": record.traced,
        "case_peak_tracemalloc_bytes": record.peak,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "seconds": round(elapsed, 1),
        "profile": _harness.PROFILE,
        "cases_per_target": _harness.CASES_PER_TARGET[_harness.PROFILE],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[], help="default: all")
    parser.add_argument("--examples", type=int, default=0, help="cases per test (default: the profile's)")
    parser.add_argument("--profile", default="long", choices=["ci", "long"])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        with contextlib.redirect_stdout(sys.stderr):  # hypothesis reports on stdout
            figures = runOne(args.one)
        print(json.dumps(figures))
        return 0
    env = dict(os.environ, GOR_FUZZ=args.profile)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    if args.examples:
        env["GOR_FUZZ_EXAMPLES"] = str(args.examples)
    rows = []
    for name in args.targets or list(TARGETS):
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--one", name],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode or not lines:
            rows.append({"target": name, "error": f"runner exited {done.returncode}"})
            continue
        rows.append(json.loads(lines[-1]))
    if args.json:
        table: dict[str, dict[str, Any]] = {}
        checks: dict[str, bool] = {}
        for r in rows:
            name = r["target"]
            checks[f"{name}.ran"] = "error" not in r
            if "error" in r:
                continue
            checks[f"{name}.no_failures"] = not r["failures"]
            checks[f"{name}.no_hangs"] = not r["hangs"]
            table[f"{name}.cases"] = {"value": r["cases"], "unit": "cases", "better": "none", "floor": 0}
            table[f"{name}.case_peak"] = {
                "value": round(r["case_peak_tracemalloc_bytes"] / 1024, 1),
                "unit": "KB",
                "better": "lower",
                "floor": 64,
            }
            table[f"{name}.peak_rss"] = {
                "value": round(r["peak_rss_bytes"] / 2**20, 1),
                "unit": "MB",
                "better": "lower",
                "floor": 2,
            }
            table[f"{name}.seconds"] = {"value": r["seconds"], "unit": "s", "better": "none", "floor": 0}
        print(json.dumps({"bench": "fuzz", "figures": table, "checks": checks, "targets": rows}))
    else:
        print()
        print(f"{'target':8} {'tests':>5} {'cases':>8} {'fail':>4} {'hangs':>5} {'slowest':>8} "
              f"{'traced':>6} {'case peak':>10} {'RSS':>7} {'time':>7}")
        for r in rows:
            if "error" in r:
                print(f"{r['target']:8} {r['error']}")
                continue
            print(
                f"{r['target']:8} {r['tests']:5d} {r['cases']:8,d} {r['failures']:4d} {r['hangs']:5d} "
                f"{r['slowest_case_s']:7.2f}s {r['traced_cases']:6d} "
                f"{r['case_peak_tracemalloc_bytes'] / 1024:8.0f}KB {r['peak_rss_bytes'] / 2**20:5.0f}MB "
                f"{r['seconds']:6.0f}s"
            )
        print("cases: cases run, hypothesis's shrinking runs included; fail: failed tests;")
        print("traced: cases traced by tracemalloc, case peak: the largest peak of one of them;")
        print("RSS: the peak RSS of the target's process. Expected failures (trial todo: known")
        print("bugs, see the tests) are not counted.")
    return 1 if any("error" in r or r["failures"] or r["hangs"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
