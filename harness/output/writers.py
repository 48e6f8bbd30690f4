"""The files a benchmark can write, by the option that asks for them: adding an output format is one module
with a ``write(results) -> str | bytes`` function and one line here."""
from __future__ import annotations

import importlib
from typing import Callable

from harness.output.model import Results

#: option name (``--json``, ``Benchmark.write(json=...)``) -> "module:function" rendering the file's content
WRITERS = {
    "json": "harness.output.bench_json:write",
    "csv": "harness.output.bench_csv:write",
    "plot": "harness.output.figures:write",
    "breakdown_png": "harness.output.figures:write_breakdown",
}


def writer(name: str) -> Callable[[Results], str | bytes]:
    module, _, function = WRITERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def render(name: str, results: Results) -> str | bytes:
    return writer(name)(results)
