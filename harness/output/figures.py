"""``harness bench --plot``: throughput per combination and the loss curves, one PNG."""
from __future__ import annotations

from harness.output.bench_table import sorted_rows
from harness.measure.measuring import Row
from harness.output.render import figure, png_bytes


def render_png(rows: list[Row]) -> bytes:
    return png_bytes(render_figure(rows))


def render_figure(rows: list[Row]):
    """Throughput bars and training-loss curves of the ok rows, as a matplotlib Figure."""
    ok = [r for r in sorted_rows(rows) if r.status == "ok"]
    fig = figure(12, max(4.0, 0.35 * len(ok) + 1.5))
    bars, curves = fig.subplots(1, 2)
    labels = [f"{r.case.label} ({r.case.ctx}, {r.case.workload.label})" for r in ok]
    bars.barh(labels[::-1], [r.metrics["samples_per_s"] for r in ok][::-1], color="tab:blue")
    bars.set_xscale("log")  # references and fused rows are orders of magnitude apart
    bars.set_xlabel("samples/s (median epoch, log scale)")
    bars.set_title("Throughput")
    for r, label in zip(ok, labels):
        losses = r.metrics["losses"]
        curves.plot(range(1, len(losses) + 1), losses, marker=".", label=label)
    if ok:
        target = ok[0].metrics.get("target_loss")
        if target is not None:
            curves.axhline(target, color="grey", linestyle="--", label=f"target {target:g}")
        curves.legend(fontsize="x-small")
    curves.set_yscale("log")
    curves.set_xlabel("epoch (warm-up included)")
    curves.set_ylabel("training loss")
    curves.set_title("Loss curves")
    return fig
