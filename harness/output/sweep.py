"""``harness sweep --plot``: the sweep's log-log figure (measured and fitted by :mod:`harness.measure.sweep`)."""
from __future__ import annotations

import itertools

from harness.output.render import figure, png_bytes


def render_png(rows: list[dict]) -> bytes:
    """Log-log: epoch time against N (one line per combination, D, B) and µs per sample against B."""
    ok = [r for r in rows if not r["error"]]
    fig = figure(12, 4.8)
    by_n, by_b = fig.subplots(1, 2)
    series = lambda r: (r["combo"].label, r["D"], r["B"])  # noqa: E731
    for (label, d, b), group in itertools.groupby(sorted(ok, key=series), key=series):
        group = sorted(group, key=lambda r: r["N"])
        by_n.plot([r["N"] for r in group], [r["epoch_s"] for r in group], marker="o", label=f"{label} D={d} B={b}")
    series = lambda r: (r["combo"].label, r["N"], r["D"])  # noqa: E731
    for (label, n, d), group in itertools.groupby(sorted(ok, key=series), key=series):
        group = sorted(group, key=lambda r: r["B"])
        by_b.plot([r["B"] for r in group], [r["sample_us"] for r in group], marker="o", label=f"{label} N={n} D={d}")
    for ax, xlabel, ylabel, title in (
        (by_n, "N (examples)", "epoch seconds (median)", "Epoch time vs N"),
        (by_b, "batch size", "µs per sample", "Per-sample cost vs batch size"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if ax.lines:
            ax.legend(fontsize="x-small")
    return png_bytes(fig)
