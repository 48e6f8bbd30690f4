#!/usr/bin/env python3
"""Rewrite references to the old ``harness/matrix.py`` to the modules it was split into.

    python rename_map.py FILE...            # rewrite in place, print what changed and what to check
    python rename_map.py --diff FILE...     # print a unified diff, change nothing
    python rename_map.py --check FILE...    # exit 1 if any file would change (nothing written)

Handles, in Python files, scope by scope (a function-local import rewrites only its own function):

* ``from . import matrix as bench, stats`` / ``from harness import matrix`` / ``import harness.matrix as b``:
  the import names the new modules the scope uses, and ``bench.Row`` becomes ``measuring.Row``;
* ``from .matrix import Case, Workload``: one ``from .planning import Case`` line per new module;
* names ``matrix.py`` only re-exported (``bench.HarnessError``, ``bench.measure``, ``bench.replace``) go to
  their real homes (``errors``, ``timing``; ``dataclasses`` gets an ``import dataclasses`` line);

and in any text file (docstrings, Markdown): ``harness.matrix.NAME`` becomes ``harness.<module>.NAME``.
It warns about what it cannot decide (a new module name that is already a name in the file, a leftover
``matrix`` reference); read those lines.  Python 3.9+, standard library only.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import os
import re
import sys

#: Every top-level name of the old harness/matrix.py -> the module that holds it now.
MOVED = {
    **dict.fromkeys(["Workload", "WORKLOADS", "TASK_WORKLOADS", "workloads_for", "workload", "OVERRIDES",
                     "add_workload_options", "workload_from"], "workloads"),
    **dict.fromkeys(["Case", "REFERENCES", "reference_cases", "select", "left_out", "cases", "parse_ctxs"],
                    "planning"),
    **dict.fromkeys(["reset_peak_rss", "peak_rss_mib"], "memory"),
    **dict.fromkeys(["stats_of", "metrics", "Row", "run_case", "failed_row", "finished_row", "_partial", "run_matrix",
                     "run_interleaved"], "measuring"),
    **dict.fromkeys(["run_breakdown", "breakdown_table", "breakdown_png"], "breakdown"),
    **dict.fromkeys(["ratios", "ratio_columns", "sorted_rows", "COLUMNS", "display_rows", "table_columns",
                     "render_table"], "bench_table"),
    "to_csv": "bench_csv",
    **dict.fromkeys(["extra_info", "benchmark_entry", "to_document", "to_json_text"], "bench_json"),
}
#: Names matrix.py imported and callers reached through it -> their own harness module.
FOREIGN = {
    **dict.fromkeys(["HarnessError", "Diverged"], "errors"),
    **dict.fromkeys(["measure", "EpochRunner", "Interrupt"], "timing"),
    "Registry": "registry",
    **dict.fromkeys(["ROLES", "Combination"], "roles"),
    **dict.fromkeys(["Target", "Task"], "task"),
    **dict.fromkeys(["Session", "Settings"], "train"),
    **dict.fromkeys(["role_columns", "table", "to_json"], "report"),
    "rowstats": "stats",
}
#: Standard-library names matrix.py imported -> their module (imported whole, ``dataclasses.replace``).
STDLIB = {"replace": "dataclasses", "asdict": "dataclasses"}
HOME = {**FOREIGN, **MOVED}
LIMIT = 120  # the project's line length


def _char_col(line: str, byte_col: int) -> int:
    """``ast`` columns count UTF-8 bytes; the text we edit counts characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def _package_prefix(path: str) -> str:
    """``from . import`` inside harness/ (``..`` one folder down), else ``from harness import``."""
    folder = os.path.dirname(os.path.abspath(path))
    depth = 0
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        if os.path.basename(folder) == "harness":
            return "." * (depth + 1)
        folder, depth = os.path.dirname(folder), depth + 1
    return "harness"


def _is_matrix_from(node: ast.ImportFrom) -> bool:
    """``from .matrix import …`` / ``from harness.matrix import …``."""
    return (node.level >= 1 and node.module == "matrix") or (node.level == 0 and node.module == "harness.matrix")


def _is_package_from(node: ast.ImportFrom) -> bool:
    """``from . import …`` inside harness/ or ``from harness import …``."""
    return (node.level >= 1 and node.module is None) or (node.level == 0 and node.module == "harness")


def _wrap(head: str, items: list[str], indent: str, tail: str = "") -> str:
    """``head item, item…`` on one line, or in parentheses over several when it passes the line limit."""
    line = f"{indent}{head}{', '.join(items)}{tail}"
    if len(line) <= LIMIT:
        return line
    lines, current = [], f"{indent}{head}("
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else ")" + tail)
        if len(current) + 1 + len(piece) > LIMIT and not current.endswith("("):
            lines.append(current)
            current = indent + " " * len(head) + " " + piece
        else:
            current += ("" if current.endswith("(") else " ") + piece
    lines.append(current)
    return "\n".join(lines)


class Scopes(ast.NodeVisitor):
    """For every node: the chain of enclosing scopes (module, functions, classes), innermost last."""

    def __init__(self):
        self.chain: dict[int, tuple] = {}
        self._stack: list[ast.AST] = []

    def visit(self, node):
        self.chain[id(node)] = tuple(self._stack)
        opens = isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if opens:
            self._stack.append(node)
        self.generic_visit(node)
        if opens:
            self._stack.pop()


def rewrite_python(path: str, text: str, warn) -> str:
    """The rewritten source of one Python file."""
    tree = ast.parse(text, path)
    scopes = Scopes()
    scopes.visit(tree)
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, int, str]] = []  # (line, col, end_line, end_col, new) on 1-based lines, char cols

    def span(node) -> tuple[int, int, int, int]:
        return (node.lineno, _char_col(lines[node.lineno - 1], node.col_offset),
                node.end_lineno, _char_col(lines[node.end_lineno - 1], node.end_col_offset))

    # 1. every import of the matrix module: (import node, alias, scope node)
    bindings = []
    for node in ast.walk(tree):
        scope = (scopes.chain[id(node)] or (tree,))[-1]
        if isinstance(node, ast.ImportFrom) and _is_package_from(node):
            for a in node.names:
                if a.name == "matrix":
                    bindings.append((node, a.asname or "matrix", scope))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "harness.matrix":
                    if a.asname is None:
                        warn(f"{path}:{node.lineno}: 'import harness.matrix' without alias: only its "
                             "harness.matrix.NAME references are rewritten (textually); fix the import by hand")
                    else:
                        bindings.append((node, a.asname, scope))

    # 2. every ALIAS.NAME bound by one of them (innermost import wins)
    used: dict[int, list[str]] = {i: [] for i in range(len(bindings))}
    stdlib_needed: set[str] = set()
    seen_from: dict[str, set] = {}  # new module name -> every scope that can see a rewritten reference to it
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        chain = scopes.chain[id(node)] + (tree,)
        owner = None
        for i, (_, alias, scope) in enumerate(bindings):
            if alias == node.value.id and scope in chain:
                if owner is None or chain.index(scope) > chain.index(bindings[owner][2]):
                    owner = i
        if owner is None:
            continue
        name = node.attr
        if name in HOME:
            module = HOME[name]
            used[owner].append(module)
        elif name in STDLIB:
            module = STDLIB[name]
            stdlib_needed.add(module)
        else:
            warn(f"{path}:{node.lineno}: {node.value.id}.{name} is not a name of the old matrix.py; left as it is")
            continue
        line, col, end_line, end_col = span(node)
        edits.append((line, col, end_line, end_col, f"{module}.{name}"))
        seen_from.setdefault(module, set()).update(chain)
        rest = lines[end_line - 1][end_col:]
        if rest.count("(") + rest.count("[") > rest.count(")") + rest.count("]") and len(module) != len(node.value.id):
            warn(f"{path}:{line}: {node.value.id}.{name} -> {module}.{name} opens a bracket that continues on the "
                 "next line: re-align the continuation lines")

    # 3. the import statements themselves
    by_statement: dict[int, list[int]] = {}
    for i, (node, _, _) in enumerate(bindings):
        by_statement.setdefault(id(node), []).append(i)
    done = set()
    for i, (node, alias, scope) in enumerate(bindings):
        if id(node) in done:
            continue
        done.add(id(node))
        modules = sorted({m for j in by_statement[id(node)] for m in used[j]})
        indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
        if isinstance(node, ast.ImportFrom):
            head = "from " + ("." * node.level if node.level else node.module) + " import "
            others = [(a.asname or a.name, a.name + (f" as {a.asname}" if a.asname else "")) for a in node.names]
            at = next(k for k, (_, spec) in enumerate(others) if spec.split(" as ")[0] == "matrix")
            was_sorted = [b for b, _ in others] == sorted(b for b, _ in others)
            rest = [o for k, o in enumerate(others) if k != at]
            present = {b for b, _ in rest}
            new = [(m, m) for m in modules if m not in present]
            items = sorted(rest + new) if was_sorted else rest[:at] + new + rest[at:]
            if not items:
                statement = ""
            else:
                statement = _wrap(head, [spec for _, spec in items], indent)
        else:  # import harness.matrix as ALIAS
            prefix = _package_prefix(path)
            statement = _wrap(f"from {prefix} import ", modules, indent) if modules else ""
            if len(node.names) > 1:
                warn(f"{path}:{node.lineno}: an 'import' of several modules besides harness.matrix; check it")
        if not modules:
            warn(f"{path}:{node.lineno}: {alias} (the old matrix module) is imported but none of its names is used")
        edits.append((node.lineno, len(indent), node.end_lineno, len(lines[node.end_lineno - 1].rstrip("\r\n")),
                      statement[len(indent):]))

    # 4. from .matrix import A, B
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _is_matrix_from(node):
            indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
            base = "." * node.level if node.level else "harness."
            groups: dict[str, list[str]] = {}
            for a in node.names:
                spec = a.name + (f" as {a.asname}" if a.asname else "")
                if a.name in HOME:
                    groups.setdefault(base + HOME[a.name], []).append(spec)
                elif a.name in STDLIB:
                    groups.setdefault(STDLIB[a.name], []).append(spec)
                else:
                    warn(f"{path}:{node.lineno}: {a.name} is not a name of the old matrix.py; left under "
                         "'from .matrix import'")
                    groups.setdefault(base + "matrix", []).append(spec)
            statements = [_wrap(f"from {module} import ", sorted(names), indent)
                          for module, names in sorted(groups.items(), key=lambda kv: kv[0].lstrip("."))]
            edits.append((node.lineno, len(indent), node.end_lineno, len(lines[node.end_lineno - 1].rstrip("\r\n")),
                          "\n".join(statements)[len(indent):]))

    # 5. stdlib modules now named in full (``dataclasses.replace``)
    for module in sorted(stdlib_needed):
        if any(isinstance(n, ast.Import) and any(a.name == module and a.asname is None for a in n.names)
               for n in tree.body):
            continue
        edits.append(_stdlib_import(tree, lines, module))

    out = _apply(lines, edits)
    _clash_check(path, tree, scopes, seen_from, warn)
    return out


def _stdlib_import(tree: ast.Module, lines: list[str], module: str) -> tuple[int, int, int, int, str]:
    """An ``import MODULE`` edit in the file's first block of plain top-level imports, in alphabetical order."""
    plain = [n for n in tree.body if isinstance(n, ast.Import) and n.col_offset == 0]
    if not plain:
        first = next((n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))), tree.body[0])
        return (first.lineno, 0, first.lineno, 0, f"import {module}\n")
    block = [plain[0]]
    for n in plain[1:]:
        if n.lineno == block[-1].end_lineno + 1:
            block.append(n)
        else:
            break
    after = [n for n in block if n.names[0].name < module]
    if after:
        end = after[-1].end_lineno
        return (end, len(lines[end - 1].rstrip("\r\n")), end, len(lines[end - 1].rstrip("\r\n")), f"\nimport {module}")
    return (block[0].lineno, 0, block[0].lineno, 0, f"import {module}\n")


def _apply(lines: list[str], edits) -> str:
    """Apply non-overlapping edits, last first; an edit that empties its lines removes them."""
    text_lines = list(lines)
    for line, col, end_line, end_col, new in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        first, last = text_lines[line - 1], text_lines[end_line - 1]
        merged = first[:col] + new + last[end_col:]
        if not new and not first[:col].strip() and not last[end_col:].strip():
            merged = ""  # the whole statement went away
        text_lines[line - 1:end_line] = [merged]
    return "".join(text_lines)


def _clash_check(path: str, tree: ast.Module, scopes: Scopes, seen_from: dict[str, set], warn) -> None:
    """Warn where a module name we now use is also bound (variable, parameter, function, other import) in a scope
    that one of the rewritten references sees: there the name would not be the module."""
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names = [node.id]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = [node.name]
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and not (
                isinstance(node, ast.ImportFrom) and (_is_package_from(node) or _is_matrix_from(node))):
            names = [a.asname or a.name.split(".")[0] for a in node.names if a.name != "harness.matrix"]
        where = (scopes.chain[id(node)] or (tree,))[-1]
        for name in names:
            if where in seen_from.get(name, ()):
                warn(f"{path}:{node.lineno}: '{name}' is now an imported module and also bound here, where a "
                     "rewritten reference sees it: rename one of them")


def rewrite_text(text: str) -> str:
    """``harness.matrix.NAME`` -> ``harness.<module>.NAME`` (docstrings, comments, Markdown)."""
    def sub(m):
        name = m.group(1)
        return f"harness.{HOME[name]}.{name}" if name in MOVED else m.group(0)

    return re.sub(r"\bharness\.matrix\.(\w+)", sub, text)


def leftovers(path: str, text: str, warn) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        if re.search(r"harness[./]matrix\b|\bmatrix\.py\b|\bfrom \.+matrix\b|import .*\bmatrix\b|\bmatrix\.\w", line):
            warn(f"{path}:{number}: still names the old module: {line.strip()}")


def rewrite(path: str, text: str, warn) -> str:
    if path.endswith(".py"):
        text = rewrite_python(path, text, warn)
    text = rewrite_text(text)
    leftovers(path, text, warn)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--diff", action="store_true", help="print a unified diff, write nothing")
    mode.add_argument("--check", action="store_true", help="exit 1 if a file would change, write nothing")
    args = parser.parse_args(argv)
    changed = 0
    for path in args.files:
        with open(path, encoding="utf-8") as fh:
            old = fh.read()
        new = rewrite(path, old, lambda msg: print("check:", msg, file=sys.stderr))
        if new == old:
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), path, path))
        elif args.check:
            print(f"would rewrite {path}")
        else:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(new)
            print(f"rewrote {path}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
