"""harness-momentum against the role contracts, with the harness conformance kit.

Run with the kit's pytest plugin loaded (setup.cfg: ``addopts = -p harness.testing``).
"""
import mxnet as mx
import numpy as np
from mxnet import nd

import harness_momentum
from harness.roles import Model
from harness.testing import check_plugin

harness_plugin = harness_momentum  # what harness_case checks


def test_conformance(harness_case):
    """One test per check: each optimizer with every built-in data, model and loss."""
    harness_case.check()


def test_registers_only_optimizers():
    report = check_plugin(harness_momentum, roles=["data", "model", "loss"])
    assert not report.ok
    assert "registers no components" in report.failures[0][1]


def test_momentum_is_heavy_ball():
    """Two steps with a constant gradient g: v1 = g, v2 = 0.9 g + g; p2 = p0 - lr (v1 + v2)."""
    w = nd.array([[1.0], [2.0]])
    b = nd.array([0.5])
    for p in (w, b):
        p.attach_grad()
    net = Model((lambda X, w, b: nd.dot(X, w) + b, [w, b]))
    w.grad[:] = 4.0  # summed over a batch of 2: mean gradient 2
    b.grad[:] = 4.0
    step = harness_momentum.momentum(net, lr=0.1)
    step(2)
    step(2)
    expected = 0.1 * (2 + (0.9 * 2 + 2))
    np.testing.assert_allclose(w.asnumpy().ravel(), [1 - expected, 2 - expected], rtol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), [0.5 - expected], rtol=1e-6)
