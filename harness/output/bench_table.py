"""The terminal table of ``harness bench``, a view of :class:`harness.output.model.Results`: rows fastest
first, the columns a person reads at a glance by default (fits 120 characters), any chosen with
``--columns``, all with ``--wide``, and the marks explained under the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from tabulate import tabulate

from harness.core.errors import HarnessError
from harness.core.roles import ROLES
from harness.output.model import CaseResult, Results


def sig(x: float | None, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits, plain between 1e-3 and 1e6, else in exponent form: 5e-05
    stays 5e-05, never 0.0000."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "" if x is None else str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 10 ** max(digits, 6):
        decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
        text = f"{x:.{decimals}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:.{digits - 1}g}" if abs(x) < 1 else f"{x:.{digits}g}"


def ratio(x: float | None) -> str:
    return "" if x is None else f"{sig(x, 3)}×"


@dataclass(frozen=True)
class Column:
    key: str  # what --columns takes
    header: str
    cell: Callable[[CaseResult], object]
    numeric: bool = True


def _ms(x: float | None) -> float | None:
    return None if x is None else x * 1e3


def _ci(c: CaseResult) -> str:
    ci = c.ci_s
    return f"{sig(ci[0] * 1e3)}–{sig(ci[1] * 1e3)}" + ("*" if c.ci_short else "") if ci else ""


def _median_ci(c: CaseResult) -> str:
    return f"{sig(_ms(c.median_s))} ({_ci(c)})" if c.ok else ""


def _status(c: CaseResult, notes: dict[str, int], wide: bool) -> str:
    """Wide: ``ok``/``reference`` or the whole error; else ``ok``/``UNSTABLE`` or a numbered note for the error."""
    if wide:
        return ("reference" if c.reference else "ok") if c.ok else f"{c.status.upper()}: {c.error}"
    if c.ok:
        return "UNSTABLE" if c.unstable else "ok"
    return f"{c.status.upper()} [{notes.setdefault(c.error, len(notes) + 1)}]"


def _role(role: str) -> Callable[[CaseResult], str]:
    def cell(c: CaseResult) -> str:
        if c.reference:
            return c.label if role == ROLES[0] else ""
        return c.roles[role] + ("+fused" if c.fused and role == ROLES[-1] else "")
    return cell


def _ok(f: Callable[[CaseResult], object]) -> Callable[[CaseResult], object]:
    return lambda c: f(c) if c.ok else None


# Every column; {ratios} expands into one "vs NAME" per baseline.  Cells are numbers (None = blank) or strings.
COLUMNS = [
    Column("combination", "combination", lambda c: c.label, numeric=False),
    *[Column(r, r, _role(r), numeric=False) for r in ROLES],
    Column("ctx", "ctx", lambda c: c.ctx, numeric=False),
    Column("median_ci", "epoch ms (95% CI)", _median_ci, numeric=False),
    Column("median", "epoch med (ms)", _ok(lambda c: _ms(c.median_s))),
    Column("ci", "95% CI (ms)", _ok(_ci), numeric=False),
    Column("ci_level", "CI level", _ok(lambda c: c.ci_level)),
    Column("iqr", "IQR (ms)", _ok(lambda c: _ms(c.metric("epoch_iqr_s")))),
    Column("min", "min (ms)", _ok(lambda c: _ms(c.metric("epoch_min_s")))),
    Column("rounds", "rounds", _ok(lambda c: c.rounds_label)),
    Column("us_per_step", "µs/step", _ok(lambda c: c.metric("us_per_step"))),
    Column("samples_per_s", "samples/s", _ok(lambda c: c.metric("samples_per_s"))),
    Column("{ratios}", "", lambda c: None),
    Column("to_target", "to target (s)",
           _ok(lambda c: c.metric("time_to_target_s") if c.metrics.get("time_to_target_s") is not None else "never")),
    Column("epochs", "epochs", _ok(lambda c: c.metrics.get("epochs_to_target") or None)),
    Column("final_loss", "final loss", _ok(lambda c: c.metric("final_loss"))),
    Column("test_acc", "test acc", _ok(lambda c: c.metric("test_acc"))),
    Column("param_error", "param err", _ok(lambda c: c.metric("param_error"))),
    Column("peak_rss", "peak RSS (MiB)", _ok(lambda c: c.metric("peak_rss_mib"))),
    Column("unstable", "unstable", _ok(lambda c: f"UNSTABLE: {'; '.join(c.unstable)}" if c.unstable else ""),
           numeric=False),
    Column("status", "status", lambda c: None, numeric=False),  # filled by render: its marks are numbered
]
DEFAULT = ["combination", "ctx", "median_ci", "us_per_step", "{ratios}", "status"]
WIDE = ["data", "model", "loss", "optimizer", "ctx", "median", "ci", "iqr", "min", "rounds", "us_per_step",
        "samples_per_s", "{ratios}", "to_target", "epochs", "final_loss", "test_acc", "param_error", "peak_rss",
        "unstable", "status"]
_OPTIONAL = {"test_acc": "test_acc", "param_error": "param_error"}  # shown by --wide only where some case has it


def columns_of(results: Results) -> dict[str, Column]:
    """Every column this result can show, by its ``--columns`` key (ratio columns: ``vs_NAME``)."""
    out = {}
    for col in COLUMNS:
        if col.key == "{ratios}":
            for name in results.ratio_names:
                out[f"vs_{name}"] = Column(f"vs_{name}", f"vs {name}", lambda c, n=name: ratio(c.ratios.get(n)))
        else:
            out[col.key] = col
    return out


def valid_keys() -> list[str]:
    """Every key ``--columns`` takes, known before anything runs (a ratio column per possible baseline)."""
    from harness.tasks import reference

    keys = [c.key for c in COLUMNS]
    at = keys.index("{ratios}")
    return keys[:at] + [f"vs_{n}" for n in ("scratch", *reference.FACTORIES)] + keys[at + 1:]


def check_columns(columns: list[str] | str) -> list[str]:
    """The keys asked for; an unknown one is a one-line error listing the valid ones."""
    keys = [k.strip() for k in (columns.split(",") if isinstance(columns, str) else columns) if k.strip()]
    valid = valid_keys()
    for k in keys:
        if k not in valid:
            raise HarnessError(f"unknown column {k!r}; valid: {', '.join(valid)}")
    if not keys:
        raise HarnessError(f"--columns needs at least one column; valid: {', '.join(valid)}")
    return keys


def choose(results: Results, columns: list[str] | str | None = None, wide: bool = False) -> list[Column]:
    """The columns to show: ``columns`` by key (a list or ``a,b,c``), all with ``wide``, else the default set.
    An unknown key is a one-line error listing the valid ones; a ratio to a baseline that did not run is blank."""
    available = columns_of(results)
    ratio_keys = [k for k in available if k.startswith("vs_")]

    def expand(keys):
        return [k2 for k in keys for k2 in (ratio_keys if k == "{ratios}" else [k])]

    if columns:
        keys = check_columns(columns)
        for k in keys:
            available.setdefault(k, Column(k, k.replace("_", " ", 1), lambda c: None))
    elif wide:
        keys = [k for k in expand(WIDE) if k not in _OPTIONAL
                or any(c.metrics.get(_OPTIONAL[k]) is not None for c in results.cases)]
    else:
        keys = expand(DEFAULT)
    return [available[k] for k in keys]


def render(results: Results, tablefmt: str = "simple", columns: list[str] | str | None = None,
           wide: bool = False) -> str:
    """The table, and under it what its marks mean."""
    text, foot = parts(results, tablefmt, columns, wide)
    return text + ("\n" + "\n".join(foot) if foot else "")


def cells(results: Results, columns: list[str] | str | None = None,
          wide: bool = False) -> tuple[list[Column], list[list[str]], list[str]]:
    """The chosen columns, one row of display strings per case (fastest first), and the lines explaining the
    marks: what every rendering of the table (terminal, HTML report) shows."""
    chosen = choose(results, columns, wide)
    notes: dict[str, int] = {}
    body = []
    for c in results.sorted():
        line = [_status(c, notes, wide) if col.key == "status" else col.cell(c) for col in chosen]
        body.append(["" if v is None else sig(v) if isinstance(v, float) else str(v) for v in line])
    return chosen, body, footnotes(results, chosen, notes)


def parts(results: Results, tablefmt: str = "simple", columns: list[str] | str | None = None,
          wide: bool = False) -> tuple[str, list[str]]:
    """The table, and the lines explaining its marks."""
    chosen, body, notes = cells(results, columns, wide)
    text = tabulate(body, headers=[col.header for col in chosen], tablefmt=tablefmt, disable_numparse=True,
                    colalign=["right" if col.numeric else "left" for col in chosen])
    return text, notes


def footnotes(results: Results, chosen: list[Column], notes: dict[str, int]) -> list[str]:
    keys = {col.key for col in chosen}
    shown = results.sorted()
    lines = []
    if keys & {"median_ci", "ci"} and any(c.ci_short for c in shown):
        lines.append("* fewer rounds than a 95% CI of the median needs: [min, max] at a lower level "
                     "(--columns ci_level)")
    if "status" in keys and "unstable" not in keys and any(c.unstable for c in shown if c.ok):
        lines.append("UNSTABLE: std ≥ 10% of mean, outlier ≥ 50% off, median CI > ±10% or < 95%, or processes "
                     "≥ 10% apart (--wide: why)")
    if any(k.startswith("vs_") for k in keys):
        lines.append("vs NAME: epoch time / that baseline's (scratch = the all-scratch combination on the same ctx)")
    for error, n in notes.items():
        lines.append(f"[{n}] {error}")
    return lines


# --- rows in, for callers that hold measured rows --------------------------------------------

def ratios(rows: list) -> dict[int, dict[str, float]]:
    """Per ok row (keyed by ``id``): its ratios to each baseline (:meth:`Results.with_ratios`)."""
    results = Results.from_rows(rows)
    return {id(r): c.ratios for r, c in zip(rows, results.cases) if c.ok}


def ratio_columns(rows: list) -> list[str]:
    return [f"vs {n}" for n in Results.from_rows(rows).ratio_names]


def render_table(rows: list, tablefmt: str = "simple", columns: list[str] | str | None = None,
                 wide: bool = False) -> str:
    return render(Results.from_rows(rows), tablefmt, columns, wide)
