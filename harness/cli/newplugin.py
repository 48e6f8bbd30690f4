"""``harness new-plugin NAME``: write a ready-to-install plugin package.

The package has the layout of ``examples/harness-momentum``: ``setup.cfg`` with
the ``harness`` entry point, a module with a small working implementation of
each chosen role, a test file that runs the conformance kit, and a README.
Their text lives in ``templates/newplugin/`` (package data), as asv keeps its ``template/``.
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from harness import options
from harness.cli.args import registry_from_args
from harness.core.errors import HarnessError
from harness.core.roles import ROLE_HOOKS, ROLES

_NAME = re.compile(r"^[a-z][a-z0-9_]*(-[a-z0-9_]+)*$")

_NOUN = {"data": "a data loader", "model": "a model", "loss": "a loss", "optimizer": "an optimizer"}

_FACTORY = {"data": "data_iter", "model": "model", "loss": "make_loss", "optimizer": "make_optimizer"}


def template(rel: str, **fields: str) -> str:
    """``templates/newplugin/<rel>`` (package data) with ``fields`` substituted; every ``${x}`` must be given."""
    path = resources.files("harness.cli").joinpath("templates").joinpath("newplugin")
    for part in rel.split("/"):
        path = path.joinpath(part)
    return Template(path.read_text(encoding="utf8")).substitute(fields)


def add_parser(sub, common) -> None:
    p = sub.add_parser("new-plugin", parents=[common],
                       help="write a plugin package skeleton that passes the conformance kit")
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
        raise HarnessError(f"invalid plugin name {name!r}; valid: lower-case letters, digits, '_' and '-', "
                           "starting with a letter")
    module = "harness_" + name.replace("-", "_")
    dist = "harness-" + name.replace("_", "-")
    roles_text = ", ".join(_NOUN[r] for r in roles)
    imports = ["from mxnet import nd"]
    if "data" in roles:
        imports.insert(0, "import numpy as np")  # the data template shuffles with NumPy
    fields = {"name": name, "module": module, "dist": dist, "roles_text": roles_text}
    blocks = [template(f"roles/{r}.py.tmpl").strip() for r in roles]
    blocks += [template("roles/register.py.tmpl", hook=ROLE_HOOKS[r], name=name, factory=_FACTORY[r]).strip()
               for r in roles]
    code = template("module.py.tmpl", **fields, imports="\n".join(imports), blocks="\n\n\n".join(blocks))
    run_args = " ".join(f"--{r} {name}" for r in roles)
    return {
        "pyproject.toml": template("pyproject.toml"),
        "setup.cfg": template("setup.cfg.tmpl", **fields),
        f"{module}.py": code,
        f"tests/test_{module}.py": template("test_plugin.py.tmpl", **fields),
        "README.md": template("README.md.tmpl", **fields, run_args=run_args),
    }


def cmd_new_plugin(args) -> int:
    roles = parse_roles(args.roles)
    files = render(args.name, roles)
    registry = registry_from_args(args)
    taken = [f"plugin {args.name!r}"] if args.name in registry.plugins else []
    taken += [f"{r} {args.name!r} of plugin {registry.components[r][args.name].plugin!r}"
              for r in roles if args.name in registry.components[r]]
    if taken:
        raise HarnessError(f"name {args.name!r} is taken ({', '.join(taken)}); choose another")
    target = Path(args.dir) / ("harness-" + args.name.replace("_", "-"))
    if target.exists():
        raise HarnessError(f"{target} already exists; remove it or choose another --dir")
    if Path(args.dir).exists() and not Path(args.dir).is_dir():
        raise HarnessError(f"--dir {args.dir} is a file, not a directory")
    options.check_writable(target / "setup.cfg", "--dir")  # read-only or unreachable: before any file
    for rel, text in files.items():
        options.write_output(target / rel, text)
    print(f"created {target}/ with {', '.join(sorted(files))}")
    spec = str(target) if target.is_absolute() else f"./{target}"  # pip reads a bare name as a project on the index
    print(f"next: pip install -e '{spec}[test]' && (cd {spec} && pytest)")
    return 0
