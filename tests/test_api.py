"""The Python API: the README's example runs as written, and results behave as documented."""
import json
import re

import pytest

import harness
from harness.errors import HarnessError

from .conftest import ROOT


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs(capsys):
    exec(compile(readme_example(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "test_acc" in out and "| combination" in out and "plugin" in out


def test_import_is_cheap_and_lists_the_api():
    import subprocess
    import sys

    code = ("import sys, harness; assert 'mxnet' not in sys.modules; "
            "print(sorted(n for n in dir(harness) if not n.startswith('_')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name in ("bench", "plugins", "run", "verify"):
        assert name in proc.stdout


def test_same_validation_as_the_cli():
    with pytest.raises(HarnessError, match="unknown task 'nope'; available: "):
        harness.run(task="nope")
    with pytest.raises(HarnessError, match="--lr must be a positive finite number"):
        harness.run(lr=-1)
    with pytest.raises(HarnessError, match="unknown optimizer 'sdg'"):
        harness.run(optimizer="sdg")
    with pytest.raises(HarnessError, match="unknown --format .nope.; valid: "):
        harness.run(epochs=1).table("nope")


def test_plugins_as_module_objects_without_installing():
    from tests.plugins import only_loss

    run = harness.run(loss="half_squared", epochs=1, plugins=[only_loss])
    assert run.result.combination.loss == "half_squared" and not run.diverged
    assert "tests.plugins.only_loss" in harness.plugins(plugins=[only_loss]).table()


def test_run_result_views():
    run = harness.run(task="mlp", epochs=2)
    rows = run.rows()
    assert [r["epoch"] for r in rows] == [1, 2] and {"loss", "train_acc", "test_acc", "seconds"} <= set(rows[0])
    doc = json.loads(run.to_json())
    assert doc["task"]["name"] == "mlp" and doc["epochs"] == json.loads(json.dumps(rows))
    assert "<table>" in run._repr_html_()
    fig = run.plot()
    assert len(fig.axes) == 3 and fig.axes[1].lines  # loss, accuracy, loss against wall-clock time
    diverged = harness.run(lr=50, epochs=2)
    assert diverged.diverged and diverged.result.diverged_at == 1


def test_run_table_keeps_significant_digits():
    table = harness.run(epochs=3).table()  # the seed's loss: 0.04 -> 1.5e-4 -> 5e-5
    last = table.splitlines()[-1].split()
    assert float(last[1]) < 1e-4 and "0.0000" not in table and "e-05" in last[1]


def test_bench_result_views_render_from_one_model():
    b = harness.bench(data="scratch", loss="scratch", optimizer="scratch", model=["scratch", "gluon"], rounds=3,
                      num_examples=40, references=False)
    records = b.records()
    assert [r["combination"] for r in records] == [c.label for c in b.results.sorted()]
    assert all(isinstance(r["median_s"], float) and isinstance(r["rounds"], int) for r in records)
    assert b.rows() == records and list(records[0]) == b.columns
    html = b._repr_html_()
    assert "task linreg, workload seed, 3 rounds after 1 warm-up" in html and "<table>" in html
    assert re.search(r"^model +gluon instead of scratch +×[\d.]+ \(", b.effects().text(), re.M)
    assert b.effects().analyses[0].factors == {"model": ["scratch", "gluon"]}
    assert b.effects(only_factorial=True).analyses == []  # one role varies: bench prints no section


def test_to_frame_needs_pandas_or_says_so():
    run = harness.run(epochs=1)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(HarnessError, match="pip install pandas"):
            run.to_frame()
    else:
        frame = run.to_frame()
        assert list(frame["epoch"]) == [1]
