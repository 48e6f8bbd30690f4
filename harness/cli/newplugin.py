"""``harness new-plugin NAME``: write a ready-to-install plugin package.

The package has the layout of ``examples/harness-momentum``: ``setup.cfg`` with
the ``harness`` entry point, a module with a small working implementation of
each chosen role, a test file that runs the conformance kit, and a README.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.roles import ROLE_HOOKS, ROLES
from harness.cli.args import registry_from_args

_NAME = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)*$")

# One implementation per role; each passes the conformance kit as written.
_ROLE_CODE = {
    "data": '''
# data: shuffle the row order once per epoch, then one take per batch
def data_iter(batch_size, features, labels, shuffle=True):
    n = features.shape[0]
    order = np.random.permutation(n) if shuffle else np.arange(n)
    indices = nd.array(order, ctx=features.context, dtype="int64")
    for i in range(0, n, batch_size):
        j = indices[i:i + batch_size]
        yield features.take(j), labels.take(j)
''',
    "model": '''
# model: linear regression on the host's initial w (num_inputs, 1) and b (1,)
def linreg(X, w, b):
    return nd.dot(X, w) + b


def model(w, b):
    w.attach_grad()
    b.attach_grad()
    return linreg, [w, b]
''',
    "loss": '''
# loss: one (y_hat - y)**2 / 2 per example; the reshape avoids (b, b) broadcasting
def squared_loss(y_hat, y):
    return nd.square(y_hat - y.reshape(y_hat.shape)) / 2


def make_loss():
    return squared_loss
''',
    "optimizer": '''
# optimizer: minibatch SGD with MXNet's fused update, in place on model.params
def make_optimizer(net, lr):
    params = net.params

    def step(batch_size):
        for p in params:
            nd.sgd_update(p, p.grad, lr=lr, rescale_grad=1.0 / batch_size, out=p)

    return step
''',
}

_NOUN = {"data": "a data loader", "model": "a model", "loss": "a loss", "optimizer": "an optimizer"}

_FACTORY = {"data": "data_iter", "model": "model", "loss": "make_loss", "optimizer": "make_optimizer"}

_PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
"""

_SETUP_CFG = """[metadata]
name = {dist}
version = 0.1.0
description = {roles_text} for mxnet-harness
long_description = file: README.md
long_description_content_type = text/markdown

[options]
py_modules = {module}
python_requires = >=3.9
install_requires =
    mxnet-harness
    mxnet

[options.extras_require]
test =
    pytest>=7

[options.entry_points]
harness =
    {name} = {module}

[tool:pytest]
testpaths = tests
addopts = -p harness.testing
filterwarnings =
    ignore::DeprecationWarning:mxnet.*
"""

_TEST = '''"""{dist} against the harness role contracts (harness.testing, loaded by setup.cfg's addopts)."""
import {module}

harness_plugin = {module}  # what harness_case checks


def test_conformance(harness_case):
    """One test per check: contracts, then training with every built-in partner role."""
    harness_case.check()
'''

_README = """# {dist}

A plugin for mxnet-harness providing: {roles_text}, each registered as `{name}`.

```bash
pip install .                 # the `harness` entry point `{name} = {module}` makes it visible
harness plugins               # lists plugin {name}
harness run {run_args}
pytest                        # the conformance kit: contracts + convergence with every built-in partner
```

Edit `{module}.py`; keep `pytest` passing. See the harness's `docs/writing-plugins.md`.
"""


def add_parser(sub, common) -> None:
    p = sub.add_parser("new-plugin", parents=[common], help="write a plugin package skeleton that passes the conformance kit")
    p.add_argument("name", metavar="NAME", help="plugin and component name, e.g. mysgd (package harness-NAME)")
    p.add_argument("--roles", default=",".join(ROLES), help="comma-separated roles to implement (default: %(default)s)")
    p.add_argument("--dir", default=".", help="where to create harness-NAME/ (default: current directory)")
    p.set_defaults(func=cmd_new_plugin)


def parse_roles(text: str) -> list[str]:
    roles = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise HarnessError(f"invalid --roles {text!r}; valid: comma-separated {', '.join(ROLES)}")
    return [r for r in ROLES if r in roles]


def render(name: str, roles: list[str]) -> dict[str, str]:
    """Relative path -> file text for plugin ``name`` implementing ``roles``."""
    if not _NAME.match(name):
        raise HarnessError(f"invalid plugin name {name!r}; valid: lower-case letters, digits, '_' and '-', starting with a letter")
    module = "harness_" + name.replace("-", "_")
    dist = "harness-" + name.replace("_", "-")
    roles_text = ", ".join(_NOUN[r] for r in roles)
    imports = ["from mxnet import nd"]
    if "data" in roles:
        imports.insert(0, "import numpy as np")
    blocks = [_ROLE_CODE[r].strip() for r in roles]
    blocks += [f'@hookimpl\ndef {ROLE_HOOKS[r]}(register):\n    register("{name}", {_FACTORY[r]})' for r in roles]
    code = f'"""{dist}: {roles_text} for mxnet-harness."""\n' + "\n".join(imports) + "\n\nfrom harness.hookspecs import hookimpl\n\n\n"
    code += "\n\n\n".join(blocks) + "\n"
    fields = {"name": name, "module": module, "dist": dist, "roles_text": roles_text}
    run_args = " ".join(f"--{r} {name}" for r in roles)
    return {
        "pyproject.toml": _PYPROJECT,
        "setup.cfg": _SETUP_CFG.format(**fields),
        f"{module}.py": code,
        f"tests/test_{module}.py": _TEST.format(**fields),
        "README.md": _README.format(**fields, run_args=run_args),
    }


def cmd_new_plugin(args) -> int:
    roles = parse_roles(args.roles)
    files = render(args.name, roles)
    registry = registry_from_args(args)
    taken = [f"plugin {args.name!r}"] if args.name in registry.plugins else []
    taken += [f"{r} {args.name!r} of plugin {registry.components[r][args.name].plugin!r}" for r in roles if args.name in registry.components[r]]
    if taken:
        raise HarnessError(f"name {args.name!r} is taken ({', '.join(taken)}); choose another")
    target = Path(args.dir) / ("harness-" + args.name.replace("_", "-"))
    if target.exists():
        raise HarnessError(f"{target} already exists; remove it or choose another --dir")
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"created {target}/ with {', '.join(sorted(files))}")
    spec = str(target) if target.is_absolute() else f"./{target}"  # pip reads a bare name as a project on the index
    print(f"next: pip install -e '{spec}[test]' && (cd {spec} && pytest)")
    return 0
