"""Run history: ``harness bench --save/--autosave`` in pytest-benchmark's storage, read back by
``pytest-benchmark list/compare`` and ``harness history``; changes found by step detection."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import history
from harness.cli import main
from harness.errors import HarnessError
from tests.conftest import ROOT, run_cli

PYTEST_BENCHMARK = str(Path(sys.executable).with_name("pytest-benchmark"))
TINY = ["--rounds", "2", "--warmup", "1", "--num-examples", "200", "--no-references", "-q"]
# two ok rows and two FAILED rows on cpu, four SKIPPED rows on gpu (no GPU here)
MATRIX = ["--data", "scratch", "--data", "gluon", "--model", "scratch", "--model", "broken",
          "--loss", "scratch", "--optimizer", "scratch", "--ctx", "cpu,gpu"]
CASE = "seed-cpu-scratch-scratch-scratch-scratch"


@pytest.fixture(scope="session")
def saved(tmp_path_factory):
    """Two saved runs of ``harness bench`` in ``DIR/.benchmarks``: one --autosave (default storage, run
    where the user is), one --save NAME --storage DIR with the per-phase breakdown."""
    where = tmp_path_factory.mktemp("history")
    env = {"PYTHONPATH": str(ROOT)}  # for -p tests.plugins.faulty from another directory
    first = run_cli("-p", "tests.plugins.faulty", "bench", *TINY, *MATRIX, "--autosave", cwd=where, env=env)
    second = run_cli("-p", "tests.plugins.faulty", "bench", *TINY, *MATRIX, "--save", "second", "--breakdown",
                     "--storage", str(where / ".benchmarks"), cwd=ROOT, env=env)
    for proc in (first, second):
        assert proc.returncode == 1, proc.stderr  # the FAILED rows
        assert "saved as" in proc.stdout, proc.stdout
    return where / ".benchmarks"


def test_runs_are_stored_in_pytest_benchmarks_layout(saved):
    folder = saved / history.machine_id()
    files = sorted(p.name for p in folder.glob("*.json"))
    assert [f[:5] for f in files] == ["0001_", "0002_"]
    assert files[1].endswith("_second.json") and not files[0].endswith("_second.json")
    docs = [json.loads((folder / f).read_text()) for f in files]
    commit = docs[0]["commit_info"]["id"]
    env = history.env_id(docs[0]["machine_info"])
    assert files[0].startswith(f"0001_{commit}_") and f"_{env}" in files[0]
    for doc in docs:
        assert [len(b["stats"]["data"]) for b in doc["benchmarks"]] == [2, 2]  # raw rounds kept
        statuses = sorted(e["status"] for e in doc["harness"]["not_run"])
        assert statuses == ["failed"] * 2 + ["skipped"] * 4
        assert doc["harness"]["saved"]["env_id"] == env
    assert docs[1]["harness"]["saved"]["name"] == "second"
    assert "breakdown_s_per_step" in docs[1]["benchmarks"][0]["extra_info"]


def test_pytest_benchmark_lists_and_compares_the_saved_runs(saved):
    listed = subprocess.run([PYTEST_BENCHMARK, "--storage", str(saved), "list"], capture_output=True, text=True,
                            timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert [Path(line).name[:4] for line in listed.stdout.split()] == ["0001", "0002"]
    compared = subprocess.run([PYTEST_BENCHMARK, "--storage", str(saved), "compare", "0001", "0002",
                               "--columns", "min,median,rounds"],
                              capture_output=True, text=True, timeout=120)
    assert compared.returncode == 0, compared.stderr
    assert f"test_epoch[{CASE}] (0001_" in compared.stdout and f"test_epoch[{CASE}] (0002_" in compared.stdout
    assert "Failed to load" not in compared.stderr + compared.stdout


def test_history_lists_runs_and_a_cases_trend(saved):
    proc = run_cli("history", "--storage", str(saved))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    runs = [line.split() for line in lines if line.startswith((" 0001", " 0002"))]
    assert [r[0] for r in runs] == ["0001", "0002"] and "second" in runs[1]
    assert "2 runs" in proc.stdout and "OMP_NUM_THREADS" in proc.stdout
    assert "no changes" in proc.stdout  # two runs: nothing to fit a step to

    proc = run_cli("history", "--storage", str(saved), "--case", CASE)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines() if line.startswith((" 0001", " 0002"))]
    assert len(rows) == 2 and all(float(r[5]) > 0 for r in rows)  # run, date, time, commit, [name], median
    proc = run_cli("history", "--storage", str(saved), "--case", "seed-gpu-scratch-scratch")
    assert proc.returncode == 0 and proc.stdout.count("SKIPPED") == 2


@pytest.mark.parametrize("args, message", [
    (["history", "--storage", "nowhere"], "no saved runs: nowhere does not exist"),
    (["history", "--case", "nosuch"], "unknown --case 'nosuch'; available: seed-cpu-"),
    (["history", "--case", "scratch-scratch-scratch"], "matches"),
    (["history", "--threshold", "lots"], "invalid percentage 'lots'"),
    (["history", "9999"], "no saved run matches '9999'"),
])
def test_history_bad_input_is_one_line(saved, args, message, capsys):
    if "--storage" not in args:
        args = [*args, "--storage", str(saved)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_bad_save_name_fails_before_the_run(tmp_path):
    proc = run_cli("bench", "--save", "a/b", "--storage", str(tmp_path), *TINY, cwd=tmp_path)
    assert proc.returncode == 2 and "invalid --save name 'a/b'" in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []


def step_storage(saved, tmp_path, factor=1.3, before=5, after=4) -> Path:
    """Synthetic history from a real saved run: its rounds scaled ×1 for ``before`` runs, then ×``factor``
    for ``after`` runs (1 % noise), only for the all-scratch cpu case."""
    rng = np.random.RandomState(0)
    base = json.loads(next((saved / history.machine_id()).glob("0002_*.json")).read_text())
    del base["harness"]["saved"]
    storage = tmp_path / "steps"
    for i in range(before + after):
        doc = json.loads(json.dumps(base))
        doc["datetime"] = f"2026-01-{i + 1:02d}T00:00:00+00:00"
        for b, original in zip(doc["benchmarks"], base["benchmarks"]):
            scale = factor if i >= before and b["param"] == CASE else 1.0
            data = [x * scale * (1 + 0.01 * rng.standard_normal()) for x in original["stats"]["data"] * 3]
            b["stats"].update(data=data, median=float(np.median(data)), q1=float(np.percentile(data, 25)),
                              q3=float(np.percentile(data, 75)), rounds=len(data))
        history.save(doc, storage)
    return storage


def test_history_finds_a_step_and_says_where(saved, tmp_path):
    storage = step_storage(saved, tmp_path)
    runs = history.load_runs(storage)
    series = {s.case: s for s in history.build_series(runs)}
    assert [(c.index, c.kind) for c in series[CASE].changes] == [(5, "slower")]
    assert all(not s.changes for case, s in series.items() if case != CASE)
    proc = run_cli("history", "--storage", str(storage))
    assert proc.returncode == 0, proc.stderr
    (line,) = [line for line in proc.stdout.splitlines() if "(confirmed)" in line]
    assert line.startswith(CASE) and "0006" in line and "slower" in line
    proc = run_cli("history", "--storage", str(storage), "--case", CASE)
    (marked,) = [line for line in proc.stdout.splitlines() if "◆" in line]
    assert marked.split()[0] == "0006"


def test_save_numbers_runs_per_machine_and_never_overwrites(tmp_path):
    doc = {"machine_info": {"node": "a"}, "commit_info": {"id": "abc", "dirty": True}, "benchmarks": [],
           "datetime": "2026-01-02T03:04:05+00:00"}
    first = history.save(doc, tmp_path)
    assert first.name == f"0001_abc_20260102_030405_uncommitted-changes_{history.env_id(doc['machine_info'])}.json"
    (first.parent / "0007_manual.json").write_text("{}")
    assert history.save(doc, tmp_path, "x").name.startswith("0008_abc_") and first.exists()
    assert not [p for p in first.parent.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(HarnessError, match="invalid --save name"):
        history.save(doc, tmp_path, "a:b")


def test_environment_key_separates_threads_engine_and_build():
    machine = {"node": "vm", "harness": {"cpu_model": "EPYC", "mxnet": {"version": "1.9.1", "features": ["CPU_SSE"]},
                                        "env": {"OMP_NUM_THREADS": None, "MXNET_ENGINE_TYPE": None}}}
    other = json.loads(json.dumps(machine))
    assert history.env_id(machine) == history.env_id(other)
    for path, value in [(("env", "OMP_NUM_THREADS"), "1"), (("env", "MXNET_ENGINE_TYPE"), "NaiveEngine"),
                        (("mxnet", "features"), ["CPU_SSE", "CUDA"]), (("env", "MXNET_EXEC_BULK_EXEC_TRAIN"), "0")]:
        changed = json.loads(json.dumps(machine))
        changed["harness"][path[0]][path[1]] = value
        assert history.env_id(changed) != history.env_id(machine), path


def test_series_split_by_environment(saved, tmp_path):
    base = json.loads(next((saved / history.machine_id()).glob("0001_*.json")).read_text())
    del base["harness"]["saved"]
    storage = tmp_path / "envs"
    history.save(base, storage)
    base["machine_info"]["harness"]["env"]["OMP_NUM_THREADS"] = "1"
    history.save(base, storage)
    series = [s for s in history.build_series(history.load_runs(storage)) if s.case == CASE]
    assert len(series) == 2 and [len(s.points) for s in series] == [1, 1]


def test_an_interrupted_run_is_saved_with_its_finished_rows(tmp_path):
    proc = run_cli("-p", "tests.plugins.interrupting", "bench", *TINY, "--data", "scratch", "--model", "scratch",
                   "--loss", "scratch", "--optimizer", "scratch", "--optimizer", "interrupt", "--optimizer", "gluon",
                   "--save", "cut", "--storage", str(tmp_path))
    assert proc.returncode == 130, proc.stderr
    (saved_file,) = (tmp_path / history.machine_id()).glob("0001_*_cut.json")
    doc = json.loads(saved_file.read_text())
    assert doc["harness"]["interrupted"] is True and [b["param"] for b in doc["benchmarks"]] == [CASE]
