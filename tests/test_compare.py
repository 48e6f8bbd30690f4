"""``harness compare``: verdicts on synthetic stored results, exit codes, bad files."""
import json
import re

import numpy as np
import pytest

from harness.analysis import compare
from harness.cli import main
from harness.errors import HarnessError
from tests.conftest import run_cli

ROUNDS = 15


def document(medians: dict, seed: int, failed=()) -> dict:
    """A pytest-benchmark JSON with ROUNDS round times around each median (2% noise)."""
    rng = np.random.RandomState(seed)
    benchmarks = []
    for name, median in medians.items():
        data = (median * (1 + 0.02 * rng.standard_normal(ROUNDS))).tolist()
        benchmarks.append({"name": name, "fullname": f"benchmarks/test_matrix.py::{name}",
                           "stats": {"median": float(np.median(data)), "data": data}})
    not_run = [{"name": name, "status": "failed", "error": "boom"} for name in failed]
    return {"machine_info": {}, "commit_info": {}, "benchmarks": benchmarks, "harness": {"not_run": not_run}}


def write(tmp_path, name, doc) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


OLD = {"test_epoch[a]": 0.1, "test_epoch[b]": 0.2, "test_epoch[c]": 0.05}


def test_true_2x_slowdown_is_flagged_and_noise_is_not(tmp_path):
    old = compare.load(write(tmp_path, "old.json", document(OLD, seed=1)))
    new = compare.load(write(tmp_path, "new.json", document({**OLD, "test_epoch[b]": 0.4}, seed=2)))
    verdicts = {c.name: c for c in compare.compare_runs(old, new)}
    assert verdicts["test_epoch[b]"].verdict == "slower"
    assert verdicts["test_epoch[b]"].ratio == pytest.approx(2.0, rel=0.05)
    assert verdicts["test_epoch[b]"].p_value < compare.ALPHA
    assert verdicts["test_epoch[a]"].verdict == verdicts["test_epoch[c]"].verdict == "same"


def test_faster_added_removed_failed(tmp_path):
    old = compare.load(write(tmp_path, "old.json", document({**OLD, "test_epoch[gone]": 0.1}, seed=1)))
    new = compare.load(write(tmp_path, "new.json", document(
        {"test_epoch[a]": 0.05, "test_epoch[b]": 0.2, "test_epoch[new]": 0.1}, seed=2, failed=["test_epoch[c]"])))
    verdicts = {c.name: c.verdict for c in compare.compare_runs(old, new)}
    assert verdicts == {"test_epoch[a]": "faster", "test_epoch[b]": "same", "test_epoch[c]": "failed",
                        "test_epoch[gone]": "removed", "test_epoch[new]": "added"}


def test_a_large_change_on_too_few_rounds_is_not_significant():
    result = compare.compare_one("x", [0.1, 0.11, 0.1], [0.2, 0.21, 0.2], alpha=compare.ALPHA, threshold=0.1)
    assert result.ratio > 1.8 and result.verdict == "same"  # p can be no smaller than 0.1 with 3 vs 3
    assert compare.min_p_value(3, 3) == pytest.approx(0.1)


def test_fail_on_regression_exit_codes(tmp_path, capsys):
    old = write(tmp_path, "old.json", document(OLD, seed=1))
    noisy = write(tmp_path, "noisy.json", document(OLD, seed=3))
    slower = write(tmp_path, "slower.json", document({**OLD, "test_epoch[b]": 0.4}, seed=2))
    assert main(["compare", old, noisy, "--fail-on-regression", "5%"]) == 0
    assert main(["compare", old, slower]) == 0  # reported, but no gate asked for
    out = capsys.readouterr().out
    assert "1 slower, 2 same" in out
    assert main(["compare", old, slower, "--fail-on-regression", "5%"]) == 1
    assert re.search(r"regression: test_epoch\[b\] (1\.9\d|2\.0\d)× slower \(p = ", capsys.readouterr().err)
    # a 2x slowdown is under a 150% gate
    assert main(["compare", old, slower, "--fail-on-regression", "150%"]) == 0


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({"foo": 1}), "is not a pytest-benchmark JSON"),
        (json.dumps([1, 2]), "is not a pytest-benchmark JSON"),
        (json.dumps({"benchmarks": [{"name": "x", "stats": {"median": 1}}]}), "has no raw round times"),
        (json.dumps({"benchmarks": [{"stats": {"data": [1.0]}}]}), "has no name"),
        (json.dumps({"benchmarks": [{"name": "x", "stats": {"data": ["fast"]}}]}), "has no raw round times"),
    ],
    ids=["corrupt", "foreign-object", "foreign-list", "no-data", "no-name", "bad-data"],
)
def test_corrupt_or_foreign_json_is_one_line_exit_2(tmp_path, capsys, content, message):
    good = write(tmp_path, "good.json", document(OLD, seed=1))
    bad = write(tmp_path, "bad.json", content)
    assert main(["compare", good, bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "bad.json" in err


def test_missing_file_and_bad_threshold(tmp_path, capsys):
    good = write(tmp_path, "good.json", document(OLD, seed=1))
    assert main(["compare", good, str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["compare", good, good, "--fail-on-regression", "lots"]) == 2
    assert "invalid percentage 'lots'" in capsys.readouterr().err
    with pytest.raises(HarnessError):
        compare.parse_percent("-5%")


def test_compare_from_the_shell(tmp_path):
    old = write(tmp_path, "old.json", document(OLD, seed=1))
    new = write(tmp_path, "new.json", document({**OLD, "test_epoch[b]": 0.4}, seed=2))
    proc = run_cli("compare", old, new, "--fail-on-regression", "5%")
    assert proc.returncode == 1 and "slower" in proc.stdout and "regression: test_epoch[b]" in proc.stderr
    proc = run_cli("compare", old, write(tmp_path, "bad.json", "garbage"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_holm_correction_across_the_matrix_and_intervals():
    a = 1 + 0.01 * np.arange(12)
    shifted = {"data": (a + 0.061).tolist(), "error": None}  # p = 0.0005 on its own, ratio 1.058
    same = {"data": a.tolist(), "error": None}
    alone = compare.compare_runs({"x": same}, {"x": shifted}, alpha=0.002, threshold=0.02)[0]
    assert alone.verdict == "slower" and alone.p_value == pytest.approx(0.000496, rel=0.01)
    assert 1.0 < alone.ratio_ci.low < alone.ratio < alone.ratio_ci.high and alone.ratio_ci.level >= 0.95
    old = {"x": same, **{f"n{i}": same for i in range(4)}}
    new = {"x": shifted, **{f"n{i}": same for i in range(4)}}
    in_matrix = {c.name: c for c in compare.compare_runs(old, new, alpha=0.002, threshold=0.02)}
    assert in_matrix["x"].p_holm == pytest.approx(5 * alone.p_value) and in_matrix["x"].verdict == "same"
    low, high = in_matrix["n0"].medians_ci[0].low, in_matrix["n0"].medians_ci[0].high
    assert low <= float(np.median(a)) <= high


def test_compare_table_shows_intervals_and_holm(tmp_path, capsys):
    old = write(tmp_path, "old.json", document(OLD, seed=1))
    new = write(tmp_path, "new.json", document({**OLD, "test_epoch[b]": 0.4}, seed=2))
    assert main(["compare", old, new]) == 0
    out = capsys.readouterr().out
    assert "new/old 95% CI" in out and "p (Holm)" in out and "Holm-adjusted p < 0.002 over 3 benchmarks" in out


def test_compare_warns_when_no_row_can_reach_alpha(tmp_path, capsys):
    five = {"machine_info": {}, "commit_info": {}, "benchmarks": [
        {"name": "test_epoch[a]", "stats": {"data": [0.1, 0.11, 0.1, 0.12, 0.1]}}]}
    path = write(tmp_path, "five.json", five)
    assert main(["compare", path, path]) == 0
    err = capsys.readouterr().err
    assert "warning: no benchmark can be called changed: with 5 vs 5 rounds the smallest attainable" in err
    assert "at least 7 rounds a side" in err


def test_comparison_owns_the_regression_rule():
    from harness.analysis.compare import Comparison

    def c(verdict, ratio, p_holm):
        return Comparison("x", 1.0, ratio, ratio, p_holm, verdict, p_holm=p_holm)

    assert c("failed", None, None).regression()
    assert c("slower", 1.2, 0.001).regression(alpha=0.002, beyond=0.1)
    assert not c("slower", 1.2, 0.001).regression(alpha=0.002, beyond=0.25)  # not beyond the threshold
    assert not c("slower", 1.2, 0.01).regression(alpha=0.002)  # not significant after Holm
    assert not c("faster", 0.8, 0.001).regression()
