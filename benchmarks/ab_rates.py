"""Measure ``harness ab`` itself: its A/A false-positive rate and its power to detect known slowdowns.

    python benchmarks/ab_rates.py aa --repeats 10 --out rates/          # whole default matrix, A/A
    python benchmarks/ab_rates.py power --repeats 10 --out rates/       # 5/10/20 % slowdowns of one row
    python benchmarks/ab_rates.py summary rates/                        # the rates, with exact 95 % CIs

Both run ``harness ab`` at its default settings (the options after ``--`` are passed on) with the test
plugin ``tests/plugins/slowdown.py``, whose row is ``HARNESS_SLOWDOWN`` × slower on side B:

* ``aa``: the default matrix plus the slowdown row, B with ``HARNESS_SLOWDOWN=0.10``.  Every other row is the
  same code in the same environment on both sides, so a run that flags any of them is a false positive of the
  whole matrix (the family-wise error Holm's correction bounds); the slowdown row is a detection inside a
  full-size matrix at the same time.
* ``power``: the slowdown row alone, B slower by 5, 10 and 20 %, alternated.  Detected when its test
  (the test over process pairs; Mann–Whitney on pooled rounds for runs made before it) gives ``p < alpha / m``
  (``m`` = rows of the full matrix, read from an ``aa`` run or counted here) and the
  ratio passes the threshold: under Holm a row with that p is flagged in the full matrix whatever the other
  rows do (its adjusted p is at most ``m · p``), so this rate is a lower bound of the full-matrix power.

Rates are measurements, not tests: nothing here asserts a number.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from harness.analysis import stats  # noqa: E402 (after the sys.path insert)

HARNESS = str(Path(sys.executable).with_name("harness"))
PLUGIN = ["-p", "tests/plugins/slowdown.py"]
ROW = ["--data", "slowdown", "--model", "slowdown", "--loss", "slowdown", "--optimizer", "slowdown", "--no-references"]
SLOW_NAME = "slowdown-slowdown-slowdown-slowdown]"


def run_ab(out: Path, tag: str, fraction: float, extra: list[str], only_row: bool) -> None:
    path = out / f"{tag}.json"
    argv = [HARNESS, "ab", "-q", *PLUGIN, *(ROW if only_row else []), "--b-env", f"HARNESS_SLOWDOWN={fraction}",
            "--json", str(path), *extra]
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    wall, load_after = time.perf_counter() - start, os.getloadavg()[0]
    print(f"{tag}: exit {done.returncode}, {wall:.0f} s, load average {load_before:.1f} -> {load_after:.1f}",
          flush=True)
    if not path.exists():
        print(done.stderr[-2000:], file=sys.stderr)
        return
    doc = json.loads(path.read_text())  # how busy the machine was, for the reader of the rates
    doc["ab_rates"] = {"load_before": load_before, "load_after": load_after}
    path.write_text(json.dumps(doc))


def matrix_rows() -> int:
    """Rows ``harness ab`` tests on the default matrix plus the slowdown row (skipped references excluded)."""
    from harness.core.loader import load
    from harness.measure import planning, workloads

    registry = load(extra=["tests/plugins/slowdown.py"])
    seed = workloads.workload("seed")
    planned = planning.cases(planning.select(registry, {}, False), ["cpu"], seed)
    planned += planning.reference_cases(["cpu"], seed)
    return sum(not skip for _, skip in planned)


def verdicts(doc: dict, clock: str) -> dict[str, stats.Change]:
    """Every tested row of a run re-judged on ``clock`` (``wall`` reproduces the run's own verdicts)."""
    key = "process_seconds" if clock == "wall" else "process_cpu_seconds"
    changes = []
    for row in doc["rows"]:
        a, b = row.get("a", {}).get(key), row.get("b", {}).get(key)
        if a and b and row.get("p") is not None:
            if "process pairs" in doc["settings"].get("test", ""):  # re-judged with today's test on process pairs
                changes.append(stats.paired_change(row["name"], a, b))
            else:  # runs made before it: rounds pooled, Mann–Whitney
                changes.append(stats.change(row["name"], [x for p in a for x in p], [x for p in b for x in p]))
    stats.judge(changes, doc["settings"]["alpha"], doc["settings"]["threshold"])
    return {c.name: c for c in changes}


def _load(doc: dict) -> float | None:
    found = doc.get("ab_rates")
    return max(found["load_before"], found["load_after"]) if found else None


def _loads(values: list) -> str:
    known = [v for v in values if v is not None]
    return f"; load average {min(known):.1f}–{max(known):.1f}" if known else ""


def process_share(aa: list) -> str:
    """How much of a row's round-to-round variance (log wall time) lies between its processes (one-way ANOVA,
    the intraclass correlation), over every unchanged row of the A/A runs: what isolation in many
    processes buys over one."""
    iccs = []
    for _, d in aa:
        for row in d["rows"]:
            if row["name"].endswith(SLOW_NAME) or not row.get("a", {}).get("process_seconds"):
                continue
            groups = [np.log(p) for side in ("a", "b") for p in row[side]["process_seconds"] if len(p) >= 2]
            if len(groups) < 2:
                continue
            n = np.mean([len(g) for g in groups])
            within = np.mean([g.var(ddof=1) for g in groups])
            between = max(np.var([g.mean() for g in groups], ddof=1) - within / n, 0.0)
            iccs.append(between / (between + within) if between + within > 0 else 0.0)
    if not iccs:
        return "no per-process data"
    q = np.percentile(iccs, [25, 50, 75])
    return (f"share of variance between processes (ICC of log wall time, {len(iccs)} row-runs): "
            f"median {q[1]:.2f}, quartiles {q[0]:.2f}–{q[2]:.2f}")


def summary(folder: str, only: str | None = None) -> None:
    docs = [(Path(p).stem, json.load(open(p))) for p in sorted(glob.glob(os.path.join(folder, "*.json")))
            if not only or only in Path(p).stem]
    aa = [(tag, d) for tag, d in docs if tag.startswith("aa-")]
    m = max((sum(r.get("p") is not None for r in d["rows"]) for _, d in aa), default=None) or matrix_rows()
    power = [(tag, d) for tag, d in docs if tag.startswith("power-")]
    for clock in ("wall", "cpu"):
        print(f"--- clock: {clock}" + (" (the default: these are the runs' own verdicts)" if clock == "wall" else
                                        " (the same runs re-judged on the workers' CPU time, as --clock cpu would)"))
        if aa:
            judged = [(tag, d, verdicts(d, clock)) for tag, d in aa]
            flagged = [(tag, [n for n, c in v.items() if not n.endswith(SLOW_NAME) and c.verdict != "same"])
                       for tag, _, v in judged]
            k = sum(bool(f) for _, f in flagged)
            ci = stats.clopper_pearson(k, len(aa))
            rows = sum(not n.endswith(SLOW_NAME) for _, _, v in judged for n in v)
            hits = [c.verdict == "slower" for _, _, v in judged for n, c in v.items() if n.endswith(SLOW_NAME)]
            walls = sorted(d["settings"]["wall_s"] for _, d in aa)
            print(f"A/A: {k} of {len(aa)} whole-matrix runs flagged any unchanged row ({k / len(aa):.0%}, 95% CI "
                  f"{ci.low:.0%}–{ci.high:.0%}); {sum(len(f) for _, f in flagged)} of {rows} unchanged rows flagged; "
                  f"wall {walls[0]:.0f}–{walls[-1]:.0f} s (median {walls[len(walls) // 2]:.0f} s) per run"
                  f"{_loads([_load(d) for _, d in aa])}")
            for tag, f in flagged:
                if f:
                    print(f"  {tag}: {', '.join(f)}")
            if clock == "wall":
                print("  " + process_share(aa))
            if hits:
                hci = stats.clopper_pearson(sum(hits), len(hits))
                print(f"  10% slowdown row inside the full matrix: detected in {sum(hits)} of {len(hits)} "
                      f"({sum(hits) / len(hits):.0%}, 95% CI {hci.low:.0%}–{hci.high:.0%})")
        by_fraction: dict[float, list] = {}
        for _tag, d in power:
            [row] = [c for n, c in verdicts(d, clock).items() if n.endswith(SLOW_NAME)] or [None]
            if row is None:
                continue
            alpha, threshold = d["settings"]["alpha"], d["settings"]["threshold"]
            detected = row.p < alpha / m and row.ratio.estimate > 1 + threshold
            fraction = (d["settings"]["processes"], d["settings"]["rounds"],
                        float(d["sides"]["B"]["env"]["HARNESS_SLOWDOWN"]))
            by_fraction.setdefault(fraction, []).append(
                (detected, row.ratio.estimate, d["settings"]["wall_s"], _load(d)))
        for (processes, rounds, fraction), runs in sorted(by_fraction.items()):
            k = sum(x[0] for x in runs)
            ci = stats.clopper_pearson(k, len(runs))
            ratios = sorted(x[1] for x in runs)
            print(f"power at {fraction:.0%} slower, {rounds} rounds a side in {processes} processes: "
                  f"detected in {k} of {len(runs)} runs ({k / len(runs):.0%}, 95% CI "
                  f"{ci.low:.0%}–{ci.high:.0%}) at p < {0.05 / m:.2g} (Holm's first step over {m} rows); measured "
                  f"ratios {ratios[0]:.3f}–{ratios[-1]:.3f} (median {ratios[len(ratios) // 2]:.3f}); "
                  f"{sum(x[2] for x in runs) / len(runs):.0f} s per one-row run{_loads([x[3] for x in runs])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["aa", "power", "summary"])
    parser.add_argument("folder", nargs="?", help="summary: the folder of JSON files")
    parser.add_argument("--out", default="ab-rates", help="folder for the runs' JSON (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--fractions", default="0.05,0.10,0.20", help="power: slowdowns, alternated")
    parser.add_argument("--only", help="summary: only runs whose file name contains this")
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    args, extra = parser.parse_args(argv[:cut]), argv[cut + 1:]  # after --: options for harness ab
    if args.mode == "summary":
        summary(args.folder or args.out, args.only)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%H%M%S")
    for i in range(args.repeats):
        if args.mode == "aa":
            run_ab(out, f"aa-{stamp}-{i:02d}", 0.10, extra, only_row=False)
        else:
            for fraction in (float(f) for f in args.fractions.split(",")):
                run_ab(out, f"power-{stamp}-{fraction:.2f}-{i:02d}", fraction, extra, only_row=True)
    summary(str(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
