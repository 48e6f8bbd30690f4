"""``harness effects``: role effects estimated on synthetic cells with known effects, then on a tiny real run."""
import itertools
import json
import math
import re

import numpy as np
import pytest

from harness.analysis import effects
from harness.core.roles import ROLES

ROLE_EFFECTS = {"data": 0.4, "model": -0.3, "loss": 0.0, "optimizer": -0.7}  # log time, gluon vs scratch
MODEL_X_OPTIMIZER = 0.2


def synthetic(levels=None, rounds=5, noise=0.01, seed=0, drop=()):
    """Cells whose log times are 0 + the known effects + small noise; ``drop``: combinations that failed."""
    rng = np.random.default_rng(seed)
    levels = levels or {r: ["scratch", "gluon"] for r in ROLES}
    cells = []
    for combo in itertools.product(*levels.values()):
        lv = dict(zip(levels, combo))
        mu = math.log(0.01) + sum(ROLE_EFFECTS[r] * (lv[r] == "gluon") for r in ROLES)
        mu += 0.5 * (lv["optimizer"] == "fast")
        mu += MODEL_X_OPTIMIZER * (lv["model"] == "gluon" and lv["optimizer"] == "gluon")
        quality = 1e-4 * (2.0 if lv["loss"] == "gluon" else 1.0) * math.exp(rng.normal(0, 0.01))
        if combo in drop:
            cells.append(effects.Cell(lv, status="failed", error="boom"))
        else:
            cells.append(effects.Cell(lv, list(np.exp(mu + rng.normal(0, noise, rounds))), quality))
    return cells


def by_terms(analysis, response="time"):
    return {tuple((r, lv) for r, lv, _ in e.terms): e for e in analysis.effects if e.response == response}


def test_known_effects_are_recovered_with_covering_intervals():
    a = effects.analyse(synthetic(), "seed-cpu", quality_metric="final_loss")
    got = by_terms(a)
    # a main effect is averaged over the other roles: the model x optimizer interaction adds half of itself
    truth = {(("data", "gluon"),): 0.4, (("model", "gluon"),): -0.3 + MODEL_X_OPTIMIZER / 2,
             (("loss", "gluon"),): 0.0, (("optimizer", "gluon"),): -0.7 + MODEL_X_OPTIMIZER / 2,
             (("model", "gluon"), ("optimizer", "gluon")): MODEL_X_OPTIMIZER}
    assert len(got) == 4 + 6
    for terms, e in got.items():
        want = truth.get(terms, 0.0)
        assert e.estimate == pytest.approx(want, abs=0.02), terms
        assert e.low <= want <= e.high, terms
        assert e.real == (want != 0.0), terms
    assert got[(("model", "gluon"),)].ratio == pytest.approx(math.exp(-0.2), rel=0.03)
    loss = by_terms(a, "final_loss")
    assert loss[(("loss", "gluon"),)].ratio == pytest.approx(2.0, rel=0.03) and loss[(("loss", "gluon"),)].real
    assert not loss[(("model", "gluon"),)].real  # no effect on the loss, and its interval says so
    assert a.missing == [] and a.cells == a.grid == 16


def test_three_levels_a_fixed_role_and_failed_cells():
    levels = {"data": ["scratch"], "model": ["scratch", "gluon"], "loss": ["scratch", "gluon"],
              "optimizer": ["scratch", "gluon", "fast"]}
    cells = synthetic(levels, drop=[("scratch", "gluon", "gluon", "fast")])
    a = effects.analyse(cells, quality_metric="final_loss")
    assert a.fixed == {"data": "scratch"} and list(a.factors["optimizer"]) == ["scratch", "fast", "gluon"]
    assert a.cells == 11 and a.grid == 12
    assert a.missing == [({"data": "scratch", "model": "gluon", "loss": "gluon", "optimizer": "fast"}, "failed: boom")]
    got = by_terms(a)
    # with a cell missing the fit still separates every term (3-way interactions are zero here)
    assert got[(("optimizer", "fast"),)].estimate == pytest.approx(0.5, abs=0.03)
    assert got[(("optimizer", "gluon"),)].estimate == pytest.approx(-0.7 + MODEL_X_OPTIMIZER / 2, abs=0.03)
    assert got[(("model", "gluon"), ("optimizer", "gluon"))].estimate == pytest.approx(MODEL_X_OPTIMIZER, abs=0.03)
    assert got[(("model", "gluon"), ("optimizer", "fast"))].estimate == pytest.approx(0.0, abs=0.03)
    assert not any(t[0] == "data" for terms in got for t in terms)


def test_unidentifiable_contrast_is_reported_not_guessed():
    levels = {"data": ["scratch"], "model": ["scratch", "gluon"], "loss": ["scratch"],
              "optimizer": ["scratch", "gluon"]}
    a = effects.analyse(synthetic(levels, drop=[("scratch", "gluon", "scratch", "gluon")]))
    inter = by_terms(a)[(("model", "gluon"), ("optimizer", "gluon"))]
    assert inter.estimate is None and "not estimable" in inter.note
    assert not effects.factorial(synthetic(levels, drop=[("scratch", "gluon", "scratch", "gluon")]))
    assert effects.factorial(synthetic(levels))


def test_wrong_noise_level_widens_the_interval():
    quiet = by_terms(effects.analyse(synthetic(noise=0.01)))[(("data", "gluon"),)]
    loud = by_terms(effects.analyse(synthetic(noise=0.2)))[(("data", "gluon"),)]
    assert (loud.high - loud.low) > 5 * (quiet.high - quiet.low)


def test_a_sparse_extra_level_is_left_out_not_a_hole_in_the_grid():
    cells = synthetic()
    alone = effects.Cell({r: "fast" for r in ROLES}, [0.001] * 3, 1e-4)
    a = effects.analyse(cells + [alone])
    assert a.outside == [{r: "fast" for r in ROLES}] and a.cells == a.grid == 16 and a.missing == []
    same = effects.analyse(cells)
    assert [e.estimate for e in a.effects] == pytest.approx([e.estimate for e in same.effects])


def test_text_names_each_choice_and_the_real_interactions():
    from harness.output import effects_text

    text = effects_text.render([effects.analyse(synthetic(), "seed-cpu", quality_metric="final_loss")])
    assert "Role effects, seed-cpu: 16 of 16 combinations of data (scratch/gluon)" in text
    line = next(l for l in text.splitlines() if l.startswith("model ") and "gluon instead of scratch" in l)
    ratio, low, high = (float(x) for x in re.search(r"×([\d.]+) \(([\d.]+)–([\d.]+)\)", line).groups())
    assert low < math.exp(-0.2) < high and ratio == pytest.approx(math.exp(-0.2), rel=0.03)
    assert "real interactions: model×optimizer (×1.22)" in text


def test_cli_on_a_tiny_real_run_and_on_its_saved_json(tmp_path):
    from tests.conftest import run_cli

    path = tmp_path / "run.json"
    proc = run_cli("bench", "-q", "--data", "scratch", "--loss", "scratch", "--num-examples", "40", "--rounds", "3",
                   "--no-references", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "Role effects, seed-cpu: 4 of 4 combinations of model (scratch/gluon), optimizer (scratch/gluon); " \
           "held fixed: data scratch, loss scratch" in proc.stdout  # bench's own section
    again = run_cli("effects", str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout in proc.stdout  # the same numbers from the saved run
    assert re.search(r"^model +gluon instead of scratch +×[\d.]+ \([\d.]+–[\d.]+\)", again.stdout, re.MULTILINE)
    doc = json.loads(run_cli("effects", str(path), "--json").stdout)
    (analysis,) = doc["analyses"]
    model = next(e for e in analysis["effects"] if e["terms"] == [{"role": "model", "level": "gluon",
                                                                   "reference": "scratch"}] and e["response"] == "time")
    assert model["low"] < model["estimate"] < model["high"] and isinstance(model["real"], bool)
    missing = run_cli("effects", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "no such file" in missing.stderr
    bad = run_cli("effects", str(path), "--confidence", "2")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--confidence must be between 0 and 1" in bad.stderr
    mixed = run_cli("effects", str(path), "--rounds", "3")
    assert mixed.returncode == 2 and "--rounds set a new measurement" in mixed.stderr


def test_effects_figure_marks_the_real_effects():
    from harness.output import figures

    fig = figures.effects_figure([effects.analyse(synthetic(), "seed-cpu")])
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "data: gluon" and "model gluon × optimizer gluon" in labels and len(labels) == 10
    red = [line for line in ax.lines if line.get_color() == "tab:red" and line.get_marker() == "o"]
    assert len(red) == 4  # data, model, optimizer and model×optimizer are real; loss and five pairs are not
    assert ax.get_xscale() == "log" and any(t.get_text() == "×1" for t in ax.get_xticklabels())
