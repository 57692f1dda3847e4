"""
A/B benchmark of two git revisions in one interleaved run.

    python bench/ab.py --base REV --head REV --bench files --bench http \\
        --bench capture --reps 3

Each revision is checked out with C{git worktree add --detach
/tmp/gor-ab-<shortrev> REV} (reused if already there at that commit; the
ones made here are removed at the end unless C{--keep}). Every run executes a
bench script with C{--json} under this interpreter (C{sys.executable}) with
C{PYTHONPATH=<checkout>} and the checkout as working directory, so the
checkout's C{twisted_gor} is what runs (checked once per checkout by importing
it from the child). Runs alternate A,B,B,A,A,B,... so that drift in the
machine's load falls on both sides alike.

By default (C{--script-from head}) both sides are measured by the head
revision's copy of the script: for the base side it is copied into the base
checkout's C{bench/} (as C{_ab_<script>}), because the scripts locate the
package from their own path. A script without C{--json} (a revision older
than this harness) is replaced by the copy next to this file, with a note.

Output: one row per figure with A and B medians, min..max over the
repetitions, B/A, and C{WORSE} when B is worse than A by more than
C{--threshold} percent in the figure's own direction (higher or lower is
better; calibration figures such as wrk's own rate are never flagged).
Failed correctness checks and failed runs are listed after the table.

Standard library only: it must not import the package it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: Bench name -> (script file, default arguments for an A/B run, timeout s).
#: The defaults keep one run of each small: files+http+capture, 3 reps (6
#: runs each) take about 7 minutes.
BENCHES: dict[str, tuple[str, list[str], float]] = {
    "files": ("bench_files.py", ["--records", "100000"], 300.0),
    "http": (
        "bench_http.py",
        ["--requests", "20000", "--rounds", "1", "--wrk-seconds", "3", "--hole-seconds", "5"],
        300.0,
    ),
    "capture": ("bench_capture.py", ["--duration", "5"], 300.0),
    "relay": ("bench_relay.py", ["--messages", "50000", "--repeat", "1"], 300.0),
    "compare": ("bench_compare.py", ["20000", "--gor"], 300.0),
    "deadtarget": ("bench_deadtarget.py", ["--seconds", "10"], 300.0),
    "memory": ("bench_memory.py", [], 600.0),
}


@dataclass
class Side:
    """
    One side of the comparison: a revision and its checkout.
    """

    label: str
    rev: str
    sha: str
    short: str
    checkout: Path
    created: bool = False
    copies: list[Path] = field(default_factory=list)


@dataclass
class Figure:
    """
    The samples of one figure on both sides.
    """

    unit: str
    better: str
    floor: float
    samples: dict[str, list[float]] = field(default_factory=lambda: {"A": [], "B": []})


def git(*args: str, cwd: Path = REPO) -> str:
    """
    Run git in C{cwd}; return its stripped stdout, or exit with its stderr.
    """
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout.strip()


def materialise(label: str, rev: str) -> Side:
    """
    Check out C{rev} in C{/tmp/gor-ab-<shortrev>}, or reuse a clean checkout
    of the same commit there.
    """
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    short = git("rev-parse", "--short", sha)
    path = Path(tempfile.gettempdir()) / f"gor-ab-{short}"
    side = Side(label, rev, sha, short, path)
    if path.exists():
        there = git("rev-parse", "HEAD", cwd=path)
        if there != sha:
            raise SystemExit(f"{path} exists at {there[:10]}, not {short}; remove it (git worktree remove {path})")
        dirty = [line for line in git("status", "--porcelain", cwd=path).splitlines() if "/_ab_" not in line]
        if dirty:
            raise SystemExit(f"{path} has local changes, refusing to measure it: {dirty[:5]}")
        print(f"{label}: reusing {path} ({short})")
    else:
        git("worktree", "add", "--detach", str(path), sha)
        side.created = True
        print(f"{label}: checked out {short} in {path}")
    return side


def buildSpeedups(tree: Path) -> None:
    """
    Build the checkout's compiled speed-ups in place (revisions with a
    C{setup.py}), so that a side measures what an installed copy would run,
    not the pure-Python twins.
    """
    if not (tree / "setup.py").exists():
        return
    p = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tree, capture_output=True, text=True, timeout=600
    )
    if p.returncode != 0:
        raise SystemExit(f"{tree}: building the speed-ups failed:\n{p.stderr[-2000:]}")


def prepare(side: Side) -> None:
    """
    Byte-compile the checkout's package (so that the first run does not pay
    for it), then import C{twisted_gor} the way the bench children do, from a
    neutral directory so only C{PYTHONPATH} can put the checkout first, and
    check that it comes from the checkout rather than the editable install.
    """
    buildSpeedups(side.checkout)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(side.checkout / "twisted_gor")],
        capture_output=True,
        timeout=300,
    )
    p = subprocess.run(
        [sys.executable, "-c", "import twisted_gor; print(twisted_gor.__file__)"],
        env=childEnv(side),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    where = p.stdout.strip()
    print(f"{side.label}: twisted_gor imported from {where or p.stderr.strip()[-300:]}")
    if not where or not Path(where).resolve().is_relative_to(side.checkout.resolve()):
        raise SystemExit(f"{side.label}: twisted_gor does not come from {side.checkout}")


def childEnv(side: Side) -> dict[str, str]:
    """
    The environment of a bench run for C{side}: its checkout alone on
    C{PYTHONPATH}.
    """
    return dict(os.environ, PYTHONPATH=str(side.checkout))


def supportsJson(script: Path) -> bool:
    """
    Whether a bench script has the C{--json} option (by its source).
    """
    return script.exists() and '"--json"' in script.read_text(errors="replace")


def chooseScript(side: Side, sides: dict[str, Side], name: str, source: str) -> Path:
    """
    The script that measures C{side} for bench C{name}, placed so that its
    own path resolves to C{side}'s checkout (the scripts find the package
    relative to themselves).
    """
    filename = BENCHES[name][0]
    origin = {"head": sides["B"].checkout, "own": side.checkout, "self": REPO}[source] / "bench" / filename
    if not supportsJson(origin):
        print(f"note: {origin} has no --json; {side.label} is measured by {HERE / filename}")
        origin = HERE / filename
        if not supportsJson(origin):
            raise SystemExit(f"{origin} has no --json")
    target = side.checkout / "bench" / filename
    if origin.resolve() == target.resolve():
        return target
    copy = side.checkout / "bench" / f"_ab_{filename}"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(origin, copy)
    if copy not in side.copies:
        side.copies.append(copy)
    return copy


def runOnce(side: Side, script: Path, args: list[str], timeout: float, log: Path) -> dict[str, object]:
    """
    Run one bench script for C{side}; return its JSON object. The script runs
    in its own session so that a timeout ends everything it started (nginx,
    gor, wrk) by process group.
    """
    command = [sys.executable, str(script), *args, "--json"]
    proc = subprocess.Popen(
        command,
        cwd=side.checkout,
        env=childEnv(side),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = stop(proc)
        log.write_text(f"$ {shlex.join(command)}\n{out}\n--- stderr ---\n{err}")
        raise RuntimeError(f"timed out after {timeout:.0f}s (log {log})")
    except BaseException:
        # e.g. ^C: the run is in its own session and did not see it
        stop(proc)
        raise
    log.write_text(f"$ {shlex.join(command)}\n{out}\n--- stderr ---\n{err}")
    if proc.returncode != 0:
        raise RuntimeError(f"exit status {proc.returncode} (log {log}): {err.strip()[-500:]}")
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                continue
            if isinstance(found, dict) and "figures" in found:
                return found
    raise RuntimeError(f"no JSON figures in the output (log {log})")


def stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """
    End a bench run and everything it started (its process group): SIGTERM,
    then SIGKILL if it is still there after 15 s. Returns its output so far.
    """
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        return proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()
    except ProcessLookupError:
        return proc.communicate()


def order(rep: int) -> tuple[str, str]:
    """
    A,B then B,A then A,B...: the sides of repetition C{rep}.
    """
    return ("A", "B") if rep % 2 == 0 else ("B", "A")


def fmt(value: float) -> str:
    """
    A figure, with precision fitting its size.
    """
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def summary(values: list[float]) -> str:
    """
    C{median [min..max]} of the samples, or C{-} without any.
    """
    if not values:
        return "-"
    if len(values) == 1:
        return fmt(values[0])
    return f"{fmt(statistics.median(values))} [{fmt(min(values))}..{fmt(max(values))}]"


def verdict(figure: Figure, threshold: float) -> tuple[str, str]:
    """
    (B/A ratio, flag) for a figure; the flag is C{WORSE} when B is worse
    than A by more than C{threshold} percent in the figure's direction (and
    by more than the figure's noise floor), C{better} for the converse.
    """
    a, b = figure.samples["A"], figure.samples["B"]
    if not a or not b:
        return "-", ""
    ma, mb = statistics.median(a), statistics.median(b)
    if ma == 0:
        return ("1.000" if mb == 0 else "inf"), ""
    ratio = mb / ma
    if abs(mb - ma) <= figure.floor:
        return f"{ratio:.3f}", ""
    limit = threshold / 100
    worse = (figure.better == "higher" and ratio < 1 - limit) or (figure.better == "lower" and ratio > 1 + limit)
    better = (figure.better == "higher" and ratio > 1 + limit) or (figure.better == "lower" and ratio < 1 - limit)
    return f"{ratio:.3f}", "WORSE" if worse else ("better" if better else "")


def table(results: dict[str, dict[str, Figure]], threshold: float) -> str:
    """
    The result table: one row per figure.
    """
    rows = [("bench", "figure", "unit", "A median [min..max]", "B median [min..max]", "B/A", "")]
    for bench, figures in results.items():
        for name, figure in figures.items():
            ratio, flag = verdict(figure, threshold)
            unit = figure.unit + ("" if figure.better != "none" else " (calib.)")
            rows.append((bench, name, unit, summary(figure.samples["A"]), summary(figure.samples["B"]), ratio, flag))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        cells = [cell.rjust(w) if j == 5 else cell.ljust(w) for j, (cell, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cleanup(sides: dict[str, Side], keep: bool) -> None:
    """
    Remove the copied scripts, and the checkouts made by this run unless
    C{keep}.
    """
    done: set[Path] = set()
    for side in sides.values():
        for copy in side.copies:
            copy.unlink(missing_ok=True)
        if side.created and not keep and side.checkout not in done:
            git("worktree", "remove", "--force", str(side.checkout))
            print(f"removed {side.checkout}")
        done.add(side.checkout)


def parseArgs(argv: list[str] | None = None) -> argparse.Namespace:
    """
    Command-line options.
    """
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="revision A (e.g. main, a sha)")
    parser.add_argument("--head", required=True, help="revision B")
    parser.add_argument("--bench", action="append", choices=sorted(BENCHES), required=True, help="repeatable")
    parser.add_argument("--reps", type=int, default=3, help="runs per side and bench (default 3)")
    parser.add_argument(
        "--script-from",
        choices=("head", "own", "self"),
        default="head",
        help="whose bench script measures both sides: head's (default), each revision's own, or the copy next to ab.py",
    )
    parser.add_argument(
        "--bench-args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help='replace the default arguments of one bench, e.g. files="--records 200000"',
    )
    parser.add_argument("--threshold", type=float, default=5.0, help="percent worse that is flagged (default 5)")
    parser.add_argument("--timeout", type=float, default=0.0, help="seconds per run (default: per bench, 300)")
    parser.add_argument("--keep", action="store_true", help="keep the checkouts made in /tmp")
    parser.add_argument("--log-dir", default="", help="where each run's output goes (default: a new temp dir)")
    parser.add_argument("--json-out", default="", help="also write every sample to this JSON file")
    options = parser.parse_args(argv)
    if options.reps < 1:
        parser.error("--reps must be at least 1")
    options.extra = {}
    for item in options.bench_args:
        name, sep, args = item.partition("=")
        if not sep or name not in BENCHES:
            parser.error(f"--bench-args wants NAME=ARGS with NAME one of {sorted(BENCHES)}: {item!r}")
        options.extra[name] = shlex.split(args)
    return options


def main(argv: list[str] | None = None) -> int:
    """
    Run the A/B comparison; 0 if every run succeeded and every check passed.
    """
    options = parseArgs(argv)
    benches: list[str] = list(dict.fromkeys(options.bench))
    if "capture" in benches and os.geteuid() != 0:
        raise SystemExit("the capture bench needs root")
    logDir = Path(options.log_dir or tempfile.mkdtemp(prefix="gor-ab-logs-"))
    logDir.mkdir(parents=True, exist_ok=True)
    sides: dict[str, Side] = {}
    try:
        sides["A"] = materialise("A", options.base)
        sides["B"] = materialise("B", options.head)
        for side in {s.checkout: s for s in sides.values()}.values():
            prepare(side)
        scripts = {
            (label, name): chooseScript(side, sides, name, options.script_from)
            for label, side in sides.items()
            for name in benches
        }
        results: dict[str, dict[str, Figure]] = {name: {} for name in benches}
        failures: list[str] = []
        failedChecks: dict[str, int] = {}
        total = options.reps * len(benches) * 2
        print(f"A = {options.base} ({sides['A'].short}), B = {options.head} ({sides['B'].short}); "
              f"{total} runs, logs in {logDir}", flush=True)
        count = 0
        started = time.monotonic()
        for rep in range(options.reps):
            for name in benches:
                _, defaults, timeout = BENCHES[name]
                args = options.extra.get(name, defaults)
                for label in order(rep):
                    count += 1
                    side = sides[label]
                    log = logDir / f"{name}-{rep + 1}-{label}-{side.short}.log"
                    t0 = time.monotonic()
                    try:
                        found = runOnce(side, scripts[label, name], args, options.timeout or timeout, log)
                    except RuntimeError as e:
                        failures.append(f"{name} rep {rep + 1} {label}: {e}")
                        print(f"[{count}/{total}] {name} {label} ({side.short}): FAILED {e}", flush=True)
                        continue
                    figures = found.get("figures", {})
                    assert isinstance(figures, dict)
                    for fname, f in figures.items():
                        figure = results[name].setdefault(
                            fname, Figure(str(f.get("unit", "")), str(f.get("better", "none")), float(f.get("floor", 0.0)))
                        )
                        figure.samples[label].append(float(f["value"]))
                    checks = found.get("checks", {})
                    assert isinstance(checks, dict)
                    for cname, ok in checks.items():
                        if not ok:
                            key = f"{name} {label}: {cname}"
                            failedChecks[key] = failedChecks.get(key, 0) + 1
                    print(f"[{count}/{total}] {name} {label} ({side.short}): {time.monotonic() - t0:.1f}s", flush=True)
        print(f"\n{options.reps} rep(s), {time.monotonic() - started:.0f}s; A = {options.base} ({sides['A'].short}), "
              f"B = {options.head} ({sides['B'].short}); WORSE: B worse than A by more than {options.threshold:g}%\n")
        print(table(results, options.threshold))
        for key, n in failedChecks.items():
            print(f"check failed ({n}x): {key}")
        for failure in failures:
            print(f"run failed: {failure}")
        if options.json_out:
            Path(options.json_out).write_text(
                json.dumps(
                    {
                        "base": {"rev": options.base, "sha": sides["A"].sha},
                        "head": {"rev": options.head, "sha": sides["B"].sha},
                        "results": {
                            bench: {n: {"unit": f.unit, "better": f.better, "floor": f.floor, **f.samples} for n, f in figures.items()}
                            for bench, figures in results.items()
                        },
                        "failedChecks": failedChecks,
                        "failures": failures,
                    },
                    indent=1,
                )
            )
        return 1 if failures or failedChecks else 0
    finally:
        cleanup(sides, options.keep)


if __name__ == "__main__":
    sys.exit(main())
