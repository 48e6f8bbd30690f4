"""Chapter 7's optimization algorithms: an axis beside the optimizer implementations, from scratch and in Gluon."""
import math

import numpy as np
import pytest
from mxnet import nd

from harness import api
from harness.core.algorithm import Algorithm
from harness.core.roles import Combination, Model
from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from mxnet_harness_plugins import scratch_optim
from tests.conftest import run_cli

CHAPTER_7 = ["sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam"]


def test_the_chapter_is_registered_with_the_books_defaults():
    rows = {r["algorithm"]: r for r in api.algorithms(["no:momentum"])}
    assert list(rows) == CHAPTER_7
    assert {name: r["section"] for name, r in rows.items()} == dict(zip(CHAPTER_7, ["7.3", "7.4", "7.5", "7.6", "7.7",
                                                                                    "7.8"]))
    assert rows["adam"]["hyperparams"] == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6} and rows["adam"]["lr"] == 0.01
    assert rows["rmsprop"]["hyperparams"] == {"gamma": 0.9, "eps": 1e-6}
    for row in rows.values():
        assert {"scratch", "gluon"} <= set(row["implementations"])


@pytest.mark.parametrize("task, epochs", [("linreg", 2), ("mlp", 1)])
def test_every_algorithm_trains_from_scratch_and_in_gluon_and_the_pairs_agree(task, epochs):
    untrained = {"linreg": api.run(task="linreg", lr=1e-12, epochs=1).result.final_loss, "mlp": math.log(10)}[task]
    result = api.verify(task, data="scratch", model="scratch", loss="scratch", optimizer=["scratch", "gluon"],
                        algorithm=CHAPTER_7, epochs=epochs, plugins=["no:momentum"])
    rows = result.rows_
    assert {(r["combination"].optimizer, r["combination"].algorithm) for r in rows} == {
        (o, a) for o in ("scratch", "gluon") for a in CHAPTER_7}
    for r in rows:
        assert r["ok"], (r["combination"].label, r["max_abs_diff"], r["tolerance"], r["error"])
        assert r["final_loss"] < untrained, r["combination"].label
    gluon_adam = [r for r in rows if r["combination"] == Combination(optimizer="gluon", algorithm="adam")][0]
    assert gluon_adam["tolerance"] == 3e-2  # Adam's own, stated with its reason (ε placement)


def test_scratch_adam_is_the_books_formula():
    """Two steps of 7.8's adam with a constant mean gradient g = 2: v_hat = g, s_hat = g², step lr·g/(|g| + eps)."""
    w = nd.array([[1.0]])
    w.attach_grad()
    net = Model((lambda X, w: nd.dot(X, w), [w]))
    step = scratch_optim.optimizer("adam")(net, 0.1, beta1=0.9, beta2=0.999, eps=1e-6)
    for _ in range(2):
        w.grad[:] = 6.0  # summed over a batch of 3
        step(3)
    np.testing.assert_allclose(w.asnumpy(), [[1.0 - 2 * 0.1 * 2 / (2 + 1e-6)]], rtol=1e-6)


def test_cli_names_the_algorithm_and_rejects_unknown_ones():
    ok = run_cli("run", "--optimizer", "gluon", "--algorithm", "adagrad", "--epochs", "1", "-p", "no:momentum")
    assert ok.returncode == 0, ok.stderr
    assert "algorithm=adagrad (lr 0.1)" in ok.stdout
    bad = run_cli("run", "--algorithm", "adma", "-p", "no:momentum")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "harness: error: unknown algorithm 'adma'; available: sgd, momentum, adagrad, rmsprop, adadelta, adam"]
    fast = run_cli("run", "--optimizer", "fast", "--algorithm", "adam", "-p", "no:momentum")
    assert fast.returncode == 2
    assert "optimizer 'fast' does not implement algorithm 'adam'; it implements: sgd; optimizers implementing adam: " \
           "gluon, scratch" in fast.stderr


class Lion:
    """A plugin adding an algorithm and the only implementation of it."""

    @hookimpl
    def register_algorithms(register):
        register("signsgd", Algorithm("signsgd", hyperparams={"scale": 1.0}, lr=0.001))

    @hookimpl
    def register_optimizers(register):
        def make(net, lr, scale):
            params = net.params
            return lambda batch_size: [p.__setitem__(slice(None), p - lr * scale * p.grad.sign()) for p in params]

        register("lion", make, algorithms=["signsgd"])


def test_a_plugin_algorithm_mixes_with_every_role_and_runs_when_not_named():
    run = api.run("gluon", "gluon", "scratch", "lion", plugins=[Lion, "no:momentum"], epochs=1)
    assert run.result.combination.label == "gluon/gluon/scratch/lion:signsgd"
    assert run.result.settings.lr == 0.001 and run.result.hyperparams == {"scale": 1.0}
    bench = api.plan_bench(api.load_plugins([Lion, "no:momentum"]),
                           __import__("harness.measure.workloads", fromlist=["w"]).workload("seed"),
                           optimizer=["lion", "scratch"], algorithm=["signsgd", "adam"], references=False)
    labels = [c.label for c in bench[1]]
    assert "scratch/scratch/scratch/lion:signsgd" in labels and "gluon/gluon/gluon/scratch:adam" in labels
    assert not any(label.endswith("scratch:signsgd") or label.endswith("lion:adam") for label in labels)


def test_registering_an_algorithm_twice_or_on_a_model_is_a_plugin_error():
    class Twice:
        @hookimpl
        def register_optimizers(register):
            register("x", lambda net, lr: None, algorithms=["adam"])
            register("x", lambda net, lr: None, algorithms="adam")

    class OnModel:
        @hookimpl
        def register_models(register):
            register("x", lambda w, b: None, algorithms=["adam"])

    for plugin in (Twice, OnModel):
        with pytest.warns(UserWarning, match="skipped plugin"):
            registry = api.load_plugins([plugin])
        assert "x" not in registry.names("optimizer") + registry.names("model")


def test_combination_labels_and_json_keep_the_seed_unchanged():
    assert Combination().label == "scratch/scratch/scratch/scratch" and "algorithm" not in Combination().as_dict()
    adam = Combination(optimizer="gluon", algorithm="adam")
    assert adam.label == "scratch/scratch/scratch/gluon:adam" and adam.as_dict()["algorithm"] == "adam"
    assert Combination(**adam.as_dict()) == adam


def test_airfoil_loader_reads_the_books_file(tmp_path):
    rows = np.array([[800, 0, 0.3048, 71.3, 0.00266, 126.2], [1000, 0, 0.3048, 71.3, 0.00266, 125.2],
                     [1250, 1.5, 0.2286, 39.6, 0.00310, 124.0], [1600, 3.0, 0.1524, 31.7, 0.00529, 128.1]])
    (tmp_path / "airfoil_self_noise.dat").write_text("\n".join("\t".join(f"{v:g}" for v in r) for r in rows) + "\n")
    task = api.load_plugins(["no:momentum"]).make_task("linreg", dataset="airfoil", data_dir=str(tmp_path))
    assert (task.num_examples, task.num_inputs) == (4, 5) and task.truth() is None
    standard = (rows - rows.mean(axis=0)) / rows.std(axis=0)
    np.testing.assert_allclose(task.real.features, standard[:, :-1], rtol=1e-6)
    np.testing.assert_allclose(task.real.labels, standard[:, -1], rtol=1e-6)
    run = api.run(task="linreg", dataset="airfoil", data_dir=str(tmp_path), batch_size=2, plugins=["no:momentum"])
    assert run.result.epochs[-1]["loss"] < run.result.epochs[0]["loss"] * 1.01
    registry = api.load_plugins(["no:momentum"])
    with pytest.raises(HarnessError, match="no file .*none/airfoil_self_noise.dat .*never downloaded"):
        registry.make_task("linreg", dataset="airfoil", data_dir=str(tmp_path / "none"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "airfoil_self_noise.dat").write_text("1\t2\n3\tx\n")
    with pytest.raises(HarnessError, match="not a tab-separated table|must hold rows"):
        registry.make_task("linreg", dataset="airfoil", data_dir=str(tmp_path / "bad"))


def test_diabetes_is_the_embedded_stand_in_and_ch7_trains_on_it():
    task = api.load_plugins(["no:momentum"]).make_task("linreg", dataset="diabetes")
    assert (task.num_examples, task.num_inputs) == (442, 10)
    np.testing.assert_allclose(task.real.features.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(task.real.labels.std(), 1, rtol=1e-5)
    assert (task.defaults.epochs, task.defaults.batch_size, task.defaults.lr) == (2, 10, 0.05)  # train_ch7's
    run = api.run(task="linreg", dataset="diabetes", epochs=4, plugins=["no:momentum"])
    assert task.target.reached(run.result.epochs[-1])  # within 5 % of the least-squares optimum
