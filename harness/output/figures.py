"""``harness bench --plot`` and ``Benchmark.plot()``: throughput per combination and the loss curves, one PNG.
A view of :class:`harness.output.model.Results`."""
from __future__ import annotations

from harness.output.model import Results
from harness.output.render import figure, png_bytes


def _results(results) -> Results:
    return results if isinstance(results, Results) else Results.from_rows(results)


def write(results: Results) -> bytes:
    return png_bytes(render_figure(results))


def write_breakdown(results: Results) -> bytes:
    from harness.measure import breakdown

    return breakdown.breakdown_png(results.breakdown)


def render_png(rows) -> bytes:
    return write(_results(rows))


def render_figure(results):
    """Throughput bars and training-loss curves of the ok cases, as a matplotlib Figure."""
    ok = _results(results).ok()
    fig = figure(12, max(4.0, 0.35 * len(ok) + 1.5))
    bars, curves = fig.subplots(1, 2)
    labels = [f"{c.label} ({c.ctx}, {c.workload_label})" for c in ok]
    bars.barh(labels[::-1], [c.metric("samples_per_s") for c in ok][::-1], color="tab:blue")
    bars.set_xscale("log")
    bars.set_xlabel("samples/s (median epoch, log scale)")
    bars.set_title("Throughput")
    for c, label in zip(ok, labels):
        losses = c.metrics["losses"]
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
