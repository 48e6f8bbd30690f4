"""The layout's rules: subpackages import each other one way, and no module reaches into another's private names."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in ``path``, relative ones resolved."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # annotations only: no import happens at run time
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found.append((module, [a.name for a in node.names], node.lineno))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _subpackage(module: str) -> str | None:
    """``harness.core.loader`` -> ``core``; top-level modules of harness (api, the public re-exports) -> their name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "harness" and len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        here = _subpackage(_module_name(path))
        if here is None:
            continue
        for module, names, _ in _imports(path):
            targets = {_subpackage(module)} | {_subpackage(f"{module}.{n}") for n in names if module == "harness"}
            graph.setdefault(here, set()).update(t for t in targets if t and t != here and t != "__version__")
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle once, starting from its smallest member."""
    cycles, path = set(), []

    def visit(node: str) -> None:
        if node in path:
            cycle = path[path.index(node):]
            if min(cycle) == cycle[0]:
                cycles.add(tuple(cycle + [node]))
            return
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        path.pop()

    for start in sorted(graph):
        visit(start)
    return sorted(list(c) for c in cycles)


def test_subpackages_import_each_other_one_way():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles between subpackages: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_imports_nothing_above_it():
    assert not _graph().get("core", set()), "the plugin host imports only itself"


def test_no_module_imports_another_modules_private_names():
    offences = []
    for path in [*PACKAGE.rglob("*.py"), *(ROOT / "plugins").glob("*.py")]:
        for module, names, line in _imports(path):
            if not module.startswith(("harness", "plugins")):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if module.split(".")[-1].startswith("_") and module.split(".")[-1] != "__init__":
                private.append(module)
            offences += [f"{path.relative_to(ROOT)}:{line} imports {module}.{n}" for n in private]
    assert not offences, "\n".join(offences)


#: the rooms in the order the README's Layout lists them: each may import only rooms before it
ORDER = ["core", "hookspecs", "task", "roles", "errors", "tasks", "analysis", "measure", "output", "distributed",
         "check", "options", "api", "testing", "cli", "__main__"]


def test_each_room_imports_only_the_rooms_above_it():
    graph, rank = _graph(), {name: i for i, name in enumerate(ORDER)}
    assert set(graph) <= set(rank), f"rooms missing from ORDER: {sorted(set(graph) - set(rank))}"
    upward = sorted(f"{a} -> {b}" for a, deps in graph.items() for b in deps if rank[b] >= rank[a])
    assert not upward, "imports against the layout's order: " + ", ".join(upward)


def test_setup_cfg_installs_every_package_and_no_top_level_plugins():
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    on_disk = {_module_name(p.parent / "__init__.py") for p in PACKAGE.rglob("__init__.py")}
    assert on_disk <= listed, f"setup.cfg does not install {sorted(on_disk - listed)}"
    assert "plugins" not in listed and "mxnet_harness_plugins" in listed
    assert config["options"]["package_dir"].split() == ["mxnet_harness_plugins", "=", "plugins"]


def test_ruff_finds_nothing():
    """The project's lint (pyproject.toml's [tool.ruff]) over the whole tree, as CI runs the suite."""
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
